/**
 * Watches a node's link to Redis: its connection closing and opening again, and a PING sent every
 * `pingIntervalMs` whose answer times the round trip and whose silence past `pingTimeoutMs` marks
 * the link down even while its connection stays open (a Redis paused or overloaded). Each change of
 * state is logged once and counted; the time the link has been down lets the bus refuse what it
 * cannot take (cluster.unavailable_ack_ms).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { RedisClient } from './connect.js';

/** The state of the node's link to Redis. */
export type RedisLinkState = 'connecting' | 'up' | 'down' | 'closed';

/** Counts of a link's changes and PINGs, for metrics. */
export interface LinkCounters {
  /** Times the link went down. */
  linkDown: number;
  /** Times the link came back. */
  linkUp: number;
  /** Every change of state (down and up). */
  linkChanges: number;
  /** PINGs answered. */
  pings: number;
}

export interface LinkOptions {
  nodeId: string;
  /** How often a PING is sent, in ms. */
  pingIntervalMs: number;
  /** A PING unanswered this long marks the link down, in ms. */
  pingTimeoutMs: number;
}

export class LinkMonitor {
  state: RedisLinkState = 'connecting';
  /** When the link went down (ms since the epoch); undefined while it is up. */
  downSince: number | undefined;
  /** The round trip of the last PING answered, in ms; undefined before the first. */
  lastRoundTripMs: number | undefined;
  private pingSentAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private log: Logger | undefined;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly redis: RedisClient,
    private readonly counters: LinkCounters,
    private readonly options: LinkOptions,
  ) {}

  /** Starts watching a connected client: the link is up. */
  start(log: Logger): void {
    this.log = log;
    this.state = 'up';
    this.redis.on('close', () => this.down('connection lost'));
    this.redis.on('ready', () => {
      // A PING sent before the connection dropped says nothing of the new one.
      this.pingSentAt = undefined;
      this.up();
    });
    this.timer = setInterval(() => this.tick(), this.options.pingIntervalMs).unref();
  }

  stop(): void {
    this.state = 'closed';
    for (const resolve of this.waiters.splice(0)) resolve();
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Resolves once the link is up (at once when it is). */
  whenUp(): Promise<void> {
    if (this.state !== 'down') return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** How long the link has been down at `now`, in ms; 0 while it is up. */
  downFor(now = Date.now()): number {
    return this.state === 'down' && this.downSince !== undefined ? now - this.downSince : 0;
  }

  private tick(): void {
    const now = Date.now();
    if (this.pingSentAt !== undefined) {
      // The PING sent is still unanswered: past the timeout, Redis is not there for this node. Judged
      // after this turn's I/O, so that an answer already read but not yet handled (a busy event
      // loop runs timers first) is not mistaken for silence.
      const sentAt = this.pingSentAt;
      if (now - sentAt >= this.options.pingTimeoutMs) {
        setImmediate(() => {
          if (this.pingSentAt === sentAt)
            this.down(`no answer to PING within ${this.options.pingTimeoutMs} ms`, sentAt);
        });
      }
      return;
    }
    this.pingSentAt = now;
    const sent = performance.now();
    this.redis.ping().then(
      () => {
        this.counters.pings++;
        this.lastRoundTripMs = performance.now() - sent;
        this.pingSentAt = undefined;
        this.up();
      },
      () => {
        this.pingSentAt = undefined;
      },
    );
  }

  private down(why: string, since = Date.now()): void {
    if (this.state !== 'up') return;
    this.state = 'down';
    this.downSince = since;
    this.counters.linkDown++;
    this.counters.linkChanges++;
    this.log?.warn(
      { nodeId: this.options.nodeId, reason: why },
      `cluster: Redis link down (${why}); QoS 1/2 acknowledgements that need Redis are withheld`,
    );
  }

  private up(): void {
    if (this.state !== 'down') return;
    const downMs = this.downFor();
    this.state = 'up';
    this.downSince = undefined;
    this.counters.linkUp++;
    this.counters.linkChanges++;
    this.log?.info({ nodeId: this.options.nodeId, downMs }, `cluster: Redis link back after ${downMs} ms`);
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
