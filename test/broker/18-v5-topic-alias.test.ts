// 18: MQTT 5 topic aliases, both ways: aliases a client sets on its PUBLISHes, and aliases the
// broker assigns on what it sends, each per connection and within the other side's maximum.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker } from '../helpers/broker.js';

describe('18 v5 topic aliases', () => {
  it('CONNACK announces the Topic Alias Maximum: 10 by default, or the topicAliasMaximum option (v5)', async (t) => {
    const { port } = await startBroker(t);
    const client = await RawClient.connect(port, { version: 5, clientId: 'a' });
    assert.equal(client.connack.properties.topicAliasMaximum, 10);
    const other = await startBroker(t, { topicAliasMaximum: 3 });
    const limited = await RawClient.connect(other.port, { version: 5, clientId: 'b' });
    assert.equal(limited.connack.properties.topicAliasMaximum, 3);
  });

  it('[MQTT-3.3.2-12] every alias from 1 to the maximum is accepted: a PUBLISH sets it, later ones with an empty topic use it, and subscribers get the topic without the alias (v5)', async (t) => {
    const { port } = await startBroker(t, { topicAliasMaximum: 3 });
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe('alias/#', 1);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    for (const alias of [1, 2, 3]) {
      await pub.publish({ topic: `alias/${alias}`, payload: 'set', qos: 1, properties: { topicAlias: alias } });
    }
    for (const alias of [3, 1, 2]) {
      await pub.publish({ topic: '', payload: 'use', qos: 1, properties: { topicAlias: alias } });
    }
    // An alias can be mapped again to another topic.
    await pub.publish({ topic: 'alias/again', payload: 'set', qos: 1, properties: { topicAlias: 1 } });
    await pub.publish({ topic: '', payload: 'use', qos: 1, properties: { topicAlias: 1 } });
    const got: string[] = [];
    for (let i = 0; i < 8; i++) {
      const message = await sub.receive();
      assert.equal(message.properties.topicAlias, undefined, "the publisher's alias is not forwarded");
      got.push(`${message.topic} ${message.payload.toString()}`);
    }
    assert.deepEqual(got, [
      'alias/1 set',
      'alias/2 set',
      'alias/3 set',
      'alias/3 use',
      'alias/1 use',
      'alias/2 use',
      'alias/again set',
      'alias/again use',
    ]);
  });

  // Table 2-6 defines 0x94 for an alias above the maximum; an alias of 0 is "not permitted"
  // (section 3.3.2.3.4), which the codec refuses as a protocol error.
  for (const [alias, code, what] of [
    [0, 0x82, 'an alias of 0 [MQTT-3.3.2-8] gets DISCONNECT 0x82 (Protocol Error)'],
    [4, 0x94, 'an alias above the Topic Alias Maximum [MQTT-3.3.2-9] gets DISCONNECT 0x94 (Topic Alias invalid)'],
  ] as const) {
    it(`${what} and a close, and the message is not routed (v5)`, async (t) => {
      const { broker, port } = await startBroker(t, { topicAliasMaximum: 3 });
      const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
      pub.send(pkt.publish(5, { topic: 'alias/x', payload: 'x', properties: { topicAlias: alias } }));
      assert.equal((await pub.next('disconnect')).reasonCode, code);
      await pub.closed();
      assert.equal(broker.counters.messagesReceived, 0);
    });
  }

  it('with topicAliasMaximum 0, any alias gets DISCONNECT 0x94 (v5)', async (t) => {
    const { port } = await startBroker(t, { topicAliasMaximum: 0 });
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    assert.equal(pub.connack.properties.topicAliasMaximum ?? 0, 0);
    pub.send(pkt.publish(5, { topic: 'alias/x', payload: 'x', properties: { topicAlias: 1 } }));
    assert.equal((await pub.next('disconnect')).reasonCode, 0x94);
    await pub.closed();
  });

  it('an empty topic with an alias the client never set is a protocol error: DISCONNECT 0x82 (v5)', async (t) => {
    const { port } = await startBroker(t);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    pub.send(pkt.publish(5, { topic: '', payload: 'x', properties: { topicAlias: 2 } }));
    assert.equal((await pub.next('disconnect')).reasonCode, 0x82);
    await pub.closed();
  });

  it('[MQTT-3.3.2-7] aliases do not outlive the connection: after a reconnect to the same session, an alias set before is unknown (v5)', async (t) => {
    const { port } = await startBroker(t);
    const options = { version: 5, clientId: 'pub', clean: false, properties: { sessionExpiryInterval: 60 } } as const;
    const first = await RawClient.connect(port, options);
    await first.publish({ topic: 'alias/x', payload: 'set', qos: 1, properties: { topicAlias: 1 } });
    await first.disconnect();
    const second = await RawClient.connect(port, options);
    assert.equal(second.connack.sessionPresent, true);
    second.send(pkt.publish(5, { topic: '', payload: 'use', properties: { topicAlias: 1 } }));
    assert.equal((await second.next('disconnect')).reasonCode, 0x82);
  });

  it("[MQTT-3.1.2-26] [MQTT-3.3.2-11] the broker assigns aliases up to the client's Topic Alias Maximum: first PUBLISH with topic and alias, later ones with an empty topic; topics beyond the maximum go without alias (v5)", async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub', properties: { topicAliasMaximum: 2 } });
    await sub.subscribe('out/#', 1);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    const sends = ['out/a', 'out/b', 'out/c', 'out/a', 'out/b', 'out/c'];
    for (const topic of sends) {
      await pub.publish({ topic, payload: topic, qos: 0 });
      await pub.publish({ topic, payload: topic, qos: 1 });
    }
    const aliasOf = new Map<number, string>();
    const seen = new Set<string>();
    for (let i = 0; i < sends.length * 2; i++) {
      const message = await sub.receive();
      const alias = message.properties.topicAlias;
      let topic = message.topic;
      if (alias !== undefined) {
        assert.ok(alias >= 1 && alias <= 2, `alias ${alias} is within the client's maximum of 2`);
        if (topic === '') topic = aliasOf.get(alias) ?? assert.fail(`alias ${alias} used before it was set`);
        else aliasOf.set(alias, topic);
      } else {
        assert.notEqual(topic, '');
      }
      assert.equal(topic, message.payload.toString());
      // Once a topic has an alias, the broker sends it with an empty topic; out/c never gets one.
      if (topic === 'out/c') assert.equal(message.topic, 'out/c');
      else if (seen.has(topic)) assert.equal(message.topic, '');
      seen.add(topic);
    }
    assert.deepEqual([...aliasOf.values()].sort(), ['out/a', 'out/b']);
  });

  it('[MQTT-3.1.2-27] a client that gives no Topic Alias Maximum, or 0, never gets an alias from the broker (v5)', async (t) => {
    const { port } = await startBroker(t);
    const none = await RawClient.connect(port, { version: 5, clientId: 'none' });
    const zero = await RawClient.connect(port, { version: 5, clientId: 'zero', properties: { topicAliasMaximum: 0 } });
    await none.subscribe('out/#', 1);
    await zero.subscribe('out/#', 1);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    for (let i = 0; i < 3; i++) await pub.publish({ topic: 'out/a', payload: String(i), qos: i % 2 === 0 ? 0 : 1 });
    for (const sub of [none, zero]) {
      for (let i = 0; i < 3; i++) {
        const message = await sub.receive();
        assert.equal(message.topic, 'out/a');
        assert.equal(message.properties.topicAlias, undefined);
      }
    }
  });

  it("[MQTT-3.3.2-7] the broker's aliases start afresh on a new connection: the first PUBLISH after a reconnect carries the topic again (v5)", async (t) => {
    const { port } = await startBroker(t);
    const options = {
      version: 5,
      clientId: 'sub',
      clean: false,
      properties: { sessionExpiryInterval: 60, topicAliasMaximum: 5 },
    } as const;
    const first = await RawClient.connect(port, options);
    await first.subscribe('out/#', 1);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'out/a', payload: '1', qos: 1 });
    await pub.publish({ topic: 'out/a', payload: '2', qos: 1 });
    assert.equal((await first.receive()).topic, 'out/a');
    assert.equal((await first.receive()).topic, '');
    await first.disconnect();
    const second = await RawClient.connect(port, options);
    await pub.publish({ topic: 'out/a', payload: '3', qos: 1 });
    const message = await second.receive();
    assert.equal(message.topic, 'out/a');
    assert.equal(message.properties.topicAlias, 1);
  });

  it('a QoS 0 message is sent aliased to a client that uses aliases and in full to one that does not (the shared wire form is not reused for the aliased one) (v5)', async (t) => {
    const { port } = await startBroker(t);
    const plain = await RawClient.connect(port, { version: 5, clientId: 'plain' });
    const aliased = await RawClient.connect(port, {
      version: 5,
      clientId: 'aliased',
      properties: { topicAliasMaximum: 1 },
    });
    await plain.subscribe('out/#', 0);
    await aliased.subscribe('out/#', 0);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'out/a', payload: '1' });
    await pub.publish({ topic: 'out/a', payload: '2' });
    for (const payload of ['1', '2']) {
      const message = await plain.next('publish');
      assert.equal(message.topic, 'out/a');
      assert.equal(message.properties.topicAlias, undefined);
      assert.equal(message.payload.toString(), payload);
    }
    const one = await aliased.next('publish');
    const two = await aliased.next('publish');
    assert.deepEqual([one.topic, one.properties.topicAlias], ['out/a', 1]);
    assert.deepEqual([two.topic, two.properties.topicAlias], ['', 1]);
  });
});
