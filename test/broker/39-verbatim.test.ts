// 39: forwarding a PUBLISH as received (session/verbatim.ts). A QoS 0 delivery whose wire form is
// the publisher's PUBLISH gets the bytes received; every delivery whose form differs (another version,
// RETAIN flag, QoS, a subscription identifier, a topic alias of either side, an expiry interval) gets
// its own encoding; a QoS 1/2 delivery is the bytes received with its own first byte and packet id.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker } from '../helpers/broker.js';

/** Everything `client` reads from now on, as bytes. */
function capture(client: RawClient): () => Buffer {
  const chunks: Buffer[] = [];
  client.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return () => Buffer.concat(chunks);
}

for (const version of [4, 5] as const) {
  const v = `(v${version === 5 ? 5 : 3})`;
  describe(`39 forwarding as received ${v}`, () => {
    it(`a QoS 0 PUBLISH reaches a subscriber of the same version byte for byte, in order ${v}`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version, clientId: 'sub' });
      await sub.subscribe('v/+', 0);
      const bytes = capture(sub);
      const pub = await RawClient.connect(port, { version, clientId: 'pub' });
      const properties: pkt.Properties =
        version === 5
          ? {
              userProperties: [
                ['b', '2'],
                ['a', '1'],
              ],
            }
          : {};
      const sent = Array.from({ length: 50 }, (_, i) =>
        pkt.publish(version, { topic: `v/${i % 3}`, payload: `m${i}`, properties }),
      );
      pub.send(Buffer.concat(sent));
      for (let i = 0; i < 50; i++) {
        const message = await sub.receive();
        assert.equal(message.payload.toString(), `m${i}`);
        assert.equal(message.retain, false);
      }
      assert.deepEqual(bytes(), Buffer.concat(sent));
    });

    it(`[MQTT-3.3.1-9] a retained QoS 0 PUBLISH reaches a subscriber already there with RETAIN 0, and [MQTT-3.3.1-8] a new one with RETAIN 1 ${v}`, async (t) => {
      const { port } = await startBroker(t);
      const live = await RawClient.connect(port, { version, clientId: 'live' });
      await live.subscribe('r/x', 0);
      const liveBytes = capture(live);
      const pub = await RawClient.connect(port, { version, clientId: 'pub' });
      const sent = pkt.publish(version, { topic: 'r/x', payload: 'kept', retain: true });
      pub.send(sent);
      const got = await live.receive();
      assert.equal(got.retain, false);
      assert.equal(liveBytes().indexOf(sent), -1, 'the RETAIN 1 bytes are not forwarded to a normal delivery');
      const late = await RawClient.connect(port, { version, clientId: 'late' });
      const lateBytes = capture(late);
      await late.subscribe('r/x', 0);
      const retained = await late.receive();
      assert.equal(retained.retain, true);
      assert.equal(retained.payload.toString(), 'kept');
      assert.notEqual(lateBytes().indexOf(sent), -1, 'the retained message goes out as it was received');
    });

    it(`[MQTT-3.3.1-3] a QoS 1 delivery of a PUBLISH received with DUP 1 has DUP 0 and its own packet id ${v}`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version, clientId: 'sub' });
      await sub.subscribe('q/+', 2);
      const pub = await RawClient.connect(port, { version, clientId: 'pub' });
      // Long enough for a two-byte Remaining Length.
      const payload = Buffer.alloc(300, 0x5a);
      pub.send(pkt.publish(version, { topic: 'q/1', payload, qos: 1, dup: true, packetId: 4242 }));
      assert.equal((await pub.next('puback')).packetId, 4242);
      pub.send(pkt.publish(version, { topic: 'q/2', payload: 'two', qos: 2, packetId: 77 }));
      const first = await sub.receive();
      assert.deepEqual([first.topic, first.qos, first.dup], ['q/1', 1, false]);
      assert.notEqual(first.packetId, 4242);
      assert.deepEqual(first.payload, payload);
      assert.equal((await pub.next('pubrec')).packetId, 77);
      pub.send(pkt.pubrel(version, 77));
      await pub.next('pubcomp');
      const second = await sub.receive();
      assert.deepEqual([second.topic, second.qos, second.dup, second.payload.toString()], ['q/2', 2, false, 'two']);
      assert.notEqual(second.packetId, first.packetId);
    });

    it(`[MQTT-3.8.4-6] a QoS 1 PUBLISH to a QoS 0 subscription goes without a packet id ${v}`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version, clientId: 'sub' });
      await sub.subscribe('d/x', 0);
      const pub = await RawClient.connect(port, { version, clientId: 'pub' });
      await pub.publish({ topic: 'd/x', payload: 'down', qos: 1 });
      const got = await sub.receive();
      assert.deepEqual([got.qos, got.packetId, got.payload.toString()], [0, 0, 'down']);
    });
  });
}

