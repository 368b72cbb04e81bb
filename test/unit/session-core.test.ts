// The sans-I/O session core (Session and Link) driven with packets and a fake clock, no sockets:
// every QoS flow in both directions, Receive Maximum both ways, topic aliases both ways, Maximum
// Packet Size, message expiry, keep-alive deadlines, and restore. Black-box tests of the same rules
// over sockets are in test/broker/.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FennecError } from '../../src/errors/index.js';
import { ReasonCode, type PublishPacket, type QoS } from '../../src/protocol/index.js';
import { delivery, publishedAfter, type Delivery, type Message } from '../../src/session/message.js';
import { CompletedOrigins } from '../../src/session/completed-origins.js';
import { Session } from '../../src/session/session.js';
import type { JournaledSession, SessionJournal } from '../../src/session/types.js';
import { agreedLink, FakeClock, RecordingSink } from '../helpers/session-sink.js';

function message(payload: string, qos: QoS = 1, topic = 't'): Message {
  return {
    topic,
    payload: Buffer.from(payload),
    qos,
    retain: false,
    properties: undefined,
    publisherId: 'p',
    receivedAt: 0,
  };
}

function session(
  limits: Partial<{ maxInflightMessages: number; maxQueuedMessages: number; maxQueuedBytes: number }> = {},
  clock = new FakeClock(),
): Session {
  return new Session('s', 60, { maxInflightMessages: 10, maxQueuedMessages: 100, ...limits }, undefined, clock.now);
}

function publish(topic: string, qos: QoS, packetId: number, properties?: PublishPacket['properties']): PublishPacket {
  return { type: 'publish', topic, payload: Buffer.from('x'), qos, retain: false, dup: false, packetId, properties };
}

/** The reason code of the ProtocolError `fn` throws. */
function reasonOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof FennecError, 'a FennecError');
    return err.reasonCode;
  }
  assert.fail('expected a protocol error');
}

/** A journal that records its calls as text. */
class RecordingJournal implements SessionJournal {
  readonly calls: string[] = [];
  added(_s: JournaledSession, d: Delivery, packetId: number): void {
    this.calls.push(`added ${d.message.payload.toString()} ${packetId}`);
  }
  published(_s: JournaledSession, d: Delivery, packetId: number): void {
    this.calls.push(`published ${d.message.payload.toString()} ${packetId}`);
  }
  released(_s: JournaledSession, d: Delivery, packetId: number): void {
    this.calls.push(`released ${d.message.payload.toString()} ${packetId}`);
  }
  removed(_s: JournaledSession, d: Delivery): void {
    this.calls.push(`removed ${d.message.payload.toString()}`);
  }
  qos2Received(_s: JournaledSession, packetId: number): void {
    this.calls.push(`qos2-received ${packetId}`);
  }
  qos2Released(_s: JournaledSession, packetId: number): void {
    this.calls.push(`qos2-released ${packetId}`);
  }
}

