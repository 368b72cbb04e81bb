/**
 * The wills of a cluster's clients, kept in Redis so that a surviving node publishes them once when
 * their node dies (docs/cluster.md).
 *
 * - Each node records the will of each client that connects with one in the hash
 *   `fennec:wills:NODE` (field: a record id `RUN.SEQUENCE`, RUN being the token of the node's run
 *   that its lease holds), in the same pipeline as its other writes (Outbox), and drops it when the
 *   will must never go out (normal DISCONNECT, session resumed within the will delay).
 * - A will goes out only from the node that **took** its record: one Lua script deletes the field
 *   and returns 1 to one caller only, so the node itself, a surviving node and a restarted node
 *   never publish it twice. A survivor's take also fails while the lease holds the run that wrote the
 *   record: a node that was only frozen is alive, and so may be its client's connection.
 * - WillRunner publishes the wills of a dead node (or of this node's previous run) at their time:
 *   when the connection was lost plus the delay, or, for a connection that died with its node, when
 *   the node was declared dead (or restarted) plus the delay.
 */
import type { RedisClient } from './connect.js';
import type { BusHost, WillLedger } from '../broker/bus.js';
import type { Message } from '../session/message.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { leaseKey, willsKey, willTakenKey } from './keys.js';
import type { Outbox } from './outbox.js';

/** A record's fields besides the message: client id, delay (ms), and when due (ms since the epoch) once lost. */
interface Meta {
  c: string;
  d: number;
  u?: number;
}

/** A will record decoded. */
export interface WillRecord {
  message: Message;
  /** The will's delay, capped by the session's expiry, in ms. */
  delayMs: number;
  /** When it goes out, in ms since the epoch; undefined while its connection was open. */
  dueAt: number | undefined;
}

/** A record: the meta as JSON, a newline, then the will message as codec.ts encodes it. */
export function encodeRecord(clientId: string, encodedMessage: Buffer, delayMs: number, dueAt?: number): Buffer {
  const meta: Meta = { c: clientId, d: delayMs };
  if (dueAt !== undefined) meta.u = dueAt;
  return Buffer.concat([Buffer.from(`${JSON.stringify(meta)}\n`), encodedMessage]);
}

/** Decodes what `encodeRecord` made; throws a RangeError or SyntaxError on anything else. */
export function decodeRecord(bytes: Buffer): WillRecord {
  const newline = bytes.indexOf(0x0a);
  if (newline < 0) throw new RangeError('will record without its meta line');
  const meta = JSON.parse(bytes.subarray(0, newline).toString()) as Meta;
  if (typeof meta.d !== 'number') throw new RangeError('will record without its delay');
  return { message: decodeMessage(bytes.subarray(newline + 1)), delayMs: meta.d, dueAt: meta.u };
}

/** The run a record id belongs to: ids are `RUN.SEQUENCE`. */
export function recordRun(id: string): string {
  return id.slice(0, id.lastIndexOf('.'));
}

/**
 * Takes will record ARGV[1] of hash KEYS[1]: 1 when this taker took it (now, or in a batch sent
 * again: KEYS[3] remembers the taker ARGV[3]), 0 when it is gone (another took or dropped it), -1
 * when the lease KEYS[2] holds the record's run ARGV[2] (the owner is alive; '' skips the check).
 */
const takeScript = `
if redis.call('GET', KEYS[3]) == ARGV[3] then return 1 end
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) == ARGV[2] then return -1 end
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4])
return 1`;

