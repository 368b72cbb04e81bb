/**
 * The `fennec_cluster_*` metrics of a cluster node, read from its bus's `stats()` when scraped: the
 * link to Redis and its round trip, the nodes known with their clients and routes, and the traffic
 * between nodes. Registered only when the broker has a bus that gives stats. Listed in
 * docs/operations.md.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClusterStats } from '../broker/bus.js';

type ClusterCounter = keyof ClusterStats['counters'];

/** Counters read from `ClusterStats.counters`: metric name, help, counter. */
const COUNTERS: [name: string, help: string, counter: ClusterCounter][] = [
  ['fennec_cluster_messages_forwarded_total', 'Messages sent to other nodes (one per target node).', 'forwarded'],
  ['fennec_cluster_messages_received_total', 'Messages received from other nodes and delivered here.', 'received'],
  ['fennec_cluster_bytes_forwarded_total', 'Encoded bytes of the messages sent to other nodes.', 'bytesForwarded'],
  ['fennec_cluster_bytes_received_total', 'Encoded bytes of the messages received from other nodes.', 'bytesReceived'],
  [
    'fennec_cluster_duplicates_dropped_total',
    'Messages received again from another node (same message id) and dropped.',
    'duplicates',
  ],
  [
    'fennec_cluster_qos0_dropped_total',
    'QoS 0 messages for other nodes dropped while too many commands waited for Redis.',
    'droppedQoS0',
  ],
  [
    'fennec_cluster_publishes_unavailable_total',
    'QoS 1/2 PUBLISH packets refused with 0x97 (5.0) or held unread (3.1.1) because Redis was unreachable longer than cluster.unavailable_ack_ms.',
    'refusedUnavailable',
  ],
  ['fennec_cluster_redis_batches_total', 'Pipelines of writes sent to Redis.', 'batches'],
  ['fennec_cluster_redis_batch_retries_total', 'Pipelines that failed and were sent again.', 'retries'],
  [
    'fennec_cluster_redis_waits_short_total',
    'WAIT / WAITAOF replies with fewer confirmations than cluster.wait_replicas (sent again).',
    'waitsShort',
  ],
  ['fennec_cluster_redis_pings_total', 'PINGs answered by Redis.', 'pings'],
];

/** Registers the cluster metrics of `bus` on `registry`. */
export function addClusterMetrics(registry: Registry, bus: { stats(): ClusterStats }): void {
  const registers = [registry];
  for (const [name, help, counter] of COUNTERS) {
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(bus.stats().counters[counter]);
      },
    });
  }
  new Counter({
    name: 'fennec_cluster_link_changes_total',
    help: 'Changes of the state of the link to Redis, by the state entered (down, up).',
    labelNames: ['to'],
    registers,
    collect() {
      const { counters } = bus.stats();
      this.reset();
      this.inc({ to: 'down' }, counters.linkDown);
      this.inc({ to: 'up' }, counters.linkUp);
    },
  });
  new Gauge({
    name: 'fennec_cluster_link_up',
    help: 'Whether the link to Redis is up (1) or not (0).',
    registers,
    collect() {
      this.set(bus.stats().link === 'up' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'fennec_cluster_redis_rtt_seconds',
    help: 'Round trip of the last PING answered by Redis (sent every cluster.ping_interval_ms).',
    registers,
    collect() {
      const rtt = bus.stats().roundTripMs;
      if (rtt !== undefined) this.set(rtt / 1000);
    },
  });
  new Gauge({
    name: 'fennec_cluster_nodes',
    help: 'Nodes known, by state (up: reported within three cluster.stats_interval_ms; silent: not).',
    labelNames: ['state'],
    registers,
    collect() {
      this.reset();
      this.set({ state: 'up' }, 0);
      this.set({ state: 'silent' }, 0);
      for (const node of bus.stats().nodes) this.inc({ state: node.state });
    },
  });
  const perNode = (name: string, help: string, read: (node: ClusterStats['nodes'][number]) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const node of bus.stats().nodes) this.set({ node: node.nodeId }, read(node));
      },
    });
  };
  perNode(
    'fennec_cluster_node_clients',
    'Clients connected to each node, as it last reported.',
    (node) => node.clients,
  );
  perNode('fennec_cluster_node_routes', 'Route filters of each node, as this node knows them.', (node) => node.routes);
}
