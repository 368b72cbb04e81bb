/**
 * Flow control between nodes: a publishing node's acknowledgements wait while a node it sends to
 * has more than `maxBacklog` entries waiting in its stream, so that a publisher is slowed to what
 * the receiving node delivers (through its window of unacknowledged QoS 1/2 messages) instead of
 * filling an unbounded stream. The backlog of a stream is its length (a receiving node deletes the
 * entries it has acknowledged), read with XLEN every `pollMs` while there is traffic, plus what this
 * node appended since.
 *
 * A node that reads nothing from its stream for `stallMs` (its consumer group's `entries-read`, from
 * XINFO GROUPS, stays put: the node is down, or its link to Redis is) is not
 * waited for: its messages wait in its stream as before, and publishers elsewhere go on. Only a node
 * that reads, but more slowly than it is sent to, slows the publishers.
 */
import type { RedisClient } from './connect.js';
import { consumerGroup } from './keys.js';

/** The `entries-read` of the group `consumerGroup` in an XINFO GROUPS reply (RESP2), if any. */
function entriesRead(reply: unknown): number | undefined {
  if (!Array.isArray(reply)) return undefined;
  for (const group of reply as unknown[]) {
    if (!Array.isArray(group)) continue;
    const fields = group as unknown[];
    const at = (name: string): unknown => fields[fields.indexOf(name) + 1];
    if (String(at('name')) !== consumerGroup) continue;
    const read = at('entries-read');
    return typeof read === 'number' ? read : undefined;
  }
  return undefined;
}

export class BacklogGate {
  /** Estimated entries waiting in each target node's stream. */
  private readonly backlog = new Map<string, number>();
  /** When each node was last seen reading its stream, in ms since the epoch. */
  private readonly progress = new Map<string, number>();
  /** Each node's group's `entries-read` at the last poll. */
  private readonly read = new Map<string, number>();
  /** Appended to each node's stream since the last XLEN was sent. */
  private readonly sinceRead = new Map<string, number>();
  /** Acknowledgements waiting for every backlog to fall under the limit, in order. */
  private readonly held: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private closed = false;
  /** Times the gate closed (a backlog passed the limit), for counters. */
  closings = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly streamKey: (node: string) => string,
    /** Entries a target stream may hold before acknowledgements wait. */
    private readonly maxBacklog: number,
    /** Pause between two reads of the backlogs, in ms. */
    private readonly pollMs: number,
    /** A node that takes no entry for this long is not waited for, in ms. */
    private readonly stallMs: number,
  ) {}

  /** Whether an acknowledgement may go at once. */
  get open(): boolean {
    return this.held.length === 0 && !this.over();
  }

  /** Counts one entry appended to the stream of each of `nodes`. */
  appended(nodes: readonly string[]): void {
    for (const node of nodes) {
      const before = this.backlog.get(node);
      if (before === undefined) this.progress.set(node, Date.now());
      this.backlog.set(node, (before ?? 0) + 1);
      this.sinceRead.set(node, (this.sinceRead.get(node) ?? 0) + 1);
      if (before === this.maxBacklog) this.closings++;
    }
    this.schedule();
  }

  /** Runs `fn` now if no backlog is over the limit, else once none is (after those held before it). */
  whenOpen(fn: () => void): void {
    if (this.open) fn();
    else this.held.push(fn);
  }

  /** Stops polling; held acknowledgements are dropped (the node is closing). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.held.length = 0;
  }

  private over(): boolean {
    const now = Date.now();
    for (const [node, waiting] of this.backlog) {
      if (waiting > this.maxBacklog && now - (this.progress.get(node) ?? 0) < this.stallMs) return true;
    }
    return false;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.polling || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, this.pollMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const nodes = [...this.backlog.keys()];
    this.polling = true;
    for (const node of nodes) this.sinceRead.set(node, 0);
    try {
      const pipeline = this.redis.pipeline();
      for (const node of nodes) pipeline.xlen(this.streamKey(node)).xinfo('GROUPS', this.streamKey(node));
      const results = (await pipeline.exec()) ?? [];
      nodes.forEach((node, i) => {
        const [err, length] = results[2 * i] ?? [new Error('no reply')];
        if (err !== null || typeof length !== 'number') return;
        const read = entriesRead(results[2 * i + 1]?.[1]);
        if (read !== undefined && read !== this.read.get(node)) {
          this.read.set(node, read);
          this.progress.set(node, Date.now());
        }
        // What was appended after the XLEN was sent is not in its answer.
        const waiting = length + (this.sinceRead.get(node) ?? 0);
        if (waiting === 0) {
          this.backlog.delete(node);
          this.progress.delete(node);
        } else this.backlog.set(node, waiting);
      });
    } catch {
      // Redis unreachable: the estimates stand (acknowledgements wait for Redis anyway).
    } finally {
      this.polling = false;
    }
    if (this.closed) return;
    this.release();
    if (this.backlog.size > 0 || this.held.length > 0) this.schedule();
  }

  private release(): void {
    if (!this.over()) for (const fn of this.held.splice(0)) fn();
  }
}
