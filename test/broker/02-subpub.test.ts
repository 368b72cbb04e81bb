// 02: SUBSCRIBE, UNSUBSCRIBE and PUBLISH routing: wildcards, `$` topics, invalid filters,
// replaced and overlapping subscriptions, QoS downgrade, invalid topic names, PINGREQ.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, startBroker } from '../helpers/broker.js';

for (const v of VERSIONS) {
  describe(`02 subscribe and publish (v${v})`, () => {
    it(`${cite(v, 'MQTT-3.8.4-1 MQTT-3.8.4-2 MQTT-4.5.0-1', 'MQTT-3.8.4-1 MQTT-3.8.4-2 MQTT-4.5.0-1')} a subscriber gets SUBACK with the SUBSCRIBE's packet id and then the messages published to its topic (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      sub.send(pkt.subscribe(v, 0x1234, [{ topic: 'a/b', qos: 0 }]));
      const suback = await sub.next('suback');
      assert.equal(suback.packetId, 0x1234);
      assert.deepEqual(suback.reasonCodes, [0]);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'a/b', payload: 'hello' });
      const message = await sub.next('publish');
      assert.equal(message.topic, 'a/b');
      assert.equal(message.payload.toString(), 'hello');
      assert.equal(message.qos, 0);
      assert.equal(message.retain, false);
      assert.equal(message.dup, false);
      await pub.publish({ topic: 'a/c', payload: 'elsewhere' });
      await sub.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-4.7.1-3 MQTT-3.3.2-3', 'MQTT-4.7.1-2 MQTT-3.3.2-3')} '+' matches exactly one level, including an empty one (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('sport/+/score');
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      for (const topic of ['sport/tennis/score', 'sport/tennis/player/score', 'sport/score', 'sport//score']) {
        await pub.publish({ topic, payload: topic });
      }
      assert.equal((await sub.next('publish')).topic, 'sport/tennis/score');
      assert.equal((await sub.next('publish')).topic, 'sport//score');
      await sub.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-4.7.1-2 MQTT-3.3.2-3', 'MQTT-4.7.1-1 MQTT-3.3.2-3')} '#' matches the parent level and every level below it (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('sport/tennis/#');
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const topics = ['sport/tennis', 'sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/golf', 'sport'];
      for (const topic of topics) await pub.publish({ topic, payload: topic });
      assert.equal((await sub.next('publish')).topic, 'sport/tennis');
      assert.equal((await sub.next('publish')).topic, 'sport/tennis/player1');
      assert.equal((await sub.next('publish')).topic, 'sport/tennis/player1/ranking');
      await sub.expectNothing(100);
    });

    it(`[MQTT-4.7.2-1] topics starting with '$' are not matched by filters starting with '#' or '+', only by filters naming them (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const all = await RawClient.connect(port, { version: v, clientId: 'all' });
      await all.subscribe(['#', '+/monitor/Clients', '+/+/+']);
      const sys = await RawClient.connect(port, { version: v, clientId: 'sys' });
      await sys.subscribe(['$SYS/#']);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: '$SYS/monitor/Clients', payload: 'x' });
      await pub.publish({ topic: 'plain/monitor/Clients', payload: 'y' });
      const message = await sys.next('publish');
      assert.equal(message.topic, '$SYS/monitor/Clients');
      const plain = await all.next('publish');
      assert.equal(plain.topic, 'plain/monitor/Clients', 'the $ topic was not delivered to # or +/...');
      await all.expectNothing(100);
      await sys.expectNothing(0);
    });

    it(`${cite(v, 'MQTT-3.8.4-4 MQTT-3.8.4-5 MQTT-3.9.3-1', 'MQTT-3.8.4-5 MQTT-3.8.4-6 MQTT-3.8.4-7 MQTT-3.9.3-1')} refused filters (too long, not authorized) get ${v === 5 ? '0x8F / 0x87' : '0x80'} in SUBACK while the others of the same SUBSCRIBE succeed, in order (v${v})`, async (t) => {
      // Malformed filters ('a/#/b', 'a+', '') close the connection instead: 31-filters
      const { port } = await startBroker(t, {
        maxTopicLength: 32,
        hooks: { authorizeSubscribe: (_client, filter) => !filter.startsWith('no/') },
      });
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      const tooLong = v === 5 ? 0x8f : 0x80;
      const notAuthorized = v === 5 ? 0x87 : 0x80;
      const codes = await sub.subscribe([
        { topic: 'ok/one', qos: 1 },
        { topic: `long/${'x'.repeat(40)}`, qos: 1 },
        { topic: 'ok/two', qos: 2 },
        { topic: 'no/+', qos: 0 },
        { topic: 'ok/+/three', qos: 0 },
      ]);
      assert.deepEqual(codes, [1, tooLong, 2, notAuthorized, 0]);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'ok/two', payload: '2', qos: 2 });
      const message = await sub.receive();
      assert.equal(message.topic, 'ok/two');
      assert.equal(message.qos, 2);
    });

    it(`${cite(v, 'MQTT-3.10.4-1 MQTT-3.10.4-2 MQTT-3.10.4-4', 'MQTT-3.10.4-1 MQTT-3.10.4-2 MQTT-3.10.4-4 MQTT-3.11.3-1')} UNSUBSCRIBE stops delivery for exactly the filter named, answered by UNSUBACK with its packet id (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe(['unsub/a', 'unsub/+']);
      sub.send(pkt.unsubscribe(v, 0x4321, ['unsub/a', 'unsub/#']));
      const unsuback = await sub.next('unsuback');
      assert.equal(unsuback.packetId, 0x4321);
      // 'unsub/#' does not remove 'unsub/+': filters compare character by character.
      if (v === 5) assert.deepEqual(unsuback.reasonCodes, [0x00, 0x11]);
      else assert.deepEqual(unsuback.reasonCodes, []);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'unsub/a', payload: 'once' });
      assert.equal((await sub.next('publish')).payload.toString(), 'once', 'still delivered once through unsub/+');
      await sub.unsubscribe('unsub/+');
      await pub.publish({ topic: 'unsub/a', payload: 'never' });
      await sub.expectNothing(150);
    });

    it(`${cite(v, 'MQTT-3.10.4-5', 'MQTT-3.10.4-5')} UNSUBACK is sent even when nothing was subscribed${v === 5 ? ', with 0x11 No Subscription Existed' : ''} (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, { version: v, clientId: 'c' });
      const codes = await client.unsubscribe(['never/subscribed', 'nor/#']);
      assert.deepEqual(codes, v === 5 ? [0x11, 0x11] : []);
    });

    it(`[MQTT-3.8.4-3] subscribing again to the same filter replaces the subscription: one delivery, at the new QoS (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      assert.deepEqual(await sub.subscribe('same/filter', 2), [2]);
      assert.deepEqual(await sub.subscribe('same/filter', 1), [1]);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'same/filter', payload: 'x', qos: 2 });
      const message = await sub.receive();
      assert.equal(message.qos, 1, 'the second SUBSCRIBE replaced the QoS');
      await sub.expectNothing(150);
    });

    it(`${cite(v, 'MQTT-3.3.5-1', 'MQTT-3.3.4-2')} overlapping subscriptions deliver a message once, at the highest granted QoS (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe([
        { topic: 'over/#', qos: 0 },
        { topic: 'over/+/x', qos: 2 },
        { topic: 'over/lap/x', qos: 1 },
      ]);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'over/lap/x', payload: 'x', qos: 2 });
      const message = await sub.receive();
      assert.equal(message.qos, 2);
      await sub.expectNothing(150);
    });

    it(`${cite(v, 'MQTT-3.8.4-6', 'MQTT-3.8.4-8')} messages are delivered at min(published QoS, granted QoS) (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const q0 = await RawClient.connect(port, { version: v, clientId: 'q0' });
      const q1 = await RawClient.connect(port, { version: v, clientId: 'q1' });
      const q2 = await RawClient.connect(port, { version: v, clientId: 'q2' });
      await q0.subscribe('down/#', 0);
      await q1.subscribe('down/#', 1);
      await q2.subscribe('down/#', 2);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      for (const qos of [0, 1, 2] as const) {
        await pub.publish({ topic: `down/${qos}`, payload: String(qos), qos });
        for (const [granted, client] of [q0, q1, q2].entries()) {
          const message = await client.receive();
          assert.equal(message.topic, `down/${qos}`);
          assert.equal(message.qos, Math.min(qos, granted), `published at ${qos}, granted ${granted}`);
        }
      }
    });

    it(`${cite(v, 'MQTT-3.3.2-2 MQTT-4.7.1-1', 'MQTT-3.3.2-2 MQTT-4.7.0-1')} a PUBLISH whose topic has a wildcard closes the connection${v === 5 ? ' with DISCONNECT 0x90' : ''} and reaches no one (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('#');
      for (const topic of ['wild/+', 'wild/#']) {
        const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
        pub.send(pkt.publish(v, { topic, payload: 'x', qos: 1, packetId: 7 }));
        if (v === 5) assert.equal((await pub.next('disconnect')).reasonCode, 0x90);
        await pub.closed();
      }
      await sub.expectNothing(100);
    });

    it(`[MQTT-3.12.4-1] PINGREQ is answered by PINGRESP (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, { version: v, clientId: 'ping' });
      client.send(pkt.pingreq(), pkt.pingreq());
      await client.next('pingresp');
      await client.next('pingresp');
    });

    it(`${cite(v, 'MQTT-4.6.0-6', 'MQTT-4.6.0-5')} one SUBSCRIBE with many filters and messages from one publisher arrive in publish order (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe(['order/a', 'order/b', 'order/c']);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const sent: string[] = [];
      for (let i = 0; i < 30; i++) {
        const topic = `order/${'abc'[i % 3]!}`;
        sent.push(`${topic}:${i}`);
        pub.send(pkt.publish(v, { topic, payload: String(i) }));
      }
      const received: string[] = [];
      for (let i = 0; i < 30; i++) {
        const message = await sub.next('publish');
        received.push(`${message.topic}:${message.payload.toString()}`);
      }
      assert.deepEqual(received, sent);
    });
  });
}