void describe('session core: outgoing QoS flows', () => {
  void it('QoS 1: PUBLISH with a new packet id, ended by PUBACK, which frees the window for the queue [MQTT-4.3.2-1]', () => {
    const s = session({ maxInflightMessages: 1 });
    const sink = new RecordingSink();
    s.attach(sink, agreedLink());
    s.deliver(delivery(message('a'), 1, false, undefined));
    s.deliver(delivery(message('b'), 1, false, undefined));
    assert.deepEqual(sink.sent, ['a']);
    assert.equal(sink.publishes[0]!.packetId, 1);
    assert.equal(s.queuedCount, 1);
    assert.equal(s.onPuback(2), undefined, 'an unknown id is not an ack');
    assert.notEqual(s.onPuback(1), undefined);
    assert.deepEqual(sink.sent, ['a', 'b']);
    assert.equal(sink.publishes[1]!.packetId, 2);
    assert.equal(s.inflightCount, 1);
  });

  void it('QoS 2: PUBLISH, PUBREC answered with PUBREL, ended by PUBCOMP [MQTT-4.3.3-1]', () => {
    const s = session();
    const sink = new RecordingSink();
    s.attach(sink, agreedLink());
    s.deliver(delivery(message('a', 2), 2, false, undefined));
    assert.equal(s.onPubcomp(1), undefined, 'PUBCOMP before PUBREC ends nothing');
    assert.notEqual(s.onPubrec(1, false), undefined);
    assert.deepEqual(
      sink.packets.map((p) => p.type),
      ['publish', 'pubrel'],
    );
    assert.equal(s.onPuback(1), undefined, 'a QoS 2 flow is not ended by PUBACK');
    assert.notEqual(s.onPubcomp(1), undefined);
    assert.equal(s.inflightCount, 0);
  });

  void it('QoS 2: a PUBREC with a failure code ends the flow without PUBREL (5.0) [MQTT-4.3.3-4]', () => {
    const s = session();
    const sink = new RecordingSink(5);
    s.attach(sink, agreedLink(5));
    s.deliver(delivery(message('a', 2), 2, false, undefined));
    assert.notEqual(s.onPubrec(1, true), undefined);
    assert.deepEqual(
      sink.packets.map((p) => p.type),
      ['publish'],
    );
    assert.equal(s.inflightCount, 0);
  });

  void it("caps the in-flight window at the peer's Receive Maximum (5.0) [MQTT-3.3.4-9]", () => {
    const s = session({ maxInflightMessages: 10 });
    const sink = new RecordingSink(5);
    s.attach(sink, agreedLink(5, { peerReceiveMaximum: 2 }));
    for (const p of ['a', 'b', 'c']) s.deliver(delivery(message(p), 1, false, undefined));
    assert.deepEqual(sink.sent, ['a', 'b']);
    assert.notEqual(s.onPuback(1), undefined);
    assert.deepEqual(sink.sent, ['a', 'b', 'c']);
  });

  void it('sends unacknowledged messages again with DUP and the same id, and PUBREL again, on a new connection [MQTT-4.4.0-1]', () => {
    const s = session();
    const first = new RecordingSink();
    s.attach(first, agreedLink());
    s.deliver(delivery(message('one'), 1, false, undefined));
    s.deliver(delivery(message('two', 2), 2, false, undefined));
    s.onPubrec(2, false);
    s.detach(first);
    s.deliver(delivery(message('three'), 1, false, undefined));
    const second = new RecordingSink();
    s.attach(second, agreedLink());
    const [again, pubrel, fresh] = second.packets;
    assert.equal(again?.type, 'publish');
    assert.ok(again?.type === 'publish' && again.dup && again.packetId === 1);
    assert.ok(pubrel?.type === 'pubrel' && pubrel.packetId === 2);
    assert.ok(fresh?.type === 'publish' && !fresh.dup && fresh.packetId === 3);
  });

  void it("discards a PUBLISH larger than the peer's Maximum Packet Size, as if delivered, and counts it (5.0) [MQTT-3.1.2-25]", () => {
    const s = session();
    const sink = new RecordingSink(5);
    s.attach(sink, agreedLink(5, { peerMaximumPacketSize: 20 }));
    s.deliver(delivery(message('x'.repeat(50)), 1, false, undefined));
    s.deliver(delivery(message('small'), 1, false, undefined));
    assert.deepEqual(sink.sent, ['small']);
    assert.equal(s.dropped['too-large'], 1);
    assert.equal(s.inflightCount, 1);
  });

  void it('drops a queued message whose expiry passed while it waited, and forwards the rest with what is left of their interval (5.0) [MQTT-3.3.2-5] [MQTT-3.3.2-6]', () => {
    const clock = new FakeClock();
    const s = session({}, clock);
    const short: Message = { ...message('short'), expiresAt: clock.time + 1_000 };
    const long: Message = { ...message('long'), expiresAt: clock.time + 10_000 };
    s.deliver(delivery(short, 1, false, undefined));
    s.deliver(delivery(long, 1, false, undefined));
    clock.advance(2_500);
    const sink = new RecordingSink(5);
    s.attach(sink, agreedLink(5, {}, clock));
    assert.deepEqual(sink.sent, ['long']);
    assert.equal(sink.publishes[0]!.properties?.messageExpiryInterval, 8);
    assert.equal(s.dropped.expired, 1);
  });

  void it('uses outgoing topic aliases up to the agreed maximum: topic and alias first, then the alias alone (5.0) [MQTT-3.3.2-11]', () => {
    const s = session();
    const sink = new RecordingSink(5);
    s.attach(sink, agreedLink(5, { outgoingTopicAliasMaximum: 1 }));
    s.deliver(delivery(message('1', 0, 'a'), 0, false, undefined));
    s.deliver(delivery(message('2', 0, 'a'), 0, false, undefined));
    s.deliver(delivery(message('3', 0, 'b'), 0, false, undefined));
    const [first, second, third] = sink.publishes;
    assert.deepEqual([first?.topic, first?.properties?.topicAlias], ['a', 1]);
    assert.deepEqual([second?.topic, second?.properties?.topicAlias], ['', 1]);
    assert.deepEqual([third?.topic, third?.properties?.topicAlias], ['b', undefined]);
  });

  void it('with replaceOutgoingAliases, gives a new topic the alias of the least recently used one once all are taken (5.0)', () => {
    const s = session();
    const sink = new RecordingSink(5);
    s.attach(sink, agreedLink(5, { outgoingTopicAliasMaximum: 2, replaceOutgoingAliases: true }));
    for (const [i, topic] of ['a', 'b', 'a', 'c', 'b'].entries()) {
      s.deliver(delivery(message(String(i), 0, topic), 0, false, undefined));
    }
    assert.deepEqual(
      sink.publishes.map((p) => [p.topic, p.properties?.topicAlias]),
      [
        ['a', 1],
        ['b', 2],
        ['', 1],
        // b was used least recently: c takes alias 2, then b takes alias 1 from a
        ['c', 2],
        ['b', 1],
      ],
    );
  });

  void it('sends no topic alias to a peer that allowed none (5.0) [MQTT-3.1.2-26]', () => {
    const s = session();
    const sink = new RecordingSink(5);
    s.attach(sink, agreedLink(5, { outgoingTopicAliasMaximum: 0 }));
    s.deliver(delivery(message('1', 0, 'a'), 0, false, undefined));
    s.deliver(delivery(message('2', 0, 'a'), 0, false, undefined));
    assert.deepEqual(
      sink.publishes.map((p) => [p.topic, p.properties?.topicAlias]),
      [
        ['a', undefined],
        ['a', undefined],
      ],
    );
  });
});

