/**
 * The options of the configuration file's `cluster:` section: with it, `fennec broker` is a node of a
 * Fennec cluster on Redis (docs/cluster.md); without it nothing about Redis is loaded. Part of the
 * option table (src/config/options.ts); documented in docs/configuration.md, generated from it.
 */
import { z } from 'zod';
import { field, type OptionSpec } from './fields.js';

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
} as const satisfies Record<string, OptionSpec>;