describe('02 subscribe and publish: 5.0 subscription options (v5)', () => {
  it("[MQTT-3.8.3-3] No Local keeps a client's own messages from coming back to it, and only to it (v5)", async (t) => {
    const { port } = await startBroker(t);
    const self = await RawClient.connect(port, { version: 5, clientId: 'self' });
    await self.subscribe({ topic: 'nolocal/#', qos: 1, noLocal: true });
    const other = await RawClient.connect(port, { version: 5, clientId: 'other' });
    await other.subscribe({ topic: 'nolocal/#', qos: 1, noLocal: true });
    await self.publish({ topic: 'nolocal/x', payload: 'mine', qos: 1 });
    assert.equal((await other.receive()).payload.toString(), 'mine');
    await self.expectNothing(150);
    await other.publish({ topic: 'nolocal/x', payload: 'theirs', qos: 1 });
    assert.equal((await self.receive()).payload.toString(), 'theirs');
  });

  it('[MQTT-3.3.4-3] [MQTT-3.3.4-4] one delivery for overlapping subscriptions carries the Subscription Identifier of each (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'ids' });
    await sub.subscribe({ topic: 'ids/+', qos: 1 }, 1, { subscriptionIdentifier: 7 });
    await sub.subscribe({ topic: 'ids/#', qos: 1 }, 1, { subscriptionIdentifier: 300 });
    await sub.subscribe({ topic: 'ids/plain', qos: 1 }, 1);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'ids-pub' });
    await pub.publish({ topic: 'ids/plain', payload: 'x', qos: 1 });
    const message = await sub.receive();
    assert.deepEqual(
      [...(message.properties.subscriptionIdentifiers ?? [])].sort((a, b) => a - b),
      [7, 300],
    );
    await sub.expectNothing(150);
    await pub.publish({ topic: 'ids/a/b', payload: 'y', qos: 1 });
    assert.deepEqual((await sub.receive()).properties.subscriptionIdentifiers, [300]);
  });
});
