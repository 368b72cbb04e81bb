// Session: the queue's payload bytes (maxQueuedBytes), on a real session attached to a fake sink
// (no sockets): counted on the way in and out, the newest message refused when it would not fit,
// and reset by clearMessages and releaseSharedDeliveries. Black-box tests are in
// test/broker/29-limits.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { delivery, type Message } from '../../src/session/message.js';
import { emptyDropTally, Readiness, Session } from '../../src/session/session.js';
import { agreedLink, RecordingSink } from '../helpers/session-sink.js';

/** A sink that acknowledges nothing: each message sent stays in flight. */
class FakeSink extends RecordingSink {}

function message(payload: string): Message {
  return {
    topic: 't',
    payload: Buffer.from(payload),
    qos: 1,
    retain: false,
    properties: undefined,
    publisherId: 'p',
    receivedAt: 0,
  };
}

void describe('Session maxQueuedBytes', () => {
  void it('refuses the newest message that would take the queue past its bytes, and counts it', () => {
    const totals = emptyDropTally();
    const session = new Session(
      's',
      60,
      { maxInflightMessages: 1, maxQueuedMessages: 100, maxQueuedBytes: 10 },
      totals,
    );
    session.deliver(delivery(message('aaaa'), 1, false, undefined));
    session.deliver(delivery(message('bbbb'), 1, false, undefined));
    session.deliver(delivery(message('ccc'), 1, false, undefined));
    assert.equal(session.queuedCount, 2);
    assert.equal(session.queuedBytes, 8);
    assert.equal(session.dropped['queue-bytes-full'], 1);
    assert.equal(totals['queue-bytes-full'], 1);
    // Two bytes are left: a message that fits is still taken.
    session.deliver(delivery(message('dd'), 1, false, undefined));
    assert.equal(session.queuedBytes, 10);
    assert.equal(session.readiness(1), Readiness.Dropped);
  });

  void it('gives bytes back as messages leave the queue', () => {
    const session = new Session('s', 60, { maxInflightMessages: 1, maxQueuedMessages: 100, maxQueuedBytes: 10 });
    for (const p of ['aaaa', 'bbbb', 'cc']) session.deliver(delivery(message(p), 1, false, undefined));
    const sink = new FakeSink();
    session.attach(sink, agreedLink());
    // One goes in flight (window 1): its bytes leave the queue.
    assert.deepEqual(sink.sent, ['aaaa']);
    assert.equal(session.queuedBytes, 6);
    assert.notEqual(session.onPuback(1), undefined);
    assert.deepEqual(sink.sent, ['aaaa', 'bbbb']);
    assert.equal(session.queuedBytes, 2);
    session.clearMessages();
    assert.equal(session.queuedBytes, 0);
  });

  void it('keeps only the bytes of the messages it keeps when it releases shared deliveries', () => {
    const session = new Session('s', 60, { maxInflightMessages: 1, maxQueuedMessages: 100, maxQueuedBytes: 100 });
    session.deliver(delivery(message('plain'), 1, false, undefined));
    session.deliver(delivery(message('shared'), 1, false, undefined, '$share/g/t'));
    assert.equal(session.queuedBytes, 11);
    assert.equal(session.releaseSharedDeliveries().length, 1);
    assert.equal(session.queuedBytes, 5);
  });

  void it('has no byte limit when none is given', () => {
    const session = new Session('s', 60, { maxInflightMessages: 1, maxQueuedMessages: 100 });
    for (let i = 0; i < 50; i++) session.deliver(delivery(message('x'.repeat(1000)), 1, false, undefined));
    assert.equal(session.queuedBytes, 50_000);
    assert.equal(session.dropped['queue-bytes-full'], 0);
  });
});
