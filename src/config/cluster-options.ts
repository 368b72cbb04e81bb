/**
 * The options of the configuration file's `cluster:` section: with it, `fennec broker` is a node of a
 * Fennec cluster on Redis (docs/cluster.md); without it nothing about Redis is loaded. Part of the
 * option table (src/config/options.ts); documented in docs/configuration.md, generated from it.
 */
import { z } from 'zod';
import { field, integerIn, type OptionSpec } from './fields.js';

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
