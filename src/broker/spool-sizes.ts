/**
 * The exact payload sizes of one session's spooled rows, for `drop_oldest`, without holding a number
 * per row: the sizes of rows not yet known to be committed (the tail, at most what a few batches
 * wrote) are kept as they are spooled; any other row's size is read from the store (`spoolSizes`,
 * a small synchronous read), a window of rows at a time from the front, where drops happen.
 */
import type { Store } from '../store/types.js';

/** Rows whose sizes one read of the store brings. */
const WINDOW = 256;

/** Where the tail learns that rows are committed: the spool's writer. */
export interface CommitWatcher {
  /** Runs `fn` once everything written so far is committed (at once when nothing waits). */
  afterCommit(fn: () => void): void;
}

export class RowSizes {
  /** Sizes of rows [tailFrom, tailFrom + tail.length), not all known to be committed. */
  private tail: number[] = [];
  private tailFrom = 0;
  /** Sizes of committed rows [frontFrom, frontFrom + front.length), read from the store. */
  private front: number[] = [];
  private frontFrom = 0;
  /** A commit is awaited for the tail. */
  private watching = false;

  constructor(
    /** The spool's key of the rows (the session's client id). */
    private readonly key: string,
  ) {}

  /** Row `n` (the next after the last one added) of `bytes` was written through `writer`. */
  added(n: number, bytes: number, writer: CommitWatcher): void {
    if (this.tail.length === 0) this.tailFrom = n;
    this.tail.push(bytes);
    this.watch(writer);
  }

  /** The payload size of row `n`, a row of the spool; undefined only if the store does not have it. */
  sizeOf(n: number, store: Pick<Required<Store>, 'spoolSizes'>): number | undefined {
    if (n >= this.tailFrom && n < this.tailFrom + this.tail.length) return this.tail[n - this.tailFrom];
    if (n >= this.frontFrom && n < this.frontFrom + this.front.length) return this.front[n - this.frontFrom];
    // Not in the tail, so committed: read the sizes of the rows from here on.
    this.front = [];
    this.frontFrom = n;
    for (const row of store.spoolSizes(this.key, n, WINDOW)) {
      if (row.n !== n + this.front.length) break;
      this.front.push(row.bytes);
    }
    return this.front[0];
  }

  /**
   * Waits for the commit of the rows added so far; rows added meanwhile may be in the same batch,
   * but only those before the wait began are sure to be, so a later wait takes the rest.
   */
  private watch(writer: CommitWatcher): void {
    if (this.watching) return;
    this.watching = true;
    const through = this.tailFrom + this.tail.length - 1;
    writer.afterCommit(() => {
      this.watching = false;
      const committed = through - this.tailFrom + 1;
      if (committed > 0) {
        this.tail.splice(0, committed);
        this.tailFrom = through + 1;
      }
      if (this.tail.length > 0) this.watch(writer);
    });
  }
}
