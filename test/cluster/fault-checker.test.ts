// The checker of the fault-injection run on hand-made histories: it passes a clean history and a
// QoS 1 redelivery, and it finds each kind of fault (loss, QoS 2 duplicate, reordering on one
// connection and across connections, phantom, corrupt and wrong-QoS deliveries); it leaves out a
// subscriber whose session was lost, and no order is asked of an unacknowledged message.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { check } from './faults/checker.js';
import type { FaultEvent, FaultQoS } from './faults/history.js';

/** A tiny history builder: one clock tick per event. */
class Script {
  readonly events: FaultEvent[] = [];
  private t = 0;
  subscribe(subscriber: string, qos: FaultQoS): this {
    this.events.push({
      type: 'connected',
      t: ++this.t,
      client: subscriber,
      node: 'n1',
      conn: 1,
      sessionPresent: false,
    });
    this.events.push({ type: 'subscribed', t: ++this.t, subscriber, qos });
    return this;
  }
  reconnect(subscriber: string, sessionPresent: boolean, conn = 2): this {
    this.events.push({ type: 'connected', t: ++this.t, client: subscriber, node: 'n1', conn, sessionPresent });
    return this;
  }
  send(seq: number, qos: FaultQoS = 1, conn = 1, publisher = 'p'): this {
    this.events.push({ type: 'send', t: ++this.t, publisher, seq, qos, conn, node: 'n1' });
    return this;
  }
  ack(seq: number, publisher = 'p'): this {
    this.events.push({ type: 'ack', t: ++this.t, publisher, seq });
    return this;
  }
  deliver(
    subscriber: string,
    seq: number,
    qos: 0 | 1 | 2 = 1,
    options: { dup?: boolean; intact?: boolean } = {},
  ): this {
    this.events.push({
      type: 'deliver',
      t: ++this.t,
      subscriber,
      publisher: 'p',
      seq,
      qos,
      dup: options.dup ?? false,
      conn: 1,
      intact: options.intact ?? true,
    });
    return this;
  }
}

const kinds = (events: FaultEvent[]): string[] => check(events).violations.map((v) => `${v.kind} ${v.seq}`);

void describe('fault-injection checker', () => {
  void it('passes a history where every acknowledged message arrives once, in order', () => {
    const s = new Script().subscribe('s', 2).send(1, 2).send(2, 2).ack(1).ack(2).deliver('s', 1, 2).deliver('s', 2, 2);
    const result = check(s.events);
    assert.deepEqual(result.violations, []);
    assert.equal(result.stats.acknowledged, 2);
    assert.equal(result.stats.subscribersChecked, 1);
  });

  void it('allows a QoS 1 redelivery that goes back, and counts it', () => {
    const s = new Script().subscribe('s', 1).send(1).send(2).ack(1).ack(2);
    s.deliver('s', 1).deliver('s', 2).reconnect('s', true).deliver('s', 1, 1, { dup: true }).deliver('s', 2, 1);
    const result = check(s.events);
    assert.deepEqual(result.violations, []);
    assert.equal(result.stats.repeats, 2);
    assert.equal(result.stats.dupFlagged, 1);
  });

  void it('finds an acknowledged message never delivered, but not an unacknowledged one', () => {
    const s = new Script().subscribe('s', 1).send(1).send(2).send(3).ack(1).ack(3).deliver('s', 1);
    assert.deepEqual(kinds(s.events), ['lost 3']);
  });

  void it('finds a QoS 2 message delivered twice, acknowledged or not', () => {
    const s = new Script().subscribe('s', 2).send(1, 2).send(2, 2).ack(1);
    s.deliver('s', 1, 2).deliver('s', 2, 2).deliver('s', 2, 2);
    assert.deepEqual(kinds(s.events), ['duplicate 2']);
  });

  void it('treats a QoS 2 message to a QoS 1 subscription as QoS 1: a repeat is allowed', () => {
    const s = new Script().subscribe('s', 1).send(1, 2).ack(1).deliver('s', 1, 1).deliver('s', 1, 1);
    assert.deepEqual(kinds(s.events), []);
  });

  void it('finds messages of one publisher connection first-delivered out of order', () => {
    const s = new Script().subscribe('s', 1).send(1).send(2).deliver('s', 2).deliver('s', 1);
    assert.deepEqual(kinds(s.events), ['order 1']);
  });

  void it('finds a message acknowledged before a later one was sent (on another connection) delivered after it', () => {
    const s = new Script().subscribe('s', 1).send(1, 1, 1).ack(1).send(2, 1, 2).ack(2);
    s.deliver('s', 2).deliver('s', 1);
    assert.deepEqual(kinds(s.events), ['order 1']);
  });

  void it('asks no order of an unacknowledged message against one sent on a later connection', () => {
    const s = new Script().subscribe('s', 1).send(1, 1, 1).send(2, 1, 2).ack(2);
    s.deliver('s', 2).deliver('s', 1);
    assert.deepEqual(kinds(s.events), []);
  });

  void it('finds phantom, corrupt and wrong-QoS deliveries', () => {
    const s = new Script().subscribe('s', 2).send(1, 1).ack(1).send(2, 2).ack(2);
    s.deliver('s', 1, 2).deliver('s', 2, 2, { intact: false }).deliver('s', 9, 2);
    assert.deepEqual(kinds(s.events), ['qos 1', 'corrupt 2', 'phantom 9']);
  });

  void it('leaves out a subscriber whose session was not present on reconnection, and names it (not a publisher)', () => {
    const s = new Script().subscribe('s', 1).subscribe('t', 1).send(1).ack(1).reconnect('s', false).deliver('t', 1);
    s.reconnect('p', false, 1).reconnect('p', false, 2);
    const result = check(s.events);
    assert.deepEqual(result.violations, []);
    assert.deepEqual(result.stats.lostSessions, ['s']);
    assert.equal(result.stats.subscribersChecked, 1);
  });

  void it('asks nothing of a message sent before the subscription was granted', () => {
    const s = new Script().send(1).ack(1).subscribe('s', 1);
    assert.deepEqual(kinds(s.events), []);
  });
});
