/**
 * Fair intake: each connection handles at most `READ_BUDGET` packets per turn of the event loop.
 * A connection over its budget stops reading and goes on at the next turn (`nextTurn`), after every
 * other connection has had its turn; so a few publishers that fill their sockets cannot make everyone
 * else wait behind whole 64 KiB chunks of their packets.
 */

/**
 * Packets one connection may have handled per turn. Measured with bench/brokers.sh (fan-in QoS 1, 8
 * and 64 publishers): throughput holds from 32 up, and the latency of other clients grows with it.
 */
export const READ_BUDGET = 64;

/** The turn of the event loop, counted once per check phase while anyone asks (one setImmediate a turn). */
let turn = 0;
let ticking = false;
const tick = (): void => {
  turn++;
  ticking = false;
};

function currentTurn(): number {
  if (!ticking) {
    ticking = true;
    setImmediate(tick);
  }
  return turn;
}

/** Resolves at the next turn of the event loop, after the I/O that is waiting. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The budget of one connection. */
export class IntakeBudget {
  private turn = -1;
  private used = 0;

  constructor(private readonly budget: number = READ_BUDGET) {}

  /** Counts one packet about to be handled; false when the budget of this turn is spent (handle it next turn). */
  take(): boolean {
    const now = currentTurn();
    if (now !== this.turn) {
      this.turn = now;
      this.used = 0;
    }
    if (this.used >= this.budget) return false;
    this.used++;
    return true;
  }
}
