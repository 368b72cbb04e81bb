// 05: sessions: clean and persistent, Session Present, subscriptions and QoS 1/2 messages kept
// while offline, QoS 0 not kept, clean start discarding the session, the per-session queue limit.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, startBroker, waitUntil } from '../helpers/broker.js';

for (const v of VERSIONS) {
  /** A session that outlives its connection: Clean Session 0 (3.1.1), Clean Start 0 with an expiry (5.0). */
  const persistent = (clientId: string): pkt.ConnectOptions => ({
    version: v,
    clientId,
    clean: false,
    ...(v === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });
  /** A session that ends with its connection. */
  const clean = (clientId: string): pkt.ConnectOptions => ({ version: v, clientId, clean: true });

  describe(`05 sessions (v${v})`, () => {
    it(`${cite(v, 'MQTT-3.2.2-3 MQTT-3.2.2-2 MQTT-3.1.2-4', 'MQTT-3.2.2-3 MQTT-3.1.2-5 MQTT-3.1.2-6')} a persistent session is created with Session Present 0 and resumed with Session Present 1 (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const first = await RawClient.connect(port, persistent('p'));
      assert.equal(first.connack.sessionPresent, false);
      await first.disconnect();
      const second = await RawClient.connect(port, persistent('p'));
      assert.equal(second.connack.sessionPresent, true);
    });

    it(`${cite(v, 'MQTT-3.2.2-1 MQTT-3.1.2-6', 'MQTT-3.2.2-2 MQTT-3.1.2-4')} a clean session gets Session Present 0 and discards the previous session and its subscriptions (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const first = await RawClient.connect(port, persistent('c'));
      await first.subscribe('cleaned/#', 1);
      await first.disconnect();
      const second = await RawClient.connect(port, clean('c'));
      assert.equal(second.connack.sessionPresent, false);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'cleaned/x', payload: 'x', qos: 1 });
      await second.expectNothing(150);
      await second.disconnect();
      // The clean session ended with its connection: nothing remains to resume.
      const third = await RawClient.connect(port, persistent('c'));
      assert.equal(third.connack.sessionPresent, false);
    });

    it(`${cite(v, 'MQTT-3.1.2-4 MQTT-3.1.2-5 MQTT-4.1.0-1', 'MQTT-3.1.2-5 MQTT-3.1.2-23 MQTT-4.1.0-1')} a persistent session keeps its subscriptions and the QoS 1 and 2 messages that arrive while it is offline (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, persistent('offline'));
      await sub.subscribe('off/#', 2);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'off/1', payload: 'one', qos: 1 });
      await pub.publish({ topic: 'off/0', payload: 'zero', qos: 0 });
      await pub.publish({ topic: 'off/2', payload: 'two', qos: 2 });
      const back = await RawClient.connect(port, persistent('offline'));
      assert.equal(back.connack.sessionPresent, true);
      const one = await back.receive();
      assert.deepEqual([one.topic, one.qos, one.dup], ['off/1', 1, false]);
      const two = await back.receive();
      assert.deepEqual([two.topic, two.qos, two.dup], ['off/2', 2, false]);
      // QoS 0 messages are not kept for an offline session (a broker policy the standards allow).
      await back.expectNothing(150);
      // The subscription itself survived: live messages arrive without subscribing again.
      await pub.publish({ topic: 'off/live', payload: 'live', qos: 1 });
      assert.equal((await back.receive()).topic, 'off/live');
    });

    it(`${cite(v, 'MQTT-3.1.2-6', 'MQTT-3.1.2-4')} a clean session's subscriptions and queued messages are gone after it disconnects (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const sub = await RawClient.connect(port, clean('gone'));
      await sub.subscribe('gone/#', 1);
      await sub.disconnect();
      await waitUntil(() => !broker.sessions.has('gone'), 'the clean session has ended');
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      assert.equal(await pub.publish({ topic: 'gone/x', payload: 'x', qos: 1 }), v === 5 ? 0x10 : 0);
      const back = await RawClient.connect(port, persistent('gone'));
      assert.equal(back.connack.sessionPresent, false);
      await back.expectNothing(150);
    });

    it(`${cite(v, 'MQTT-3.1.2-6', 'MQTT-4.1.0-2')} a clean session taken over by a connection asking to resume is not resumed: Session Present 0, no subscriptions (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const first = await RawClient.connect(port, clean('ephemeral'));
      await first.subscribe('ephemeral/#', 1);
      const second = await RawClient.connect(port, persistent('ephemeral'));
      assert.equal(second.connack.sessionPresent, false, 'the clean session ended with its connection');
      if (v === 5) await first.next('disconnect');
      await first.closed();
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'ephemeral/x', payload: 'x', qos: 1 });
      await second.expectNothing(150);
    });

    it(`a persistent session taken back with a clean ${v === 5 ? 'start' : 'session'} drops the messages queued for it (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, persistent('drop'));
      await sub.subscribe('drop/#', 1);
      sub.destroy();
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'drop/x', payload: 'x', qos: 1 });
      const back = await RawClient.connect(port, clean('drop'));
      assert.equal(back.connack.sessionPresent, false);
      await back.expectNothing(150);
    });

    it(`without a spool, messages beyond maxQueuedMessages for an offline session are dropped, newest first, and counted in session.dropped (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxQueuedMessages: 3, maxSpoolBytes: 0 }); // no spool: the memory queue alone
      const sub = await RawClient.connect(port, persistent('small'));
      await sub.subscribe('queue/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      for (let i = 0; i < 5; i++) await pub.publish({ topic: 'queue/x', payload: String(i), qos: 1 });
      const session = broker.sessions.get('small');
      assert.ok(session !== undefined);
      assert.equal(session.queuedCount, 3);
      assert.equal(session.dropped['queue-full'], 2);
      const back = await RawClient.connect(port, persistent('small'));
      const payloads = [];
      for (let i = 0; i < 3; i++) payloads.push((await back.receive()).payload.toString());
      assert.deepEqual(payloads, ['0', '1', '2'], 'the oldest three were kept');
      await back.expectNothing(150);
    });

    it(`a QoS 1 message sent but unacknowledged when the connection drops is kept for the persistent session (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const sub = await RawClient.connect(port, persistent('inflight'));
      await sub.subscribe('inflight/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'inflight/x', payload: 'x', qos: 1 });
      await sub.next('publish');
      sub.destroy();
      await pub.ping();
      assert.equal(broker.sessions.get('inflight')?.inflightCount, 1);
      const back = await RawClient.connect(port, persistent('inflight'));
      const again = await back.receive();
      assert.equal(again.dup, true);
      assert.equal(again.payload.toString(), 'x');
    });
  });
}