describe('39 forwarding as received (v5 and v3 together)', () => {
  it('a 5.0 QoS 0 PUBLISH with properties reaches a 3.1.1 subscriber in the 3.1.1 form, and a 3.1.1 one a 5.0 subscriber in the 5.0 form', async (t) => {
    const { port } = await startBroker(t);
    const sub4 = await RawClient.connect(port, { version: 4, clientId: 'sub4' });
    await sub4.subscribe('mix/+', 0);
    const sub5 = await RawClient.connect(port, { version: 5, clientId: 'sub5' });
    await sub5.subscribe('mix/+', 0);
    const pub5 = await RawClient.connect(port, { version: 5, clientId: 'pub5' });
    pub5.send(pkt.publish(5, { topic: 'mix/5', payload: 'five', properties: { contentType: 'text/plain' } }));
    const pub4 = await RawClient.connect(port, { version: 4, clientId: 'pub4' });
    pub4.send(pkt.publish(4, { topic: 'mix/4', payload: 'four' }));
    const byTopic = async (client: RawClient): Promise<Map<string, string>> => {
      const got = new Map<string, string>();
      for (let i = 0; i < 2; i++) {
        const m = await client.receive();
        got.set(m.topic, `${m.payload.toString()} ${m.properties.contentType ?? '-'}`);
      }
      return got;
    };
    assert.deepEqual(
      await byTopic(sub4),
      new Map([
        ['mix/5', 'five -'],
        ['mix/4', 'four -'],
      ]),
    );
    assert.deepEqual(
      await byTopic(sub5),
      new Map([
        ['mix/5', 'five text/plain'],
        ['mix/4', 'four -'],
      ]),
    );
  });
});

describe('39 forwarding as received: 5.0 deliveries that differ from the PUBLISH (v5)', () => {
  it('[MQTT-3.3.4-3] a subscriber with a subscription identifier gets it, not the bytes received (v5)', async (t) => {
    const { port } = await startBroker(t);
    const plain = await RawClient.connect(port, { version: 5, clientId: 'plain' });
    await plain.subscribe('s/+', 0);
    const ided = await RawClient.connect(port, { version: 5, clientId: 'ided' });
    await ided.subscribe('s/+', 0, { subscriptionIdentifier: 9 });
    const idedBytes = capture(ided);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    const sent = pkt.publish(5, { topic: 's/1', payload: 'x' });
    pub.send(sent);
    assert.equal((await plain.receive()).properties.subscriptionIdentifiers, undefined);
    const got = await ided.receive();
    assert.deepEqual(got.properties.subscriptionIdentifiers, [9]);
    assert.equal(idedBytes().indexOf(sent), -1);
  });

  it('[MQTT-3.3.2-10] a QoS 0 PUBLISH sent with a topic alias reaches subscribers with the topic and no alias (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe('a/+', 0);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    pub.send(pkt.publish(5, { topic: 'a/1', payload: 'set', properties: { topicAlias: 1 } }));
    pub.send(pkt.publish(5, { topic: '', payload: 'use', properties: { topicAlias: 1 } }));
    for (const payload of ['set', 'use']) {
      const got = await sub.receive();
      assert.deepEqual([got.topic, got.payload.toString(), got.properties.topicAlias], ['a/1', payload, undefined]);
    }
  });

  it("[MQTT-3.3.2-11] a subscriber that accepts topic aliases gets the broker's alias, not the bytes received (v5)", async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub', properties: { topicAliasMaximum: 2 } });
    await sub.subscribe('b/+', 0);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    pub.send(pkt.publish(5, { topic: 'b/1', payload: 'one' }));
    pub.send(pkt.publish(5, { topic: 'b/1', payload: 'two' }));
    const first = await sub.receive();
    assert.deepEqual([first.topic, first.properties.topicAlias], ['b/1', 1]);
    const second = await sub.receive();
    assert.deepEqual([second.topic, second.properties.topicAlias, second.payload.toString()], ['', 1, 'two']);
  });

  it('[MQTT-3.3.2-6] a QoS 1 PUBLISH with a Message Expiry Interval that waited goes out with what is left of it (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, {
      version: 5,
      clientId: 'sub',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    await sub.subscribe('e/x', 1);
    sub.destroy();
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'e/x', payload: 'later', qos: 1, properties: { messageExpiryInterval: 30 } });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const back = await RawClient.connect(port, {
      version: 5,
      clientId: 'sub',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    const got = await back.receive();
    assert.equal(got.payload.toString(), 'later');
    assert.ok(got.properties.messageExpiryInterval! < 30, `interval ${got.properties.messageExpiryInterval}`);
  });
});

