// 33: a 5.0 CONNECT whose own limits make every answer impossible. A Maximum Packet Size too small
// for the CONNACK is closed at once and logged, not left open until a timeout; a Receive Maximum or
// Maximum Packet Size of 0 is a Protocol Error (5.0 section 3.1.2.11) that closes the connection. MQTT 3.1.1 has neither
// property, so these cases are 5.0 only; the 3.1.1 test checks that its CONNECT, which cannot
// carry a limit, is always answered.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker, waitUntil } from '../helpers/broker.js';
import { capturingLogger } from '../helpers/log.js';

/** Sends a 5.0 CONNECT and returns the client, without waiting for any answer. */
async function sendConnect(port: number, options: pkt.ConnectOptions): Promise<RawClient> {
  const client = await RawClient.open(port, 5);
  client.send(pkt.connect({ version: 5, ...options }));
  return client;
}

describe('33 CONNECT limits that leave no possible answer (v5)', () => {
  for (const maximumPacketSize of [2, 5, 17]) {
    it(`[MQTT-3.1.2-24] a CONNECT with Maximum Packet Size ${maximumPacketSize}, smaller than any CONNACK, is closed at once without one, and the broker logs why (v5)`, async (t) => {
      const { logger, lines } = capturingLogger();
      const { port, broker } = await startBroker(t, { logger, connectTimeoutMs: 10_000 });
      const client = await sendConnect(port, { clientId: 'tiny', properties: { maximumPacketSize } });
      await client.closed(1000);
      const line = lines.find((l) => typeof l['msg'] === 'string' && l['msg'].includes('Maximum Packet Size'));
      assert.ok(line !== undefined, 'a warn line says why');
      assert.equal(line['clientId'], 'tiny');
      assert.equal(line['maximumPacketSize'], maximumPacketSize);
      await waitUntil(() => broker.connectionCount === 0, 'the broker let the connection go');
    });
  }

  it('[MQTT-3.1.2-24] a CONNACK made too large only by the Assigned Client Identifier closes the connection too (v5)', async (t) => {
    const { port } = await startBroker(t);
    const named = await sendConnect(port, { clientId: 'n', properties: { maximumPacketSize: 24 } });
    assert.equal((await named.next('connack')).reasonCode, 0, 'a 24-byte maximum fits the CONNACK of a named client');
    const anonymous = await sendConnect(port, { clientId: '', properties: { maximumPacketSize: 24 } });
    await anonymous.closed(1000);
  });

  it('[MQTT-3.1.2-24] the will of a client closed for its Maximum Packet Size is not published: it was never connected (v5)', async (t) => {
    const { port } = await startBroker(t);
    const watcher = await RawClient.connect(port, { version: 5, clientId: 'watcher' });
    await watcher.subscribe('will/#', 1);
    const client = await sendConnect(port, {
      clientId: 'tiny-will',
      properties: { maximumPacketSize: 3 },
      will: { topic: 'will/tiny', payload: 'gone', qos: 1 },
    });
    await client.closed(1000);
    await watcher.expectNothing(300);
  });

  for (const [name, properties] of [
    ['Receive Maximum 0', { receiveMaximum: 0 }],
    ['Maximum Packet Size 0', { maximumPacketSize: 0 }],
  ] as const) {
    // The codec refuses the CONNECT before its version is known to the connection, so no CONNACK 0x82
    // comes first: [MQTT-3.1.4-1] requires the close, and only allows the CONNACK.
    it(`[MQTT-3.1.4-1] a CONNECT with ${name} is a Protocol Error: the connection closes, without CONNACK (v5)`, async (t) => {
      const { port } = await startBroker(t);
      const client = await sendConnect(port, { clientId: 'zero', properties });
      await client.closed();
    });
  }

  it("a will larger than the client's own Maximum Packet Size is accepted: the will goes to others, whose limits apply (v5)", async (t) => {
    const { port } = await startBroker(t);
    const watcher = await RawClient.connect(port, { version: 5, clientId: 'watcher' });
    await watcher.subscribe('will/#', 1);
    const payload = 'w'.repeat(500);
    const client = await RawClient.connect(port, {
      version: 5,
      clientId: 'big-will',
      properties: { maximumPacketSize: 128 },
      will: { topic: 'will/big', payload, qos: 1 },
    });
    client.destroy();
    assert.equal((await watcher.receive()).payload.toString(), payload);
  });
});

describe('33 CONNECT limits (v4)', () => {
  it('a 3.1.1 CONNECT carries no Maximum Packet Size or Receive Maximum, so it is always answered (v4)', async (t) => {
    const { port } = await startBroker(t);
    const client = await RawClient.connect(port, { version: 4, clientId: 'plain' });
    assert.equal(client.connack.reasonCode, 0);
    await client.ping();
  });
});
