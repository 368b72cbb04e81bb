/**
 * Everything a node writes to Redis on the hot path (stream entries, route changes, retained
 * messages), gathered during one turn of the event loop and sent as one pipeline: never one round
 * trip per message. One batch is in flight at a time, so that writes keep their order; a batch that
 * fails is sent again whole after a pause (its stream entries carry ids, so a receiver drops the
 * copies). The callbacks waiting for a batch (acknowledgements to publishers) run only once Redis
 * has answered every command of it.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import type { Logger } from 'pino';

/** One command of a batch: the command name and its arguments. */
export type Command = [name: string, ...args: (string | Buffer | number)[]];

interface Batch {
  commands: Command[];
  callbacks: (() => void)[];
  /** Who waits for the reply of a command, by its index in `commands`. */
  replies: Map<number, (reply: unknown) => void>;
}

const emptyBatch = (): Batch => ({ commands: [], callbacks: [], replies: new Map() });

export class Outbox {
  private gathering: Batch = emptyBatch();
  private flying: Batch | undefined;
  private scheduled = false;
  private closed = false;
  private drained: (() => void)[] = [];
  constructor(
    private readonly redis: Redis,
    /** Counted here: batches sent, and batches sent again after a failure. */
    private readonly counters: { batches: number; retries: number },
    /** Where failed writes are logged (the broker's logger once the bus has started). */
    public log: Logger,
    /** Pause before a failed batch is sent again, in ms. */
    private readonly retryDelayMs: number,
  ) {}

  /** Whether nothing is gathered or in flight. */
  get idle(): boolean {
    return this.gathering.commands.length === 0 && this.flying === undefined;
  }

  /** Commands gathered or in flight. */
  get pending(): number {
    return this.gathering.commands.length + (this.flying?.commands.length ?? 0);
  }

  /** Adds a command to the batch of this turn. */
  push(command: Command): void {
    this.gathering.commands.push(command);
    this.schedule();
  }

  /**
   * Adds a command whose reply matters (a will taken from Redis), in order with the others; resolves
   * with its reply once Redis answered the whole batch. A batch sent again sends it again: the
   * command must give the same answer when repeated.
   */
  request(command: Command): Promise<unknown> {
    return new Promise((resolve) => {
      this.gathering.replies.set(this.gathering.commands.length, resolve);
      this.push(command);
    });
  }

  /** Runs `fn` once every command pushed so far has been answered by Redis; now when none waits. */
  afterWritten(fn: () => void): void {
    if (this.gathering.commands.length > 0) this.gathering.callbacks.push(fn);
    else if (this.flying !== undefined) this.flying.callbacks.push(fn);
    else fn();
  }

  /** Resolves once everything pushed so far is written (or the outbox closed). */
  drain(): Promise<void> {
    if (this.idle || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /** Stops sending; what is pending is dropped, its callbacks never run. */
  close(): void {
    this.closed = true;
    for (const resolve of this.drained.splice(0)) resolve();
  }

  private schedule(): void {
    if (this.scheduled || this.flying !== undefined || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.send();
    });
  }

  private send(): void {
    if (this.flying !== undefined || this.closed || this.gathering.commands.length === 0) return;
    const batch = this.gathering;
    this.gathering = emptyBatch();
    this.flying = batch;
    this.write(batch);
  }

  private write(batch: Batch): void {
    const pipeline: ChainableCommander = this.redis.pipeline();
    for (const [name, ...args] of batch.commands) pipeline.call(name, ...args);
    this.counters.batches++;
    pipeline.exec().then(
      (results) => {
        const failed = results?.find(([err]) => err !== null)?.[0] ?? (results === null ? new Error('no reply') : null);
        if (failed === null) this.written(batch, results ?? []);
        else this.retry(batch, failed);
      },
      (err: unknown) => this.retry(batch, err),
    );
  }

  private written(batch: Batch, results: [Error | null, unknown][]): void {
    this.flying = undefined;
    for (const [index, resolve] of batch.replies) resolve(results[index]?.[1]);
    for (const fn of batch.callbacks) fn();
    if (this.gathering.commands.length > 0) this.schedule();
    else for (const resolve of this.drained.splice(0)) resolve();
  }

  private retry(batch: Batch, err: unknown): void {
    if (this.closed) return;
    this.counters.retries++;
    this.log.warn(
      { err: err instanceof Error ? err.message : String(err), commands: batch.commands.length },
      'cluster write to Redis failed; acknowledgements withheld, retrying',
    );
    setTimeout(() => {
      if (!this.closed) this.write(batch);
    }, this.retryDelayMs).unref();
  }
}