// The router reuses the last match for the next message of the same topic, QoS and publisher while
// the topic index is unchanged (router.ts `last`): each of these changes between two such messages.
describe('39 one match for a run of messages of one topic', () => {
  for (const version of [4, 5] as const) {
    it(`a subscription made or removed between two messages of one topic applies to the second (v${version === 5 ? 5 : 3})`, async (t) => {
      const { port } = await startBroker(t);
      const a = await RawClient.connect(port, { version, clientId: 'a' });
      await a.subscribe('run/x', 1);
      const pub = await RawClient.connect(port, { version, clientId: 'pub' });
      await pub.publish({ topic: 'run/x', payload: '1', qos: 1 });
      assert.equal((await a.receive()).payload.toString(), '1');
      const b = await RawClient.connect(port, { version, clientId: 'b' });
      await b.subscribe('run/+', 1);
      await pub.publish({ topic: 'run/x', payload: '2', qos: 1 });
      assert.equal((await a.receive()).payload.toString(), '2');
      await a.unsubscribe('run/x');
      await pub.publish({ topic: 'run/x', payload: '3', qos: 1 });
      assert.deepEqual([(await b.receive()).payload.toString(), (await b.receive()).payload.toString()], ['2', '3']);
      await a.expectNothing();
    });

    it(`[MQTT-3.8.4-6] messages of one topic at QoS 0 then QoS 1 reach a QoS 1 subscription at their own QoS (v${version === 5 ? 5 : 3})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version, clientId: 'sub' });
      await sub.subscribe('run/q', 1);
      const pub = await RawClient.connect(port, { version, clientId: 'pub' });
      await pub.publish({ topic: 'run/q', payload: 'zero', qos: 0 });
      await pub.publish({ topic: 'run/q', payload: 'one', qos: 1 });
      assert.deepEqual([(await sub.receive()).qos, (await sub.receive()).qos], [0, 1]);
    });
  }

  it("[MQTT-3.8.3-3] No Local: of two publishers of one topic, only the other one's messages come back (v5)", async (t) => {
    const { port } = await startBroker(t);
    const self = await RawClient.connect(port, { version: 5, clientId: 'self' });
    await self.subscribe({ topic: 'run/nl', qos: 0, noLocal: true });
    const other = await RawClient.connect(port, { version: 5, clientId: 'other' });
    // All at QoS 0, so that the three messages have the same topic, QoS and (but for the second) publisher.
    await other.publish({ topic: 'run/nl', payload: 'from other 1' });
    await other.ping();
    assert.equal((await self.receive()).payload.toString(), 'from other 1');
    await self.publish({ topic: 'run/nl', payload: 'from self' });
    // Its own message would come before the PINGRESP.
    await self.ping();
    await other.publish({ topic: 'run/nl', payload: 'from other 2' });
    assert.equal((await self.receive()).payload.toString(), 'from other 2');
    await self.expectNothing();
  });
});
