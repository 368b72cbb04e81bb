// SharedGroup: how a shared subscription group picks the member for each message, on real sessions
// attached to fake sinks (no sockets): turn taking, passing over members that cannot send at once,
// the fallback order, leaving, and the least-inflight strategy. Black-box tests are in
// test/broker/20-shared-subscriptions.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SharedGroup, type SharedSubscriptionStrategy } from '../../src/broker/shared.js';
import { delivery, type Message } from '../../src/session/message.js';
import { Session, type SubscriptionOptions } from '../../src/session/session.js';
import { agreedLink, RecordingSink } from '../helpers/session-sink.js';
import type { QoS } from '../../src/protocol/index.js';

/** A sink that is writable unless told otherwise. */
class FakeSink extends RecordingSink {}

const message: Message = {
  topic: 't',
  payload: Buffer.from('x'),
  qos: 1,
  retain: false,
  properties: undefined,
  publisherId: 'p',
  receivedAt: 0,
};

function options(qos: QoS = 1): SubscriptionOptions {
  return { qos, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionIdentifier: undefined };
}

/** A group of online members `a`, `b`, ... with room for `inflight` unacknowledged messages each. */
function group(names: string[], strategy: SharedSubscriptionStrategy = 'round-robin', inflight = 10) {
  const shared = new SharedGroup('g', 't', strategy);
  const sessions = new Map<string, { session: Session; sink: FakeSink }>();
  for (const name of names) {
    const session = new Session(name, 0, { maxInflightMessages: inflight, maxQueuedMessages: 2 });
    const sink = new FakeSink();
    session.attach(sink, agreedLink());
    sessions.set(name, { session, sink });
    shared.add({ session, options: options() });
  }
  const member = (name: string) => sessions.get(name)!;
  /** Picks a member for a QoS `qos` message, delivers it there, and names it. */
  const next = (qos: QoS = 1): string => {
    const chosen = shared.pick(qos)!;
    chosen.session.deliver(delivery(message, qos, false, undefined, shared.filter));
    return chosen.session.clientId;
  };
  return { shared, member, next };
}

void describe('SharedGroup', () => {
  void it('has the full $share filter and no member to pick when empty', () => {
    const shared = new SharedGroup('g', 'a/+', 'round-robin');
    assert.equal(shared.filter, '$share/g/a/+');
    assert.equal(shared.pick(1), undefined);
  });

  void it('takes turns among members that can send at once', () => {
    const { next } = group(['a', 'b', 'c']);
    assert.deepEqual([next(), next(), next(), next(), next()], ['a', 'b', 'c', 'a', 'b']);
  });

  void it('passes over slow readers, offline members and full windows while another can send at once', () => {
    const { member, next } = group(['a', 'b', 'c'], 'round-robin', 1);
    member('a').sink.canWrite = false;
    member('b').session.detach(member('b').sink);
    assert.equal(next(), 'c');
    // c's window (1) is now full: no member can send at once, so the next online member in turn queues it.
    assert.equal(next(), 'a');
  });

  void it('falls back to an online member with queue room, then an offline one, then the one whose turn it is', () => {
    const { member, next } = group(['a', 'b'], 'round-robin', 1);
    member('a').session.detach(member('a').sink);
    assert.equal(next(), 'b'); // b's window is now full
    assert.equal(next(), 'b', 'online with queue room beats offline');
    assert.equal(next(), 'b');
    assert.equal(next(), 'a', "b's queue (2) is full: the offline member queues it");
    assert.equal(next(), 'a');
    // Every queue is full: the member whose turn it is gets it, and its session drops and counts it.
    const chosen = next();
    assert.ok(chosen === 'a' || chosen === 'b');
    assert.equal(member(chosen).session.dropped['queue-full'], 1);
  });

  void it('QoS 0 goes only to a member that can write it, unless none can', () => {
    const { member, next } = group(['a', 'b']);
    member('a').sink.canWrite = false;
    assert.deepEqual([next(0), next(0)], ['b', 'b']);
  });

  void it('keeps the turn order when a member leaves, and a member joins once however often it subscribes', () => {
    const { shared, member, next } = group(['a', 'b', 'c']);
    assert.equal(next(), 'a');
    shared.add({ session: member('a').session, options: options(2) });
    assert.equal(shared.size, 3);
    assert.equal(shared.remove('a'), true);
    assert.equal(shared.remove('a'), false);
    assert.deepEqual([next(), next(), next()], ['b', 'c', 'b']);
  });

  void it("'least-inflight' picks the member with the fewest messages in flight and queued, ties in turn", () => {
    const { member, next } = group(['a', 'b', 'c'], 'least-inflight');
    assert.deepEqual([next(), next(), next()], ['a', 'b', 'c']);
    member('b').session.onPuback(1);
    assert.equal(next(), 'b');
    member('a').session.onPuback(1);
    member('c').session.onPuback(1);
    assert.deepEqual([next(), next()], ['c', 'a'], 'a and c tie at 0; c is next in turn');
  });
});
