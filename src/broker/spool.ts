/**
 * The spool: where QoS 1/2 deliveries go that a session's memory queue cannot hold, so that a slow
 * or offline subscriber costs disk, not memory, and nothing acknowledged is dropped before the disk
 * limits. Rows are written through the store's batches (the broker's own store when it can spool,
 * else a temporary SQLite file, unlinked once open) and read back a batch at a time, once committed, as
 * the session's queue drains. Only past `maxSpooledBytesPerSession`, `maxSpoolBytes` or the free-disk
 * reserve does the `queueOverflow` policy drop anything, counted and logged.
 *
 * Each session's rows are numbered 1, 2, 3... and leave from the front only (read back, or dropped
 * oldest first), so the spool of a session is the range [first, next) and needs no index in memory.
 */
import { rmSync, statfsSync, statfs } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { QueueOverflowPolicy } from '../config/fields.js';
import { delivery, messageFields, type Delivery, type Message } from '../session/message.js';
import type { DropReason, OverflowSession, SessionOverflow } from '../session/types.js';
import { SqliteStore } from '../store/sqlite.js';
import { SqliteWorkerStore } from '../store/sqlite-thread.js';
import type { SpoolRecord, SpoolSummary, Store, StoredRetained } from '../store/types.js';
import { restoredMessage, type Persistence } from './persistence.js';
import { openTemporaryBacking, type Backing } from './spool-backing.js';
import { RowSizes } from './spool-sizes.js';
import { ORPHAN_PREFIX, SpoolOrphans } from './spool-orphans.js';

/** The spool's limits and policy (BrokerOptions of the same names). */
export interface SpoolOptions {
  maxSpooledBytesPerSession: number;
  maxSpoolBytes: number;
  spoolMinFreeBytes: number;
  queueOverflow: QueueOverflowPolicy;
}

/** One session's spool: rows [first, next), `count` of them (next - first), `bytes` of payload. */
interface SessionSpool {
  session: OverflowSession;
  first: number;
  next: number;
  bytes: number;
  /** A read is on its way: no other starts until it is back. */
  reading: boolean;
  /** When a drop was last logged for this session, ms since the epoch. */
  loggedAt: number;
  /** Whether any row was spooled for a shared subscription: then the rows outlive the session. */
  shared: boolean;
  /** The exact size of each row, for drop_oldest. */
  sizes: RowSizes;
}

/** How often the free space of the spool's disk is checked, in ms. */
const DISK_CHECK_MS = 5000;
/** Most rows read back at once: about 1 MiB of 1 KiB messages, a few ms of the event loop. */
const READ_BATCH = 250;
/** A session's drops are logged at most once per this many ms. */
const LOG_EVERY_MS = 60_000;

export class Spool implements SessionOverflow {
  private readonly sessions = new Map<string, SessionSpool>();
  private backing: Backing | undefined;
  /** Payload bytes spooled by all sessions. */
  private totalBytes = 0;
  /** Free bytes of the spool's disk at the last check, less the reserve; Infinity: not checked. */
  private diskRoom = Infinity;
  private diskTimer: NodeJS.Timeout | undefined;
  private readonly removeAtExit = (): void => this.removeLeftover();
  /** Older messages dropped to make room (drop_oldest): the new message was taken, not refused. */
  droppedOldest = 0;
  private failedToOpen = false;
  /** The temporary file is closed (close() may be called more than once). */
  private closed = false;
  /** Spooled deliveries of ended sessions, on their way to other members of their shared subscriptions. */
  private readonly orphans: SpoolOrphans;
  /** Drops that could not be made exact (a row the store did not have): logged once. */
  private unsizedLogged = false;

  /**
   * `store`: the broker's store, used when it can spool (then spooled deliveries of persistent
   * sessions survive a restart); otherwise a temporary SQLite file is made at the first spill.
   */
  constructor(
    private readonly options: SpoolOptions,
    private readonly log: Logger,
    private readonly brokerStore: { store: Store; writer: Persistence } | undefined,
    /** Gives a delivery of a shared subscription whose session ended to another member of its group. */
    redeliverShared: (d: Delivery) => void = () => undefined,
  ) {
    this.orphans = new SpoolOrphans(log, redeliverShared, (bytes) => (this.totalBytes -= bytes));
  }

  /** Whether the spool takes anything at all (both limits above 0). */
  get enabled(): boolean {
    return this.options.maxSpoolBytes > 0 && this.options.maxSpooledBytesPerSession > 0;
  }

  /**
   * Spooled deliveries and their payload bytes, over all sessions (those of ended sessions on their
   * way to other members of shared subscriptions included), and the sessions with a spool.
   */
  get size(): { messages: number; bytes: number; sessions: number } {
    let messages = this.orphans.size.messages;
    for (const s of this.sessions.values()) messages += s.next - s.first;
    return { messages, bytes: this.totalBytes, sessions: this.sessions.size };
  }