/** Rewrites a record only while it exists: a record taken meanwhile must not come back. */
const dueScript = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1`;

/** The longest delay a Node timer holds, in ms (a will may wait up to 2^32 - 1 s). */
const MAX_TIMER_MS = 2_147_483_647;

/** How long a take is remembered for a batch sent again, in ms. */
const TAKEN_TTL_MS = 60_000;

/** Queues the take of record `id` of `node`'s wills; resolves with the script's answer. */
function take(outbox: Outbox, node: string, id: string, ownerRun: string, taker: string): Promise<number> {
  const keys = [willsKey(node), leaseKey(node), willTakenKey(node, id)];
  return outbox
    .request(['EVAL', takeScript, 3, ...keys, id, ownerRun, taker, TAKEN_TTL_MS])
    .then((reply) => Number(reply));
}

/** This node's wills, as the broker's WillLedger. */
export class ClusterWills implements WillLedger {
  private sequence = 0;
  /** The records of this run not yet taken or dropped: client id, encoded message and delay. */
  private readonly live = new Map<string, { clientId: string; encoded: Buffer; delayMs: number }>();
  /** The records this node id's previous runs left, by client id, until published or resumed. */
  private readonly leftovers = new Map<string, string[]>();

  constructor(
    private readonly outbox: Outbox,
    private readonly nodeId: string,
    /** This run's token (the lease's value), prefix of its record ids. */
    private readonly run: string,
  ) {}

  record(message: Message, delayMs: number): string {
    const id = `${this.run}.${++this.sequence}`;
    const encoded = encodeMessage(message);
    this.live.set(id, { clientId: message.publisherId, encoded, delayMs });
    this.outbox.push(['HSET', willsKey(this.nodeId), id, encodeRecord(message.publisherId, encoded, delayMs)]);
    return id;
  }

  due(id: string, dueAt: number): void {
    const live = this.live.get(id);
    if (live === undefined) return;
    const record = encodeRecord(live.clientId, live.encoded, live.delayMs, dueAt);
    this.outbox.push(['EVAL', dueScript, 1, willsKey(this.nodeId), id, record]);
  }

  drop(id: string): void {
    if (!this.live.delete(id)) return;
    this.outbox.push(['HDEL', willsKey(this.nodeId), id]);
  }

  /** Notes record `id` of client `clientId`, left by this node id's previous run, for `resumed`. */
  leftover(id: string, clientId: string): void {
    const ids = this.leftovers.get(clientId);
    if (ids === undefined) this.leftovers.set(clientId, [id]);
    else ids.push(id);
  }

  resumed(clientId: string): void {
    const ids = this.leftovers.get(clientId);
    if (ids === undefined) return;
    this.leftovers.delete(clientId);
    // Deleted, its take fails: not published. One already taken (out already) is not affected.
    this.outbox.push(['HDEL', willsKey(this.nodeId), ...ids]);
  }

  take(id: string, publish: () => void): void {
    this.live.delete(id);
    // Not published when gone: this node was declared dead while frozen, and a survivor took it.
    void take(this.outbox, this.nodeId, id, '', `${this.nodeId}/${this.run}`).then((taken) => {
      if (taken === 1) publish();
    });
  }
}

/** Publishes the wills a node left (dead, or a previous run of this node) at their time, each once. */
export class WillRunner {
  /** Waits under way, each with what ends it. */
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private stopped = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly outbox: Outbox,
    /** Who takes: `NODE/RUN` of this node. */
    private readonly taker: string,
    private readonly host: BusHost,
    private readonly counters: { deadNodeWills: number },
  ) {}

  /**
   * Publishes the wills in `node`'s hash, each once its time has come: its due time, or `since`
   * (when the node was declared dead) plus its delay. Resolves when every one is published or gone,
   * or `stop()` was called.
   */
  async run(node: string, since: number): Promise<void> {
    await this.publishAll(node, await this.read(node), since);
  }

  /** The will records in `node`'s hash, except those of run `exceptRun`; unreadable ones are deleted. */
  async read(node: string, exceptRun?: string): Promise<[string, WillRecord][]> {
    const all = await this.redis.hgetallBuffer(willsKey(node));
    const records: [string, WillRecord][] = [];
    for (const [id, bytes] of Object.entries(all)) {
      if (recordRun(id) === exceptRun) continue;
      try {
        records.push([id, decodeRecord(bytes)]);
      } catch (err) {
        this.host.log.warn({ node, record: id, err: String(err) }, 'cluster will record unreadable; dropped');
        this.outbox.push(['HDEL', willsKey(node), id]);
      }
    }
    return records;
  }

  /** Publishes `records` of `node` as `run` does. */
  async publishAll(node: string, records: [string, WillRecord][], since: number): Promise<void> {
    await Promise.all(
      records.map(([id, record]) =>
        this.after((record.dueAt ?? since + record.delayMs) - Date.now()).then(() =>
          this.publish(node, id, record.message),
        ),
      ),
    );
  }

  /** Stops waiting: what is not published yet stays in Redis for whoever handles the node next. */
  stop(): void {
    this.stopped = true;
    for (const [timer, resolve] of this.timers) {
      clearTimeout(timer);
      resolve();
    }
    this.timers.clear();
  }

  /** Resolves after `ms`, or at `stop()`; a wait longer than a Node timer holds goes in steps. */
  private async after(ms: number): Promise<void> {
    const due = Date.now() + ms;
    while (!this.stopped && Date.now() < due) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(
          () => {
            this.timers.delete(timer);
            resolve();
          },
          Math.min(MAX_TIMER_MS, due - Date.now()),
        );
        this.timers.set(timer, resolve);
      });
    }
  }

  private async publish(node: string, id: string, message: Message): Promise<void> {
    if (this.stopped) return;
    const taken = await take(this.outbox, node, id, recordRun(id), this.taker);
    // -1: the run that recorded it holds the lease again (it was only frozen): not a dead connection.
    if (taken !== 1) return;
    this.counters.deadNodeWills++;
    this.host.log.info(
      { node, clientId: message.publisherId, topic: message.topic },
      'cluster: will of a dead node published',
    );
    this.host.publishWill(message);
  }
}
