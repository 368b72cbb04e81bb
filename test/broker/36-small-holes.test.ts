// 36: small holes closed: a client's PUBLISH may not carry a Subscription Identifier, and a connection
// whose CONNECT is not yet accepted may hold only a small packet (maxConnectPacketSize). The third
// hole, a successful login clearing its address's failures, is proved in 09-auth.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker, VERSIONS } from '../helpers/broker.js';

/** A CONNECT whose will payload makes it about `bytes` long. */
function bigConnect(version: 4 | 5, clientId: string, bytes: number): Buffer {
  // A will payload and a password hold at most 65,535 bytes each: the size is split between them.
  const will = Math.min(bytes, 60_000);
  return pkt.connect({
    version,
    clientId,
    will: { topic: 'w', payload: Buffer.alloc(will, 0x61) },
    username: 'u',
    password: Buffer.alloc(bytes - will, 0x70).toString(),
  });
}

describe('36 a client PUBLISH with a Subscription Identifier', () => {
  it('[MQTT-3.3.4-6] is a Protocol Error: DISCONNECT 0x82, and it is not delivered (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe({ topic: 'ids/#', qos: 1 });
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    pub.send(
      pkt.publish(5, {
        topic: 'ids/x',
        payload: 'x',
        qos: 1,
        packetId: 1,
        properties: { subscriptionIdentifier: 7 },
      }),
    );
    assert.equal((await pub.next('disconnect')).reasonCode, 0x82);
    await pub.closed();
    await sub.expectNothing();
  });

  it('[MQTT-3.3.4-6] a PUBLISH without one is still delivered (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe({ topic: 'ids/#', qos: 1 }, 0, { subscriptionIdentifier: 9 });
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'ids/x', payload: 'fine', qos: 1 });
    const message = await sub.receive();
    assert.equal(message.payload.toString(), 'fine');
    assert.deepEqual(message.properties.subscriptionIdentifiers, [9]);
  });
});

for (const version of VERSIONS) {
  describe(`36 maxConnectPacketSize (v${version})`, () => {
    it('a CONNECT larger than 64 KiB closes the connection as soon as its header is read', async (t) => {
      const { broker, port } = await startBroker(t);
      assert.equal(broker.options.maxConnectPacketSize, 65_536);
      const client = await RawClient.open(port, version);
      // Only the first 1 KiB of a 100 KiB CONNECT: the size in its header is enough to refuse it.
      client.send(bigConnect(version, 'big', 100_000).subarray(0, 1024));
      await client.closed();
    });

    it('a CONNECT below the limit is accepted, and then packets up to maximumPacketSize are read', async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version, clientId: 'sub' });
      await sub.subscribe('big/#', 1);
      const client = await RawClient.open(port, version);
      client.send(bigConnect(version, 'near', 60_000));
      assert.equal((await client.next('connack')).reasonCode, 0);
      const payload = Buffer.alloc(500_000, 0x62);
      client.send(pkt.publish(version, { topic: 'big/one', payload, qos: 1, packetId: 1 }));
      assert.equal((await client.next('puback')).packetId, 1);
      assert.equal((await sub.receive()).payload.length, payload.length);
    });

    it('with maxConnectPacketSize 200000, a 100 KiB CONNECT is accepted', async (t) => {
      const { port } = await startBroker(t, { maxConnectPacketSize: 200_000 });
      const client = await RawClient.open(port, version);
      client.send(bigConnect(version, 'big', 100_000));
      assert.equal((await client.next('connack')).reasonCode, 0);
    });

    it('a packet pipelined behind a CONNECT whose (asynchronous) authentication is pending is held to the limit too', async (t) => {
      const { port } = await startBroker(t, {
        hooks: { authenticate: () => new Promise((resolve) => setTimeout(() => resolve({ ok: true }), 200)) },
      });
      const client = await RawClient.open(port, version);
      const publish = pkt.publish(version, { topic: 't', payload: Buffer.alloc(100_000), qos: 0 });
      client.send(
        pkt.connect({ version, clientId: 'pipelined', username: 'u', password: 'p' }),
        publish.subarray(0, 1024),
      );
      // The CONNECT itself was fine: the close comes from the PUBLISH's announced size, with no CONNACK.
      await client.closed(3000);
    });
  });
}
