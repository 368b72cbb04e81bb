/**
 * Everything a node writes to Redis on the hot path (stream entries, route changes, retained
 * messages), gathered during one turn of the event loop and sent as one pipeline: never one round
 * trip per message. One batch is in flight at a time, so that writes keep their order; a batch that
 * fails is sent again whole after a pause (its stream entries carry ids, so a receiver drops the
 * copies). The callbacks waiting for a batch (acknowledgements to publishers) run only once Redis
 * has answered every command of it. With `wait` set, a batch that carries a QoS 1/2 message ends with
 * `WAIT` (or `WAITAOF`), and counts as answered only once enough replicas (or fsyncs) confirmed it;
 * short of that the wait alone is sent again (the whole batch if the connection dropped meanwhile).
 * Messages for one stream gathered in one turn go out as one entry (`append`): the cost of a command
 * (in ioredis and in Redis) is paid per entry, not per message.
 */
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from './connect.js';
import type { Logger } from 'pino';

/** One command of a batch: the command name and its arguments. */
export type Command = [name: string, ...args: (string | Buffer | number)[]];

interface Batch {
  commands: Command[];
  callbacks: (() => void)[];
  /** Whether it carries a QoS 1/2 message, whose acknowledgement waits for the replicas. */
  durable: boolean;
  /** Who waits for the reply of a command, by its index in `commands`. */
  replies: Map<number, (reply: unknown) => void>;
  /** The replies of the last write of the batch, for `replies`. */
  results: [Error | null, unknown][];
}

/**
 * Messages one stream entry holds at most. The receiving node reads a bounded number of entries at
 * once, and flow control counts entries (flow.ts): both stay close to a count of messages.
 */
export const MAX_ENTRY_MESSAGES = 16;

const emptyBatch = (): Batch => ({ commands: [], callbacks: [], durable: false, replies: new Map(), results: [] });

/** What a durable batch waits for besides the master's answer (cluster.wait_*). */
export interface WaitOptions {
  /** Replicas that must have the writes (`WAIT N`), or have fsynced them with `aof`. */
  replicas: number;
  /** How long one WAIT blocks, in ms. */
  timeoutMs: number;
  /** `WAITAOF 1 N`: the master's and N replicas' append-only files fsynced. */
  aof: boolean;
}

export class Outbox {
  private gathering: Batch = emptyBatch();
  /**
   * The entries of the gathering batch still taking messages, by stream, with their message count.
   * Any other command closes them all, so that commands keep the order they were pushed in.
   */
  private readonly open = new Map<string, { command: Command; messages: number }>();
  private flying: Batch | undefined;
  private scheduled = false;
  private closed = false;
  private drained: (() => void)[] = [];
  /** Counts the connection's losses: a WAIT after one says nothing of writes made before it. */
  private generation = 0;
  /** Whether the last WAIT fell short (logged once until one succeeds). */
  private short = false;
  /** The WAIT / WAITAOF command closing a durable batch; undefined: none. */
  wait: Command | undefined;
  constructor(
    private readonly redis: RedisClient,
    /** Counted here: batches sent, batches sent again after a failure, WAITs that fell short. */
    private readonly counters: { batches: number; retries: number; waitsShort: number },
    /** Where failed writes are logged (the broker's logger once the bus has started). */
    public log: Logger,
    /** Pause before a failed batch is sent again, in ms. */
    private readonly retryDelayMs: number,
  ) {
    redis.on('close', () => this.generation++);
  }

  /** Sets what a durable batch waits for (undefined: the master's answer alone). */
  setWait(options: WaitOptions | undefined): void {
    if (options === undefined || (options.replicas === 0 && !options.aof)) this.wait = undefined;
    else if (options.aof) this.wait = ['WAITAOF', 1, options.replicas, options.timeoutMs];
    else this.wait = ['WAIT', options.replicas, options.timeoutMs];
    this.waitFor = options?.replicas ?? 0;
  }

  private waitFor = 0;

  /** Whether nothing is gathered or in flight. */
  get idle(): boolean {
    return this.gathering.commands.length === 0 && this.flying === undefined;
  }

