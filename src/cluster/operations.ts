/**
 * The operational side of a Redis bus, kept apart from its routing: the link monitor (state, round
 * trip, log lines), the node reports for `$SYS` and metrics, what the node refuses while Redis has
 * been unreachable too long, and the check that the Redis server can do what the options ask
 * (WAITAOF needs Redis 7.2).
 */
import type { Logger } from 'pino';
import type { ClusterStats } from '../broker/bus.js';
import { FennecError } from '../errors/index.js';
import type { Message } from '../session/message.js';
import type { RedisClient } from './connect.js';
import { LinkMonitor, type LinkCounters } from './link.js';
import { NodeStats } from './node-stats.js';
import type { RouteTable } from './routes.js';

/** The operational options of a Redis bus, each a `cluster.` option (src/config/cluster-options.ts). */
export interface OperationsOptions {
  /** After Redis has been unreachable this long, QoS 1/2 publishes that need it are refused, in ms. Default 5000. */
  unavailableAckMs?: number | undefined;
  /** Interval of the PING that times Redis' round trip, in ms. Default 1000. */
  pingIntervalMs?: number | undefined;
  /** A PING unanswered this long marks the link down, in ms. Default 3000. */
  pingTimeoutMs?: number | undefined;
  /** Interval of the node reports (clients, routes), in ms. Default 5000. */
  statsIntervalMs?: number | undefined;
}

/** Every counter a Redis bus keeps (ClusterStats' counters plus the outbox's). */
export type RedisBusCounters = ClusterStats['counters'] & LinkCounters;

/** A fresh set of counters, all 0. */
export function newCounters(): RedisBusCounters {
  return {
    forwarded: 0,
    received: 0,
    duplicates: 0,
    batches: 0,
    retries: 0,
    droppedQoS0: 0,
    linkChanges: 0,
    bytesForwarded: 0,
    bytesReceived: 0,
    refusedUnavailable: 0,
    linkDown: 0,
    linkUp: 0,
    pings: 0,
    waitsShort: 0,
    nodesDeclaredDead: 0,
    deadNodeWills: 0,
  };
}

export class Operations {
  readonly link: LinkMonitor;
  private readonly reports: NodeStats;
  private readonly unavailableAckMs: number;

  constructor(
    command: RedisClient,
    private readonly nodeId: string,
    private readonly counters: RedisBusCounters,
    routes: RouteTable,
    options: OperationsOptions,
    clients: () => number,
    /** Whether a message goes through Redis (RedisBus.carries). */
    private readonly carries: (message: Message) => boolean,
  ) {
    this.unavailableAckMs = options.unavailableAckMs ?? 5000;
    this.link = new LinkMonitor(command, counters, {
      nodeId,
      pingIntervalMs: options.pingIntervalMs ?? 1000,
      pingTimeoutMs: options.pingTimeoutMs ?? 3000,
    });
    this.reports = new NodeStats(command, {
      nodeId,
      intervalMs: options.statsIntervalMs ?? 5000,
      clients,
      routes: () => routes.localFilters().length,
      knownRoutes: (node) => routes.filterCount(node),
      knownNodes: () => routes.nodes(),
      linkUp: () => this.link.state === 'up',
    });
  }

  start(log: Logger): void {
    this.link.start(log);
    this.reports.start(log);
  }

  async stop(): Promise<void> {
    await this.reports.stop();
    this.link.stop();
  }

  /** Writes this node's report and reads the others' now (tests; otherwise on its interval). */
  report(): Promise<void> {
    return this.reports.report();
  }

  /** Whether `message` needs Redis while Redis has been unreachable longer than unavailable_ack_ms (counted). */
  unavailableFor(message: Message): boolean {
    if (this.link.state !== 'down' || this.link.downFor() < this.unavailableAckMs) return false;
    if (!this.carries(message)) return false;
    this.counters.refusedUnavailable++;
    return true;
  }

  stats(): ClusterStats {
    return {
      nodeId: this.nodeId,
      link: this.link.state,
      linkDownMs: this.link.downFor(),
      roundTripMs: this.link.lastRoundTripMs,
      nodes: this.reports.nodes(),
      counters: { ...this.counters },
    };
  }
}

/** The server's version as `[major, minor]`, from INFO server. */
async function serverVersion(redis: RedisClient): Promise<[number, number, string]> {
  const info = await redis.info('server');
  const version = /redis_version:([0-9.]+)/.exec(info)?.[1] ?? '0.0';
  const [major, minor] = version.split('.').map(Number);
  return [major ?? 0, minor ?? 0, version];
}

/** Refuses to run a node whose options ask what its Redis cannot do: WAITAOF before Redis 7.2. */
export async function checkServer(redis: RedisClient, waitAof: boolean): Promise<void> {
  if (!waitAof) return;
  const [major, minor, version] = await serverVersion(redis);
  if (major > 7 || (major === 7 && minor >= 2)) return;
  throw new FennecError(
    'ERR_CLUSTER_REDIS_VERSION',
    `cluster.wait_aof needs Redis 7.2 or later (WAITAOF); the cluster's Redis is ${version}`,
  );
}
