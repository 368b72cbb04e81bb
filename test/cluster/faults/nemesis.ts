/**
 * The nemesis of a fault-injection run: a schedule of faults drawn from a seeded PRNG (the same
 * seed gives the same schedule; the interleavings with traffic still depend on timing), then
 * carried out: nodes killed with SIGKILL and started again (same node id, same data directory),
 * Redis frozen with SIGSTOP and thawed with SIGCONT.
 */
import type { TestRedis } from '../../helpers/redis-server.js';
import type { History } from './history.js';
import type { FaultNode } from './nodes.js';

/** mulberry32: a small seeded PRNG; returns numbers in [0, 1). */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let x = state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** One fault: at `at` ms into the fault phase, kill a node or pause Redis, for `holdMs`. */
export interface Fault {
  at: number;
  action: 'kill' | 'pause';
  target: string;
  holdMs: number;
}

/** The faults of `durationMs`: one every 0.4 to 2.5 s, 60 % node kills (down 0.3 to 3 s), 40 % Redis pauses (0.2 to 2.5 s). */
export function faultSchedule(random: () => number, durationMs: number, nodeIds: readonly string[]): Fault[] {
  const faults: Fault[] = [];
  let at = 500 + random() * 1000;
  while (at < durationMs) {
    if (random() < 0.6) {
      const target = nodeIds[Math.floor(random() * nodeIds.length)]!;
      faults.push({ at: Math.round(at), action: 'kill', target, holdMs: Math.round(300 + random() * 2700) });
    } else {
      faults.push({ at: Math.round(at), action: 'pause', target: 'redis', holdMs: Math.round(200 + random() * 2300) });
    }
    at += 400 + random() * 2100;
  }
  return faults;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Nemesis {
  private paused = false;
  /** Nodes between their kill and their restart: a further fault on them is skipped. */
  private readonly busy = new Set<string>();
  /** Faults that could not be healed (a node that would not start again). */
  private readonly failures: unknown[] = [];
  private readonly pending: Promise<void>[] = [];
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly nodes: readonly FaultNode[],
    private readonly redis: TestRedis,
    private readonly history: History,
  ) {}

  /** Carries out `faults` from now on. */
  run(faults: readonly Fault[]): void {
    for (const fault of faults) {
      const apply = (): void => {
        this.pending.push(this.apply(fault).catch((err: unknown) => void this.failures.push(err)));
      };
      this.timers.push(setTimeout(apply, fault.at));
    }
  }

  /** Cancels the faults not yet made, waits for the ones under way, then heals everything. */
  async heal(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    await Promise.all(this.pending);
    if (this.failures.length > 0) throw this.failures[0];
    if (this.paused) this.resume();
    for (const node of this.nodes) if (!node.running) await this.startNode(node);
  }

  private async apply(fault: Fault): Promise<void> {
    if (fault.action === 'pause') {
      if (this.paused) return;
      this.paused = true;
      this.redis.pause();
      this.history.add({ type: 'nemesis', action: 'pause', target: 'redis' });
      await sleep(fault.holdMs);
      this.resume();
      return;
    }
    const node = this.nodes.find((candidate) => candidate.id === fault.target);
    if (node === undefined || !node.running || this.busy.has(node.id)) return;
    this.busy.add(node.id);
    try {
      await node.stop('SIGKILL');
      this.history.add({ type: 'nemesis', action: 'kill', target: node.id });
      await sleep(fault.holdMs);
      await this.startNode(node);
    } finally {
      this.busy.delete(node.id);
    }
  }

  private resume(): void {
    this.paused = false;
    this.redis.resume();
    this.history.add({ type: 'nemesis', action: 'resume', target: 'redis' });
  }

  /** Starts `node` again; a start that fails (Redis frozen longer than its connect timeout) is tried again. */
  private async startNode(node: FaultNode): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await node.start();
        this.history.add({ type: 'nemesis', action: 'start', target: node.id });
        return;
      } catch (err) {
        this.history.add({ type: 'nemesis', action: `start failed (${String(err).slice(0, 200)})`, target: node.id });
        if (attempt >= 5) throw err;
        await sleep(500);
      }
    }
  }
}
