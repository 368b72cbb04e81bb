// 16: the 5.0 Message Expiry Interval: a message that waits for a session (offline, or its window
// full) past its expiry is dropped and counted; a forwarded message carries what is left of its
// interval; an expired retained message is not sent to new subscribers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { sleep, startBroker } from '../helpers/broker.js';

/** A 5.0 CONNECT resuming a session that outlives its connection by an hour. */
const persistent = (clientId: string): pkt.ConnectOptions => ({
  version: 5,
  clientId,
  clean: false,
  properties: { sessionExpiryInterval: 3600 },
});

describe('16 message expiry (v5)', () => {
  it('[MQTT-3.3.2-5] a message queued for an offline session whose expiry passes is dropped and counted as expired; one without expiry is still delivered (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    const sub = await RawClient.connect(port, persistent('away'));
    await sub.subscribe('exp/#', 1);
    await sub.disconnect();
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'exp/short', payload: 'short', qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publish({ topic: 'exp/none', payload: 'none', qos: 1 });
    await sleep(1100);
    const back = await RawClient.connect(port, persistent('away'));
    const got = await back.receive();
    assert.equal(got.payload.toString(), 'none');
    await back.expectNothing(150);
    assert.equal(broker.sessions.get('away')?.dropped.expired, 1);
    assert.equal(broker.counters.dropped.expired, 1);
  });

  it('[MQTT-3.3.2-6] a message forwarded at once carries its whole Message Expiry Interval; one that waited carries what is left (v5)', async (t) => {
    const { port } = await startBroker(t);
    const live = await RawClient.connect(port, { version: 5, clientId: 'live' });
    await live.subscribe('exp/#', 1);
    const sub = await RawClient.connect(port, persistent('waiting'));
    await sub.subscribe('exp/#', 1);
    await sub.disconnect();
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'exp/x', payload: 'x', qos: 1, properties: { messageExpiryInterval: 10 } });
    assert.equal((await live.receive()).properties.messageExpiryInterval, 10);
    await sleep(1100);
    const back = await RawClient.connect(port, persistent('waiting'));
    const waited = await back.receive();
    assert.equal(waited.payload.toString(), 'x');
    assert.equal(waited.properties.messageExpiryInterval, 9, '10 s less the second it waited, rounded up');
  });

  it('[MQTT-3.3.2-5] a message waiting behind a full in-flight window is dropped when its expiry passes before it is sent (v5)', async (t) => {
    const { broker, port } = await startBroker(t, { maxInflightMessages: 1 });
    const sub = await RawClient.connect(port, { version: 5, clientId: 'narrow' });
    await sub.subscribe('exp/#', 1);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'exp/1', payload: 'first', qos: 1 });
    await pub.publish({ topic: 'exp/2', payload: 'expiring', qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publish({ topic: 'exp/3', payload: 'third', qos: 1 });
    const first = await sub.next('publish');
    assert.equal(first.payload.toString(), 'first');
    await sleep(1100);
    sub.send(pkt.puback(5, first.packetId));
    assert.equal((await sub.receive()).payload.toString(), 'third');
    await sub.expectNothing(150);
    assert.equal(broker.sessions.get('narrow')?.dropped.expired, 1);
  });

  it('[MQTT-3.3.2-5] [MQTT-3.3.2-6] a retained message is sent with its remaining expiry until it expires, and not after (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({
      topic: 'exp/kept',
      payload: 'kept',
      qos: 1,
      retain: true,
      properties: { messageExpiryInterval: 1 },
    });
    const early = await RawClient.connect(port, { version: 5, clientId: 'early' });
    await early.subscribe('exp/#', 1);
    const retained = await early.receive();
    assert.equal(retained.retain, true);
    assert.equal(retained.properties.messageExpiryInterval, 1);
    await sleep(1100);
    const late = await RawClient.connect(port, { version: 5, clientId: 'late' });
    await late.subscribe('exp/#', 1);
    await late.expectNothing(150);
    assert.equal(broker.retained.size, 0, 'the expired retained message was removed');
  });

  it('[MQTT-3.3.2-5] a message with a Message Expiry Interval of 0 reaches a subscriber online when it arrives, and not one that is offline (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    const online = await RawClient.connect(port, { version: 5, clientId: 'online' });
    await online.subscribe('exp/#', 1);
    const offline = await RawClient.connect(port, persistent('offline'));
    await offline.subscribe('exp/#', 1);
    await offline.disconnect();
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'exp/now', payload: 'now', qos: 1, properties: { messageExpiryInterval: 0 } });
    const got = await online.receive();
    assert.equal(got.properties.messageExpiryInterval, 0);
    await sleep(20);
    const back = await RawClient.connect(port, persistent('offline'));
    await back.expectNothing(150);
    assert.equal(broker.sessions.get('offline')?.dropped.expired, 1);
  });
});
