/**
 * Failed logins per remote address, to slow down password guessing: after a few free failures, each
 * refusal from the same address waits longer before its CONNACK, doubling up to a cap. The table is
 * bounded: past its size, the address idle longest is forgotten.
 */

/** How failed logins are slowed down; the BrokerOptions `loginFailure*` fields. */
export interface FailedLoginPolicy {
  /** Failures from one address refused without delay, within the window. */
  freeAttempts: number;
  /** A failure more than this long after the previous one from the address starts a new count, in ms. */
  windowMs: number;
  /** Delay of the first refusal past the free ones, in ms; each further one doubles it. 0 turns delays off. */
  firstDelayMs: number;
  /** Longest delay of one refusal, in ms. */
  maxDelayMs: number;
  /** Most addresses remembered at once; the one idle longest is forgotten first. */
  maxAddresses: number;
}

interface Record {
  /** Failures in the current run (no gap longer than the window). */
  count: number;
  /** When the last one happened, in ms since the epoch. */
  last: number;
}

/** The failed-login table of one broker. Takes values and returns values; the clock is injected. */
export class FailedLogins {
  private readonly records = new Map<string, Record>();

  constructor(
    private readonly policy: FailedLoginPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts a failure from `address` and returns how long its refusal should wait, in ms. */
  fail(address: string): number {
    const now = this.now();
    const { freeAttempts, windowMs, firstDelayMs, maxDelayMs, maxAddresses } = this.policy;
    let record = this.records.get(address);
    if (record === undefined || now - record.last > windowMs) record = { count: 0, last: now };
    record.count++;
    record.last = now;
    // Re-inserted so that the Map's order is least recently failed first.
    this.records.delete(address);
    this.records.set(address, record);
    while (this.records.size > maxAddresses) {
      const oldest = this.records.keys().next();
      if (oldest.done === true) break;
      this.records.delete(oldest.value);
    }
    const over = record.count - freeAttempts;
    if (over <= 0 || firstDelayMs === 0) return 0;
    // 2^30 already exceeds any delay a timer can hold; the cap applies long before.
    return Math.min(maxDelayMs, firstDelayMs * 2 ** Math.min(over - 1, 30));
  }

  /**
   * A login from `address` succeeded: its count starts again from 0, so that a user who mistyped a
   * password a few times is not slowed down on the next mistake.
   */
  succeeded(address: string): void {
    this.records.delete(address);
  }

  /** Failures counted for `address` in its current run (0 when none or forgotten). */
  failures(address: string): number {
    const record = this.records.get(address);
    if (record === undefined || this.now() - record.last > this.policy.windowMs) return 0;
    return record.count;
  }

  /** Number of addresses remembered. */
  get size(): number {
    return this.records.size;
  }
}
