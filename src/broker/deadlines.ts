/**
 * One timer for the deadlines of every connection (connect timeout, keep-alive, the last second of a
 * close) instead of a Node timer each: deadlines are kept in slots of `tickMs`, and one interval, on
 * only while some deadline waits, calls those whose slot has passed. A deadline is never called early,
 * and at most about one tick late. Per connection this costs a Set entry, where a `setTimeout` cost a
 * Timeout object, its closure and, for every distinct delay, a timer list of its own.
 */

/** Something with at most one deadline in a DeadlineWheel. */
export interface Deadline {
  /** The slot the wheel holds this in; -1 when none. Written by the wheel only. */
  deadlineSlot: number;
  /** Called once the deadline has passed (`now`: ms since the epoch); it may set a new one. */
  deadlineDue(now: number): void;
}

function rethrow(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}

export class DeadlineWheel {
  private readonly slots = new Map<number, Set<Deadline>>();
  private count = 0;
  /** The last slot called (every slot up to it is done). */
  private done = 0;
  private timer: NodeJS.Timeout | undefined;
  /**
   * Slots are counted from the wheel's creation: small integers, which V8 keeps in the object's field,
   * where a slot counted from the epoch (over 2^31) would be a 16-byte heap number per connection.
   */
  private readonly origin: number;

  /**
   * `onError` gets what a deadline's call throws; by default it is thrown again, uncaught, as from a
   * timer of its own (the other deadlines of the slot are still called).
   */
  constructor(
    private readonly tickMs: number,
    private readonly onError: (err: unknown) => void = rethrow,
    private readonly now: () => number = Date.now,
  ) {
    this.origin = Math.floor(now() / tickMs);
  }

  /** Deadlines waiting. */
  get size(): number {
    return this.count;
  }

  /** Calls `item.deadlineDue` at `at` (ms since the epoch) or within a tick after; replaces its earlier deadline. */
  set(item: Deadline, at: number): void {
    this.cancel(item);
    if (this.timer === undefined) this.start();
    const slot = Math.max(Math.ceil(at / this.tickMs) - this.origin, this.done + 1);
    let due = this.slots.get(slot);
    if (due === undefined) {
      due = new Set();
      this.slots.set(slot, due);
    }
    due.add(item);
    item.deadlineSlot = slot;
    this.count++;
  }

  /** Forgets the deadline of `item`, if it has one. */
  cancel(item: Deadline): void {
    const slot = item.deadlineSlot;
    if (slot < 0) return;
    item.deadlineSlot = -1;
    const due = this.slots.get(slot);
    if (due === undefined || !due.delete(item)) return;
    this.count--;
    if (due.size === 0) this.slots.delete(slot);
    if (this.count === 0) this.stop();
  }

  private start(): void {
    // Off only while nothing waits, so no slot is skipped by starting from now.
    this.done = Math.floor(this.now() / this.tickMs) - this.origin;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    // A deadline never keeps the process alive (as the unref'd timers it replaces).
    this.timer.unref();
  }

  private stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = this.now();
    const last = Math.floor(now / this.tickMs) - this.origin;
    while (this.done < last && this.count > 0) {
      const due = this.slots.get(++this.done);
      if (due === undefined) continue;
      this.slots.delete(this.done);
      this.count -= due.size;
      for (const item of due) item.deadlineSlot = -1;
      for (const item of due) {
        try {
          item.deadlineDue(now);
        } catch (err) {
          this.onError(err);
        }
      }
    }
    if (this.count === 0) this.stop();
  }
}

/** The deadlines of every connection of this process, to a tenth of a second. */
export const connectionDeadlines = new DeadlineWheel(100);
