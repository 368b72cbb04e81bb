// 24: enhanced authentication (MQTT 5.0 section 4.12): a method registered in `authMethods` drives
// an exchange of AUTH packets on CONNECT and on re-authentication. AUTH exists only in 5.0.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker } from '../helpers/broker.js';
import type { AuthMethod, AuthStep } from '../../src/broker/hooks.js';

/**
 * A challenge-response method for tests: the broker answers the client's first data with
 * `challenge`, and accepts when the client then sends `challenge` reversed; anything else fails 0x87.
 */
const echo: AuthMethod = {
  start: () => {
    let round = 0;
    return {
      step(data: Buffer | undefined): AuthStep {
        round++;
        if (round === 1) return { kind: 'continue', data: Buffer.from(`challenge:${data?.toString() ?? ''}`) };
        const expected = Buffer.from('challenge').reverse();
        if (data !== undefined && data.equals(expected)) return { kind: 'success', data: Buffer.from('welcome') };
        return { kind: 'failure', reasonCode: 0x87, reasonString: 'wrong answer' };
      },
    };
  },
};

/** A method that accepts at once, after a promise. */
const instant: AuthMethod = {
  start: () => ({ step: () => Promise.resolve<AuthStep>({ kind: 'success' }) }),
};

const authMethods = { ECHO: echo, INSTANT: instant };

/** Opens a 5.0 connection and sends CONNECT with Authentication Method `method` and `data`. */
async function connecting(port: number, method: string, data?: string): Promise<RawClient> {
  const client = await RawClient.open(port, 5);
  const properties: pkt.Properties = { authenticationMethod: method };
  if (data !== undefined) properties.authenticationData = Buffer.from(data);
  client.send(pkt.connect({ version: 5, clientId: 'enhanced', properties }));
  return client;
}

describe('24 enhanced authentication (v5)', () => {
  it('[MQTT-4.12.0-2] [MQTT-4.12.0-5] a method that continues gets AUTH 0x18 with its method and data, and the right answer gets CONNACK 0x00 with the final data', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await connecting(port, 'ECHO', 'hello');
    const challenge = await client.next('auth');
    assert.equal(challenge.reasonCode, 0x18);
    assert.equal(challenge.properties.authenticationMethod, 'ECHO');
    assert.equal(challenge.properties.authenticationData?.toString(), 'challenge:hello');
    client.send(
      pkt.auth(0x18, { authenticationMethod: 'ECHO', authenticationData: Buffer.from('challenge').reverse() }),
    );
    const connack = await client.next('connack');
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties.authenticationMethod, 'ECHO');
    assert.equal(connack.properties.authenticationData?.toString(), 'welcome');
    await client.ping();
  });

  it('[MQTT-4.12.0-4] a wrong answer gets CONNACK with the method reason code and a close', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await connecting(port, 'ECHO', 'hello');
    await client.next('auth');
    client.send(pkt.auth(0x18, { authenticationMethod: 'ECHO', authenticationData: Buffer.from('guess') }));
    const connack = await client.next('connack');
    assert.equal(connack.reasonCode, 0x87);
    assert.equal(connack.properties.reasonString, 'wrong answer');
    await client.closed();
  });

  it('[MQTT-4.12.0-1] an Authentication Method that is not registered gets CONNACK 0x8C and a close', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await connecting(port, 'KERBEROS');
    assert.equal((await client.next('connack')).reasonCode, 0x8c);
    await client.closed();
  });

  it('[MQTT-4.12.0-1] without any authMethods, a CONNECT naming a method gets CONNACK 0x8C', async (t) => {
    const { port } = await startBroker(t);
    const client = await connecting(port, 'ECHO');
    assert.equal((await client.next('connack')).reasonCode, 0x8c);
    await client.closed();
  });

  it('a method that succeeds at once (after a promise) gets CONNACK 0x00 with its method and no data', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await connecting(port, 'INSTANT');
    const connack = await client.next('connack');
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties.authenticationMethod, 'INSTANT');
    assert.equal(connack.properties.authenticationData, undefined);
  });

  it('[MQTT-4.12.0-6] a CONNECT without a method gets a CONNACK without one', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await RawClient.connect(port, { version: 5, clientId: 'plain' });
    assert.equal(client.connack.properties.authenticationMethod, undefined);
  });

  it('Authentication Data without an Authentication Method in CONNECT is a protocol error: CONNACK 0x82', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await RawClient.open(port, 5);
    client.send(pkt.connect({ version: 5, clientId: 'x', properties: { authenticationData: Buffer.from('d') } }));
    assert.equal((await client.next('connack')).reasonCode, 0x82);
    await client.closed();
  });

  it('[MQTT-4.12.0-7] an AUTH from a client whose CONNECT named no method is a protocol error: DISCONNECT 0x82', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await RawClient.connect(port, { version: 5, clientId: 'plain' });
    client.send(pkt.auth(0x19, { authenticationMethod: 'ECHO' }));
    assert.equal((await client.next('disconnect')).reasonCode, 0x82);
    await client.closed();
  });

  it('[MQTT-3.1.2-30] a PUBLISH while authenticating closes the connection without CONNACK 0x00', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await connecting(port, 'ECHO', 'hello');
    await client.next('auth');
    client.send(pkt.publish(5, { topic: 't', payload: 'x' }));
    await client.closed();
  });

  /** Connects with ECHO through its whole exchange. */
  async function authenticated(port: number): Promise<RawClient> {
    const client = await connecting(port, 'ECHO', 'hello');
    await client.next('auth');
    client.send(
      pkt.auth(0x18, { authenticationMethod: 'ECHO', authenticationData: Buffer.from('challenge').reverse() }),
    );
    assert.equal((await client.next('connack')).reasonCode, 0);
    return client;
  }

  it('re-authentication: AUTH 0x19 runs the exchange again and ends with AUTH 0x00, the connection staying open', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await authenticated(port);
    client.send(pkt.auth(0x19, { authenticationMethod: 'ECHO', authenticationData: Buffer.from('again') }));
    const challenge = await client.next('auth');
    assert.equal(challenge.reasonCode, 0x18);
    assert.equal(challenge.properties.authenticationData?.toString(), 'challenge:again');
    client.send(
      pkt.auth(0x18, { authenticationMethod: 'ECHO', authenticationData: Buffer.from('challenge').reverse() }),
    );
    const done = await client.next('auth');
    assert.equal(done.reasonCode, 0);
    assert.equal(done.properties.authenticationMethod, 'ECHO');
    assert.equal(done.properties.authenticationData?.toString(), 'welcome');
    await client.ping();
  });

  it('[MQTT-4.12.1-2] a failed re-authentication gets DISCONNECT with the reason code and a close', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await authenticated(port);
    client.send(pkt.auth(0x19, { authenticationMethod: 'ECHO' }));
    await client.next('auth');
    client.send(pkt.auth(0x18, { authenticationMethod: 'ECHO', authenticationData: Buffer.from('guess') }));
    assert.equal((await client.next('disconnect')).reasonCode, 0x87);
    await client.closed();
  });

  it('[MQTT-4.12.1-1] re-authentication with another method is a protocol error: DISCONNECT 0x82', async (t) => {
    const { port } = await startBroker(t, { hooks: { authMethods } });
    const client = await authenticated(port);
    client.send(pkt.auth(0x19, { authenticationMethod: 'INSTANT' }));
    assert.equal((await client.next('disconnect')).reasonCode, 0x82);
    await client.closed();
  });
});