  bytes(session: OverflowSession): number {
    const s = this.sessions.get(session.clientId);
    return s !== undefined && s.session === session ? s.bytes : 0;
  }

  /** The spool's SQLite file, once one is in use; undefined before the first spill or on a MemoryStore. */
  get file(): string | undefined {
    const store = this.backing?.store;
    return store instanceof SqliteStore || store instanceof SqliteWorkerStore ? store.file : undefined;
  }

  holds(session: OverflowSession): boolean {
    // Asked on every QoS 1/2 delivery that could go out at once: nothing to look up, mostly.
    if (this.sessions.size === 0) return false;
    const s = this.sessions.get(session.clientId);
    return s !== undefined && s.session === session && s.next > s.first;
  }

  spill(session: OverflowSession, d: Delivery): DropReason | undefined {
    if (!this.enabled) return 'queue-full';
    const backing = this.backing ?? this.openOrRefuse();
    if (backing === undefined) return 'spool-full';
    let s = this.sessions.get(session.clientId);
    if (s === undefined || s.session !== session) {
      s = this.sessionSpool(session, 1, 1, 0);
      this.sessions.set(session.clientId, s);
    }
    const bytes = d.message.payload.length;
    let refused = this.refusal(s, bytes);
    // drop_oldest: the session's oldest spooled messages make room, one by one.
    while (refused !== undefined && this.options.queueOverflow === 'drop_oldest' && s.next > s.first) {
      if (!this.dropOldest(s, backing)) break;
      this.droppedOldest++;
      session.countDrop(refused);
      this.logDrop(s, refused);
      refused = this.refusal(s, bytes);
    }
    if (refused !== undefined) {
      this.logDrop(s, refused);
      return refused;
    }
    const m = d.message;
    const record: SpoolRecord = {
      clientId: session.clientId,
      n: s.next++,
      message: spooledMessage(m),
      qos: d.qos,
      retain: d.retain,
      subscriptionIdentifiers: d.subscriptionIdentifiers,
      sharedFilter: d.sharedFilter,
    };
    backing.writer.spoolOp({ op: 'spool', record });
    s.sizes.added(record.n, bytes, backing.writer);
    if (d.sharedFilter !== undefined) s.shared = true;
    s.bytes += bytes;
    this.totalBytes += bytes;
    return undefined;
  }

  drain(session: OverflowSession, room: number): void {
    const s = this.sessions.get(session.clientId);
    if (s === undefined || s.session !== session || s.reading || s.next === s.first || room <= 0) return;
    const backing = this.backing;
    if (backing === undefined) return;
    s.reading = true;
    const from = s.first;
    const limit = Math.min(room, READ_BATCH);
    // Only committed rows can be read: wait for the batch that wrote the oldest of them.
    backing.writer.afterCommit(() => {
      backing.store.readSpool(session.clientId, from, limit).then(
        (rows) => this.readBack(s, backing, rows),
        (err: unknown) => {
          s.reading = false;
          this.log.error(
            { clientId: session.clientId, err },
            'cannot read the spool; the session waits for its next drain',
          );
        },
      );
    });
  }

  clear(session: OverflowSession): void {
    const s = this.sessions.get(session.clientId);
    if (s === undefined || s.session !== session) return;
    this.sessions.delete(session.clientId);
    const backing = this.backing;
    if (backing === undefined) return;
    // Deliveries of shared subscriptions go to other members: the rows wait under another key.
    if (s.shared && s.next > s.first) {
      this.orphans.adopt(backing, session.clientId, s.first, s.next, s.bytes);
      return;
    }
    this.totalBytes -= s.bytes;
    backing.writer.spoolOp({ op: 'clear-spool', clientId: session.clientId });
  }

