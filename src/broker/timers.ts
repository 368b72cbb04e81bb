/**
 * Timers for delays longer than Node's: `setTimeout` holds at most 2^31 - 1 ms (about 24.8 days)
 * and fires after 1 ms when asked for more, while a Session Expiry or Will Delay Interval may be
 * up to 2^32 - 1 seconds. The timers are unref'd: a pending expiry never keeps the process alive.
 */

/** The longest delay `setTimeout` honours, in ms. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/** A scheduled call; `cancel()` stops it, and does nothing once it has run. */
export interface Scheduled {
  cancel(): void;
}

/** Calls `fn` once after `delayMs` milliseconds, however long that is. */
export function scheduleAfter(delayMs: number, fn: () => void): Scheduled {
  const due = Date.now() + delayMs;
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const left = due - Date.now();
    if (left > MAX_TIMEOUT_MS) {
      timer = setTimeout(arm, MAX_TIMEOUT_MS);
    } else {
      timer = setTimeout(fn, Math.max(0, left));
    }
    timer.unref();
  };
  arm();
  return { cancel: () => clearTimeout(timer) };
}
