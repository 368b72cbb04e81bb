/**
 * Fair intake: how many PUBLISH packets the broker takes in per turn of the event loop from each
 * connection. A connection over its share stops reading and goes on at the next turn (`nextTurn`),
 * after the I/O that waits; so a few publishers that fill their sockets cannot make everyone else
 * wait behind whole 64 KiB chunks of their packets. Acknowledgements and control packets are never
 * held: they free windows and cost little, and a subscriber acknowledging a fan-in must not be rationed.
 *
 * The share is `TURN_BUDGET` divided among the connections that published in the previous turn,
 * between 1 and `READ_BUDGET`: what the broker accepts (and, QoS 1, acknowledges) per turn then stays
 * near what a subscriber's in-flight window drains per turn, whatever the number of publishers.
 * Without it 64 publishers were acknowledged faster than one subscriber could be sent to, and its
 * queue (and the latency) grew without bound. Every connection gets its share each turn: no one waits
 * for a place in a queue of others.
 */

/** PUBLISH packets one connection may have handled per turn, at most. */
export const READ_BUDGET = 64;
/** PUBLISH packets all publishing connections together should take in per turn. */
export const TURN_BUDGET = 512;

/** The turn of the event loop, counted once per check phase while anyone asks (one setImmediate a turn). */
let turn = 0;
let ticking = false;
/** Connections that took a PUBLISH in this turn, and in the previous one. */
let publishers = 0;
let share = READ_BUDGET;
const tick = (): void => {
  turn++;
  share = Math.max(1, Math.min(READ_BUDGET, Math.floor(TURN_BUDGET / Math.max(1, publishers))));
  publishers = 0;
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

  /** Counts one PUBLISH about to be handled; false when this turn's share is spent (handle it next turn). */
  take(): boolean {
    const now = currentTurn();
    if (now !== this.turn) {
      this.turn = now;
      this.used = 0;
      publishers++;
    }
    if (this.used >= share) return false;
    this.used++;
    return true;
  }
}
