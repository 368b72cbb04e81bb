// The cluster in $SYS and in Prometheus metrics: the nodes with their state, clients and routes,
// cross-node messages and bytes, duplicates dropped, the Redis round trip and the link's state.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { encodeMessage } from '../../src/cluster/codec.js';
import { nodeStatsKey, streamKey } from '../../src/cluster/keys.js';
import { BrokerMetrics } from '../../src/http/metrics.js';
import { startRedis } from '../helpers/redis-server.js';
import { startNode, waitForRoute } from '../helpers/cluster.js';

/** The value of the sample `name{labels}` in a Prometheus text exposition; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (have === wanted) return Number(match[3]);
  }
  return undefined;
}

/** Waits until `check` holds, up to 10 s. */
async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const fast = { statsIntervalMs: 100, pingIntervalMs: 50, pingTimeoutMs: 300 };

void describe('cluster observability', () => {
  void it('shows nodes, clients, routes, cross-node messages, bytes, duplicates and the Redis round trip in $SYS and metrics', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const one = await startNode(redis, 'node-1', { sysInterval: 1 }, fast);
    const two = await startNode(redis, 'node-2', {}, fast);
    const nodes = [one, two];
    const sub = await two.clients.connect({ protocolVersion: 5, clientId: 'sub' });
    await two.clients.connect({ protocolVersion: 4, clientId: 'idle' });
    await sub.client.subscribeAsync('x/#', { qos: 1 });
    await sub.client.subscribeAsync('y', { qos: 1 });
    await waitForRoute(nodes, two, 'x/#');
    await waitForRoute(nodes, two, 'y');
    const pub = await one.clients.connect({ protocolVersion: 4, clientId: 'pub' });
    for (const n of [1, 2, 3]) await pub.client.publishAsync('x/a', `message ${n}`, { qos: 1 });
    await sub.inbox.waitFor(3);
    // A copy of a message already delivered, written to node 2's stream twice: delivered once.
    const raw = new Redis(redis.url);
    t.after(() => raw.disconnect());
    const copy = encodeMessage({
      topic: 'y',
      payload: Buffer.from('copy'),
      qos: 1,
      retain: false,
      properties: undefined,
      publisherId: 'elsewhere',
      receivedAt: Date.now(),
    });
    await raw.xadd(streamKey('node-2'), '*', 'i', 'elsewhere/1/1', 'm', copy);
    await raw.xadd(streamKey('node-2'), '*', 'i', 'elsewhere/1/1', 'm', copy);
    await sub.inbox.waitFor(4);
    await until(() => two.bus.counters.duplicates === 1, 'the copy to be dropped');
    // A node that reported an hour ago is shown silent.
    await raw.hset(nodeStatsKey, 'ghost', JSON.stringify({ clients: 7, routes: 0, at: Date.now() - 3_600_000 }));
    // Reports are written every 100 ms; these two make the order certain.
    await two.bus.operations.report();
    await one.bus.operations.report();
    await until(() => one.bus.stats().roundTripMs !== undefined, 'a PING answered');

    const stats = one.bus.stats();
    assert.equal(stats.link, 'up');
    const byId = new Map(stats.nodes.map((node) => [node.nodeId, node]));
    assert.deepEqual([...byId.keys()].sort(), ['ghost', 'node-1', 'node-2']);
    assert.equal(byId.get('node-2')?.clients, 2);
    assert.equal(byId.get('node-2')?.routes, 2);
    assert.equal(byId.get('node-2')?.state, 'up');
    assert.equal(byId.get('node-1')?.clients, 1);
    assert.equal(byId.get('ghost')?.state, 'silent');
    assert.equal(one.bus.counters.forwarded, 3);
    assert.equal(two.bus.counters.received, 4);
    // The bytes node 1 forwarded are those node 2 received from it (the copy came from elsewhere).
    assert.equal(two.bus.counters.bytesReceived - copy.length, one.bus.counters.bytesForwarded);

    // $SYS on node 1: the cluster topics, retained, as the next interval publishes them.
    const watcher = await one.clients.connect({ protocolVersion: 5, clientId: 'sys-watcher' });
    await watcher.client.subscribeAsync('$SYS/broker/cluster/#', { qos: 0 });
    const value = (topic: string): string | undefined =>
      [...watcher.inbox.messages].reverse().find((m) => m.topic === `$SYS/broker/cluster/${topic}`)?.payload;
    await until(
      () => value('nodes/node-2/routes') === '2' && value('nodes/node-2/clients') === '2',
      '$SYS node-2 counts',
    );
    assert.equal(value('node_id'), 'node-1');
    assert.equal(value('link'), 'up');
    assert.equal(value('nodes/ghost/state'), 'silent');
    assert.equal(value('nodes/count'), '3');
    assert.equal(value('messages/forwarded'), '3');
    assert.equal(value('bytes/forwarded'), String(one.bus.counters.bytesForwarded));
    assert.match(value('redis/rtt_ms') ?? '', /^\d+\.\d{3}$/);

    const metrics = await new BrokerMetrics(one.broker).scrape();
    assert.equal(sample(metrics, 'fennec_cluster_messages_forwarded_total'), 3);
    assert.equal(sample(metrics, 'fennec_cluster_bytes_forwarded_total'), one.bus.counters.bytesForwarded);
    assert.equal(sample(metrics, 'fennec_cluster_node_clients', { node: 'node-2' }), 2);
    assert.equal(sample(metrics, 'fennec_cluster_node_routes', { node: 'node-2' }), 2);
    assert.equal(sample(metrics, 'fennec_cluster_nodes', { state: 'up' }), 2);
    assert.equal(sample(metrics, 'fennec_cluster_nodes', { state: 'silent' }), 1);
    assert.equal(sample(metrics, 'fennec_cluster_link_up'), 1);
    assert.ok((sample(metrics, 'fennec_cluster_redis_rtt_seconds') ?? -1) >= 0);
    assert.ok((sample(metrics, 'fennec_cluster_redis_pings_total') ?? 0) >= 1);
    const received = await new BrokerMetrics(two.broker).scrape();
    assert.equal(sample(received, 'fennec_cluster_messages_received_total'), 4);
    assert.equal(sample(received, 'fennec_cluster_duplicates_dropped_total'), 1);
    assert.equal(sample(received, 'fennec_cluster_bytes_received_total'), two.bus.counters.bytesReceived);
  });

  void it('shows the link going down and coming back in metrics and $SYS', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const one = await startNode(redis, 'node-1', {}, fast);
    const metrics = new BrokerMetrics(one.broker);
    assert.equal(sample(await metrics.scrape(), 'fennec_cluster_link_up'), 1);
    redis.pause();
    await until(() => one.bus.state === 'down', 'the link down');
    const down = await metrics.scrape();
    assert.equal(sample(down, 'fennec_cluster_link_up'), 0);
    // Down once more than up (a loaded machine may add flaps of its own before the pause).
    const downs = sample(down, 'fennec_cluster_link_changes_total', { to: 'down' }) ?? 0;
    assert.ok(downs >= 1);
    assert.equal(sample(down, 'fennec_cluster_link_changes_total', { to: 'up' }), downs - 1);
    assert.equal(new Map(one.broker.sys.values()).get('$SYS/broker/cluster/link'), 'down');
    redis.resume();
    await until(() => one.bus.state === 'up', 'the link back');
    const back = await metrics.scrape();
    assert.equal(sample(back, 'fennec_cluster_link_up'), 1);
    assert.equal(sample(back, 'fennec_cluster_link_changes_total', { to: 'up' }), downs);
    assert.equal(new Map(one.broker.sys.values()).get('$SYS/broker/cluster/link/down_count'), String(downs));
  });

  void it('publishes no cluster topic and registers no cluster metric for a broker alone', async (t) => {
    const { Broker } = await import('../../src/broker/broker.js');
    const broker = new Broker({ host: '127.0.0.1', port: 0, sysInterval: 0 });
    await broker.listen();
    t.after(() => broker.close());
    assert.ok(broker.sys.values().every(([topic]) => !topic.startsWith('$SYS/broker/cluster/')));
    assert.doesNotMatch(await new BrokerMetrics(broker).scrape(), /fennec_cluster_/);
  });
});
