// Fennec nodes on Redis topologies beyond one server: a master found through a real Sentinel
// (redis+sentinel://), a real three-master Redis Cluster (redis+cluster://, every key under the
// {fennec} hash tag), and acknowledgements held by WAIT until a real replica has the writes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RedisBus } from '../../src/cluster/redis-bus.js';
import { startRedis } from '../helpers/redis-server.js';
import { startNode, waitForRoute, type TestNode } from '../helpers/cluster.js';
import { redisCli, startRedisCluster, startReplica, startSentinel, waitUntil } from '../helpers/redis-topologies.js';
import { pino } from 'pino';

/** Settles `promise` within `ms`: 'pending' when it did not. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);
}

/** Routes QoS 0, 1 and 2 and a retained message from node one to a subscriber of node two. */
async function routeAcross(one: TestNode, two: TestNode): Promise<void> {
  const sub = await two.clients.connect({ protocolVersion: 5, clientId: 'sub' });
  await sub.client.subscribeAsync('across/#', { qos: 2 });
  await waitForRoute([one, two], two, 'across/#');
  const pub = await one.clients.connect({ protocolVersion: 4, clientId: 'pub' });
  for (const qos of [0, 1, 2] as const) await pub.client.publishAsync(`across/${qos}`, `qos ${qos}`, { qos });
  const got = await sub.inbox.waitFor(3);
  assert.deepEqual(
    got.map((m) => [m.topic, m.payload, m.packet.qos]),
    [
      ['across/0', 'qos 0', 0],
      ['across/1', 'qos 1', 1],
      ['across/2', 'qos 2', 2],
    ],
  );
  await pub.client.publishAsync('kept/a', 'retained', { qos: 1, retain: true });
  const reader = await two.clients.connect({ protocolVersion: 5, clientId: 'reader' });
  const deadline = Date.now() + 10_000;
  // The retained notice reaches node two a moment after the PUBACK.
  while (reader.inbox.messages.length === 0 && Date.now() < deadline) {
    await reader.client.subscribeAsync('kept/#', { qos: 1 });
    if (reader.inbox.messages.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    await reader.client.unsubscribeAsync('kept/#');
  }
  assert.equal(reader.inbox.messages[0]?.payload, 'retained');
}

void describe('cluster on Redis topologies', () => {
  void it('routes across two nodes whose Redis master is found through Sentinel (redis+sentinel://)', async (t) => {
    const master = await startRedis(t);
    if (master === undefined) return;
    const sentinel = await startSentinel(t, master);
    if (sentinel === undefined) return;
    const url = `redis+sentinel://127.0.0.1:${sentinel.port}/${sentinel.name}`;
    const at = { url, beforeStop: (fn: () => Promise<void>) => master.beforeStop(fn) };
    const one = await startNode(at, 'node-1');
    const two = await startNode(at, 'node-2');
    await routeAcross(one, two);
    // The nodes' keys are on the master the Sentinel named.
    assert.match(await redisCli(master.port, 'SMEMBERS', '{fennec}:nodes'), /node-1/);
  });

  void it('keeps routing through the new master after Sentinel fails the old one over to its replica', async (t) => {
    const master = await startRedis(t);
    if (master === undefined) return;
    const replica = await startReplica(t, master);
    if (replica === undefined) return;
    const sentinel = await startSentinel(t, master);
    if (sentinel === undefined) return;
    const url = `redis+sentinel://127.0.0.1:${sentinel.port}/${sentinel.name}`;
    // Closed while the replica (the new master) still runs: its cleanup was registered after the master's.
    const at = { url, beforeStop: (fn: () => Promise<void>) => master.beforeStop(fn) };
    const one = await startNode(at, 'node-1');
    const two = await startNode(at, 'node-2');
    const sub = await two.clients.connect({ protocolVersion: 5, clientId: 'sub' });
    await sub.client.subscribeAsync('failover/#', { qos: 1 });
    await waitForRoute([one, two], two, 'failover/#');
    const pub = await one.clients.connect({ protocolVersion: 5, clientId: 'pub' });
    await pub.client.publishAsync('failover/before', 'before', { qos: 1 });
    await sub.inbox.waitFor(1);
    await master.stop();
    await waitUntil(
      async () =>
        (await redisCli(sentinel.port, 'SENTINEL', 'get-master-addr-by-name', 'mymaster')).includes(
          String(replica.port),
        ),
      'the Sentinel to promote the replica',
      30_000,
    );
    // Acknowledged once the new master has it, and delivered through it.
    await pub.client.publishAsync('failover/after', 'after', { qos: 1 });
    const got = await sub.inbox.waitFor(2, 30_000);
    assert.deepEqual(
      got.map((m) => m.payload),
      ['before', 'after'],
    );
    assert.match(await redisCli(replica.port, 'INFO', 'replication'), /role:master/);
  });

  void it('routes across two nodes on a three-master Redis Cluster (redis+cluster://), every key in one slot', async (t) => {
    const cluster = await startRedisCluster(t, 3);
    if (cluster === undefined) return;
    const one = await startNode(cluster, 'node-1');
    const two = await startNode(cluster, 'node-2');
    await routeAcross(one, two);
    // Every key lives in the slot of the {fennec} hash tag, on one master.
    const slot = (await redisCli(cluster.ports[0]!, 'CLUSTER', 'KEYSLOT', '{fennec}')).trim();
    for (const key of ['{fennec}:nodes', '{fennec}:stream:node-2', '{fennec}:retained', '{fennec}:routes:node-2']) {
      assert.equal((await redisCli(cluster.ports[0]!, 'CLUSTER', 'KEYSLOT', key)).trim(), slot, key);
    }
    let holders = 0;
    for (const port of cluster.ports) {
      if (Number(await redisCli(port, 'CLUSTER', 'COUNTKEYSINSLOT', slot)) > 0) holders++;
    }
    assert.equal(holders, 1, 'one master holds the keys');
  });

  void it('withholds acknowledgements until a replica confirms (cluster.wait_replicas), also while the replica is stopped', async (t) => {
    const master = await startRedis(t);
    if (master === undefined) return;
    const replica = await startReplica(t, master);
    if (replica === undefined) return;
    const wait = { replicas: 1, timeoutMs: 100, aof: false };
    const one = await startNode(master, 'node-1', {}, { wait });
    const two = await startNode(master, 'node-2', {}, { wait });
    const sub = await two.clients.connect({ protocolVersion: 5, clientId: 'sub' });
    await sub.client.subscribeAsync('replicated', { qos: 1 });
    await waitForRoute([one, two], two, 'replicated');
    const pub = await one.clients.connect({ protocolVersion: 5, clientId: 'pub' });
    await pub.client.publishAsync('replicated', 'first', { qos: 1 });
    // A loaded machine may already have seen a WAIT time out (100 ms) before the replica answered.
    const shortBefore = one.bus.counters.waitsShort;
    assert.match(await redisCli(master.port, 'INFO', 'commandstats'), /cmdstat_wait:calls=[1-9]/, 'WAIT was sent');
    replica.pause();
    const held = pub.client.publishAsync('replicated', 'second', { qos: 1 });
    assert.equal(await within(held, 1000), 'pending', 'no PUBACK while the replica cannot confirm');
    assert.ok(one.bus.counters.waitsShort > shortBefore, 'WAIT fell short and was sent again');
    replica.resume();
    await held;
    const got = await sub.inbox.waitFor(2);
    assert.deepEqual(
      got.map((m) => m.payload),
      ['first', 'second'],
    );
  });

  void it('refuses cluster.wait_aof on a Redis older than 7.2, and runs with it on a newer one', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const version = /redis_version:(\d+)\.(\d+)/.exec(await redisCli(redis.port, 'INFO', 'server'));
    const newer = Number(version?.[1]) > 7 || (Number(version?.[1]) === 7 && Number(version?.[2]) >= 2);
    const bus = new RedisBus({ redis: redis.url, nodeId: 'node-1', wait: { replicas: 0, timeoutMs: 100, aof: true } });
    const host = {
      log: pino({ level: 'silent' }),
      deliverFromBus: () => 0,
      retainFromBus: () => undefined,
      committed: () => Promise.resolve(),
      // Sessions and wills are not reached before start() refuses or after it in this test.
      reserve: () => assert.fail('reserve is not used here'),
      releaseSession: () => assert.fail('releaseSession is not used here'),
      installSessions: () => assert.fail('installSessions is not used here'),
      deliverToSessions: () => assert.fail('deliverToSessions is not used here'),
      publishWill: () => assert.fail('publishWill is not used here'),
    };
    if (newer) {
      await bus.start(host);
      await bus.close();
      return;
    }
    await assert.rejects(bus.start(host), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CLUSTER_REDIS_VERSION');
      assert.match(err.message, /^cluster\.wait_aof needs Redis 7\.2 or later \(WAITAOF\); the cluster's Redis is 7\./);
      return true;
    });
  });
});
