// Redis killed (SIGKILL) and restarted during QoS 1 traffic between two nodes: every message the
// publishing node acknowledged reaches the subscriber on the other node, in order, once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startRedis } from '../helpers/redis-server.js';
import { startCluster, waitForRoute, type TestNode } from '../helpers/cluster.js';

void describe('cluster with Redis restarted during traffic', () => {
  void it('loses no acknowledged QoS 1 message when Redis is killed and restarted (appendfsync always)', async (t) => {
    const redis = await startRedis(t, { appendfsync: 'always' });
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 2);
    const [one, two] = nodes as [TestNode, TestNode];
    const sub = await two.clients.connect({
      protocolVersion: 5,
      clientId: 'sub',
      clean: false,
      properties: { sessionExpiryInterval: 300 },
    });
    await sub.client.subscribeAsync('numbered', { qos: 1 });
    await waitForRoute(nodes, two, 'numbered');
    const pub = await one.clients.connect({ protocolVersion: 5, clientId: 'pub' });
    const total = 300;
    const acknowledged: number[] = [];
    let restarted: Promise<void> | undefined;
    // Up to 10 in flight; Redis goes down a third of the way in.
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        const n = next++;
        if (n === 100) restarted = redis.restart(true);
        await pub.client.publishAsync('numbered', String(n), { qos: 1 });
        acknowledged.push(n);
      }
    };
    await Promise.all(Array.from({ length: 10 }, worker));
    await restarted;
    assert.equal(acknowledged.length, total);
    const got = await sub.inbox.waitFor(total, 20_000);
    const numbers = got.map((m) => Number(m.payload));
    assert.deepEqual(
      [...new Set(numbers)].sort((a, b) => a - b),
      Array.from({ length: total }, (_, i) => i),
    );
    // Ten publishes in flight at a time may be acknowledged out of order, but each is received once.
    assert.equal(numbers.length, new Set(numbers).size, 'no duplicate delivered');
    assert.ok(one.bus.counters.linkChanges >= 2, 'node 1 saw Redis go and come back');
    assert.ok(two.bus.counters.linkChanges >= 2, 'node 2 saw Redis go and come back');
  });
});
