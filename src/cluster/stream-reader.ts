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
  /** Delivers one message read; `bytes`: its encoded size. */
  deliver(message: Message, bytes: number): void;
  duplicate(): void;
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
  private readonly seen = new Set<string>();
  /** Set when the connection dropped: a read's reply may have been lost, leaving entries pending. */
  private rewind = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly options: StreamReaderOptions,
  ) {
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

  private async run(): Promise<void> {
    const { stream, nodeId, batch, retryDelayMs, log } = this.options;
    // '0': this consumer's pending entries; '>': entries never delivered to any consumer.
    let cursor = '0';
    while (this.running) {
      if (this.rewind) {
        this.rewind = false;
        cursor = '0';
      }
      let reply: unknown;
      try {
        reply = await this.redis.callBuffer(
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
      } catch (err) {
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
      await this.options.acknowledge(entries.map(([id, fields]) => this.handle(id, fields)));
    }
  }

  /** Delivers one entry unless it is a copy; returns its entry id. */
  private handle(id: string, fields: Buffer[] | null): string {
    const messageId = field(fields, 'i')?.toString();
    const bytes = field(fields, 'm');
    if (messageId === undefined || bytes === undefined) return id;
    if (this.seen.has(messageId)) {
      this.options.duplicate();
      return id;
    }
    this.seen.add(messageId);
    if (this.seen.size > this.options.dedupeWindow) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    try {
      this.options.deliver(decodeMessage(bytes), bytes.length);
    } catch (err) {
      this.options.log.warn({ entry: id, err: String(err) }, 'cluster stream entry unreadable; dropped');
    }
    return id;
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

function field(fields: Buffer[] | null, name: string): Buffer | undefined {
  if (fields === null) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i]!.toString() === name) return fields[i + 1];
  return undefined;
}
