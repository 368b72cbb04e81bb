/**
 * A node's lease: the key `fennec:lease:NODE`, holding the token of the node's current run, set with
 * a time-to-live (`cluster.lease_ms`) and renewed every third of it. A node that stops renewing
 * (killed, frozen, cut off from Redis) loses it when the TTL runs out, and the other nodes then
 * declare it dead (src/cluster/reaper.ts). A clean close deletes it at once.
 */
import { EventEmitter } from 'node:events';
import type { RedisClient } from './connect.js';
import { leaseKey } from './keys.js';

/** What a Lease reports. */
export interface LeaseEvents {
  /**
   * The lease had expired when it was renewed (this process was frozen or cut off from Redis for
   * longer than its TTL): it is taken again, but the other nodes may have declared this node dead
   * meanwhile, so it must announce itself again.
   */
  lapsed: [];
  /** Another process holds this node id's lease (its token is given): two nodes share one id. */
  conflict: [holder: string];
  /** A renewal failed (Redis unreachable); it is tried again at the next third of the TTL. */
  error: [err: unknown];
}

/**
 * Renews the lease if this run holds it (1), takes it again if it expired (0), and leaves it to
 * another holder (its token).
 */
const renewScript = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 0 end
return holder`;

/** Deletes the lease only if this run holds it. */
const releaseScript = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export class Lease extends EventEmitter<LeaseEvents> {
  private timer: NodeJS.Timeout | undefined;
  private renewing = false;

  constructor(
    private readonly redis: RedisClient,
    readonly nodeId: string,
    /** Identifies this run of the node: the lease's value. */
    readonly token: string,
    /** The lease's time-to-live, in ms. */
    readonly ttlMs: number,
  ) {
    super();
  }

  /**
   * Takes the lease, whoever held it: a previous run of this node id that died has not released it
   * yet. Then renews it every third of the TTL until `stop()`.
   */
  async start(): Promise<void> {
    await this.redis.set(leaseKey(this.nodeId), this.token, 'PX', this.ttlMs);
    this.timer = setInterval(() => this.renew(), Math.max(1, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  /** Stops renewing and deletes the lease (if this run still holds it); the node is leaving cleanly. */
  async stop(): Promise<void> {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    await this.redis.eval(releaseScript, 1, leaseKey(this.nodeId), this.token);
  }

  private renew(): void {
    // A renewal still waiting (Redis slow or away) is not doubled up.
    if (this.renewing || this.timer === undefined) return;
    this.renewing = true;
    this.redis.eval(renewScript, 1, leaseKey(this.nodeId), this.token, this.ttlMs).then(
      (reply) => {
        this.renewing = false;
        if (this.timer === undefined) return;
        if (reply === 0) this.emit('lapsed');
        else if (reply !== 1) this.emit('conflict', String(reply));
      },
      (err: unknown) => {
        this.renewing = false;
        this.emit('error', err);
      },
    );
  }
}

/** Whether node `nodeId` holds its lease: it renewed it within its TTL. */
export async function isAlive(redis: RedisClient, nodeId: string): Promise<boolean> {
  return (await redis.exists(leaseKey(nodeId))) === 1;
}
