// The session core holds a QoS 2 PUBLISH and PUBREL of a journaled session until its journal says the
// state is durable (afterDurable), and what it writes after them waits behind them, in order. This is
// what makes QoS 2 exactly once across a broker crash (test/persistence/exactly-once.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { QoS } from '../../src/protocol/index.js';
import { delivery, type Delivery, type Message } from '../../src/session/message.js';
import { Session } from '../../src/session/session.js';
import type { JournaledSession, SessionJournal } from '../../src/session/types.js';
import { agreedLink, RecordingSink } from '../helpers/session-sink.js';

function message(payload: string, qos: QoS): Message {
  return {
    topic: 't',
    payload: Buffer.from(payload),
    qos,
    retain: false,
    properties: undefined,
    publisherId: 'p',
    receivedAt: 0,
  };
}

/** A journal whose commits the test runs by hand. */
class ManualJournal implements SessionJournal {
  private waiting: (() => void)[] = [];
  added(_s: JournaledSession, _d: Delivery, _packetId: number): void {}
  published(_s: JournaledSession, _d: Delivery, _packetId: number): void {}
  released(_s: JournaledSession, _d: Delivery, _packetId: number): void {}
  removed(_s: JournaledSession, _d: Delivery): void {}
  qos2Received(_s: JournaledSession, _packetId: number): void {}
  qos2Released(_s: JournaledSession, _packetId: number): void {}
  afterDurable(fn: () => void): void {
    this.waiting.push(fn);
  }
  /** Everything reported so far is now durable. */
  commit(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const fn of waiting) fn();
  }
}

function journaled(): { s: Session; journal: ManualJournal; sink: RecordingSink } {
  const s = new Session('s', 60, { maxInflightMessages: 10, maxQueuedMessages: 100 });
  const journal = new ManualJournal();
  s.journal = journal;
  const sink = new RecordingSink(5);
  s.attach(sink, agreedLink(5, { outgoingTopicAliasMaximum: 5 }));
  return { s, journal, sink };
}

void describe('session core: QoS 2 waits for the journal', () => {
  void it('[MQTT-4.3.3-1] a QoS 2 PUBLISH leaves only once durable, and a QoS 0 and QoS 1 sent after it wait behind it, in order', () => {
    const { journal, sink, s } = journaled();
    s.deliver(delivery(message('two', 2), 2, false, undefined));
    s.deliver(delivery(message('zero', 0), 0, false, undefined));
    s.deliver(delivery(message('one', 1), 1, false, undefined));
    assert.deepEqual(sink.packets, []);
    journal.commit();
    assert.deepEqual(
      sink.publishes.map((p) => [p.payload.toString(), p.qos]),
      [
        ['two', 2],
        ['zero', 0],
        ['one', 1],
      ],
    );
    // The alias set up by the first PUBLISH is used by the later ones: the order on the wire is kept.
    assert.equal(sink.publishes[0]!.topic, 't');
    assert.equal(sink.publishes[1]!.topic, '');
  });

  void it('[MQTT-4.3.3-1] a PUBREL leaves only once the PUBREC it answers is durable', () => {
    const { journal, sink, s } = journaled();
    s.deliver(delivery(message('two', 2), 2, false, undefined));
    journal.commit();
    const packetId = sink.publishes[0]!.packetId;
    s.onPubrec(packetId, false);
    assert.equal(sink.packets.filter((p) => p.type === 'pubrel').length, 0);
    journal.commit();
    assert.deepEqual(
      sink.packets.filter((p) => p.type === 'pubrel').map((p) => p.packetId),
      [packetId],
    );
  });

  void it('a held PUBLISH whose connection closed is not written to it; the next connection gets it with DUP once durable', () => {
    const { journal, sink, s } = journaled();
    s.deliver(delivery(message('two', 2), 2, false, undefined));
    s.detach(sink);
    const next = new RecordingSink(5);
    s.attach(next, agreedLink(5));
    journal.commit();
    assert.deepEqual(sink.packets, []);
    assert.deepEqual(
      next.publishes.map((p) => [p.payload.toString(), p.dup]),
      [['two', true]],
    );
  });

  void it('QoS 1 is never held, and nothing is without a journal', () => {
    const { sink, s } = journaled();
    s.deliver(delivery(message('one', 1), 1, false, undefined));
    assert.equal(sink.publishes.length, 1);
    const bare = new Session('b', 60, { maxInflightMessages: 10, maxQueuedMessages: 100 });
    const bareSink = new RecordingSink(5);
    bare.attach(bareSink, agreedLink(5));
    bare.deliver(delivery(message('two', 2), 2, false, undefined));
    assert.equal(bareSink.publishes.length, 1);
  });
});
