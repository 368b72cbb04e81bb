// 26: server redirection (MQTT 5.0 section 4.11): the redirectConnect hook refuses a CONNECT with
// CONNACK 0x9C / 0x9D and a Server Reference, and broker.redirect() sends a connected 5.0 client
// DISCONNECT 0x9C / 0x9D with one. 3.1.1 has no redirection: its clients are never redirected.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker } from '../helpers/broker.js';
import type { ClientInfo, Redirection } from '../../src/broker/hooks.js';

/** Sends clients whose id starts with `moved-` away for good, and `busy-` elsewhere this time (after a promise). */
function redirectConnect(client: ClientInfo): Redirection | undefined | Promise<Redirection | undefined> {
  if (client.clientId.startsWith('moved-')) return { serverReference: 'new.example.com:1883', permanent: true };
  if (client.clientId.startsWith('busy-')) {
    return Promise.resolve({ serverReference: 'other.example.com', permanent: false });
  }
  return undefined;
}

describe('26 server redirection', () => {
  it('redirectConnect answering permanently refuses a CONNECT with CONNACK 0x9D (Server moved) and the Server Reference, then closes (v5)', async (t) => {
    const { port } = await startBroker(t, { hooks: { redirectConnect } });
    const client = await RawClient.open(port, 5);
    client.send(pkt.connect({ version: 5, clientId: 'moved-1' }));
    const connack = await client.next('connack');
    assert.equal(connack.reasonCode, 0x9d);
    assert.equal(connack.properties.serverReference, 'new.example.com:1883');
    await client.closed();
  });

  it('redirectConnect answering for this time (after a promise) refuses with CONNACK 0x9C (Use another server) (v5)', async (t) => {
    const { port } = await startBroker(t, { hooks: { redirectConnect } });
    const client = await RawClient.open(port, 5);
    client.send(pkt.connect({ version: 5, clientId: 'busy-1' }));
    const connack = await client.next('connack');
    assert.equal(connack.reasonCode, 0x9c);
    assert.equal(connack.properties.serverReference, 'other.example.com');
    await client.closed();
  });

  it('redirectConnect answering undefined lets the CONNECT through, without a Server Reference (v5)', async (t) => {
    const { port } = await startBroker(t, { hooks: { redirectConnect } });
    const client = await RawClient.connect(port, { version: 5, clientId: 'stay' });
    assert.equal(client.connack.properties.serverReference, undefined);
  });

  it('redirectConnect is not asked about 3.1.1 clients, who have no redirection (v4)', async (t) => {
    const { port } = await startBroker(t, { hooks: { redirectConnect } });
    await RawClient.connect(port, { version: 4, clientId: 'moved-old' });
  });

  for (const permanent of [false, true]) {
    const code = permanent ? 0x9d : 0x9c;
    it(`broker.redirect(permanent ${String(permanent)}) sends DISCONNECT 0x${code.toString(16)} with the Server Reference and closes (v5)`, async (t) => {
      const { port, broker } = await startBroker(t);
      const client = await RawClient.connect(port, { version: 5, clientId: 'target' });
      assert.equal(broker.redirect('target', 'mqtt2.example.com', permanent), true);
      const disconnect = await client.next('disconnect');
      assert.equal(disconnect.reasonCode, code);
      assert.equal(disconnect.properties.serverReference, 'mqtt2.example.com');
      await client.closed();
    });
  }

  it('broker.redirect returns false and leaves a 3.1.1 client, or an unknown client id, alone (v4)', async (t) => {
    const { port, broker } = await startBroker(t);
    const client = await RawClient.connect(port, { version: 4, clientId: 'old' });
    assert.equal(broker.redirect('old', 'mqtt2.example.com', true), false);
    assert.equal(broker.redirect('nobody', 'mqtt2.example.com', true), false);
    await client.ping();
  });
});
