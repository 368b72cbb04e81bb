/**
 * The options of the configuration file's `cluster:` section: with it, `fennec broker` is a node of a
 * Fennec cluster on Redis (docs/cluster.md); without it nothing about Redis is loaded. Part of the
 * option table (src/config/options.ts); documented in docs/configuration.md, generated from it.
 */
import { z } from 'zod';
import { boolean, field, integerIn, MAX_TIMER_MS, oneOf, type OptionSpec } from './fields.js';
import { parseRedisUrl, redisUrlForms } from './redis-url.js';

/** Where a cluster node keeps its sessions: `redis`, cluster-wide; `local`, in its own store. */
export const clusterSessionModes = ['redis', 'local'] as const;

/** A cluster's Redis URL: one server, a Sentinel-watched master or a Redis Cluster (src/config/redis-url.ts). */
const redisUrl = field(
  z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? 'is required in the cluster: section (a Redis URL, redis://HOST:PORT)'
          : `must be a Redis URL (${redisUrlForms})`,
    })
    .superRefine((value, context) => {
      const target = parseRedisUrl(value);
      if (typeof target === 'string') context.addIssue({ code: 'custom', message: target });
    }),
  'Redis URL',
);

/** A node id: it names Redis keys, so letters, digits, `.`, `_` and `-` only, 1 to 64 of them. */
const nodeId = field(
  z
    .string({ error: 'must be a node id: 1 to 64 letters, digits, ".", "_" or "-"' })
    .regex(/^[A-Za-z0-9._-]{1,64}$/, { error: 'must be a node id: 1 to 64 letters, digits, ".", "_" or "-"' }),
  'string of [A-Za-z0-9._-], 1 to 64',
);

/** The `cluster:` options, by the name of their field in the resolved configuration's `cluster`. */
export const clusterOptionSpecs = {
  redis: {
    target: 'command',
    section: 'cluster',
    key: 'redis',
    required: true,
    field: redisUrl,
    unit: 'URL',
    unsetText: 'unset: not a cluster node',
    doc: 'Redis of the cluster: one server (`redis://HOST:PORT`, `rediss://` for TLS), a master found through Sentinel (`redis+sentinel://HOST:PORT[,HOST:PORT]/MASTER`) or a Redis Cluster (`redis+cluster://HOST:PORT[,HOST:PORT]`); setting it makes this broker a cluster node (docs/cluster.md). `fennec broker --cluster-redis URL` sets it without a `cluster:` section',
  },
  nodeId: {
    target: 'command',
    section: 'cluster',
    key: 'node_id',
    field: nodeId,
    unit: '',
    unsetText: 'HOSTNAME-PID',
    doc: "this node's id in the cluster, unique among its nodes and kept across restarts so that the node finds its own stream again; printed at start (`fennec cluster node ID`)",
  },
  sessions: {
    target: 'command',
    section: 'cluster',
    key: 'sessions',
    field: oneOf(clusterSessionModes),
    unit: '',
    unsetText: 'redis',
    doc: "where a node keeps its sessions: `redis`, in the cluster's Redis, so that a client takes its session over on any node and a dead node's sessions are adopted (`persistence` and `data_dir` then do not apply); `local`, in the node's own store as `persistence` says, so that a client finds its session only on the node it used (docs/cluster.md)",
  },
  handoverTimeoutMs: {
    target: 'command',
    section: 'cluster',
    key: 'handover_timeout_ms',
    field: integerIn(100, MAX_TIMER_MS, 'a time in ms, 100 or more'),
    unit: 'ms',
    unsetText: '5000',
    doc: 'with `sessions: redis`, how long a node taking a session over waits for the node that has it to hand it over; after it, the session is taken anyway and the old node can no longer write to it (fencing)',
  },
  // Renewed every third of it; a node is declared dead once its lease has been gone for as long again.
  leaseMs: {
    target: 'command',
    section: 'cluster',
    key: 'lease_ms',
    field: integerIn(300, 600_000, 'milliseconds'),
    unit: 'milliseconds',
    // Applied by RedisBus (its leaseMs), as node_id's default is made up there.
    unsetText: '3000',
    doc: "time-to-live of this node's lease in Redis (`{fennec}:lease:NODE`), renewed every third of it. The other nodes declare a node dead once its lease has been gone for this long again (so 1 to 2.3 times this after it stopped), then remove its routes and publish its clients' wills; a node paused for longer than this is declared dead",
  },
  unavailableAckMs: {
    target: 'command',
    section: 'cluster',
    key: 'unavailable_ack_ms',
    field: integerIn(0, 86_400_000, 'ms'),
    unit: 'ms',
    default: 5000,
    doc: 'once Redis has been unreachable this long, a QoS 1/2 PUBLISH from an MQTT 5.0 client that needs Redis (for a subscriber on another node, or retained) gets PUBACK/PUBREC 0x97 Quota exceeded and is not routed; a 3.1.1 client is no longer read from until Redis returns. Messages for this node alone are delivered as usual',
  },
  pingIntervalMs: {
    target: 'command',
    section: 'cluster',
    key: 'ping_interval_ms',
    field: integerIn(50, 3_600_000, 'ms'),
    unit: 'ms',
    default: 1000,
    doc: 'how often the node sends Redis a PING, to measure the round trip (`fennec_cluster_redis_rtt_seconds`) and to notice a Redis that stopped answering',
  },
  pingTimeoutMs: {
    target: 'command',
    section: 'cluster',
    key: 'ping_timeout_ms',
    field: integerIn(50, 3_600_000, 'ms'),
    unit: 'ms',
    default: 3000,
    doc: 'a PING unanswered this long marks the link to Redis down (logged, counted) even though its connection is open',
  },
  statsIntervalMs: {
    target: 'command',
    section: 'cluster',
    key: 'stats_interval_ms',
    field: integerIn(100, 3_600_000, 'ms'),
    unit: 'ms',
    default: 5000,
    doc: "how often the node writes its client and route counts to Redis and reads the other nodes' (`$SYS/broker/cluster/nodes/...`); a node not heard from for three intervals shows as `silent`",
  },
  waitReplicas: {
    target: 'command',
    section: 'cluster',
    key: 'wait_replicas',
    field: integerIn(0, 100, 'replicas'),
    unit: 'replicas',
    default: 0,
    doc: "each batch of writes carrying a QoS 1/2 message ends with `WAIT N`: the publishers' acknowledgements wait until N replicas of the Redis master have the writes (0: no WAIT)",
  },
  waitTimeoutMs: {
    target: 'command',
    section: 'cluster',
    key: 'wait_timeout_ms',
    field: integerIn(1, 3_600_000, 'ms'),
    unit: 'ms',
    default: 1000,
    doc: 'how long one `WAIT` / `WAITAOF` blocks; when fewer replicas confirmed, it is sent again (acknowledgements keep waiting)',
  },
  waitAof: {
    target: 'command',
    section: 'cluster',
    key: 'wait_aof',
    field: boolean(),
    unit: '',
    default: false,
    doc: 'each batch carrying a QoS 1/2 message ends with `WAITAOF 1 N` (N: `wait_replicas`): acknowledgements wait until the master and N replicas fsynced their append-only files. Needs Redis 7.2 or later: a node whose Redis is older refuses to start',
  },
} as const satisfies Record<string, OptionSpec>;
