/**
 * Reads a node's own stream through its consumer group: first the entries it read before but never
 * acknowledged (after a crash, or a reply lost with the connection), then new ones, blocking. Each
 * message is delivered once per message id within the dedupe window; entries are acknowledged (and
 * deleted) after delivery, by the caller's `acknowledge`.
 */
import type { RedisClient } from './connect.js';
import type { Logger } from 'pino';
import type { Message } from '../session/message.js';
import { decodeMessage } from './codec.js';
import { consumerGroup } from './keys.js';
import { entryMessages, groupsOf, type EntryMessage } from './entry.js';

export interface StreamReaderOptions {
  stream: string;
  nodeId: string;
  /** Entries read at once. */
  batch: number;
  /** Message ids remembered to drop copies. */
  dedupeWindow: number;
  /** Pause after a failed read, in ms. */
  retryDelayMs: number;
  log: Logger;
  /**
   * Delivers one message read; `raw`: its encoding; `groups`: the shared groups this node serves for
   * it; `messageId`: its id in the cluster; `hops`: 0, or how many nodes passed it on to serve
   * `groups` alone (their chosen node had no member left).
   */
  deliver(
    message: Message,
    raw: Buffer,
    groups: ReadonlySet<string>,
    messageId: string,
    hops: number,
    entryId: string,
  ): void;
  /**
   * Delivers a message marked for the session `clientId` alone (forwarded by the node it moved from);
   * `directAt`: the position at which the same message came through this node's routes, if it did;
   * `messageId`, `raw`: its id and encoding.
   */
  deliverTo(
    message: Message,
    clientId: string,
    directAt: number | undefined,
    messageId: string,
    raw: Buffer,
    entryId: string,
  ): void;
  duplicate(): void;
  /** Entries whose deliveries the node's store committed before it restarted: not delivered again. */
  committed?: ReadonlySet<string>;
  /** Acknowledges the entries `ids` once what they delivered is safe. */
  acknowledge(ids: string[]): Promise<void>;
}

