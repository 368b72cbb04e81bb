// The client's reconnect delay: exponential backoff with full jitter above a floor, so that no
// attempt follows a failure at once and clients dropped together spread out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { reconnectDelay } from '../../src/client/options.js';

const limits = { minDelayMs: 100, maxDelayMs: 1_000 };

void describe('client reconnect delay', () => {
  void it('is never below minDelayMs, even when the jitter draws 0', () => {
    for (let attempt = 0; attempt < 10; attempt++)
      assert.equal(
        reconnectDelay(attempt, limits, () => 0),
        100,
      );
  });

  void it('doubles its ceiling with each attempt until maxDelayMs', () => {
    const ceilings = [0, 1, 2, 3, 4, 5].map((attempt) => reconnectDelay(attempt, limits, () => 1));
    assert.deepEqual(ceilings, [100, 200, 400, 800, 1_000, 1_000]);
  });

  void it('spreads uniformly between the floor and the ceiling', () => {
    assert.equal(
      reconnectDelay(3, limits, () => 0.5),
      450,
    );
  });

  void it('stays finite after very many attempts', () => {
    assert.equal(
      reconnectDelay(10_000, limits, () => 1),
      1_000,
    );
  });
});
