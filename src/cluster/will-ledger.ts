/**
 * The wills of a cluster's clients, kept in Redis so that a surviving node publishes them once when
 * their node dies (docs/cluster.md).
 *
 * - Each node records the will of each client that connects with one in the hash
 *   `fennec:wills:NODE` (field: a record id `RUN.SEQUENCE`, RUN being the token of the node's run
 *   that its lease holds), in the same pipeline as its other writes (Outbox), and drops it when the
 *   will must never go out (normal DISCONNECT, session resumed within the will delay).
 * - A will goes out only from the node that **took** its record (src/cluster/will-take.ts): one Lua
 *   script marks it taken for one caller only, so the node itself, a surviving node and a restarted
 *   node never publish it twice; the taker deletes it once the publication is written, and a
 *   taker that died before that loses it to the next node to handle the dead node (at least once).
 *   A survivor's take also fails while the lease holds the run that wrote the record: a node that
 *   was only frozen is alive, and so may be its client's connection.
 * - With cluster-wide sessions, `{fennec}:will-of:CLIENT` names a client's record: a node that a
 *   session moves to (taken over, adopted) finds its will there and decides on it [MQTT-3.1.3-9].
 * - WillRunner publishes the wills of a dead node (or of this node's previous run) at their time:
 *   when the connection was lost plus the delay, or, for a connection that died with its node, when
 *   the node was declared dead (or restarted) plus the delay.
 */
import type { RedisClient } from './connect.js';
import type { BusHost, WillLedger } from '../broker/bus.js';
import type { Message } from '../session/message.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { willOfKey, willsKey } from './keys.js';
import type { Outbox } from './outbox.js';
import { dropRecord, finishRecord, pointerValue, takeRecord } from './will-take.js';

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

/** The longest delay a Node timer holds, in ms (a will may wait up to 2^32 - 1 s). */
const MAX_TIMER_MS = 2_147_483_647;