void describe('session core: incoming QoS flows', () => {
  void it('QoS 2: a re-sent PUBLISH whose id awaits PUBREL is a duplicate, not routed again, until PUBREL releases it [MQTT-4.3.3-9]', () => {
    const s = session();
    const link = agreedLink(5);
    const first = link.receivePublish(publish('t', 2, 7), s);
    assert.notEqual(first, 'duplicate');
    s.holdQoS2(7);
    link.holdQoS2(7);
    assert.equal(link.receivePublish(publish('t', 2, 7), s), 'duplicate');
    assert.ok(s.releaseQoS2(7));
    link.releaseQoS2(7);
    assert.equal(s.releaseQoS2(7), false, 'a second PUBREL finds nothing (PUBCOMP 0x92)');
    assert.notEqual(link.receivePublish(publish('t', 2, 7), s), 'duplicate', 'the id is free again');
  });

  void it('journals incoming QoS 2 ids so that a restart does not route a re-send twice', () => {
    const s = session();
    const journal = new RecordingJournal();
    s.journal = journal;
    s.holdQoS2(3);
    s.releaseQoS2(3);
    s.releaseQoS2(3);
    assert.deepEqual(journal.calls, ['qos2-received 3', 'qos2-released 3']);
  });

  void it('one QoS 1/2 PUBLISH over the announced Receive Maximum is a protocol error 0x93 (5.0) [MQTT-3.3.4-7]', () => {
    const s = session();
    const link = agreedLink(5, { receiveMaximum: 2 });
    for (const id of [1, 2]) {
      link.receivePublish(publish('t', 2, id), s);
      s.holdQoS2(id);
      link.holdQoS2(id);
    }
    assert.equal(
      reasonOf(() => link.receivePublish(publish('t', 1, 3), s)),
      ReasonCode.ReceiveMaximumExceeded,
    );
    link.releaseQoS2(1);
    assert.equal(link.receivePublish(publish('t', 1, 3), s) === 'duplicate', false);
    assert.equal(link.receivePublish(publish('t', 0, 0), s) === 'duplicate', false, 'QoS 0 never counts');
  });

  void it('3.1.1 has no Receive Maximum: held QoS 2 flows do not limit the next PUBLISH', () => {
    const s = session();
    const link = agreedLink(4, { receiveMaximum: 1 });
    link.holdQoS2(1);
    link.holdQoS2(2);
    assert.notEqual(link.receivePublish(publish('t', 2, 3), s), 'duplicate');
  });

  void it('resolves incoming topic aliases, and does not forward them (5.0) [MQTT-3.3.2-12]', () => {
    const s = session();
    const link = agreedLink(5, { topicAliasMaximum: 2 });
    const set = link.receivePublish(publish('a/b', 0, 0, { topicAlias: 2 }), s);
    assert.ok(set !== 'duplicate');
    assert.equal(set.topic, 'a/b');
    assert.equal(set.properties?.topicAlias, undefined);
    const used = link.receivePublish(publish('', 0, 0, { topicAlias: 2 }), s);
    assert.ok(used !== 'duplicate');
    assert.equal(used.topic, 'a/b');
    assert.equal(link.incomingAliasCount, 1);
  });

  void it('an alias above the announced Topic Alias Maximum is 0x94, one never set a protocol error (5.0) [MQTT-3.3.2-9]', () => {
    const s = session();
    const link = agreedLink(5, { topicAliasMaximum: 2 });
    assert.equal(
      reasonOf(() => link.receivePublish(publish('t', 0, 0, { topicAlias: 3 }), s)),
      ReasonCode.TopicAliasInvalid,
    );
    assert.equal(
      reasonOf(() => link.receivePublish(publish('', 0, 0, { topicAlias: 1 }), s)),
      ReasonCode.ProtocolError,
    );
  });

  void it('a Response Topic with wildcards is a protocol error (5.0) [MQTT-3.3.2-14]', () => {
    const s = session();
    const link = agreedLink(5);
    assert.equal(
      reasonOf(() => link.receivePublish(publish('t', 0, 0, { responseTopic: 'r/#' }), s)),
      ReasonCode.ProtocolError,
    );
  });
});