  /**
   * The session moves to another node of the cluster: hands its spooled deliveries to `take`, oldest
   * first, a batch at a time (each awaited), and deletes them from the spool. Deliveries spilled
   * meanwhile join the end and go too; none is read back into the session's queue meanwhile.
   */
  async handOver(session: OverflowSession, take: (deliveries: Delivery[]) => Promise<void>): Promise<void> {
    const s = this.sessions.get(session.clientId);
    const backing = this.backing;
    if (s === undefined || s.session !== session || backing === undefined) return;
    // A drain on its way finishes first: its rows then reach the session's queue, which goes before.
    while (s.reading) await new Promise((resolve) => setTimeout(resolve, 1));
    s.reading = true;
    while (s.next > s.first && this.sessions.get(session.clientId) === s) {
      await new Promise<void>((resolve) => backing.writer.afterCommit(resolve));
      const rows = await backing.store.readSpool(session.clientId, s.first, READ_BATCH);
      if (rows.length === 0) break;
      let bytes = 0;
      const deliveries = rows.map((row) => {
        bytes += row.message.payload.length;
        const message = restoredMessage(row.message, 0);
        return delivery(message, row.qos, row.retain, row.subscriptionIdentifiers, row.sharedFilter);
      });
      s.first = rows[rows.length - 1]!.n + 1;
      s.bytes -= bytes;
      this.totalBytes -= bytes;
      await take(deliveries);
    }
    if (this.sessions.get(session.clientId) === s) this.sessions.delete(session.clientId);
    this.totalBytes -= s.bytes;
    backing.writer.spoolOp({ op: 'clear-spool', clientId: session.clientId });
  }

  /**
   * Whether spooled rows live in the broker's store, where a session's rows move with it between
   * the nodes of a cluster (a Redis store): then a hand-over is `pause` and `forget`, not `handOver`.
   */
  get rowsInStore(): boolean {
    const own = this.brokerStore?.store;
    return own !== undefined && own.readSpool !== undefined && own.spoolSizes !== undefined;
  }

  /**
   * The session is about to move to another node with its rows (rowsInStore): waits for a read on
   * its way, then reads nothing more back; rows spilled meanwhile still join its spool, numbered on.
   */
  async pause(session: OverflowSession): Promise<void> {
    const s = this.sessions.get(session.clientId);
    if (s === undefined || s.session !== session) return;
    while (s.reading) await new Promise((resolve) => setTimeout(resolve, 1));
    s.reading = true;
  }

  /** Forgets the session's spool here without a write: its rows in the store are another node's now. */
  forget(session: OverflowSession): void {
    const s = this.sessions.get(session.clientId);
    if (s === undefined || s.session !== session) return;
    this.sessions.delete(session.clientId);
    this.totalBytes -= s.bytes;
  }

  private sessionSpool(session: OverflowSession, first: number, next: number, bytes: number): SessionSpool {
    const sizes = new RowSizes(session.clientId);
    return { session, first, next, bytes, reading: false, loggedAt: 0, shared: false, sizes };
  }

  /**
   * At start, with the broker's store: the spools `load` found. Those of `sessions` (the restored
   * persistent sessions) are theirs again; those of ended sessions not yet handed over to other
   * members of shared subscriptions go on being handed over; any other (a clean session's, left by
   * a crash) is deleted.
   */
  restore(summaries: readonly SpoolSummary[], sessions: ReadonlyMap<string, OverflowSession>): void {
    const backing = this.backing ?? this.open();
    for (const summary of summaries) {
      if (summary.clientId.startsWith(ORPHAN_PREFIX) && this.enabled) {
        this.totalBytes += summary.bytes;
        this.orphans.resume(backing, summary);
        continue;
      }
      const session = sessions.get(summary.clientId);
      if (session === undefined || !this.enabled) {
        backing.writer.spoolOp({ op: 'clear-spool', clientId: summary.clientId });
        continue;
      }
      const s = this.sessionSpool(session, summary.first, summary.last + 1, summary.bytes);
      // Any shared subscription's rows among them are found when read; until then assume some.
      s.shared = true;
      // A session moved here again (cluster) replaces what was known of its spool here.
      this.totalBytes -= this.sessions.get(summary.clientId)?.bytes ?? 0;
      this.sessions.set(summary.clientId, s);
      this.totalBytes += summary.bytes;
    }
  }

  /** Stops the disk check; closes the temporary spool file, if one was made. Call after the last commit. */
  async close(): Promise<void> {
    if (this.diskTimer !== undefined) clearInterval(this.diskTimer);
    this.diskTimer = undefined;
    this.orphans.stopped = true;
    const backing = this.backing;
    if (backing?.temporary !== true || this.closed) return;
    this.closed = true;
    await backing.writer.drain();
    await backing.store.close();
    this.removeLeftover();
    process.off('exit', this.removeAtExit);
  }

  private removeLeftover(): void {
    const dir = this.backing?.leftover;
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }

  /** Why `bytes` more cannot be spooled for `s` now, or undefined when they can. */
  private refusal(s: SessionSpool, bytes: number): DropReason | undefined {
    if (s.bytes + bytes > this.options.maxSpooledBytesPerSession) return 'spool-session-full';
    if (this.totalBytes + bytes > Math.min(this.options.maxSpoolBytes, this.diskRoom)) return 'spool-full';
    return undefined;
  }

