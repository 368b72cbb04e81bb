// The one timer behind every connection's connect timeout, keep-alive and close cut-off: a deadline
// is never called before it has passed and is called within about a tick after; a cancelled or
// replaced one is not called; a deadline set from inside another's call is kept; the interval runs
// only while deadlines wait.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineWheel, type Deadline } from '../../src/broker/deadlines.js';

const TICK = 20;

/** A deadline that records when it was called. */
function recorder(): Deadline & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    deadlineSlot: -1,
    deadlineDue(now: number) {
      calls.push(now);
    },
  };
}

describe('DeadlineWheel', () => {
  it('calls each deadline once it has passed, never before, within about a tick after', async () => {
    const wheel = new DeadlineWheel(TICK);
    const start = Date.now();
    const items = [30, 75, 140].map((delay) => ({ delay, item: recorder() }));
    for (const { delay, item } of items) wheel.set(item, start + delay);
    assert.equal(wheel.size, 3);
    await sleep(140 + 6 * TICK);
    for (const { delay, item } of items) {
      assert.equal(item.calls.length, 1, `the ${delay} ms deadline is called once`);
      const late = item.calls[0]! - (start + delay);
      assert.ok(late >= 0, `the ${delay} ms deadline was called ${-late} ms early`);
      assert.ok(Date.now() - start >= delay);
    }
    assert.equal(wheel.size, 0);
  });

  it('a cancelled deadline is not called, and setting one again replaces the earlier one', async () => {
    const wheel = new DeadlineWheel(TICK);
    const cancelled = recorder();
    const moved = recorder();
    const now = Date.now();
    wheel.set(cancelled, now + 30);
    wheel.set(moved, now + 30);
    wheel.set(moved, now + 90);
    wheel.cancel(cancelled);
    assert.equal(cancelled.deadlineSlot, -1);
    assert.equal(wheel.size, 1);
    await sleep(60);
    assert.deepEqual(cancelled.calls, []);
    assert.deepEqual(moved.calls, [], 'the replaced 30 ms deadline is gone');
    await sleep(90 + 3 * TICK);
    assert.equal(moved.calls.length, 1);
    assert.ok(moved.calls[0]! >= now + 90);
  });

  it('a deadline in the past is called at the next tick, and one set again from its own call is kept', async () => {
    const wheel = new DeadlineWheel(TICK);
    const calls: number[] = [];
    const again: Deadline = {
      deadlineSlot: -1,
      deadlineDue(now: number) {
        calls.push(now);
        if (calls.length < 3) wheel.set(again, now + 25);
      },
    };
    wheel.set(again, Date.now() - 1000);
    await sleep(25 * 3 + 8 * TICK);
    assert.equal(calls.length, 3);
    assert.ok(calls[1]! - calls[0]! >= 25 && calls[2]! - calls[1]! >= 25, `calls at ${calls.join(', ')}`);
    assert.equal(wheel.size, 0);
  });

  it('one deadline that throws leaves the others of its slot called, and its error goes to onError', async () => {
    const thrown: unknown[] = [];
    const wheel = new DeadlineWheel(TICK, (err) => thrown.push(err));
    const failing: Deadline = {
      deadlineSlot: -1,
      deadlineDue() {
        throw new Error('boom');
      },
    };
    const after = recorder();
    const at = Date.now() + 10;
    wheel.set(failing, at);
    wheel.set(after, at);
    await sleep(10 + 4 * TICK);
    assert.equal(after.calls.length, 1);
    assert.equal((thrown[0] as Error | undefined)?.message, 'boom');
  });
});
