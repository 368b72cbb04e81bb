// PublishBuckets and ControlPacketWindow: the per-connection rate limits, on an injected clock (no
// sockets, no timers). Black-box tests are in test/broker/29-limits.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ControlPacketWindow, PublishBuckets } from '../../src/broker/limits.js';
import { limitNames, type LimitName } from '../../src/broker/options.js';

function counters(): Record<LimitName, number> {
  return Object.fromEntries(limitNames.map((name) => [name, 0])) as Record<LimitName, number>;
}

void describe('PublishBuckets', () => {
  void it('lets a second worth of messages through at once, then makes each wait for its share of the rate', () => {
    const counted = counters();
    const buckets = new PublishBuckets(10, 0, counted, 0);
    for (let i = 0; i < 10; i++) assert.equal(buckets.take(100, 0), 0);
    assert.equal(counted.maxPublishRate, 0);
    // The 11th is one token in debt: 1/10 s; the 12th two: 2/10 s.
    assert.equal(buckets.take(100, 0), 100);
    assert.equal(buckets.take(100, 0), 200);
    assert.equal(counted.maxPublishRate, 2);
    // Once the debt is paid (at 200 ms) and another 100 ms pass, one more goes through at once.
    assert.equal(buckets.take(100, 300), 0);
  });

  void it('never holds more than one second worth, however long the client was quiet', () => {
    const buckets = new PublishBuckets(5, 0, counters(), 0);
    for (let i = 0; i < 5; i++) assert.equal(buckets.take(0, 60_000), 0);
    assert.equal(buckets.take(0, 60_000), 200);
  });

  void it('meters payload bytes on their own bucket, a large message waiting for all its bytes', () => {
    const counted = counters();
    const buckets = new PublishBuckets(0, 1000, counted, 0);
    assert.equal(buckets.take(1000, 0), 0);
    assert.equal(buckets.take(3000, 0), 3000);
    assert.equal(counted.maxPublishBytesRate, 1);
    assert.equal(counted.maxPublishRate, 0);
  });

  void it('waits for the slower of the two buckets, and is off when both rates are 0', () => {
    const buckets = new PublishBuckets(1, 100, counters(), 0);
    assert.equal(buckets.take(100, 0), 0);
    assert.equal(buckets.take(500, 0), 5000);
    assert.equal(new PublishBuckets(0, 0, counters(), 0).enabled, false);
  });
});

void describe('ControlPacketWindow', () => {
  void it('allows the rate in each second and refuses one more', () => {
    const window = new ControlPacketWindow(3);
    assert.deepEqual(
      [0, 10, 20, 30].map((t) => window.allow(t)),
      [true, true, true, false],
    );
    // A new second starts a new count.
    assert.equal(window.allow(1000), true);
  });

  void it('allows everything when the rate is 0', () => {
    const window = new ControlPacketWindow(0);
    for (let i = 0; i < 10_000; i++) assert.equal(window.allow(0), true);
  });
});
