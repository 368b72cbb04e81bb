/**
 * The options of the configuration file's `cluster:` section: with it, `fennec broker` is a node of a
 * Fennec cluster on Redis (docs/cluster.md); without it nothing about Redis is loaded. Part of the
 * option table (src/config/options.ts); documented in docs/configuration.md, generated from it.
 */
import { z } from 'zod';
import { field, integerIn, MAX_TIMER_MS, oneOf, type OptionSpec } from './fields.js';

/** Where a cluster node keeps its sessions: `redis`, cluster-wide; `local`, in its own store. */
export const clusterSessionModes = ['redis', 'local'] as const;

/** A Redis URL: `redis://` or `rediss://` (TLS), with an optional user, password, port and database. */
const redisUrl = field(
  z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? 'is required in the cluster: section (a Redis URL, redis://HOST:PORT)'
          : 'must be a Redis URL (redis://HOST:PORT or rediss://HOST:PORT)',
    })
    .refine(
      (value) => {
        try {
          const url = new URL(value);
          return (url.protocol === 'redis:' || url.protocol === 'rediss:') && url.hostname !== '';
        } catch {
          return false;
        }
      },
      { error: 'must be a Redis URL (redis://HOST:PORT or rediss://HOST:PORT)' },
    ),
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
    doc: 'Redis server of the cluster (`redis://HOST:PORT`, `rediss://` for TLS); setting it makes this broker a cluster node (docs/cluster.md). `fennec broker --cluster-redis URL` sets it without a `cluster:` section',
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
    doc: "time-to-live of this node's lease in Redis (`fennec:lease:NODE`), renewed every third of it. The other nodes declare a node dead once its lease has been gone for this long again (so 1 to 2.3 times this after it stopped), then remove its routes and publish its clients' wills; a node paused for longer than this is declared dead",
  },
} as const satisfies Record<string, OptionSpec>;
