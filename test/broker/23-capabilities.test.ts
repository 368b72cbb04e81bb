// 23: what the broker says it can do and holds clients to: Maximum QoS, Retain Available, Wildcard
// Subscription Available, Subscription Identifiers Available and Server Keep Alive, announced in
// a 5.0 CONNACK when they differ from the protocol's defaults. Run for 3.1.1 and 5.0 where they apply.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker, VERSIONS } from '../helpers/broker.js';

/** Sends `connect` on a new connection and returns the CONNACK, whatever its code. */
async function connackFor(port: number, connect: pkt.ConnectOptions): Promise<{ client: RawClient; code: number }> {
  const client = await RawClient.open(port, connect.version ?? 4);
  client.send(pkt.connect(connect));
  const connack = await client.next('connack');
  return { client, code: connack.reasonCode };
}

describe('23 capabilities', () => {
  it('[MQTT-3.2.2-9] a CONNACK announces no capability the broker has by default (v5)', async (t) => {
    const { port } = await startBroker(t);
    const { connack } = await RawClient.connect(port, { version: 5, clientId: 'defaults' });
    assert.equal(connack.properties.maximumQoS, undefined);
    assert.equal(connack.properties.retainAvailable, undefined);
    assert.equal(connack.properties.wildcardSubscriptionAvailable, undefined);
    assert.equal(connack.properties.subscriptionIdentifiersAvailable, undefined);
    assert.equal(connack.properties.serverKeepAlive, undefined);
  });

  for (const maximumQoS of [0, 1] as const) {
    it(`[MQTT-3.2.2-9] with maximumQoS ${maximumQoS}, CONNACK carries Maximum QoS ${maximumQoS} (v5)`, async (t) => {
      const { port } = await startBroker(t, { maximumQoS });
      const { connack } = await RawClient.connect(port, { version: 5, clientId: 'caps' });
      assert.equal(connack.properties.maximumQoS, maximumQoS);
    });
  }

  it('[MQTT-3.2.2-11] with maximumQoS 1, a QoS 2 PUBLISH gets DISCONNECT 0x9B and is not delivered (v5)', async (t) => {
    const { port } = await startBroker(t, { maximumQoS: 1 });
    const subscriber = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await subscriber.subscribe({ topic: 'q/#', qos: 1 });
    const client = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    client.send(pkt.publish(5, { topic: 'q/two', payload: 'x', qos: 2, packetId: 1 }));
    assert.equal((await client.next('disconnect')).reasonCode, 0x9b);
    await client.closed();
    await subscriber.expectNothing();
  });

  it('[MQTT-3.2.2-11] with maximumQoS 1, a QoS 2 PUBLISH closes the connection (v4)', async (t) => {
    const { port } = await startBroker(t, { maximumQoS: 1 });
    const client = await RawClient.connect(port, { version: 4, clientId: 'pub' });
    client.send(pkt.publish(4, { topic: 'q/two', payload: 'x', qos: 2, packetId: 1 }));
    await client.closed();
  });

  it('with maximumQoS 1, a QoS 1 PUBLISH is still accepted (v5)', async (t) => {
    const { port } = await startBroker(t, { maximumQoS: 1 });
    const client = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    client.send(pkt.publish(5, { topic: 'q/one', payload: 'x', qos: 1, packetId: 1 }));
    assert.equal((await client.next('puback')).packetId, 1);
  });

  for (const v of VERSIONS) {
    it(`[MQTT-3.2.2-10] with maximumQoS 1, a SUBSCRIBE at QoS 2 is accepted and granted QoS 1, and messages arrive at QoS 1 (v${v})`, async (t) => {
      const { port } = await startBroker(t, { maximumQoS: 1 });
      const client = await RawClient.connect(port, { version: v, clientId: 'sub' });
      client.send(
        pkt.subscribe(v, 1, [
          { topic: 'a/#', qos: 2 },
          { topic: 'b', qos: 0 },
        ]),
      );
      assert.deepEqual((await client.next('suback')).reasonCodes, [1, 0]);
      const publisher = await RawClient.connect(port, { version: v, clientId: 'pub' });
      publisher.send(pkt.publish(v, { topic: 'a/x', payload: 'hi', qos: 1, packetId: 7 }));
      const message = await client.receive();
      assert.equal(message.qos, 1);
    });

    it(`with maximumQoS 0, every subscription is granted QoS 0 (v${v})`, async (t) => {
      const { port } = await startBroker(t, { maximumQoS: 0 });
      const client = await RawClient.connect(port, { version: v, clientId: 'sub' });
      client.send(
        pkt.subscribe(v, 1, [
          { topic: 'a', qos: 2 },
          { topic: 'b', qos: 1 },
        ]),
      );
      assert.deepEqual((await client.next('suback')).reasonCodes, [0, 0]);
    });
  }

  it('[MQTT-3.2.2-12] with maximumQoS 1, a CONNECT with a QoS 2 will gets CONNACK 0x9B and a close (v5)', async (t) => {
    const { port } = await startBroker(t, { maximumQoS: 1 });
    const { client, code } = await connackFor(port, {
      version: 5,
      clientId: 'will',
      will: { topic: 'w', payload: 'bye', qos: 2 },
    });
    assert.equal(code, 0x9b);
    await client.closed();
  });

  it('with maximumQoS 1, a CONNECT with a QoS 1 will is accepted (v5)', async (t) => {
    const { port } = await startBroker(t, { maximumQoS: 1 });
    await RawClient.connect(port, { version: 5, clientId: 'will', will: { topic: 'w', payload: 'bye', qos: 1 } });
  });

  it('with maximumQoS 1, a CONNECT with a QoS 2 will is refused with a non-zero return code (v4)', async (t) => {
    const { port } = await startBroker(t, { maximumQoS: 1 });
    const { client, code } = await connackFor(port, {
      version: 4,
      clientId: 'will',
      will: { topic: 'w', payload: 'bye', qos: 2 },
    });
    assert.notEqual(code, 0);
    await client.closed();
  });

  it('[MQTT-3.2.2-13] with retainAvailable false, CONNACK carries Retain Available 0 and a retained will gets CONNACK 0x9A (v5)', async (t) => {
    const { port } = await startBroker(t, { retainAvailable: false });
    const { connack } = await RawClient.connect(port, { version: 5, clientId: 'caps' });
    assert.equal(connack.properties.retainAvailable, 0);
    const { client, code } = await connackFor(port, {
      version: 5,
      clientId: 'will',
      will: { topic: 'w', payload: 'bye', retain: true },
    });
    assert.equal(code, 0x9a);
    await client.closed();
  });

  it('[MQTT-3.2.2-14] with retainAvailable false, a retained PUBLISH gets DISCONNECT 0x9A and nothing is retained (v5)', async (t) => {
    const { port } = await startBroker(t, { retainAvailable: false });
    const client = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    client.send(pkt.publish(5, { topic: 'r', payload: 'x', qos: 1, packetId: 1, retain: true }));
    assert.equal((await client.next('disconnect')).reasonCode, 0x9a);
    await client.closed();
    const subscriber = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await subscriber.subscribe({ topic: 'r', qos: 1 });
    await subscriber.expectNothing();
  });

  it('[MQTT-3.2.2-14] with retainAvailable false, a retained PUBLISH closes the connection (v4)', async (t) => {
    const { port } = await startBroker(t, { retainAvailable: false });
    const client = await RawClient.connect(port, { version: 4, clientId: 'pub' });
    client.send(pkt.publish(4, { topic: 'r', payload: 'x', qos: 0, retain: true }));
    await client.closed();
  });

  it('with wildcardSubscriptionAvailable false, CONNACK says so and wildcard filters get SUBACK 0xA2, others are granted (v5)', async (t) => {
    const { port } = await startBroker(t, { wildcardSubscriptionAvailable: false });
    const client = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    assert.equal(client.connack.properties.wildcardSubscriptionAvailable, 0);
    client.send(
      pkt.subscribe(5, 1, [
        { topic: 'a/+', qos: 1 },
        { topic: '#', qos: 1 },
        { topic: '$share/g/a/#', qos: 1 },
        { topic: 'a/b', qos: 1 },
      ]),
    );
    assert.deepEqual((await client.next('suback')).reasonCodes, [0xa2, 0xa2, 0xa2, 1]);
  });

  it('with wildcardSubscriptionAvailable false, wildcard filters get SUBACK 0x80 (v4)', async (t) => {
    const { port } = await startBroker(t, { wildcardSubscriptionAvailable: false });
    const client = await RawClient.connect(port, { version: 4, clientId: 'sub' });
    client.send(
      pkt.subscribe(4, 1, [
        { topic: 'a/+', qos: 1 },
        { topic: 'a/b', qos: 1 },
      ]),
    );
    assert.deepEqual((await client.next('suback')).reasonCodes, [0x80, 1]);
  });

  it('with subscriptionIdentifiersAvailable false, CONNACK says so and a SUBSCRIBE with an identifier gets DISCONNECT 0xA1 (v5)', async (t) => {
    const { port } = await startBroker(t, { subscriptionIdentifiersAvailable: false });
    const client = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    assert.equal(client.connack.properties.subscriptionIdentifiersAvailable, 0);
    client.send(pkt.subscribe(5, 1, [{ topic: 'a', qos: 1 }]));
    assert.deepEqual((await client.next('suback')).reasonCodes, [1]);
    client.send(pkt.subscribe(5, 2, [{ topic: 'b', qos: 1 }], { subscriptionIdentifier: 3 }));
    assert.equal((await client.next('disconnect')).reasonCode, 0xa1);
    await client.closed();
  });

  it('[MQTT-3.2.2-21] with serverKeepAlive set, CONNACK carries Server Keep Alive and the broker holds the client to it (v5)', async (t) => {
    const { port } = await startBroker(t, { serverKeepAlive: 1 });
    const client = await RawClient.connect(port, { version: 5, clientId: 'sleepy', keepAlive: 600 });
    assert.equal(client.connack.properties.serverKeepAlive, 1);
    const start = Date.now();
    assert.equal((await client.next('disconnect', 3000)).reasonCode, 0x8d);
    await client.closed(3000);
    const elapsed = Date.now() - start;
    assert.ok(elapsed >= 1400 && elapsed < 2500, `closed after ${elapsed} ms; expected about 1500`);
  });

  it('[MQTT-3.2.2-22] without serverKeepAlive, the client keep alive is used and none is announced (v5)', async (t) => {
    const { port } = await startBroker(t);
    const client = await RawClient.connect(port, { version: 5, clientId: 'awake', keepAlive: 600 });
    assert.equal(client.connack.properties.serverKeepAlive, undefined);
    await client.expectNothing(1700);
    assert.equal(client.closedYet, false);
  });

  it('serverKeepAlive does not apply to 3.1.1 clients, who cannot be told of it (v4)', async (t) => {
    const { port } = await startBroker(t, { serverKeepAlive: 1 });
    const client = await RawClient.connect(port, { version: 4, clientId: 'awake', keepAlive: 600 });
    await client.expectNothing(1700);
    assert.equal(client.closedYet, false);
  });
});