/** Rewrites a record only while it exists: a record taken meanwhile must not come back. */
const dueScript = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1`;

/** A record this node decides on: its own, or one of a node whose session moved here. */
interface LiveRecord {
  node: string;
  id: string;
  clientId: string;
  encoded: Buffer;
  delayMs: number;
}

/** A will whose session moved here with its record still in its old node's hash (see `lookUpMoved`). */
export interface MovedWill {
  /** The record's handle in this ledger. */
  handle: string;
  message: Message;
  /** When it goes out, in ms since the epoch. */
  dueAt: number;
}

/** This node's wills, as the broker's WillLedger. */
export class ClusterWills implements WillLedger {
  private sequence = 0;
  /**
   * The records this node decides on, by handle: those of this run (handle: the record id) and
   * those of sessions moved here (handle: `NODE ID`), until taken, dropped or handed over.
   */
  private readonly live = new Map<string, LiveRecord>();
  /** The records this node id's previous runs left, by client id, until published or resumed. */
  private readonly leftovers = new Map<string, string[]>();
  /** Records of sessions that moved here, found by `lookUpMoved`, until the broker takes them. */
  private readonly moved = new Map<string, MovedWill & { record: LiveRecord }>();
  /** Resolves once what the broker queued so far is committed (set by the bus once started). */
  committed: () => Promise<void> = () => Promise.resolve();

  constructor(
    private readonly outbox: Outbox,
    /** For the reads of `lookUpMoved`. */
    private readonly redis: RedisClient,
    private readonly nodeId: string,
    /** This run's token (the lease's value), prefix of its record ids. */
    private readonly run: string,
    /** Whether sessions are cluster-wide: each client's record is then named in `{fennec}:will-of:CLIENT`. */
    private readonly pointers: boolean,
  ) {}

  private get taker(): string {
    return `${this.nodeId}/${this.run}`;
  }

  record(message: Message, delayMs: number): string {
    const id = `${this.run}.${++this.sequence}`;
    const encoded = encodeMessage(message);
    const clientId = message.publisherId;
    this.live.set(id, { node: this.nodeId, id, clientId, encoded, delayMs });
    this.outbox.push(['HSET', willsKey(this.nodeId), id, encodeRecord(clientId, encoded, delayMs)]);
    if (this.pointers) this.outbox.push(['SET', willOfKey(clientId), pointerValue(this.nodeId, id)]);
    return id;
  }

  due(handle: string, dueAt: number): void {
    const live = this.live.get(handle);
    if (live === undefined) return;
    const record = encodeRecord(live.clientId, live.encoded, live.delayMs, dueAt);
    this.outbox.push(['EVAL', dueScript, 1, willsKey(live.node), live.id, record]);
  }

  drop(handle: string): void {
    const live = this.live.get(handle);
    if (live === undefined) return;
    this.live.delete(handle);
    dropRecord(this.outbox, live.node, live.id, live.clientId);
  }

  handedOver(handle: string): void {
    // The record stays, named by the client's pointer: the node the session moved to decides on it.
    this.live.delete(handle);
  }

  /** Notes record `id` of client `clientId`, left by this node id's previous run, for `resumed`. */
  leftover(id: string, clientId: string): void {
    const ids = this.leftovers.get(clientId);
    if (ids === undefined) this.leftovers.set(clientId, [id]);
    else ids.push(id);
  }

  resumed(clientId: string): void {
    const moved = this.moved.get(clientId);
    if (moved !== undefined) {
      this.moved.delete(clientId);
      dropRecord(this.outbox, moved.record.node, moved.record.id, clientId);
    }
    const ids = this.leftovers.get(clientId);
    if (ids === undefined) return;
    this.leftovers.delete(clientId);
    // Deleted, its take fails: not published. One already taken (out already) is not affected.
    for (const id of ids) dropRecord(this.outbox, this.nodeId, id, clientId);
  }

  take(handle: string, publish: () => void): void {
    const live = this.live.get(handle);
    this.live.delete(handle);
    const node = live?.node ?? this.nodeId;
    const id = live?.id ?? handle;
    // Not published when gone: this node was declared dead while frozen, and a survivor took it.
    void takeRecord(this.outbox, node, id, '', this.taker).then(async (mark) => {
      if (mark === undefined) return;
      publish();
      await this.committed();
      await finishRecord(this.outbox, node, id, mark, live?.clientId ?? '');
    });
  }

  /**
   * Finds the will records of `clientIds`, whose sessions just moved here from other nodes (taken
   * over or adopted): each is then this node's to publish or drop (see `takeMoved`).
   */
  async lookUpMoved(clientIds: readonly string[]): Promise<void> {
    if (!this.pointers || clientIds.length === 0) return;
    const pointers = await this.redis.mget(clientIds.map(willOfKey));
    const found: [string, string, string][] = [];
    pointers.forEach((pointer, i) => {
      const space = pointer?.indexOf(' ') ?? -1;
      if (pointer === null || pointer === undefined || space < 0) return;
      const node = pointer.slice(0, space);
      if (node !== this.nodeId) found.push([clientIds[i]!, node, pointer.slice(space + 1)]);
    });
    if (found.length === 0) return;
    const reads = this.redis.pipeline();
    for (const [, node, id] of found) reads.hgetBuffer(willsKey(node), id);
    const replies = (await reads.exec()) ?? [];
    found.forEach(([clientId, node, id], i) => {
      const bytes = replies[i]?.[1];
      if (!(bytes instanceof Buffer)) return;
      try {
        const { message, delayMs, dueAt } = decodeRecord(bytes);
        const record = { node, id, clientId, encoded: encodeMessage(message), delayMs };
        const handle = pointerValue(node, id);
        this.moved.set(clientId, { handle, message, dueAt: dueAt ?? Date.now() + delayMs, record });
      } catch {
        // Unreadable: whoever handles its node drops it.
      }
    });
  }

  takeMoved(clientId: string): MovedWill | undefined {
    const moved = this.moved.get(clientId);
    if (moved === undefined) return undefined;
    this.moved.delete(clientId);
    this.live.set(moved.handle, moved.record);
    return { handle: moved.handle, message: moved.message, dueAt: moved.dueAt };
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
    // Not taken: gone, its node alive again (it was only frozen), or another taker that runs has it.
    const mark = await takeRecord(this.outbox, node, id, recordRun(id), this.taker);
    if (mark === undefined) return;
    this.counters.deadNodeWills++;
    this.host.log.info(
      { node, clientId: message.publisherId, topic: message.topic },
      'cluster: will of a dead node published',
    );
    this.host.publishWill(message);
    // The record goes once what the publication queued is written: should this node die before, it
    // holds the record under its lease, and the next node to handle `node` publishes it again.
    await this.host.committed();
    await finishRecord(this.outbox, node, id, mark, message.publisherId);
  }
}
