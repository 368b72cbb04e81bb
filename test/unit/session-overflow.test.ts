// Session: the overflow (the broker's spool, src/broker/spool.ts, behind the SessionOverflow seam).
// Past the memory queue, and behind anything already spilled, QoS 1/2 deliveries go to the overflow;
// refilled ones are sent in order as the window opens; shared deliveries spill too; clearing the
// session clears its overflow. Here the overflow is an array with the spool's contract (asynchronous
// hand-back through `refill`); test/broker/36-spool.test.ts runs the real spool over sockets.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { delivery, type Delivery, type Message } from '../../src/session/message.js';
import {
  Readiness,
  Session,
  type DropReason,
  type OverflowSession,
  type SessionOverflow,
} from '../../src/session/session.js';
import { agreedLink, RecordingSink } from '../helpers/session-sink.js';

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

/** Holds up to `capacity` deliveries and hands them back when asked, a turn later. */
class ArrayOverflow implements SessionOverflow {
  readonly held: Delivery[] = [];
  drains = 0;
  cleared = 0;
  constructor(private readonly capacity: number) {}
  holds(): boolean {
    return this.held.length > 0;
  }
  spill(_session: OverflowSession, d: Delivery): DropReason | undefined {
    if (this.held.length >= this.capacity) return 'spool-session-full';
    this.held.push(d);
    return undefined;
  }
  drain(session: OverflowSession, room: number): void {
    if (this.held.length === 0) return;
    this.drains++;
    const batch = this.held.splice(0, room);
    setImmediate(() => session.refill(batch));
  }
  clear(): void {
    this.cleared++;
    this.held.length = 0;
  }
  bytes(): number {
    let bytes = 0;
    for (const d of this.held) bytes += d.message.payload.length;
    return bytes;
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

void describe('Session overflow', () => {
  void it('spills past the memory queue and behind what it holds, and sends everything in order as acks come', async () => {
    const overflow = new ArrayOverflow(100);
    const session = new Session('s', 60, { maxInflightMessages: 2, maxQueuedMessages: 4 });
    session.overflow = overflow;
    for (let i = 0; i < 20; i++) session.deliver(delivery(message(`m${i}`), 1, false, undefined));
    assert.equal(session.queuedCount, 4);
    assert.equal(overflow.held.length, 16);
    const sink = new RecordingSink();
    session.attach(sink, agreedLink());
    // Acknowledge each PUBLISH as it comes, a turn at a time, until all 20 went out.
    let acked = 0;
    for (let rounds = 0; rounds < 200 && sink.sent.length < 20; rounds++) {
      const publishes = sink.publishes;
      while (acked < publishes.length) session.onPuback(publishes[acked++]!.packetId);
      await turn();
    }
    assert.deepEqual(
      sink.sent,
      Array.from({ length: 20 }, (_, i) => `m${i}`),
    );
    assert.ok(overflow.drains > 1, 'read back in batches');
  });

  void it('counts what the overflow refuses; clearing clears the overflow', () => {
    const overflow = new ArrayOverflow(1);
    const session = new Session('s', 60, { maxInflightMessages: 1, maxQueuedMessages: 1 });
    session.overflow = overflow;
    session.deliver(delivery(message('a'), 1, false, undefined));
    session.deliver(delivery(message('b'), 1, false, undefined));
    session.deliver(delivery(message('c'), 1, false, undefined));
    assert.equal(session.dropped['spool-session-full'], 1);
    session.clearMessages();
    assert.equal(overflow.cleared, 1);
    assert.equal(overflow.held.length, 0);
  });

  void it('a full memory queue makes the session Spilled (not Dropped) for shared groups, and shared deliveries spill in order with the rest', () => {
    const overflow = new ArrayOverflow(100);
    const session = new Session('s', 60, { maxInflightMessages: 1, maxQueuedMessages: 1 });
    assert.equal(session.readiness(1), Readiness.QueuedOffline);
    session.deliver(delivery(message('q'), 1, false, undefined));
    assert.equal(session.readiness(1), Readiness.Dropped, 'full, and no overflow');
    session.overflow = overflow;
    assert.equal(session.readiness(1), Readiness.Spilled);
    assert.equal(session.readiness(0), Readiness.Dropped, 'QoS 0 never spills');
    session.deliver(delivery(message('s1'), 1, false, undefined, '$share/g/t'));
    session.deliver(delivery(message('n1'), 1, false, undefined));
    session.deliver(delivery(message('s2'), 2, false, undefined, '$share/g/t'));
    assert.deepEqual(
      overflow.held.map((d) => [d.message.payload.toString(), d.sharedFilter]),
      [
        ['s1', '$share/g/t'],
        ['n1', undefined],
        ['s2', '$share/g/t'],
      ],
    );
    assert.equal(session.spilledBytes, 6);
    assert.equal(session.dropped['queue-full'], 0);
  });
});
