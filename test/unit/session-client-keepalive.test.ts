// The client role of the sans-I/O core, on a fake clock: when a PINGREQ is due (Keep Alive after
// the last packet sent) and when a missing PINGRESP means a dead link; and acknowledgements that
// name the delivery they complete, so that a client can settle the publish that made it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { delivery, type Message } from '../../src/session/message.js';
import { Session } from '../../src/session/session.js';
import { agreedLink, FakeClock, RecordingSink } from '../helpers/session-sink.js';

function message(payload: string): Message {
  return {
    topic: 't',
    payload: Buffer.from(payload),
    qos: 2,
    retain: false,
    properties: undefined,
    publisherId: 'c',
    receivedAt: 0,
  };
}

void describe('link, client role: keep-alive', () => {
  void it('a PINGREQ is due Keep Alive after the last packet sent, and each packet sent (and answered) moves it [MQTT-3.1.2-23] [MQTT-3.1.2-20]', () => {
    const clock = new FakeClock();
    const link = agreedLink(5, { keepAlive: 10 }, clock);
    link.sent();
    assert.equal(link.pingDueIn(), 10_000);
    clock.advance(6_000);
    link.sent();
    link.received();
    clock.advance(6_000);
    assert.equal(link.pingDueIn(), 4_000, 'sent 6 s ago: due in 4 s');
    clock.advance(4_000);
    assert.equal(link.pingDueIn(), 0);
  });

  void it('packets received do not put off the PINGREQ: only what the client sends counts [MQTT-3.1.2-23]', () => {
    const clock = new FakeClock();
    const link = agreedLink(4, { keepAlive: 2 }, clock);
    link.sent();
    clock.advance(1_500);
    link.received();
    assert.equal(link.pingDueIn(), 500);
  });

  void it('a client that keeps sending and hears nothing still owes a PINGREQ Keep Alive after the last packet received', () => {
    const clock = new FakeClock();
    const link = agreedLink(5, { keepAlive: 2 }, clock);
    link.received();
    for (let i = 0; i < 4; i++) {
      clock.advance(500);
      link.sent();
    }
    assert.equal(link.pingDueIn(), 0, 'silent for 2 s: a PINGREQ now, whose PINGRESP proves the link');
  });

  void it('no PINGREQ is ever due without a Keep Alive', () => {
    const link = agreedLink(5, { keepAlive: 0 });
    link.sent();
    assert.equal(link.pingDueIn(), undefined);
    assert.equal(link.pingResponseRemaining(), undefined);
  });

  void it('the PINGRESP deadline runs from the PINGREQ, and publishing meanwhile does not move it', () => {
    const clock = new FakeClock();
    const link = agreedLink(5, { keepAlive: 3 }, clock);
    assert.equal(link.pingResponseRemaining(), undefined, 'no PINGREQ sent: no deadline');
    link.pingSent();
    assert.equal(link.pingDueIn(), undefined, 'one PINGREQ at a time');
    clock.advance(1_000);
    link.sent();
    clock.advance(1_000);
    link.sent();
    assert.equal(link.pingResponseRemaining(), 1_000);
    clock.advance(1_500);
    assert.ok(link.pingResponseRemaining()! <= 0, 'the deadline passed: the link is dead');
  });

  void it('a PINGRESP ends the deadline, and the next PINGREQ is due Keep Alive after the last one', () => {
    const clock = new FakeClock();
    const link = agreedLink(5, { keepAlive: 3 }, clock);
    link.pingSent();
    clock.advance(200);
    link.pingAnswered();
    assert.equal(link.pingResponseRemaining(), undefined);
    assert.equal(link.pingDueIn(), 2_800);
  });

  void it("the server role's silence deadline is unchanged by the client role: 1.5 x Keep Alive after the last packet received [MQTT-3.1.2-22]", () => {
    const clock = new FakeClock();
    const link = agreedLink(5, { keepAlive: 2 }, clock);
    link.received();
    clock.advance(1_000);
    link.sent();
    link.pingSent();
    assert.equal(link.keepAliveRemaining(), 2_000);
  });
});

void describe('session: acknowledgements name the delivery they complete', () => {
  void it('PUBACK returns the QoS 1 delivery it ends; an unknown id returns nothing', () => {
    const s = new Session('c', 0, { maxInflightMessages: 10, maxQueuedMessages: 10 });
    s.attach(new RecordingSink(5), agreedLink(5));
    const d = delivery({ ...message('one'), qos: 1 }, 1, false, undefined);
    s.deliver(d);
    assert.equal(s.onPuback(2), undefined);
    assert.equal(s.onPuback(1), d);
    assert.equal(s.onPuback(1), undefined, 'a second PUBACK completes nothing');
  });

  void it('PUBREC and PUBCOMP return the QoS 2 delivery; a failed PUBREC returns it as it ends the flow [MQTT-4.3.3-1]', () => {
    const s = new Session('c', 0, { maxInflightMessages: 10, maxQueuedMessages: 10 });
    s.attach(new RecordingSink(5), agreedLink(5));
    const ok = delivery(message('ok'), 2, false, undefined);
    const refused = delivery(message('refused'), 2, false, undefined);
    s.deliver(ok);
    s.deliver(refused);
    assert.equal(s.onPubrec(1, false), ok);
    assert.equal(s.onPubrec(2, true), refused);
    assert.equal(s.onPubcomp(2), undefined, 'the refused flow is over');
    assert.equal(s.onPubcomp(1), ok);
    assert.equal(s.inflightCount, 0);
  });
});
