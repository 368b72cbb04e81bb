/**
 * Dead-node detection: every node watches the nodes of `fennec:nodes` (and those of `fennec:dead`
 * whose wills are not all out). A node whose lease has been gone for `lease_ms` more (so that a node
 * whose lease lapsed while Redis was away has time to take it again) is dead. Exactly one survivor
 * handles it: the one whose `SET fennec:reaper:NODE NX PX` succeeds. It declares the node dead in one
 * Lua script that first checks that the lease is still gone (removes its routes and announces a
 * reset, removes it from `fennec:nodes`), logs one line, calls the `onNodeDead` extension point,
 * then publishes its clients' wills at their time (WillRunner), renewing its claim meanwhile. A
 * survivor that dies while waiting lets its claim expire; another takes over where it stopped.
 */
import type { RedisClient } from './connect.js';
import type { Logger } from 'pino';
import { forgetDeadNode } from './dead-node.js';
import { deadKey, leaseKey, nodesKey, reaperKey, routesChannel, routesKey, willsKey } from './keys.js';
import type { WillRunner } from './will-ledger.js';

/**
 * Called once per node death, on the one node that declared it, after the routes of the dead node
 * are removed and before its wills are published. The extension point where session adoption
 * (`adoptSessions(deadNode)`: owning the dead node's persistent sessions so that they resume
 * anywhere) plugs in; a rejection is logged and does not stop the wills.
 */
export type NodeDeadHandler = (deadNode: string) => Promise<void> | void;

export interface ReaperOptions {
  nodeId: string;
  /** `NODE/RUN` of this node: the value of its claims. */
  claimant: string;
  /** The lease TTL, in ms: how often nodes are checked (a third of it) and the grace before a death. */
  leaseMs: number;
  log: Logger;
  onNodeDead: NodeDeadHandler | undefined;
  /**
   * Whether the routes of a dead node, and its place in `fennec:nodes`, stay until `onNodeDead`
   * has run (session adoption: its traffic keeps going to its stream, drained by the adopter, until
   * the adopted sessions' routes are known); they are removed after it in any case. A declarer that
   * dies meanwhile leaves the death to be declared again, and the adoption done again, by another.
   */
  keepRoutes?: boolean;
  counters: { nodesDeclaredDead: number };
}

/**
 * Declares a node dead unless its lease is back (-1). KEYS: lease, routes, nodes, dead, wills; ARGV:
 * node, now (ms), routes channel, reset notice, '1' to keep its routes and its place in
 * `fennec:nodes` for `onNodeDead`. Returns {1 the first time or 0, when declared}.
 */
const declareScript = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1, '0'} end
local first
if ARGV[5] == '1' then
  first = redis.call('SISMEMBER', KEYS[3], ARGV[1])
else
  first = redis.call('SREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[2])
end
if redis.call('EXISTS', KEYS[5]) == 1 then redis.call('ZADD', KEYS[4], 'NX', ARGV[2], ARGV[1]) end
if first == 1 and ARGV[5] ~= '1' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return {first, redis.call('ZSCORE', KEYS[4], ARGV[1]) or ARGV[2]}`;

/** Extends a claim this claimant holds. KEYS: claim; ARGV: claimant, ttl. */
const renewClaimScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/** Ends a claim: the node leaves `fennec:dead` once its wills are all out. KEYS: wills, dead, claim; ARGV: node, claimant. */
const finishScript = `
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) end
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
return 1`;

export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  /** Since when (ms) each other node was seen without a lease, check after check. */
  private readonly missingSince = new Map<string, number>();
  /** The dead nodes this node is handling. */
  private readonly handling = new Set<string>();

  constructor(
    private readonly redis: RedisClient,
    private readonly runner: WillRunner,
    private readonly options: ReaperOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), Math.max(1, Math.floor(this.options.leaseMs / 3)));
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Forgets what was seen: after this node's own link to Redis dropped, the others had no chance to renew. */
  reset(): void {
    this.missingSince.clear();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.timer === undefined) return;
    this.ticking = true;
    try {
      const [members, dead] = await Promise.all([this.redis.smembers(nodesKey), this.redis.zrange(deadKey, 0, -1)]);
      const others = [...new Set([...members, ...dead])].filter((node) => node !== this.options.nodeId);
      const leases = others.length === 0 ? [] : await this.redis.mget(others.map(leaseKey));
      const now = Date.now();
      for (const node of this.missingSince.keys()) if (!others.includes(node)) this.missingSince.delete(node);
      others.forEach((node, i) => {
        if (leases[i] !== null || this.handling.has(node)) {
          this.missingSince.delete(node);
          return;
        }
        const since = this.missingSince.get(node) ?? now;
        this.missingSince.set(node, since);
        if (now - since >= this.options.leaseMs) void this.handle(node);
      });
    } catch {
      // Redis away: nobody can renew, so nobody is declared dead; watch again from scratch.
      this.missingSince.clear();
    } finally {
      this.ticking = false;
    }
  }

  /** Handles the death of `node` if this node wins the claim. */
  private async handle(node: string): Promise<void> {
    const { claimant, leaseMs, log } = this.options;
    const claimTtl = 2 * leaseMs;
    this.handling.add(node);
    this.missingSince.delete(node);
    let renew: NodeJS.Timeout | undefined;
    try {
      if ((await this.redis.set(reaperKey(node), claimant, 'PX', claimTtl, 'NX')) !== 'OK') return;
      renew = setInterval(
        () => {
          this.redis.eval(renewClaimScript, 1, reaperKey(node), claimant, claimTtl).catch(() => undefined);
        },
        Math.floor(leaseMs / 3),
      );
      renew.unref();
      const [first, declaredAt] = (await this.redis.eval(
        declareScript,
        5,
        leaseKey(node),
        routesKey(node),
        nodesKey,
        deadKey,
        willsKey(node),
        node,
        Date.now(),
        routesChannel,
        JSON.stringify({ node, op: 'reset' }),
        this.options.keepRoutes === true ? '1' : '0',
      )) as [number, string];
      if (first === -1) return;
      if (first === 1) await this.declared(node);
      await this.runner.run(node, Number(declaredAt));
    } catch (err) {
      log.warn({ node, err: String(err) }, 'cluster: handling a dead node failed; another check will retry');
    } finally {
      clearInterval(renew);
      if (renew !== undefined) {
        await this.redis
          .eval(finishScript, 3, willsKey(node), deadKey, reaperKey(node), node, claimant)
          .catch(() => undefined);
      }
      this.handling.delete(node);
    }
  }

  /** The one line, the count and the extension point of a node's death. */
  private async declared(node: string): Promise<void> {
    const { leaseMs, log, counters, onNodeDead } = this.options;
    counters.nodesDeclaredDead++;
    log.warn(
      { node, leaseMs },
      `cluster: node ${node} declared dead (no lease for ${leaseMs} ms): its routes removed, its clients' wills to be published`,
    );
    try {
      await onNodeDead?.(node);
    } catch (err) {
      log.error({ node, err: String(err) }, 'cluster: onNodeDead handler failed');
    }
    if (this.options.keepRoutes !== true) return;
    // Kept for the handler, the routes go now whatever it did (an adoption removed them already),
    // unless the node came back meanwhile.
    await forgetDeadNode(this.redis, node);
  }
}
