// 17: the 5.0 Will Delay Interval: the will goes out once the delay has passed or the session has
// ended, whichever comes first; a connection that resumes the session within the delay cancels it;
// DISCONNECT 0x00 discards it and 0x04 keeps it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker } from '../helpers/broker.js';

/** A 5.0 CONNECT with a will on `will/<clientId>` delayed by `delay` s, and a session expiry of `expiry` s. */
const delayed = (clientId: string, delay: number, expiry: number, clean = false): pkt.ConnectOptions => ({
  version: 5,
  clientId,
  clean,
  properties: { sessionExpiryInterval: expiry },
  will: { topic: `will/${clientId}`, payload: `${clientId} is gone`, properties: { willDelayInterval: delay } },
});

/** A subscriber to every will. */
async function watcher(port: number): Promise<RawClient> {
  const sub = await RawClient.connect(port, { version: 5, clientId: 'watcher' });
  await sub.subscribe('will/#', 1);
  return sub;
}

describe('17 will delay (v5)', () => {
  it('[MQTT-3.1.2-8] a will with a 1 s delay is published a second after the connection drops, not before (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await watcher(port);
    const client = await RawClient.connect(port, delayed('late', 1, 60));
    const droppedAt = Date.now();
    client.destroy();
    await sub.expectNothing(600);
    const will = await sub.next('publish', 2000);
    assert.equal(will.topic, 'will/late');
    assert.ok(Date.now() - droppedAt >= 950, 'published once the delay had passed');
    assert.equal(will.properties.willDelayInterval, undefined);
  });

  it('[MQTT-3.1.3-9] [MQTT-3.1.2-8] a connection that resumes the session within the will delay cancels the will (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await watcher(port);
    const client = await RawClient.connect(port, delayed('flaky', 1, 60));
    client.destroy();
    await sub.expectNothing(300);
    const back = await RawClient.connect(port, { version: 5, clientId: 'flaky', clean: false });
    assert.equal(back.connack.sessionPresent, true);
    await sub.expectNothing(1200);
  });

  it('[MQTT-3.1.3-9] a client that takes its own session over within the will delay cancels the will of the old connection (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await watcher(port);
    const first = await RawClient.connect(port, delayed('twin', 1, 60));
    await RawClient.connect(port, { version: 5, clientId: 'twin', clean: false });
    assert.equal((await first.next('disconnect')).reasonCode, 0x8e);
    await first.closed();
    await sub.expectNothing(1300);
  });

  it('[MQTT-3.1.2-8] [MQTT-4.1.0-2] the will goes out when the session expires before the will delay has passed (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await watcher(port);
    const client = await RawClient.connect(port, delayed('expiring', 60, 1));
    client.destroy();
    await sub.expectNothing(600);
    assert.equal((await sub.next('publish', 2000)).topic, 'will/expiring');
  });

  it('[MQTT-3.1.2-8] a session with expiry 0 ends with its connection, and its will goes out at once whatever the delay (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await watcher(port);
    const client = await RawClient.connect(port, delayed('brief', 60, 0));
    client.destroy();
    assert.equal((await sub.next('publish', 500)).topic, 'will/brief');
  });

  it('[MQTT-3.1.2-8] a Clean Start 1 connection within the will delay ends the old session, which sends its will at once (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await watcher(port);
    const client = await RawClient.connect(port, delayed('restarted', 60, 60));
    client.destroy();
    await sub.expectNothing(200);
    await RawClient.connect(port, { version: 5, clientId: 'restarted', clean: true });
    assert.equal((await sub.next('publish', 500)).topic, 'will/restarted');
  });

  it('[MQTT-3.1.2-8] DISCONNECT 0x04 publishes the will after its delay, and DISCONNECT 0x00 discards it (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await watcher(port);
    const asking = await RawClient.connect(port, delayed('asking', 1, 60));
    const polite = await RawClient.connect(port, delayed('polite', 1, 60));
    await asking.disconnect(0x04);
    await polite.disconnect(0x00);
    await sub.expectNothing(600);
    assert.equal((await sub.next('publish', 2000)).topic, 'will/asking');
    await sub.expectNothing(500);
  });
});