void describe('session core: keep-alive on an injected clock', () => {
  void it('gives the peer 1.5 times its Keep Alive after the last packet received [MQTT-3.1.2-24]', () => {
    const clock = new FakeClock();
    const link = agreedLink(4, { keepAlive: 10 }, clock);
    link.received();
    assert.equal(link.keepAliveRemaining(), 15_000);
    clock.advance(14_999);
    assert.equal(link.keepAliveRemaining(), 1);
    link.received();
    assert.equal(link.keepAliveRemaining(), 15_000, 'a packet received starts the period again');
    clock.advance(15_000);
    assert.ok(link.keepAliveRemaining()! <= 0, 'silent for 1.5 x Keep Alive: the peer is gone');
  });

  void it('has no deadline when Keep Alive is 0', () => {
    const clock = new FakeClock();
    const link = agreedLink(4, { keepAlive: 0 }, clock);
    clock.advance(1e9);
    assert.equal(link.keepAliveRemaining(), undefined);
  });
});

void describe('session core: restore', () => {
  void it('counts the bytes of restored queued messages, so that maxQueuedBytes holds after a restart', () => {
    const s = session({ maxInflightMessages: 1, maxQueuedBytes: 10 });
    s.restore(delivery(message('aaaa'), 1, false, undefined), 0, false);
    s.restore(delivery(message('bbbb'), 1, false, undefined), 0, false);
    assert.equal(s.queuedBytes, 8);
    s.deliver(delivery(message('ccc'), 1, false, undefined));
    assert.equal(s.dropped['queue-bytes-full'], 1);
    const sink = new RecordingSink();
    s.attach(sink, agreedLink());
    s.onPuback(1);
    s.onPuback(2);
    assert.deepEqual(sink.sent, ['aaaa', 'bbbb']);
    assert.equal(s.queuedBytes, 0, 'the count never goes below zero');
  });

  void it('sends restored in-flight messages again with their ids and DUP, and continues the ids after them', () => {
    const s = session();
    const journal = new RecordingJournal();
    s.restore(delivery(message('one'), 1, false, undefined), 41, false);
    s.restore(delivery(message('two', 2), 2, false, undefined), 42, true);
    s.journal = journal;
    const sink = new RecordingSink();
    s.attach(sink, agreedLink());
    s.deliver(delivery(message('three'), 1, false, undefined));
    const [one, two, three] = sink.packets;
    assert.ok(one?.type === 'publish' && one.dup && one.packetId === 41);
    assert.ok(two?.type === 'pubrel' && two.packetId === 42);
    assert.ok(three?.type === 'publish' && !three.dup && three.packetId === 43);
    assert.deepEqual(journal.calls, ['added three 43'], 'restoring writes nothing to the journal');
    assert.notEqual(s.onPubcomp(42), undefined);
  });

  void it('restores incoming QoS 2 ids without journaling them again', () => {
    const s = session();
    const journal = new RecordingJournal();
    s.journal = journal;
    s.restoreQoS2(9);
    assert.equal(agreedLink().receivePublish(publish('t', 2, 9), s), 'duplicate');
    assert.deepEqual(journal.calls, []);
  });
});

