// 03: QoS 1 and QoS 2 flows in both directions, exactly-once delivery, packet identifiers, DUP,
// re-sending on reconnect, flow control and ordering.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, startBroker } from '../helpers/broker.js';

for (const v of VERSIONS) {
  /** CONNECT options of a session that outlives its connection. */
  const persistent = (clientId: string): pkt.ConnectOptions => ({
    version: v,
    clientId,
    clean: false,
    ...(v === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });

  describe(`03 QoS (v${v})`, () => {
    it(`${cite(v, 'MQTT-4.3.2-2 MQTT-2.3.1-6', 'MQTT-4.3.2-4 MQTT-2.2.1-5')} a QoS 1 PUBLISH from a client is answered by PUBACK with its packet id (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('q1/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      pub.send(pkt.publish(v, { topic: 'q1/x', payload: 'one', qos: 1, packetId: 0xbeef }));
      const puback = await pub.next('puback');
      assert.equal(puback.packetId, 0xbeef);
      assert.equal(puback.reasonCode, 0);
      await pub.expectNothing(50);
    });

    if (v === 5) {
      it('a QoS 1 PUBLISH nobody subscribes to gets PUBACK 0x10 (No matching subscribers) (v5)', async (t) => {
        const { port } = await startBroker(t);
        const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
        assert.equal(await pub.publish({ topic: 'nobody/here', payload: 'x', qos: 1 }), 0x10);
      });
    }

    it(`${cite(v, 'MQTT-4.3.2-1 MQTT-2.3.1-4', 'MQTT-4.3.2-1 MQTT-4.3.2-2 MQTT-4.3.2-3 MQTT-2.2.1-4')} the broker sends QoS 1 with a non-zero id and DUP 0, and keeps it unacknowledged until PUBACK (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, persistent('sub'));
      await sub.subscribe('q1/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'q1/acked', payload: 'a', qos: 1 });
      await pub.publish({ topic: 'q1/unacked', payload: 'b', qos: 1 });
      const acked = await sub.next('publish');
      const unacked = await sub.next('publish');
      for (const message of [acked, unacked]) {
        assert.equal(message.qos, 1);
        assert.equal(message.dup, false);
        assert.notEqual(message.packetId, 0);
      }
      assert.notEqual(acked.packetId, unacked.packetId);
      sub.send(pkt.puback(v, acked.packetId));
      await sub.expectNothing(100);
      sub.destroy();
      // Only the message without PUBACK is still unacknowledged: it alone is sent again.
      const again = await RawClient.connect(port, persistent('sub'));
      const resent = await again.next('publish');
      assert.equal(resent.topic, 'q1/unacked');
      assert.equal(resent.packetId, unacked.packetId);
      again.send(pkt.puback(v, resent.packetId));
      await again.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-4.3.3-2 MQTT-2.3.1-6', 'MQTT-4.3.3-8 MQTT-4.3.3-11 MQTT-2.2.1-5')} a QoS 2 PUBLISH from a client gets PUBREC, and its PUBREL gets PUBCOMP, with the same id (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('q2/#', 2);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      pub.send(pkt.publish(v, { topic: 'q2/x', payload: 'two', qos: 2, packetId: 42 }));
      const pubrec = await pub.next('pubrec');
      assert.equal(pubrec.packetId, 42);
      assert.equal(pubrec.reasonCode, 0);
      pub.send(pkt.pubrel(v, 42));
      const pubcomp = await pub.next('pubcomp');
      assert.equal(pubcomp.packetId, 42);
      assert.equal(pubcomp.reasonCode, 0);
      assert.equal((await sub.receive()).payload.toString(), 'two');
    });

    it(`${cite(v, 'MQTT-4.3.3-1', 'MQTT-4.3.3-1 MQTT-4.3.3-2 MQTT-4.3.3-4 MQTT-4.3.3-5')} the broker sends QoS 2 with DUP 0, answers PUBREC with PUBREL of the same id and holds it until PUBCOMP (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, persistent('sub'));
      await sub.subscribe('q2/#', 2);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'q2/out', payload: 'x', qos: 2 });
      const message = await sub.next('publish');
      assert.equal(message.qos, 2);
      assert.equal(message.dup, false);
      assert.notEqual(message.packetId, 0);
      sub.send(pkt.pubrec(v, message.packetId));
      const pubrel = await sub.next('pubrel');
      assert.equal(pubrel.packetId, message.packetId);
      sub.destroy();
      // Without PUBCOMP, the PUBREL is still unacknowledged: it (not the PUBLISH) is sent again.
      const again = await RawClient.connect(port, persistent('sub'));
      const resent = await again.next('pubrel');
      assert.equal(resent.packetId, message.packetId);
      again.send(pkt.pubcomp(v, resent.packetId));
      await again.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-4.3.3-2', 'MQTT-4.3.3-10 MQTT-4.3.3-11 MQTT-4.3.3-12')} exactly once: a QoS 2 PUBLISH re-sent with DUP before PUBREL, and a re-sent PUBREL, deliver it once (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('once/#', 2);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const message = { topic: 'once/x', payload: 'only once', qos: 2 as const, packetId: 9 };
      pub.send(pkt.publish(v, message));
      assert.equal((await pub.next('pubrec')).packetId, 9);
      pub.send(pkt.publish(v, { ...message, dup: true }));
      assert.equal((await pub.next('pubrec')).packetId, 9, 'the re-sent PUBLISH is answered by PUBREC again');
      pub.send(pkt.pubrel(v, 9));
      assert.equal((await pub.next('pubcomp')).packetId, 9);
      pub.send(pkt.pubrel(v, 9));
      const second = await pub.next('pubcomp');
      assert.equal(second.packetId, 9);
      if (v === 5) assert.equal(second.reasonCode, 0x92, 'the id is no longer known');
      assert.equal((await sub.receive()).payload.toString(), 'only once');
      await sub.expectNothing(150);
      // After PUBCOMP the id is free: the same id carries a new message.
      pub.send(pkt.publish(v, { ...message, payload: 'new message' }));
      assert.equal((await pub.next('pubrec')).packetId, 9);
      pub.send(pkt.pubrel(v, 9));
      await pub.next('pubcomp');
      assert.equal((await sub.receive()).payload.toString(), 'new message');
    });

    it(`${cite(v, 'MQTT-4.3.3-2 MQTT-4.4.0-1', 'MQTT-4.3.3-10 MQTT-4.4.0-1')} exactly once across a reconnect: a QoS 2 PUBLISH re-sent on a resumed session after PUBREC is not delivered again (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('once/#', 2);
      const pub = await RawClient.connect(port, persistent('pub'));
      const message = { topic: 'once/y', payload: 'across', qos: 2 as const, packetId: 11 };
      pub.send(pkt.publish(v, message));
      assert.equal((await pub.next('pubrec')).packetId, 11);
      pub.destroy();
      const again = await RawClient.connect(port, persistent('pub'));
      assert.equal(again.connack.sessionPresent, true);
      again.send(pkt.publish(v, { ...message, dup: true }));
      assert.equal((await again.next('pubrec')).packetId, 11);
      again.send(pkt.pubrel(v, 11));
      const pubcomp = await again.next('pubcomp');
      assert.equal(pubcomp.reasonCode, 0, 'the id was still awaiting PUBREL');
      assert.equal((await sub.receive()).payload.toString(), 'across');
      await sub.expectNothing(150);
    });

    it(`${cite(v, 'MQTT-4.3.3-2', 'MQTT-4.3.3-11 MQTT-3.7.2-1')} PUBREL for an unknown packet id is answered by PUBCOMP${v === 5 ? ' 0x92 (Packet Identifier not found)' : ''} (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, { version: v, clientId: 'c' });
      client.send(pkt.pubrel(v, 777));
      const pubcomp = await client.next('pubcomp');
      assert.equal(pubcomp.packetId, 777);
      assert.equal(pubcomp.reasonCode, v === 5 ? 0x92 : 0);
    });

    it(`${cite(v, 'MQTT-4.3.2-2', 'MQTT-4.3.2-5')} after PUBACK, a QoS 1 PUBLISH with the same id is a new message, whatever its DUP flag (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('again/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      pub.send(pkt.publish(v, { topic: 'again/x', payload: 'first', qos: 1, packetId: 5 }));
      await pub.next('puback');
      pub.send(pkt.publish(v, { topic: 'again/x', payload: 'second', qos: 1, packetId: 5, dup: true }));
      await pub.next('puback');
      assert.equal((await sub.receive()).payload.toString(), 'first');
      assert.equal((await sub.receive()).payload.toString(), 'second');
    });

    it(`${cite(v, 'MQTT-2.3.1-4', 'MQTT-2.2.1-4')} packet ids the broker sends are non-zero and unique among unacknowledged messages, across the wrap at 65,535 (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('ids/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      // Ten messages stay unacknowledged the whole time.
      for (let i = 0; i < 10; i++) await pub.publish({ topic: 'ids/held', payload: String(i), qos: 1 });
      const held = new Set<number>();
      for (let i = 0; i < 10; i++) {
        const message = await sub.next('publish');
        assert.notEqual(message.packetId, 0);
        assert.ok(!held.has(message.packetId), `id ${message.packetId} is used twice`);
        held.add(message.packetId);
      }
      // Then enough acknowledged messages to go round the 16-bit id space.
      const total = 65_600;
      const batch = 400;
      for (let sent = 0; sent < total; sent += batch) {
        const burst: Buffer[] = [];
        for (let i = 0; i < batch; i++) {
          burst.push(pkt.publish(v, { topic: 'ids/cycled', payload: 'c', qos: 1, packetId: pub.packetId() }));
        }
        pub.send(Buffer.concat(burst));
        for (let i = 0; i < batch; i++) {
          const message = await sub.next('publish', 5000);
          assert.notEqual(message.packetId, 0, 'packet id 0');
          assert.ok(!held.has(message.packetId), `id ${message.packetId} is still held by an unacknowledged message`);
          sub.send(pkt.puback(v, message.packetId));
        }
        for (let i = 0; i < batch; i++) await pub.next('puback', 5000);
      }
    });

    it(`[MQTT-3.3.1-3] the DUP flag of a PUBLISH is not forwarded to subscribers (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('dup/#', 2);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      pub.send(pkt.publish(v, { topic: 'dup/1', payload: 'x', qos: 1, packetId: 3, dup: true }));
      await pub.next('puback');
      const one = await sub.receive();
      assert.equal(one.qos, 1);
      assert.equal(one.dup, false);
      pub.send(pkt.publish(v, { topic: 'dup/2', payload: 'y', qos: 2, packetId: 4, dup: true }));
      await pub.next('pubrec');
      pub.send(pkt.pubrel(v, 4));
      await pub.next('pubcomp');
      const two = await sub.receive();
      assert.equal(two.qos, 2);
      assert.equal(two.dup, false);
    });

    it(`${cite(v, 'MQTT-4.4.0-1 MQTT-3.3.1-1', 'MQTT-4.4.0-1 MQTT-3.3.1-1 MQTT-4.3.3-6')} on reconnect to a persistent session unacknowledged PUBLISHes are re-sent with DUP 1 and their ids, and PUBREL for one that got PUBREC (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, persistent('resend'));
      await sub.subscribe('resend/#', 2);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'resend/q1', payload: 'one', qos: 1 });
      await pub.publish({ topic: 'resend/q2', payload: 'two', qos: 2 });
      await pub.publish({ topic: 'resend/q2-received', payload: 'three', qos: 2 });
      const q1 = await sub.next('publish');
      const q2 = await sub.next('publish');
      const q2received = await sub.next('publish');
      assert.deepEqual([q1.topic, q2.topic, q2received.topic], ['resend/q1', 'resend/q2', 'resend/q2-received']);
      sub.send(pkt.pubrec(v, q2received.packetId));
      assert.equal((await sub.next('pubrel')).packetId, q2received.packetId);
      sub.destroy();

      const again = await RawClient.connect(port, persistent('resend'));
      assert.equal(again.connack.sessionPresent, true);
      const r1 = await again.next('publish');
      assert.deepEqual([r1.topic, r1.packetId, r1.dup, r1.qos], ['resend/q1', q1.packetId, true, 1]);
      assert.equal(r1.payload.toString(), 'one');
      const r2 = await again.next('publish');
      assert.deepEqual([r2.topic, r2.packetId, r2.dup, r2.qos], ['resend/q2', q2.packetId, true, 2]);
      const r3 = await again.next('pubrel');
      assert.equal(r3.packetId, q2received.packetId);
      again.send(pkt.puback(v, r1.packetId), pkt.pubrec(v, r2.packetId), pkt.pubcomp(v, r3.packetId));
      assert.equal((await again.next('pubrel')).packetId, r2.packetId);
      again.send(pkt.pubcomp(v, r2.packetId));
      await again.expectNothing(100);
      again.destroy();
      // Everything is acknowledged now: the next reconnect re-sends nothing.
      const third = await RawClient.connect(port, persistent('resend'));
      await third.expectNothing(150);
    });

    it(`${cite(v, 'MQTT-4.6.0-6', 'MQTT-4.6.0-5')} 1000 QoS 1 messages from one publisher reach a subscriber in order (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('order/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const count = 1000;
      const burst: Buffer[] = [];
      for (let i = 0; i < count; i++) {
        burst.push(pkt.publish(v, { topic: 'order/x', payload: String(i), qos: 1, packetId: i + 1 }));
      }
      pub.send(Buffer.concat(burst));
      for (let i = 0; i < count; i++) {
        const message = await sub.receive(5000);
        assert.equal(message.payload.toString(), String(i), `message ${i} out of order`);
      }
      for (let i = 0; i < count; i++) assert.equal((await pub.next('puback')).packetId, i + 1);
    });

    it(`${v === 5 ? "[MQTT-3.3.4-9] [MQTT-4.9.0-2] [MQTT-3.3.4-10] the client's Receive Maximum" : 'maxInflightMessages'} caps unacknowledged QoS 1/2 messages; each PUBACK lets one more through and PINGREQ is still answered (v${v})`, async (t) => {
      const { port } = await startBroker(t, v === 5 ? {} : { maxInflightMessages: 3 });
      const sub = await RawClient.connect(port, {
        version: v,
        clientId: 'sub',
        ...(v === 5 ? { properties: { receiveMaximum: 3 } } : {}),
      });
      await sub.subscribe('window/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      for (let i = 0; i < 6; i++) await pub.publish({ topic: 'window/x', payload: String(i), qos: 1 });
      const first = [await sub.next('publish'), await sub.next('publish'), await sub.next('publish')];
      assert.deepEqual(
        first.map((m) => m.payload.toString()),
        ['0', '1', '2'],
      );
      sub.send(pkt.pingreq());
      await sub.next('pingresp');
      await sub.expectNothing(100);
      sub.send(pkt.puback(v, first[0]!.packetId));
      assert.equal((await sub.next('publish')).payload.toString(), '3');
      await sub.expectNothing(100);
    });
  });
}