/** The id of a stream's last entry; nil when it has none (no entry's fields sent back). */
const lastEntryScript = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if last[1] then return last[1][1] end
return false`;

/** How long one XREADGROUP blocks, in ms: also how long `stop()` may wait for it. */
const BLOCK_MS = 1000;

/** A Redis error reply's code: its first word (`NOGROUP`, `BUSYGROUP`), which Redis keeps stable. */
function redisErrorCode(err: unknown): string {
  return err instanceof Error ? (err.message.split(' ')[0] ?? '') : '';
}

export class StreamReader {
  private running = false;
  private loop: Promise<void> | undefined;
  /**
   * Message ids delivered recently, each with its position (entries handled before it): `seen` to
   * look up, `order` (a ring) to forget the oldest.
   */
  private readonly seen = new Map<string, number>();
  /** Entries handled so far by this run. */
  private handled = 0;
  private readonly order: (string | undefined)[];
  private oldest = 0;
  /** Set when the connection dropped: a read's reply may have been lost, leaving entries pending. */
  private rewind = false;
  /** The highest entry id delivered (handled) by this run; `0-0` before the first. */
  private through = '0-0';
  /** Callers of `deliveredThrough` waiting for entry `id`; `reads`: reads sent before they asked. */
  private waiters: { id: string; reads: number; resolve: () => void }[] = [];
  /** Reads sent so far: an empty reply settles only the waiters that asked before its read was sent. */
  private reads = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: StreamReaderOptions,
  ) {
    // A ring rather than the Set's own order: deleting a Set's first entries leaves holes that
    // every later lookup of "the first entry" walks over.
    this.order = new Array<string | undefined>(Math.max(1, options.dedupeWindow));
    redis.on('close', () => {
      this.rewind = true;
    });
  }

  /** Creates the consumer group of `stream` (and the stream) unless it exists. */
  static async createGroup(redis: RedisClient, stream: string): Promise<void> {
    try {
      await redis.xgroup('CREATE', stream, consumerGroup, '0', 'MKSTREAM');
    } catch (err) {
      if (redisErrorCode(err) !== 'BUSYGROUP') throw err;
    }
  }

  ensureGroup(): Promise<void> {
    return StreamReader.createGroup(this.redis, this.options.stream);
  }

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    this.settle(undefined);
  }

  /**
   * Resolves once every entry of the stream up to `id` (an entry id read from the stream) has been
   * delivered: read and handled by this reader, or found consumed by the group before (a read of new
   * entries that comes back empty says nothing is left to read). Also resolves when the reader stops.
   */
  deliveredThrough(id: string): Promise<void> {
    if (!this.running || compareEntryIds(this.through, id) >= 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ id, reads: this.reads, resolve }));
  }

  /**
   * Resolves once this node has delivered every entry its stream holds now (see `deliveredThrough`),
   * reading where the stream ends through `command` (this reader's connection blocks in its reads).
   * While Redis is unreachable it waits: the read waits in the client's queue, or is tried again.
   */
  async caughtUp(command: RedisClient): Promise<void> {
    for (;;) {
      try {
        const last = await command.eval(lastEntryScript, 1, this.options.stream);
        if (typeof last === 'string') await this.deliveredThrough(last);
        return;
      } catch {
        if (!this.running) return;
        await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs));
      }
    }
  }

  /**
   * Resolves the waiters for ids up to `id`; with `id` undefined, those that asked before read
   * number `read` was sent (all of them when `read` is undefined too).
   */
  private settle(id: string | undefined, read?: number): void {
    if (this.waiters.length === 0) return;
    const waiting = this.waiters;
    this.waiters = [];
    for (const waiter of waiting) {
      const done = id !== undefined ? compareEntryIds(id, waiter.id) >= 0 : read === undefined || waiter.reads < read;
      if (done) waiter.resolve();
      else this.waiters.push(waiter);
    }
  }

  /** One XREADGROUP of up to `batch` entries after `cursor`, with its number. */
  private read(cursor: string): { reply: Promise<unknown>; number: number } {
    const { stream, nodeId, batch } = this.options;
    const reply = this.redis.callBuffer(
      'XREADGROUP',
      'GROUP',
      consumerGroup,
      nodeId,
      'COUNT',
      batch,
      'BLOCK',
      BLOCK_MS,
      'STREAMS',
      stream,
      cursor,
    );
    return { reply, number: ++this.reads };
  }

  private async run(): Promise<void> {
    const { retryDelayMs, log } = this.options;
    // '0': this consumer's pending entries; '>': entries never delivered to any consumer.
    let cursor = '0';
    /** The next read of new entries, sent before the current batch is delivered (not for '0'). */
    let ahead: { reply: Promise<unknown>; number: number } | undefined;
    while (this.running) {
      if (this.rewind) {
        this.rewind = false;
        cursor = '0';
        ahead?.reply.catch(() => undefined);
        ahead = undefined;
      }
      let reply: unknown;
      const sent = ahead ?? this.read(cursor);
      try {
        reply = await sent.reply;
        ahead = undefined;
      } catch (err) {
        ahead = undefined;
        if (!this.running) return;
        // A reply lost with the connection leaves entries pending: read those again first.
        cursor = '0';
        if (redisErrorCode(err) === 'NOGROUP') await this.ensureGroup().catch(() => undefined);
        else log.warn({ err: String(err) }, 'cluster stream read failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs));
        continue;
      }
      const entries = entriesOf(reply);
      if (entries.length === 0) {
        // Nothing new for the group: every entry the stream holds was delivered to it already.
        if (cursor === '>') this.settle(undefined, sent.number);
        cursor = '>';
        continue;
      }
      // New entries keep coming while this batch is delivered: ask for the next batch now, so that
      // its round trip overlaps the delivery. Pending entries ('0') are read again until acknowledged.
      if (cursor === '>' && this.running && !this.rewind) {
        ahead = this.read(cursor);
        ahead.reply.catch(() => undefined);
      }
      const ids = entries.map(([id, fields]) => this.handle(id, fields));
      const last = ids[ids.length - 1]!;
      if (compareEntryIds(last, this.through) > 0) this.through = last;
      this.settle(this.through);
      await this.options.acknowledge(ids);
    }
  }

  /** The position at which the message `messageId` came through this stream (within the dedupe window), if it did. */
  seenAt(messageId: string): number | undefined {
    return this.seen.get(messageId);
  }

  /** Entries handled so far: an entry handled from now on has this position or a later one. */
  get position(): number {
    return this.handled;
  }

  /** Delivers the messages of one entry, but for copies; returns its entry id. */
  private handle(id: string, fields: Buffer[] | null): string {
    // Its deliveries were committed before this node restarted (its acknowledgement was lost).
    if (this.options.committed?.has(id) === true) {
      this.options.duplicate();
      return id;
    }
    for (const entry of entryMessages(fields)) this.handleMessage(id, entry);
    return id;
  }

  /** Delivers one message of entry `id` unless it is a copy. */
  private handleMessage(id: string, entry: EntryMessage): void {
    const position = this.handled++;
    const messageId = entry.id.toString('latin1');
    // Marked for one session: a copy of its own, apart from the message's copy for the routes.
    const target = entry.target?.toString('utf8');
    const hops = entry.hops === undefined ? 0 : Number(entry.hops.toString('latin1'));
    // A copy for one session, or passed on for a shared group: kept apart from the copy for the routes.
    const key =
      target !== undefined ? `${messageId}\u0000${target}` : hops > 0 ? `${messageId}\u0000#${hops}` : messageId;
    if (this.seen.has(key)) {
      this.options.duplicate();
      return;
    }
    this.remember(key, position);
    try {
      const message = decodeMessage(entry.bytes, messageId);
      if (target === undefined) {
        this.options.deliver(message, entry.bytes, groupsOf(entry.groups) ?? NO_GROUPS, messageId, hops, id);
      } else this.options.deliverTo(message, target, this.seen.get(messageId), messageId, entry.bytes, id);
    } catch (err) {
      this.options.log.warn({ entry: id, err: String(err) }, 'cluster stream entry unreadable; dropped');
    }
  }

  /** Adds `messageId` to the window, forgetting the oldest id when it is full. */
  private remember(messageId: string, position: number): void {
    const forgotten = this.order[this.oldest];
    if (forgotten !== undefined) this.seen.delete(forgotten);
    this.order[this.oldest] = messageId;
    this.oldest = (this.oldest + 1) % this.order.length;
    this.seen.set(messageId, position);
  }
}

/** Compares two stream entry ids (`MS-SEQ`): negative, zero or positive as `a` is before, equal to or after `b`. */
export function compareEntryIds(a: string, b: string): number {
  const [aMs = 0, aSeq = 0] = a.split('-').map(Number);
  const [bMs = 0, bSeq = 0] = b.split('-').map(Number);
  return aMs !== bMs ? aMs - bMs : aSeq - bSeq;
}

/** The entries of an XREADGROUP reply (RESP2): [[stream, [[id, [field, value, ...]], ...]]]. */
function entriesOf(reply: unknown): [string, Buffer[] | null][] {
  if (!Array.isArray(reply)) return [];
  const out: [string, Buffer[] | null][] = [];
  for (const perStream of reply as [Buffer, [Buffer, Buffer[] | null][]][]) {
    for (const [id, fields] of perStream[1] ?? []) out.push([id.toString(), fields]);
  }
  return out;
}

const NO_GROUPS: ReadonlySet<string> = new Set();
