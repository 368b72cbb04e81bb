// 15: the 5.0 Session Expiry Interval: a session outlives its connection for that many seconds,
// is resumed before then, ends (with its subscriptions and messages) after; 0xFFFFFFFF never
// expires; DISCONNECT may change it; the broker's maxSessionExpiryInterval caps it. 3.1.1 Clean
// Session 0 sessions never expire.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { sleep, startBroker, waitUntil } from '../helpers/broker.js';

/** A 5.0 CONNECT resuming (Clean Start 0) a session that expires `expiry` seconds after a disconnect. */
const expiring = (clientId: string, expiry: number, clean = false): pkt.ConnectOptions => ({
  version: 5,
  clientId,
  clean,
  properties: { sessionExpiryInterval: expiry },
});

describe('15 session expiry (v5)', () => {
  it('[MQTT-3.1.2-23] [MQTT-3.2.2-3] a session with a 1 s expiry survives its disconnect and is resumed within the second, with its subscription and queued messages (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    const sub = await RawClient.connect(port, expiring('brief', 1));
    await sub.subscribe('brief/#', 1);
    await sub.disconnect();
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    assert.equal(await pub.publish({ topic: 'brief/x', payload: 'kept', qos: 1 }), 0, 'a subscriber matched');
    await sleep(300);
    assert.ok(broker.sessions.has('brief'), 'the session outlived its connection');
    const back = await RawClient.connect(port, expiring('brief', 1));
    assert.equal(back.connack.sessionPresent, true);
    assert.equal((await back.receive()).payload.toString(), 'kept');
  });

  it('[MQTT-4.1.0-2] a session is discarded once its expiry has passed: its subscriptions and messages are gone and Session Present is 0 (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    const sub = await RawClient.connect(port, expiring('lapsed', 1));
    await sub.subscribe('lapsed/#', 1);
    await sub.disconnect();
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'lapsed/x', payload: 'x', qos: 1 });
    await waitUntil(() => !broker.sessions.has('lapsed'), 'the session has expired', 2500);
    assert.equal(broker.subscriptions.size, 0, 'its subscription left the topic index');
    // 0x10 No matching subscribers: nobody subscribes to lapsed/# any more
    assert.equal(await pub.publish({ topic: 'lapsed/x', payload: 'y', qos: 1 }), 0x10);
    const back = await RawClient.connect(port, expiring('lapsed', 1));
    assert.equal(back.connack.sessionPresent, false);
    await back.expectNothing(150);
  });

  it('reconnecting before the expiry cancels it: the session stays after the first interval has run out (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    const first = await RawClient.connect(port, expiring('resumed', 1));
    await first.subscribe('resumed/#', 1);
    await first.disconnect();
    await sleep(300);
    const second = await RawClient.connect(port, expiring('resumed', 1));
    assert.equal(second.connack.sessionPresent, true);
    await sleep(1200);
    assert.ok(broker.sessions.has('resumed'), 'the first expiry did not end the resumed session');
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'resumed/x', payload: 'live', qos: 1 });
    assert.equal((await second.receive()).payload.toString(), 'live');
  });

  it('[MQTT-3.1.2-4] Clean Start 1 discards a session waiting to expire, and the old expiry does not end the new session (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    const first = await RawClient.connect(port, expiring('restart', 1));
    await first.disconnect();
    const second = await RawClient.connect(port, expiring('restart', 3600, true));
    assert.equal(second.connack.sessionPresent, false);
    await second.subscribe('restart/#', 1);
    await second.disconnect();
    await sleep(1300);
    const third = await RawClient.connect(port, expiring('restart', 3600));
    assert.equal(third.connack.sessionPresent, true, 'the new session outlived the old one expiry');
    assert.ok(broker.sessions.has('restart'));
  });

  it('a Session Expiry Interval of 0xFFFFFFFF, or longer than a Node timer can hold, does not end the session (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    // 3,000,000 s is about 35 days: more ms than setTimeout holds, which would fire it at once
    for (const [clientId, expiry] of [
      ['forever', 0xffff_ffff],
      ['month', 3_000_000],
    ] as const) {
      const client = await RawClient.connect(port, expiring(clientId, expiry));
      assert.equal(client.connack.properties.sessionExpiryInterval, undefined, 'not capped by default');
      await client.disconnect();
    }
    await sleep(300);
    assert.ok(broker.sessions.has('forever'));
    assert.ok(broker.sessions.has('month'));
    assert.equal((await RawClient.connect(port, expiring('month', 10))).connack.sessionPresent, true);
  });

  it('maxSessionExpiryInterval caps what a client asks for, and CONNACK carries the capped Session Expiry Interval (v5)', async (t) => {
    const { broker, port } = await startBroker(t, { maxSessionExpiryInterval: 1 });
    const capped = await RawClient.connect(port, expiring('capped', 3600));
    assert.equal(capped.connack.properties.sessionExpiryInterval, 1);
    const under = await RawClient.connect(port, expiring('under', 1));
    assert.equal(under.connack.properties.sessionExpiryInterval, undefined, 'the client value stands: no property');
    await capped.disconnect();
    await waitUntil(() => !broker.sessions.has('capped'), 'the capped session has expired', 2500);
  });

  it('a DISCONNECT with a Session Expiry Interval replaces the one from CONNECT (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    const shortened = await RawClient.connect(port, expiring('shortened', 3600));
    await shortened.disconnect(0, { sessionExpiryInterval: 1 });
    const ended = await RawClient.connect(port, expiring('ended', 3600));
    await ended.disconnect(0, { sessionExpiryInterval: 0 });
    await waitUntil(() => !broker.sessions.has('ended'), 'the session with expiry 0 has ended at once', 300);
    assert.ok(broker.sessions.has('shortened'));
    await waitUntil(() => !broker.sessions.has('shortened'), 'the shortened session has expired', 2500);
  });

  it('[MQTT-3.14.2-2] a DISCONNECT with a non-zero Session Expiry Interval after a CONNECT with 0 is a Protocol Error: DISCONNECT 0x82 without a Session Expiry Interval, and the session ends (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    const client = await RawClient.connect(port, { version: 5, clientId: 'zero' });
    client.send(pkt.disconnect(5, 0, { sessionExpiryInterval: 60 }));
    const disconnect = await client.next('disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    assert.equal(disconnect.properties.sessionExpiryInterval, undefined);
    await client.closed();
    await waitUntil(() => !broker.sessions.has('zero'), 'the session has ended');
  });
});

describe('15 session expiry (v4)', () => {
  it('[MQTT-3.1.2-4] a 3.1.1 Clean Session 0 session never expires, whatever maxSessionExpiryInterval says (v4)', async (t) => {
    const { broker, port } = await startBroker(t, { maxSessionExpiryInterval: 1 });
    const client = await RawClient.connect(port, { version: 4, clientId: 'old', clean: false });
    await client.subscribe('old/#', 1);
    await client.disconnect();
    await sleep(1300);
    assert.ok(broker.sessions.has('old'));
    const back = await RawClient.connect(port, { version: 4, clientId: 'old', clean: false });
    assert.equal(back.connack.sessionPresent, true);
  });
});
