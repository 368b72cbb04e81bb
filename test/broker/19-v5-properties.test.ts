// 19: MQTT 5 PUBLISH properties on their way through the broker: forwarded unaltered, checked
// where the standard says so, and dropped for 3.1.1 subscribers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker } from '../helpers/broker.js';

const notUtf8 = Buffer.from([0x61, 0xc3, 0x28, 0xff]);

describe('19 v5 properties', () => {
  it('[MQTT-3.3.2-4] [MQTT-3.3.2-20] Payload Format Indicator and Content Type reach every subscriber unaltered (v5)', async (t) => {
    const { port } = await startBroker(t);
    const subs = [
      await RawClient.connect(port, { version: 5, clientId: 's1' }),
      await RawClient.connect(port, { version: 5, clientId: 's2' }),
    ];
    await subs[0]!.subscribe('props/#', 0);
    await subs[1]!.subscribe('props/#', 2);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    const properties = { payloadFormatIndicator: 1, contentType: 'text/plain; charset=utf-8' };
    await pub.publish({ topic: 'props/a', payload: 'héllo', qos: 1, properties });
    await pub.publish({ topic: 'props/b', payload: notUtf8, qos: 1, properties: { payloadFormatIndicator: 0 } });
    for (const sub of subs) {
      const first = await sub.receive();
      assert.equal(first.properties.payloadFormatIndicator, 1);
      assert.equal(first.properties.contentType, 'text/plain; charset=utf-8');
      assert.equal(first.payload.toString(), 'héllo');
      const second = await sub.receive();
      assert.equal(second.properties.payloadFormatIndicator, 0);
      assert.deepEqual(second.payload, notUtf8);
    }
  });

  for (const qos of [1, 2] as const) {
    it(`a QoS ${qos} PUBLISH whose payload is not the UTF-8 its Payload Format Indicator announces gets ${qos === 1 ? 'PUBACK' : 'PUBREC'} 0x99 and is not routed (v5)`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
      await sub.subscribe('props/#', 2);
      const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
      pub.send(
        pkt.publish(5, {
          topic: 'props/x',
          payload: notUtf8,
          qos,
          packetId: 9,
          properties: { payloadFormatIndicator: 1 },
        }),
      );
      const ack = await pub.next(qos === 1 ? 'puback' : 'pubrec');
      assert.deepEqual([ack.packetId, ack.reasonCode], [9, 0x99]);
      await sub.expectNothing(100);
      // The connection goes on.
      assert.equal(await pub.publish({ topic: 'props/x', payload: 'ok', qos }), 0);
      assert.equal((await sub.receive()).payload.toString(), 'ok');
    });
  }

  it('a QoS 0 PUBLISH whose payload is not the UTF-8 its Payload Format Indicator announces gets DISCONNECT 0x99 and is not routed (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe('props/#', 0);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    pub.send(pkt.publish(5, { topic: 'props/x', payload: notUtf8, properties: { payloadFormatIndicator: 1 } }));
    assert.equal((await pub.next('disconnect')).reasonCode, 0x99);
    await pub.closed();
    await sub.expectNothing(100);
  });

  it('[MQTT-3.3.2-15] [MQTT-3.3.2-16] Response Topic and Correlation Data reach every subscriber unaltered (v5)', async (t) => {
    const { port } = await startBroker(t);
    const subs = [
      await RawClient.connect(port, { version: 5, clientId: 's1' }),
      await RawClient.connect(port, { version: 5, clientId: 's2' }),
    ];
    await subs[0]!.subscribe('req/#', 1);
    await subs[1]!.subscribe('req/+', 0);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    const correlationData = Buffer.from([0x00, 0xff, 0x10, 0x80]);
    await pub.publish({
      topic: 'req/x',
      payload: 'ask',
      qos: 1,
      properties: { responseTopic: 'reply/pub/7', correlationData },
    });
    for (const sub of subs) {
      const message = await sub.receive();
      assert.equal(message.properties.responseTopic, 'reply/pub/7');
      assert.deepEqual(message.properties.correlationData, correlationData);
    }
  });

  it('[MQTT-3.3.2-14] a Response Topic with a wildcard is a protocol error: DISCONNECT 0x82, not routed (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe('req/#', 0);
    for (const responseTopic of ['reply/+', 'reply/#']) {
      const pub = await RawClient.connect(port, { version: 5 });
      pub.send(pkt.publish(5, { topic: 'req/x', payload: 'ask', properties: { responseTopic } }));
      assert.equal((await pub.next('disconnect')).reasonCode, 0x82);
      await pub.closed();
    }
    await sub.expectNothing(100);
  });

  it('[MQTT-3.3.2-17] [MQTT-3.3.2-18] User Properties reach subscribers all and in order, repeated names included (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe('up/#', 1);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    const userProperties: [string, string][] = [
      ['z', '1'],
      ['a', '2'],
      ['z', '0'],
      ['m', ''],
      ['a', '2'],
    ];
    await pub.publish({ topic: 'up/x', payload: 'p', qos: 1, properties: { userProperties } });
    assert.deepEqual((await sub.receive()).properties.userProperties, userProperties);
  });

  it('a 3.1.1 subscriber gets a message from a 5.0 publisher without its properties, and a 5.0 subscriber gets one from a 3.1.1 publisher', async (t) => {
    const { port } = await startBroker(t);
    const old = await RawClient.connect(port, { version: 4, clientId: 'old' });
    const v5 = await RawClient.connect(port, { version: 5, clientId: 'new' });
    await old.subscribe('mixed/#', 1);
    await v5.subscribe('mixed/#', 1);
    const pub5 = await RawClient.connect(port, { version: 5, clientId: 'pub5' });
    await pub5.publish({
      topic: 'mixed/from5',
      payload: 'five',
      qos: 1,
      properties: { contentType: 'text/plain', userProperties: [['k', 'v']], responseTopic: 'mixed/reply' },
    });
    // The 3.1.1 parser reads no properties: any property bytes would show up in the payload.
    const atOld = await old.receive();
    assert.deepEqual([atOld.topic, atOld.payload.toString(), atOld.qos], ['mixed/from5', 'five', 1]);
    const atNew = await v5.receive();
    assert.equal(atNew.properties.contentType, 'text/plain');
    const pub4 = await RawClient.connect(port, { version: 4, clientId: 'pub4' });
    await pub4.publish({ topic: 'mixed/from4', payload: 'four', qos: 1 });
    const fromOld = await v5.receive();
    assert.deepEqual([fromOld.topic, fromOld.payload.toString(), fromOld.qos], ['mixed/from4', 'four', 1]);
    assert.deepEqual(fromOld.properties, {});
    assert.equal((await old.receive()).payload.toString(), 'four');
  });
});
