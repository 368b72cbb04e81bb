/**
 * Spooled deliveries of an ended session that were made for shared subscriptions: they belong to
 * the group, not to the session, so when it ends its spool is moved to an orphan key (a
 * `move-spool`, in the same batch as the end of the session) and read back from there a batch at a
 * time, each delivery of a shared subscription going to another member of its group (MQTT 5.0
 * section 4.8.2), the others deleted. The hand-over of a batch and the `unspool` of its rows are in
 * one batch of the store, so a crash finds each row either still in the orphan spool (handed over
 * after the restart) or with the member that took it. Memory holds one batch at a time.
 */
import type { Logger } from 'pino';
import { delivery, type Delivery } from '../session/message.js';
import type { SpoolRecord, SpoolSummary, Store } from '../store/types.js';
import { restoredMessage, type Persistence } from './persistence.js';

/**
 * Keys of orphan spools start with U+0000, which no client id can hold [MQTT-1.5.4-2], so they never
 * meet a session's spool.
 */
export const ORPHAN_PREFIX = '\u0000orphan/';

/** Where orphan rows are read and written. */
export interface OrphanBacking {
  store: Pick<Required<Store>, 'readSpool'>;
  writer: Persistence;
}

/** One orphan spool: rows [first, next) under `key`, `bytes` of payload. */
interface Orphan {
  key: string;
  first: number;
  next: number;
  bytes: number;
}

/** Rows handed over at once. */
const BATCH = 250;

export class SpoolOrphans {
  private readonly orphans = new Map<string, Orphan>();
  private made = 0;
  /** Set when the broker closes: nothing more is read. */
  stopped = false;

  constructor(
    private readonly log: Logger,
    /** Gives a delivery of a shared subscription to a member of its group (a no-op once there is none). */
    private readonly redeliver: (d: Delivery) => void,
    /** Told of the payload bytes that left the spool. */
    private readonly freed: (bytes: number) => void,
  ) {}

  /** Deliveries and payload bytes still waiting in orphan spools. */
  get size(): { messages: number; bytes: number } {
    let messages = 0;
    let bytes = 0;
    for (const o of this.orphans.values()) {
      messages += o.next - o.first;
      bytes += o.bytes;
    }
    return { messages, bytes };
  }

  /** Takes over the spool of ended `clientId`: rows [first, next) of `bytes`, some for shared subscriptions. */
  adopt(backing: OrphanBacking, clientId: string, first: number, next: number, bytes: number): void {
    const key = `${ORPHAN_PREFIX}${clientId}/${Date.now()}.${++this.made}`;
    backing.writer.spoolOp({ op: 'move-spool', clientId, to: key });
    this.start(backing, { key, first, next, bytes });
  }

  /** An orphan spool found at start (the broker stopped before handing all of it over). */
  resume(backing: OrphanBacking, summary: SpoolSummary): void {
    this.start(backing, { key: summary.clientId, first: summary.first, next: summary.last + 1, bytes: summary.bytes });
  }

  private start(backing: OrphanBacking, orphan: Orphan): void {
    this.orphans.set(orphan.key, orphan);
    this.readNext(backing, orphan);
  }

  /** Reads the next rows once the batch that moved or wrote them is committed. */
  private readNext(backing: OrphanBacking, orphan: Orphan): void {
    backing.writer.afterCommit(() => {
      if (this.stopped) return;
      backing.store.readSpool(orphan.key, orphan.first, BATCH).then(
        (rows) => this.handOver(backing, orphan, rows),
        (err: unknown) => {
          // The rows stay in the store, handed over at the next start.
          this.log.error({ key: orphan.key, err }, "cannot read an ended session's spool; left for the next start");
        },
      );
    });
  }

  private handOver(backing: OrphanBacking, orphan: Orphan, rows: SpoolRecord[]): void {
    if (this.stopped) return;
    const last = rows[rows.length - 1];
    if (last === undefined) {
      this.orphans.delete(orphan.key);
      this.freed(orphan.bytes);
      return;
    }
    let bytes = 0;
    const shared: Delivery[] = [];
    for (const row of rows) {
      bytes += row.message.payload.length;
      if (row.sharedFilter === undefined) continue;
      const message = restoredMessage(row.message, 0);
      shared.push(delivery(message, row.qos, row.retain, row.subscriptionIdentifiers, row.sharedFilter));
    }
    backing.writer.spoolOp({ op: 'unspool', clientId: orphan.key, through: last.n });
    orphan.first = last.n + 1;
    orphan.bytes -= bytes;
    this.freed(bytes);
    if (orphan.first >= orphan.next) this.orphans.delete(orphan.key);
    else this.readNext(backing, orphan);
    // After the unspool, in the same batch: each member's journal records what it took.
    for (const d of shared) this.redeliver(d);
  }
}