void describe('session core: copies of a cluster message (Session.holdsOrigin)', () => {
  function clusterMessage(payload: string, originId: string, qos: QoS): Message {
    return { ...message(payload, qos), originId };
  }

  for (const qos of [1, 2] as const) {
    void it(`${qos === 1 ? '[MQTT-4.3.2-2] (3.1.1) [MQTT-4.3.2-5] (5.0)' : '[MQTT-4.3.3-2] (3.1.1) [MQTT-4.3.3-12] (5.0)'} a QoS ${qos} message the peer completed is still known by its cluster id: a copy is not delivered again`, () => {
      const completed = new CompletedOrigins();
      const s = session();
      s.journal = new RecordingJournal();
      s.completed = completed;
      const sink = new RecordingSink();
      s.attach(sink, agreedLink());
      s.deliver(delivery(clusterMessage('a', 'n1/7/1', qos), qos, false, undefined));
      assert.equal(s.holdsOrigin('n1/7/1'), true, 'in flight');
      if (qos === 1) s.onPuback(1);
      else {
        s.onPubrec(1, false);
        assert.equal(s.holdsOrigin('n1/7/1'), true, 'released, not completed');
        s.onPubcomp(1);
      }
      assert.equal(s.inflightCount, 0);
      assert.equal(s.holdsOrigin('n1/7/1'), true, 'completed');
      assert.equal(s.holdsOrigin('n1/7/2'), false);
      // Another session with the same broker-wide record never had it.
      const other = new Session('other', 60, { maxInflightMessages: 10, maxQueuedMessages: 100 });
      other.completed = completed;
      assert.equal(other.holdsOrigin('n1/7/1'), false);
    });
  }

  void it('a PUBREC with a failure code is not a completion; messages without a cluster id, and sessions not stored, are not noted', () => {
    const completed = new CompletedOrigins();
    const s = session();
    s.journal = new RecordingJournal();
    s.completed = completed;
    s.attach(new RecordingSink(), agreedLink());
    s.deliver(delivery(clusterMessage('a', 'n1/7/1', 2), 2, false, undefined));
    s.deliver(delivery(message('b', 1), 1, false, undefined));
    s.onPubrec(1, true);
    s.onPuback(2);
    assert.equal(s.holdsOrigin('n1/7/1'), false);
    // A session without a store never moves between nodes: nothing to note.
    const clean = session();
    clean.completed = completed;
    clean.attach(new RecordingSink(), agreedLink());
    clean.deliver(delivery(clusterMessage('c', 'n1/7/2', 1), 1, false, undefined));
    clean.onPuback(1);
    assert.equal(completed.size, 0);
  });

  void it('[MQTT-4.6.0-6] a copy that came late is queued before the newer messages of its publishing node still waiting, the journal numbering those anew', () => {
    const s = session();
    const journal = new RecordingJournal();
    s.journal = journal;
    // Offline: everything waits in the queue.
    for (const [payload, id] of [
      ['n1-2', 'n1/7/2'],
      ['n2-5', 'n2/3/5'],
      ['n1-3', 'n1/7/3'],
    ] as const) {
      s.deliver(delivery(clusterMessage(payload, id, 1), 1, false, undefined));
    }
    const late = clusterMessage('n1-1', 'n1/7/1', 1);
    s.deliver(delivery(late, 1, false, undefined));
    journal.calls.length = 0;
    assert.equal(
      s.placeLast(late, (d) => publishedAfter(d.message.originId, 'n1/7/1')),
      true,
    );
    assert.deepEqual(journal.calls, [
      'removed n1-2',
      'removed n2-5',
      'removed n1-3',
      'added n1-2 0',
      'added n2-5 0',
      'added n1-3 0',
    ]);
    // Nothing comes after the newest one; a message not last in the queue is not moved.
    const newest = clusterMessage('n1-4', 'n1/7/4', 1);
    s.deliver(delivery(newest, 1, false, undefined));
    assert.equal(
      s.placeLast(newest, (d) => publishedAfter(d.message.originId, 'n1/7/4')),
      false,
    );
    assert.equal(
      s.placeLast(late, () => true),
      false,
    );
    const sink = new RecordingSink();
    s.attach(sink, agreedLink());
    assert.deepEqual(
      sink.packets.map((p) => (p.type === 'publish' ? p.payload.toString() : p.type)),
      ['n1-1', 'n1-2', 'n2-5', 'n1-3', 'n1-4'],
    );
  });

  void it('publishedAfter compares the sequences of one node and run only', () => {
    assert.equal(publishedAfter('n1/7/10', 'n1/7/9'), true);
    assert.equal(publishedAfter('n1/7/9', 'n1/7/10'), false);
    assert.equal(publishedAfter('n1/7/9', 'n1/7/9'), false);
    assert.equal(publishedAfter('n1/8/10', 'n1/7/9'), false, 'another run of the node');
    assert.equal(publishedAfter('n11/7/10', 'n1/7/9'), false, 'another node');
    assert.equal(publishedAfter('n1/7/9/1', 'n1/7/9'), false, 'not an id of that form');
    assert.equal(publishedAfter(undefined, 'n1/7/9'), false);
  });

  void it('the record keeps the newest pairs up to its capacity, forgetting the oldest first', () => {
    const completed = new CompletedOrigins(2);
    completed.add('s', 'a/1/1');
    completed.add('s', 'a/1/2');
    completed.add('s', 'a/1/2');
    completed.add('s', 'a/1/3');
    assert.equal(completed.size, 2);
    assert.equal(completed.has('s', 'a/1/1'), false);
    assert.equal(completed.has('s', 'a/1/2'), true);
    assert.equal(completed.has('s', 'a/1/3'), true);
    assert.equal(completed.has('t', 'a/1/3'), false);
  });
});
