// Node liveness with a store: `fennec broker` nodes with their SQLite store (not --memory), killed
// with SIGKILL and started again under the same node id. A persistent session's will is kept both
// by the store and in Redis; it goes out once, from Redis, and not when the session resumes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { LEASE_MS, NodeProcess, routesKnown, setUp, sleep, subscriber, until } from '../helpers/cluster-process.js';

/** A 5.0 client with a persistent session and a will delayed by `delay` seconds. */
const willClient = (clientId: string, topic: string, delay: number) => ({
  clientId,
  protocolVersion: 5 as const,
  clean: false,
  properties: { sessionExpiryInterval: 600 },
  will: {
    topic,
    payload: Buffer.from(clientId),
    qos: 1 as const,
    retain: false,
    properties: { willDelayInterval: delay },
  },
});

void describe('cluster node liveness with a store', () => {
  void it('[MQTT-3.1.2-8] publishes once the will of a persistent session when its node restarts before it is declared dead', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const lease = 3000;
    const phoenix = await NodeProcess.start(redis, 'phoenix', lease, true);
    const survivor = await NodeProcess.start(redis, 'alive', lease);
    const sub = await subscriber(connect, survivor.url, 'watcher', 'stored/#');
    await routesKnown(connect, phoenix.url, 'stored/probe', [sub]);
    await connect(phoenix.url, willClient('stored-client', 'stored/will', 1));
    await until(async () => (await inspect.hlen('{fennec}:wills:phoenix')) === 1, 'the will is recorded in Redis');
    await phoenix.kill('SIGKILL');
    await phoenix.spawn();
    await until(() => sub.received.length >= 1, 'the will arrived');
    // The store's copy would go out at the same time: wait for it.
    await sleep(2 * lease);
    assert.deepEqual(
      sub.received.map(({ payload }) => payload),
      ['stored-client'],
      'once',
    );
    assert.equal(survivor.declared('phoenix'), 0, 'never declared dead');
  });

  void it('[MQTT-3.1.2-8] does not publish again from its store the will a survivor published while the node was dead', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const phoenix = await NodeProcess.start(redis, 'phoenix', LEASE_MS, true);
    const survivor = await NodeProcess.start(redis, 'alive', LEASE_MS);
    const sub = await subscriber(connect, survivor.url, 'watcher', 'stored/#');
    await routesKnown(connect, phoenix.url, 'stored/probe', [sub]);
    await connect(phoenix.url, willClient('stored-client', 'stored/will', 0));
    await until(async () => (await inspect.hlen('{fennec}:wills:phoenix')) === 1, 'the will is recorded in Redis');
    await phoenix.kill('SIGKILL');
    await until(() => sub.received.length >= 1, 'the survivor published the will');
    await phoenix.spawn();
    await sleep(3 * LEASE_MS);
    assert.deepEqual(
      sub.received.map(({ payload }) => payload),
      ['stored-client'],
      'once',
    );
  });

  void it('[MQTT-3.1.3-9] publishes no will of a client that resumes its session on the restarted node within the Will Delay Interval', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const lease = 3000;
    const phoenix = await NodeProcess.start(redis, 'phoenix', lease, true);
    const survivor = await NodeProcess.start(redis, 'alive', lease);
    const sub = await subscriber(connect, survivor.url, 'watcher', 'stored/#');
    await routesKnown(connect, phoenix.url, 'stored/probe', [sub]);
    await connect(phoenix.url, willClient('resuming', 'stored/resuming', 4));
    // The control, which does not come back: its will goes out after its delay.
    await connect(phoenix.url, willClient('gone-for-good', 'stored/gone', 4));
    await until(async () => (await inspect.hlen('{fennec}:wills:phoenix')) === 2, 'the wills are recorded in Redis');
    await phoenix.kill('SIGKILL');
    await phoenix.spawn();
    const back = mqtt.connect(phoenix.url, {
      ...willClient('resuming', 'stored/resuming', 4),
      will: undefined,
      reconnectPeriod: 0,
    });
    redis.beforeStop(() => back.endAsync(true));
    const connack = await new Promise<mqtt.IConnackPacket>((resolve) => back.once('connect', resolve));
    assert.equal(connack.sessionPresent, true, 'the session was resumed, from the store');
    await until(() => sub.received.length >= 1, 'the control will arrived');
    await sleep(lease);
    assert.deepEqual(
      sub.received.map(({ payload }) => payload),
      ['gone-for-good'],
    );
  });
});
