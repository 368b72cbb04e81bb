/**
 * A node's lease: the key `fennec:lease:NODE`, set with a time to live and renewed every third of
 * it while the node runs, deleted when it closes. A node whose key is gone is dead: another node
 * may then take its sessions without asking it (src/cluster/store-scripts.ts reads the key in the
 * claim script). Minimal on purpose: the cluster's dead-node detection builds on the same key.
 */
import type { Redis } from 'ioredis';

/** The lease key of node `nodeId`. */
export const leaseKey = (nodeId: string): string => `fennec:lease:${nodeId}`;

/** Default time to live of a lease, in ms. */
export const DEFAULT_LEASE_TTL_MS = 10_000;

export class Lease {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    readonly nodeId: string,
    /** Time to live of the key, in ms; renewed every third of it. */
    readonly ttlMs = DEFAULT_LEASE_TTL_MS,
  ) {}

  /** Sets the key and starts renewing it. */
  async start(): Promise<void> {
    await this.renew();
    this.timer = setInterval(
      () => {
        // A renewal that fails (Redis away) is retried at the next tick; the key may lapse meanwhile.
        this.renew().catch(() => undefined);
      },
      Math.max(1, Math.floor(this.ttlMs / 3)),
    );
    this.timer.unref();
  }

  /** Stops renewing and deletes the key: the node leaves as dead to the others. */
  async stop(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.redis.del(leaseKey(this.nodeId));
  }

  private async renew(): Promise<void> {
    await this.redis.set(leaseKey(this.nodeId), String(process.pid), 'PX', this.ttlMs);
  }
}

/** Whether node `nodeId` holds a lease now. */
export async function isAlive(redis: Redis, nodeId: string): Promise<boolean> {
  return (await redis.exists(leaseKey(nodeId))) === 1;
}
