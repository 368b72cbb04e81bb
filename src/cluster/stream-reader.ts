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
import { entryMessages, groupsOf } from './entry.js';

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
  /** Delivers one message read; `bytes`: its encoded size; `groups`: the shared groups this node serves for it. */
  deliver(message: Message, bytes: number, groups: ReadonlySet<string>): void;
  duplicate(): void;
  /** Entries whose deliveries the node's store committed before it restarted: not delivered again. */
  committed?: ReadonlySet<string>;
  /** Acknowledges the entries `ids` once what they delivered is safe. */
  acknowledge(ids: string[]): Promise<void>;
}

/** How long one XREADGROUP blocks, in ms: also how long `stop()` may wait for it. */
const BLOCK_MS = 1000;

/** A Redis error reply's code: its first word (`NOGROUP`, `BUSYGROUP`), which Redis keeps stable. */
function redisErrorCode(err: unknown): string {
  return err instanceof Error ? (err.message.split(' ')[0] ?? '') : '';
}

export class StreamReader {
  private running = false;
  private loop: Promise<void> | undefined;
  /** Message ids delivered recently: `seen` to look up, `order` (a ring) to forget the oldest. */
  private readonly seen = new Set<string>();
  private readonly order: (string | undefined)[];
  private oldest = 0;
  /** Set when the connection dropped: a read's reply may have been lost, leaving entries pending. */
  private rewind = false;

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
  }

  /** One XREADGROUP of up to `batch` entries after `cursor`. */
  private read(cursor: string): Promise<unknown> {
    const { stream, nodeId, batch } = this.options;
    return this.redis.callBuffer(
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
  }

  private async run(): Promise<void> {
    const { retryDelayMs, log } = this.options;
    // '0': this consumer's pending entries; '>': entries never delivered to any consumer.
    let cursor = '0';
    /** The next read of new entries, sent before the current batch is delivered (not for '0'). */
    let ahead: Promise<unknown> | undefined;
    while (this.running) {
      if (this.rewind) {
        this.rewind = false;
        cursor = '0';
        ahead?.catch(() => undefined);
        ahead = undefined;
      }
      let reply: unknown;
      try {
        reply = await (ahead ?? this.read(cursor));
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
        cursor = '>';
        continue;
      }
      // New entries keep coming while this batch is delivered: ask for the next batch now, so that
      // its round trip overlaps the delivery. Pending entries ('0') are read again until acknowledged.
      if (cursor === '>' && this.running && !this.rewind) {
        ahead = this.read(cursor);
        ahead.catch(() => undefined);
      }
      await this.options.acknowledge(entries.map(([id, fields]) => this.handle(id, fields)));
    }
  }

  /** Whether the message `messageId` came through this stream (within the dedupe window). */
  hasSeen(messageId: string): boolean {
    return this.seen.has(messageId);
  }

  /** Delivers the messages of one entry, but for copies; returns its entry id. */
  private handle(id: string, fields: Buffer[] | null): string {
    // Its deliveries were committed before this node restarted (its acknowledgement was lost).
    if (this.options.committed?.has(id) === true) {
      this.options.duplicate();
      return id;
    }
    for (const entry of entryMessages(fields)) {
      const messageId = entry.id.toString('latin1');
      if (this.seen.has(messageId)) {
        this.options.duplicate();
        continue;
      }
      this.remember(messageId);
      try {
        this.options.deliver(decodeMessage(entry.bytes), entry.bytes.length, groupsOf(entry.groups) ?? NO_GROUPS);
      } catch (err) {
        this.options.log.warn({ entry: id, err: String(err) }, 'cluster stream entry unreadable; dropped');
      }
    }
    return id;
  }

  /** Adds `messageId` to the window, forgetting the oldest id when it is full. */
  private remember(messageId: string): void {
    const forgotten = this.order[this.oldest];
    if (forgotten !== undefined) this.seen.delete(forgotten);
    this.order[this.oldest] = messageId;
    this.oldest = (this.oldest + 1) % this.order.length;
    this.seen.add(messageId);
  }
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
