/**
 * Opens a connection to the cluster's Redis in any of its forms (src/config/redis-url.ts): one
 * server, a master found through Sentinel (ioredis `sentinels` + `name`: after a failover the
 * client asks the Sentinels for the new master and reconnects), or a Redis Cluster (ioredis
 * `Cluster`, which follows the slot map; every Fennec key shares one hash tag, src/cluster/keys.ts).
 * Every form waits while Redis is away instead of failing commands: what they hold back (the
 * acknowledgements of publishers) goes out once Redis has it.
 */
import { Cluster, Redis } from 'ioredis';
import { parseRedisUrl, type RedisTarget } from '../config/redis-url.js';
import { FennecError } from '../errors/index.js';

/** A connection to the cluster's Redis: one server's client, or a Redis Cluster's. */
export type RedisClient = Redis | Cluster;

/** How one connection behaves besides its target. */
export interface ConnectionOptions {
  /** Whether a command left unanswered by a lost connection is sent again on the next one. Default true. */
  resendUnanswered?: boolean;
}

/** Parses `url`, or throws ERR_CLUSTER_REDIS_URL saying what is wrong with it. */
export function redisTarget(url: string): RedisTarget {
  const target = parseRedisUrl(url);
  if (typeof target === 'string') throw new FennecError('ERR_CLUSTER_REDIS_URL', `cluster Redis URL ${target}`);
  return target;
}

/** A new, not yet connected client of `target` (`connect()` connects it). */
export function createRedisClient(target: RedisTarget, options: ConnectionOptions = {}): RedisClient {
  const common = {
    lazyConnect: true,
    // Commands wait in the offline queue while Redis is away, rather than failing.
    maxRetriesPerRequest: null,
    protocol: 2 as const,
    autoResendUnfulfilledCommands: options.resendUnanswered ?? true,
  };
  const retryStrategy = (times: number): number => Math.min(times * 100, 1000);
  switch (target.kind) {
    case 'server':
      return new Redis(target.url, { ...common, retryStrategy });
    case 'sentinel':
      return new Redis({
        ...common,
        sentinels: target.sentinels,
        name: target.name,
        db: target.db,
        ...(target.username === undefined ? {} : { username: target.username }),
        ...(target.password === undefined ? {} : { password: target.password }),
        // Keeps asking the Sentinels while none answers, as a lone server is retried.
        sentinelRetryStrategy: retryStrategy,
        retryStrategy,
      });
    case 'cluster':
      return new Cluster(target.nodes, {
        lazyConnect: true,
        enableOfflineQueue: true,
        clusterRetryStrategy: retryStrategy,
        redisOptions: {
          maxRetriesPerRequest: null,
          autoResendUnfulfilledCommands: common.autoResendUnfulfilledCommands,
          ...(target.username === undefined ? {} : { username: target.username }),
          ...(target.password === undefined ? {} : { password: target.password }),
        },
      });
    default: {
      const unknown: never = target;
      throw new Error(`unknown Redis target ${String(unknown)}`);
    }
  }
}