  /** Commands gathered or in flight. */
  get pending(): number {
    return this.gathering.commands.length + (this.flying?.commands.length ?? 0);
  }

  /** Adds a command to the batch of this turn; `durable`: it carries a QoS 1/2 message. */
  push(command: Command, durable = false): void {
    this.open.clear();
    this.add(command, durable);
  }

  /**
   * Adds one message's `fields` to the stream `stream`: to the entry of this turn for that stream
   * while it takes more, else as a new entry (XADD). Returns whether a new entry was made.
   */
  append(stream: string, fields: readonly (string | Buffer)[], durable: boolean): boolean {
    const entry = this.open.get(stream);
    if (entry !== undefined && entry.messages < MAX_ENTRY_MESSAGES) {
      entry.command.push(...fields);
      entry.messages++;
      if (durable) this.gathering.durable = true;
      return false;
    }
    const command: Command = ['XADD', stream, '*', ...fields];
    this.add(command, durable);
    this.open.set(stream, { command, messages: 1 });
    return true;
  }

  private add(command: Command, durable: boolean): void {
    this.gathering.commands.push(command);
    if (durable) this.gathering.durable = true;
    this.schedule();
  }

  /**
   * Adds a command whose reply matters (a will taken from Redis), in order with the others; resolves
   * with its reply once Redis answered the whole batch. A batch sent again sends it again: the
   * command must give the same answer when repeated.
   */
  request(command: Command): Promise<unknown> {
    return new Promise((resolve) => {
      this.open.clear();
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
    this.open.clear();
    this.flying = batch;
    this.write(batch);
  }

  private write(batch: Batch): void {
    const pipeline: ChainableCommander = this.redis.pipeline();
    for (const [name, ...args] of batch.commands) pipeline.call(name, ...args);
    const wait = batch.durable ? this.wait : undefined;
    if (wait !== undefined) pipeline.call(...wait);
    const generation = this.generation;
    this.counters.batches++;
    pipeline.exec().then(
      (results) => {
        const failed = results?.find(([err]) => err !== null)?.[0] ?? (results === null ? new Error('no reply') : null);
        if (failed !== null) {
          this.retry(batch, failed);
          return;
        }
        batch.results = results ?? [];
        if (wait === undefined || this.confirmed(results?.at(-1)?.[1])) this.written(batch);
        else this.waitAgain(batch, wait, generation);
      },
      (err: unknown) => this.retry(batch, err),
    );
  }

  /** Whether a WAIT's reply (a count) or a WAITAOF's (`[local, replicas]`) meets what is asked. */
  private confirmed(reply: unknown): boolean {
    const ok = Array.isArray(reply)
      ? Number(reply[0]) >= 1 && Number(reply[1]) >= this.waitFor
      : Number(reply) >= this.waitFor;
    if (ok && this.short) {
      this.short = false;
      this.log.info('cluster: Redis replicas confirm writes again; acknowledgements resume');
    }
    return ok;
  }

  /** Too few replicas confirmed: WAIT again on the same connection, or write again on a new one. */
  private waitAgain(batch: Batch, wait: Command, generation: number): void {
    if (this.closed) return;
    this.counters.waitsShort++;
    if (!this.short) {
      this.short = true;
      this.log.warn(
        { command: wait[0], replicas: this.waitFor },
        'cluster: fewer Redis replicas than cluster.wait_replicas confirmed the writes; acknowledgements withheld',
      );
    }
    if (generation !== this.generation) {
      this.retry(batch, new Error('connection lost before the replicas confirmed'));
      return;
    }
    const [name, ...args] = wait;
    this.redis.call(name, ...args).then(
      (reply) => {
        if (this.confirmed(reply)) this.written(batch);
        else this.waitAgain(batch, wait, generation);
      },
      (err: unknown) => this.retry(batch, err),
    );
  }

  private written(batch: Batch): void {
    this.flying = undefined;
    for (const fn of batch.callbacks) fn();
    for (const [index, resolve] of batch.replies) resolve(batch.results[index]?.[1]);
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
