/**
 * A node's part in the cluster's liveness (docs/cluster.md, Node liveness): its lease, the watch
 * over the other nodes (Reaper), and the wills its previous run left. The RedisBus owns one.
 */
import type { RedisClient } from './connect.js';
import type { BusHost } from '../broker/bus.js';
import { Lease } from './lease.js';
import type { Outbox } from './outbox.js';
import { Reaper, type NodeDeadHandler } from './reaper.js';
import { WillRunner, type ClusterWills } from './will-ledger.js';

export interface LivenessOptions {
  nodeId: string;
  /** This run's token: the lease's value and the prefix of its will records. */
  run: string;
  /** The lease's time-to-live, in ms. */
  leaseMs: number;
  onNodeDead: NodeDeadHandler | undefined;
  /** See ReaperOptions.keepRoutes. */
  keepRoutes?: boolean;
  counters: { nodesDeclaredDead: number; deadNodeWills: number };
}

export class Liveness {
  readonly lease: Lease;
  private reaper: Reaper | undefined;
  private runner: WillRunner | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly outbox: Outbox,
    private readonly wills: ClusterWills,
    private readonly options: LivenessOptions,
  ) {
    this.lease = new Lease(redis, options.nodeId, options.run, options.leaseMs);
  }

  /**
   * Takes the lease, before the node announces anything: a node declared dead that comes back must
   * hold it first, or a survivor still handling its death could remove its routes again. `rejoin`
   * announces the node again after its lease lapsed (others may have declared it dead).
   */
  async takeLease(host: BusHost, rejoin: () => void): Promise<void> {
    const { nodeId, leaseMs } = this.options;
    this.lease.on('lapsed', () => {
      host.log.warn(
        { nodeId, leaseMs },
        'cluster: this node lost its lease (frozen or cut off from Redis for longer than lease_ms) and took it again; announcing itself again',
      );
      rejoin();
    });
    let conflicts = 0;
    this.lease.on('conflict', (holder) => {
      // Logged on the first and every hundredth: two processes share this node id.
      if (conflicts++ % 100 === 0) {
        host.log.error({ nodeId, holder }, "cluster: another process holds this node id's lease");
      }
    });
    // A failed renewal is tried again; the link's state is logged by the bus.
    this.lease.on('error', () => undefined);
    await this.lease.start();
  }

  /**
   * Starts watching the other nodes, and publishes the wills this node id's previous runs left
   * (connections that died with it), each at its time and once: a survivor may be at it too.
   */
  async start(host: BusHost): Promise<void> {
    const { nodeId, run, leaseMs, onNodeDead, keepRoutes, counters } = this.options;
    const claimant = `${nodeId}/${run}`;
    const runner = new WillRunner(this.redis, this.outbox, claimant, host, counters);
    this.runner = runner;
    this.reaper = new Reaper(this.redis, runner, {
      nodeId,
      claimant,
      leaseMs,
      log: host.log,
      onNodeDead,
      keepRoutes: keepRoutes === true,
      counters,
    });
    this.reaper.start();
    // Read before any client connects, so that one resuming its session cancels its old will.
    const since = Date.now();
    const left = await runner.read(nodeId, run);
    for (const [id, record] of left) this.wills.leftover(id, record.message.publisherId);
    if (left.length > 0) {
      host.log.info({ wills: left.length }, "cluster: publishing the wills this node's previous run left");
    }
    runner
      .publishAll(nodeId, left, since)
      .catch((err: unknown) => host.log.warn({ err: String(err) }, "cluster: the previous run's wills not published"));
  }

  /** This node's link to Redis came back: the other nodes had no chance to renew meanwhile. */
  linkRestored(): void {
    this.reaper?.reset();
  }

  /** Stops watching and waiting to publish wills (what is left stays in Redis). */
  stop(): void {
    this.reaper?.stop();
    this.runner?.stop();
  }

  /** Deletes the lease: the node has left cleanly (it is no longer in `fennec:nodes`), nobody handles it. */
  release(): Promise<void> {
    return this.lease.stop();
  }
}
