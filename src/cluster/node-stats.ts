/**
 * What each node tells the others of itself, for `$SYS` and metrics: every `intervalMs` a node
 * writes its count of connected clients and of route filters to one Redis hash (field: its node id)
 * and reads every node's entry back. A node not heard from for three intervals shows as `silent`
 * (it may be dead, or cut from Redis); one that left cleanly removed its entry. The times compared
 * are the nodes' own clocks.
 */
import type { Logger } from 'pino';
import type { ClusterNodeStats } from '../broker/bus.js';
import type { RedisClient } from './connect.js';
import { nodeStatsKey } from './keys.js';

/** One node's entry in the hash. */
interface Report {
  clients: number;
  routes: number;
  /** When it was written, in ms since the epoch. */
  at: number;
}

export interface NodeStatsOptions {
  nodeId: string;
  intervalMs: number;
  /** This node's connected clients now. */
  clients(): number;
  /** This node's route filters now. */
  routes(): number;
  /** The route filters this node knows node `node` has (its RouteTable). */
  knownRoutes(node: string): number;
  /** The other nodes this node knows routes of. */
  knownNodes(): string[];
  /** Whether the link to Redis is up: nothing is written or read while it is down. */
  linkUp(): boolean;
}

export class NodeStats {
  private reports = new Map<string, Report>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: NodeStatsOptions,
  ) {}

  /** Reports now, then every interval. */
  start(log: Logger): void {
    const run = (): void => {
      if (this.busy || !this.options.linkUp()) return;
      this.busy = true;
      this.report().then(
        () => (this.busy = false),
        (err: unknown) => {
          this.busy = false;
          log.debug({ err: String(err) }, 'cluster node statistics not written');
        },
      );
    };
    run();
    this.timer = setInterval(run, this.options.intervalMs).unref();
  }

  /** Stops reporting; removes this node's entry unless `keep`. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.options.linkUp()) await this.redis.hdel(nodeStatsKey, this.options.nodeId).catch(() => undefined);
  }

  /** Writes this node's entry and reads every node's. */
  async report(): Promise<void> {
    const { nodeId } = this.options;
    const mine: Report = { clients: this.options.clients(), routes: this.options.routes(), at: Date.now() };
    await this.redis.hset(nodeStatsKey, nodeId, JSON.stringify(mine));
    const all = await this.redis.hgetall(nodeStatsKey);
    const reports = new Map<string, Report>();
    for (const [node, json] of Object.entries(all)) {
      try {
        const report = JSON.parse(json) as Partial<Report>;
        if (typeof report.clients === 'number' && typeof report.routes === 'number' && typeof report.at === 'number') {
          reports.set(node, report as Report);
        }
      } catch {
        // An entry another version wrote differently is left out.
      }
    }
    this.reports = reports;
  }

  /** Every node with an entry, this one first with its counts of now. */
  nodes(now = Date.now()): ClusterNodeStats[] {
    const { nodeId } = this.options;
    const out: ClusterNodeStats[] = [
      { nodeId, state: 'up', clients: this.options.clients(), routes: this.options.routes(), reportedAt: now },
    ];
    const others = new Set([...this.reports.keys(), ...this.options.knownNodes()]);
    others.delete(nodeId);
    for (const node of [...others].sort()) {
      const report = this.reports.get(node);
      // Not heard from: a node whose routes are known but that has not reported yet, or no longer.
      const state = report === undefined || now - report.at > 3 * this.options.intervalMs ? 'silent' : 'up';
      out.push({
        nodeId: node,
        state,
        clients: report?.clients ?? 0,
        routes: this.options.knownRoutes(node),
        reportedAt: report?.at,
      });
    }
    return out;
  }
}
