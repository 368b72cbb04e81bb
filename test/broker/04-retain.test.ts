// 04: retained messages: stored, replaced, deleted, sent on subscribe with RETAIN 1, forwarded
// with RETAIN 0, QoS downgrade, wildcards; 5.0 Retain Handling and Retain As Published.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, startBroker } from '../helpers/broker.js';

for (const v of VERSIONS) {
  describe(`04 retained messages (v${v})`, () => {
    it(`${cite(v, 'MQTT-3.3.1-5 MQTT-3.3.1-6 MQTT-3.3.1-8', 'MQTT-3.3.1-5 MQTT-3.3.1-9')} a retained message is stored and sent with RETAIN 1 to each new subscriber (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'ret/a', payload: 'kept', qos: 1, retain: true });
      await pub.disconnect();
      for (const clientId of ['first', 'second']) {
        const sub = await RawClient.connect(port, { version: v, clientId });
        await sub.subscribe('ret/a', 1);
        const message = await sub.receive();
        assert.equal(message.topic, 'ret/a');
        assert.equal(message.payload.toString(), 'kept');
        assert.equal(message.retain, true);
        assert.equal(message.qos, 1);
        await sub.expectNothing(50);
      }
    });

    it(`${cite(v, 'MQTT-3.3.1-5 MQTT-3.3.1-7', 'MQTT-3.3.1-5')} a new retained message replaces the previous one, at QoS 0 too (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'ret/r', payload: 'old', qos: 1, retain: true });
      await pub.publish({ topic: 'ret/r', payload: 'new', qos: 0, retain: true });
      await pub.ping();
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('ret/r', 1);
      const message = await sub.next('publish');
      assert.equal(message.payload.toString(), 'new');
      assert.equal(message.qos, 0);
      await sub.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-3.3.1-10 MQTT-3.3.1-11', 'MQTT-3.3.1-6 MQTT-3.3.1-7')} a retained PUBLISH with an empty payload is forwarded but deletes the retained message and is not stored (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'ret/d', payload: 'doomed', qos: 1, retain: true });
      const live = await RawClient.connect(port, { version: v, clientId: 'live' });
      await live.subscribe('ret/d', 1);
      assert.equal((await live.receive()).payload.toString(), 'doomed');
      await pub.publish({ topic: 'ret/d', payload: '', qos: 1, retain: true });
      const forwarded = await live.receive();
      assert.equal(forwarded.payload.length, 0, 'the empty message is still forwarded normally');
      assert.equal(forwarded.retain, false);
      const late = await RawClient.connect(port, { version: v, clientId: 'late' });
      await late.subscribe('ret/d', 1);
      await late.expectNothing(150);
    });

    it(`${cite(v, 'MQTT-3.3.1-12', 'MQTT-3.3.1-8')} a PUBLISH without RETAIN neither stores nor replaces the retained message (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'ret/k', payload: 'retained', retain: true });
      await pub.publish({ topic: 'ret/k', payload: 'transient' });
      await pub.publish({ topic: 'ret/other', payload: 'transient' });
      await pub.ping();
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('ret/#');
      const message = await sub.next('publish');
      assert.equal(message.topic, 'ret/k');
      assert.equal(message.payload.toString(), 'retained');
      await sub.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-3.3.1-9', 'MQTT-3.3.1-12')} a message forwarded on an established subscription has RETAIN 0 even when published with RETAIN 1 (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('ret/live', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'ret/live', payload: 'x', qos: 1, retain: true });
      const message = await sub.receive();
      assert.equal(message.retain, false);
      assert.equal(message.payload.toString(), 'x');
    });

    it(`${cite(v, 'MQTT-3.8.4-6', 'MQTT-3.8.4-8')} a retained message is sent at min(its QoS, the granted QoS) (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'ret/q2', payload: 'two', qos: 2, retain: true });
      await pub.publish({ topic: 'ret/q0', payload: 'zero', qos: 0, retain: true });
      const low = await RawClient.connect(port, { version: v, clientId: 'low' });
      await low.subscribe('ret/q2', 1);
      const downgraded = await low.receive();
      assert.equal(downgraded.qos, 1);
      assert.equal(downgraded.retain, true);
      const high = await RawClient.connect(port, { version: v, clientId: 'high' });
      await high.subscribe('ret/q0', 2);
      assert.equal((await high.receive()).qos, 0, 'never upgraded');
    });

    it(`${cite(v, 'MQTT-3.3.1-6', 'MQTT-3.3.1-9')} a wildcard subscription receives every matching retained message, each with RETAIN 1 (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const topics = ['house/kitchen/temp', 'house/hall/temp', 'house/kitchen/light', 'garden/temp'];
      for (const topic of topics) await pub.publish({ topic, payload: topic, qos: 1, retain: true });
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('house/+/temp', 1);
      const received = [(await sub.receive()).topic, (await sub.receive()).topic].sort();
      assert.deepEqual(received, ['house/hall/temp', 'house/kitchen/temp']);
      await sub.expectNothing(100);
      const all = await RawClient.connect(port, { version: v, clientId: 'all' });
      await all.subscribe('#');
      const every: string[] = [];
      for (let i = 0; i < topics.length; i++) {
        const message = await all.next('publish');
        assert.equal(message.retain, true);
        every.push(message.topic);
      }
      assert.deepEqual(every.sort(), [...topics].sort());
    });

    it(`${cite(v, 'MQTT-3.1.2-7 MQTT-3.8.4-3', 'MQTT-3.8.4-4')} retained messages outlive their publisher's session and are sent again when a subscription is replaced (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub', clean: true });
      await pub.publish({ topic: 'ret/session', payload: 'survives', retain: true });
      await pub.disconnect();
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('ret/session');
      assert.equal((await sub.next('publish')).payload.toString(), 'survives');
      await sub.subscribe('ret/session');
      const again = await sub.next('publish');
      assert.equal(again.payload.toString(), 'survives');
      assert.equal(again.retain, true);
    });
  });
}