  /**
   * Deletes the oldest spooled row of `s`, taking its exact size off the counts (see RowSizes); a
   * read on its way skips the row. Returns false, dropping nothing, when its size cannot be known.
   */
  private dropOldest(s: SessionSpool, backing: Backing): boolean {
    const bytes = s.sizes.sizeOf(s.first, backing.store);
    if (bytes === undefined) {
      if (!this.unsizedLogged) {
        this.unsizedLogged = true;
        this.log.error(
          { clientId: s.session.clientId, n: s.first },
          'the store lacks a spooled row; drop_oldest refuses the newest instead',
        );
      }
      return false;
    }
    backing.writer.spoolOp({ op: 'unspool', clientId: s.session.clientId, through: s.first });
    s.first++;
    s.bytes -= bytes;
    this.totalBytes -= bytes;
    return true;
  }

  /** Rows read back from the store: the session's queue takes them, and they leave the spool. */
  private readBack(s: SessionSpool, backing: Backing, rows: SpoolRecord[]): void {
    s.reading = false;
    // The session ended, or was cleared, while the rows were read.
    if (this.sessions.get(s.session.clientId) !== s) return;
    const deliveries: Delivery[] = [];
    let bytes = 0;
    let last = 0;
    for (const row of rows) {
      // Dropped (drop_oldest) while it was read.
      if (row.n < s.first) continue;
      const message = restoredMessage(row.message, 0);
      const d = delivery(message, row.qos, row.retain, row.subscriptionIdentifiers, row.sharedFilter);
      deliveries.push(d);
      bytes += row.message.payload.length;
      last = row.n;
    }
    if (deliveries.length === 0) return;
    s.first = last + 1;
    s.bytes -= bytes;
    this.totalBytes -= bytes;
    if (s.next === s.first) this.sessions.delete(s.session.clientId);
    // In one batch with the session's journal of the same deliveries (persistent sessions): a crash
    // leaves them either in the spool or in the session's queue, never in neither.
    backing.writer.spoolOp({ op: 'unspool', clientId: s.session.clientId, through: last });
    s.session.refill(deliveries);
  }

  private logDrop(s: SessionSpool, reason: DropReason): void {
    const now = Date.now();
    if (now - s.loggedAt < LOG_EVERY_MS) return;
    s.loggedAt = now;
    this.log.warn(
      {
        clientId: s.session.clientId,
        reason,
        policy: this.options.queueOverflow,
        spooledBytes: s.bytes,
        spoolBytes: this.totalBytes,
      },
      'queue and spool full: messages for this session are dropped (logged once a minute)',
    );
  }

  /** `open()`, or undefined (logged once) when no temporary file can be made: nothing is spooled then. */
  private openOrRefuse(): Backing | undefined {
    if (this.failedToOpen) return undefined;
    try {
      return this.open();
    } catch (err) {
      this.failedToOpen = true;
      this.log.error({ dir: tmpdir(), err }, 'cannot make the temporary spool file; full queues drop messages');
      return undefined;
    }
  }

  /** The broker's store when it can spool, else a temporary SQLite file; starts the disk check. */
  private open(): Backing {
    const own = this.brokerStore;
    let backing: Backing;
    if (own !== undefined && own.store.readSpool !== undefined && own.store.spoolSizes !== undefined) {
      const store = own.store as Backing['store'];
      const dir = store instanceof SqliteStore || store instanceof SqliteWorkerStore ? dirname(store.file) : undefined;
      backing = { store, writer: own.writer, dir, temporary: false, leftover: undefined };
    } else {
      backing = openTemporaryBacking(this.log);
      // Where the file could not be unlinked at once: removed at close, or at exit without one.
      if (backing.leftover !== undefined) process.on('exit', this.removeAtExit);
    }
    this.backing = backing;
    if (backing.dir !== undefined) this.watchDisk(backing.dir);
    return backing;
  }

  /** Checks the free space of `dir`'s disk now and every DISK_CHECK_MS, without blocking after the first. */
  private watchDisk(dir: string): void {
    const update = (free: number): void => {
      this.diskRoom = this.totalBytes + free - this.options.spoolMinFreeBytes;
    };
    try {
      const stats = statfsSync(dir);
      update(stats.bavail * stats.bsize);
    } catch (err) {
      this.log.warn({ dir, err }, 'cannot check the free space of the spool disk');
    }
    this.diskTimer = setInterval(() => {
      statfs(dir, (err, stats) => {
        if (err === null) update(stats.bavail * stats.bsize);
      });
    }, DISK_CHECK_MS);
    this.diskTimer.unref();
  }
}

/** The message of a spool row: its fields, with its cluster id (Message.originId) when it has one. */
function spooledMessage(m: Message): StoredRetained {
  const stored: StoredRetained = messageFields(m);
  if (m.originId !== undefined) stored.originId = m.originId;
  return stored;
}