describe('04 retained messages: 5.0 subscription options (v5)', () => {
  it('[MQTT-3.3.1-9] Retain Handling 0 sends retained messages on every SUBSCRIBE, new or repeated (v5)', async (t) => {
    const { port } = await startBroker(t);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'rh/0', payload: 'x', retain: true });
    await pub.ping();
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe({ topic: 'rh/0', retainHandling: 0 });
    assert.equal((await sub.next('publish')).retain, true);
    await sub.subscribe({ topic: 'rh/0', retainHandling: 0 });
    assert.equal((await sub.next('publish')).retain, true);
  });

  it('[MQTT-3.3.1-10] Retain Handling 1 sends retained messages only when the subscription is new (v5)', async (t) => {
    const { port } = await startBroker(t);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'rh/1', payload: 'x', retain: true });
    await pub.ping();
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe({ topic: 'rh/1', retainHandling: 1 });
    assert.equal((await sub.next('publish')).payload.toString(), 'x');
    await sub.subscribe({ topic: 'rh/1', retainHandling: 1 });
    await sub.expectNothing(150);
  });

  it('[MQTT-3.3.1-11] Retain Handling 2 sends no retained messages, but later messages still arrive (v5)', async (t) => {
    const { port } = await startBroker(t);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'rh/2', payload: 'old', retain: true });
    await pub.ping();
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe({ topic: 'rh/2', retainHandling: 2 });
    await sub.expectNothing(150);
    await pub.publish({ topic: 'rh/2', payload: 'new' });
    assert.equal((await sub.next('publish')).payload.toString(), 'new');
  });

  it('[MQTT-3.3.1-13] [MQTT-3.3.1-12] Retain As Published forwards the RETAIN flag as the publisher set it; without it RETAIN is 0 (v5)', async (t) => {
    const { port } = await startBroker(t);
    const rap = await RawClient.connect(port, { version: 5, clientId: 'rap' });
    await rap.subscribe({ topic: 'rap/#', retainAsPublished: true });
    const plain = await RawClient.connect(port, { version: 5, clientId: 'plain' });
    await plain.subscribe({ topic: 'rap/#', retainAsPublished: false });
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'rap/r', payload: 'r', retain: true });
    await pub.publish({ topic: 'rap/n', payload: 'n', retain: false });
    const [r, n] = [await rap.next('publish'), await rap.next('publish')];
    assert.deepEqual([r.topic, r.retain, n.topic, n.retain], ['rap/r', true, 'rap/n', false]);
    const [pr, pn] = [await plain.next('publish'), await plain.next('publish')];
    assert.deepEqual([pr.retain, pn.retain], [false, false]);
  });
});
