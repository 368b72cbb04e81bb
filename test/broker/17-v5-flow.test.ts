// 17: MQTT 5 flow control: the broker's Receive Maximum on what clients send, the client's Receive
// Maximum on what the broker sends, and the client's Maximum Packet Size.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { Broker } from '../../src/broker/broker.js';
import { Connection, ConnectionState } from '../../src/broker/connection.js';
import { dispatch } from '../../src/broker/handlers/index.js';
import { defaultLinkSettings } from '../helpers/session-sink.js';
import * as pkt from '../helpers/packets.js';
import { PacketStream, type ReceivedPacket } from '../helpers/parse.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker, waitUntil } from '../helpers/broker.js';

/**
 * A 5.0 Connection in the Active state on an in-memory stream, with the client's Maximum Packet
 * Size `limit`: no packet the broker sends today carries a Reason String or User Properties, so
 * the rule that drops them is proven on Connection.send directly. `received` parses what it wrote.
 */
function activeConnection(limit: number): { connection: Connection; received: ReceivedPacket[]; end: () => void } {
  const parser = new PacketStream(5);
  const received: ReceivedPacket[] = [];
  const stream = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      received.push(...parser.push(chunk));
      callback();
    },
  });
  const broker = new Broker({ connectTimeoutMs: 60_000 });
  const connection = new Connection(broker, stream, {}, { dispatch });
  connection.link.version = 5;
  connection.link.agree({ ...defaultLinkSettings, peerMaximumPacketSize: limit });
  connection.setState(ConnectionState.Active);
  return { connection, received, end: () => stream.destroy() };
}

describe('17 v5 flow control', () => {
  it('CONNACK announces the Receive Maximum: 65,535 by default, or the receiveMaximum option (v5)', async (t) => {
    const { port } = await startBroker(t);
    const plain = await RawClient.connect(port, { version: 5, clientId: 'a' });
    assert.equal(plain.connack.properties.receiveMaximum, 65_535);
    const limited = await startBroker(t, { receiveMaximum: 7 });
    const client = await RawClient.connect(limited.port, { version: 5, clientId: 'b' });
    assert.equal(client.connack.properties.receiveMaximum, 7);
  });

  it('[MQTT-3.3.4-7] a client with more unacknowledged QoS 2 PUBLISHes than the Receive Maximum gets DISCONNECT 0x93 and is closed (v5)', async (t) => {
    const { broker, port } = await startBroker(t, { receiveMaximum: 2 });
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    for (const id of [1, 2]) {
      pub.send(pkt.publish(5, { topic: 'rm/x', payload: String(id), qos: 2, packetId: id }));
      assert.equal((await pub.next('pubrec')).packetId, id);
    }
    pub.send(pkt.publish(5, { topic: 'rm/x', payload: '3', qos: 2, packetId: 3 }));
    assert.equal((await pub.next('disconnect')).reasonCode, 0x93);
    await pub.closed();
    assert.equal(broker.counters.messagesReceived, 2, 'the PUBLISH over the limit was not routed');
  });

  it('[MQTT-3.3.4-7] a QoS 2 flow stops counting once PUBCOMP is sent, and one refused with PUBREC >= 0x80 never counts (v5)', async (t) => {
    const { port } = await startBroker(t, { receiveMaximum: 2 });
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    pub.send(pkt.publish(5, { topic: 'rm/x', payload: '1', qos: 2, packetId: 1 }));
    await pub.next('pubrec');
    pub.send(pkt.publish(5, { topic: 'rm/x', payload: '2', qos: 2, packetId: 2 }));
    await pub.next('pubrec');
    pub.send(pkt.pubrel(5, 1));
    assert.equal((await pub.next('pubcomp')).packetId, 1);
    // A payload that is not the UTF-8 it claims gets PUBREC 0x99: that flow ends at once.
    const bad = Buffer.from([0xff, 0xfe]);
    pub.send(
      pkt.publish(5, { topic: 'rm/x', payload: bad, qos: 2, packetId: 3, properties: { payloadFormatIndicator: 1 } }),
    );
    assert.equal((await pub.next('pubrec')).reasonCode, 0x99);
    pub.send(pkt.publish(5, { topic: 'rm/x', payload: '4', qos: 2, packetId: 4 }));
    const pubrec = await pub.next('pubrec');
    assert.equal(pubrec.packetId, 4);
    assert.ok(pubrec.reasonCode < 0x80);
    await pub.ping();
  });

  it('the Receive Maximum counts flows per connection: a reconnecting client starts with its full quota (v5)', async (t) => {
    const { port } = await startBroker(t, { receiveMaximum: 1 });
    const first = await RawClient.connect(port, {
      version: 5,
      clientId: 'pub',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    first.send(pkt.publish(5, { topic: 'rm/x', payload: '1', qos: 2, packetId: 1 }));
    await first.next('pubrec');
    first.destroy();
    const second = await RawClient.connect(port, {
      version: 5,
      clientId: 'pub',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
    });
    second.send(pkt.publish(5, { topic: 'rm/x', payload: '2', qos: 2, packetId: 2 }));
    assert.equal((await second.next('pubrec')).packetId, 2);
    second.send(pkt.pubrel(5, 1));
    assert.equal((await second.next('pubcomp')).reasonCode, 0);
  });

  it("[MQTT-3.3.4-9] [MQTT-4.9.0-2] [MQTT-3.3.4-10] [MQTT-4.9.0-3] the broker never has more QoS 2 PUBLISHes unacknowledged than the client's Receive Maximum; PUBCOMP and a failed PUBREC each free one, and other packets are not held back (v5)", async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub', properties: { receiveMaximum: 2 } });
    await sub.subscribe('window/#', 2);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    for (let i = 0; i < 5; i++) await pub.publish({ topic: 'window/x', payload: String(i), qos: 2 });
    const first = [await sub.next('publish'), await sub.next('publish')];
    assert.deepEqual(
      first.map((m) => m.payload.toString()),
      ['0', '1'],
    );
    // Quota 0: no more PUBLISH, but SUBSCRIBE, PINGREQ and PUBREL still get their answers.
    assert.deepEqual(await sub.subscribe('other/#', 0), [0]);
    await sub.ping();
    sub.send(pkt.pubrec(5, first[0]!.packetId));
    assert.equal((await sub.next('pubrel')).packetId, first[0]!.packetId);
    await sub.expectNothing(100);
    sub.send(pkt.pubcomp(5, first[0]!.packetId));
    const third = await sub.next('publish');
    assert.equal(third.payload.toString(), '2');
    await sub.expectNothing(100);
    sub.send(pkt.pubrec(5, first[1]!.packetId, 0x80));
    assert.equal((await sub.next('publish')).payload.toString(), '3');
    await sub.expectNothing(100);
  });

  it('[MQTT-3.1.2-24] [MQTT-3.1.2-25] a PUBLISH larger than the client\'s Maximum Packet Size is not sent to it, counts as a "too-large" drop, and does not hold its in-flight window (v5)', async (t) => {
    const { broker, port } = await startBroker(t);
    const limit = 64;
    const sub = await RawClient.connect(port, {
      version: 5,
      clientId: 'sub',
      properties: { maximumPacketSize: limit, receiveMaximum: 1 },
    });
    await sub.subscribe('size/#', 1);
    const wide = await RawClient.connect(port, { version: 5, clientId: 'wide' });
    await wide.subscribe('size/#', 1);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    const big = Buffer.alloc(limit, 0x62);
    await pub.publish({ topic: 'size/x', payload: big, qos: 1 });
    await pub.publish({ topic: 'size/x', payload: big, qos: 0 });
    await pub.publish({ topic: 'size/x', payload: 'small', qos: 1 });
    // With a window of 1, 'small' arrives only because the big one counts as delivered.
    const received = await sub.next('publish');
    assert.equal(received.payload.toString(), 'small');
    sub.send(pkt.puback(5, received.packetId));
    await sub.expectNothing(100);
    assert.equal(broker.sessions.get('sub')!.dropped['too-large'], 2);
    assert.equal(broker.counters.dropped['too-large'], 2);
    assert.equal(broker.sessions.get('sub')!.inflightCount, 0);
    // A client that gave no limit gets all three.
    for (const payload of [big, big, Buffer.from('small')]) assert.deepEqual((await wide.receive()).payload, payload);
  });

  it("[MQTT-3.1.2-24] a PUBLISH exactly at the client's Maximum Packet Size is sent (v5)", async (t) => {
    const { port } = await startBroker(t);
    // Fixed header 2 + topic 2 + 6 + properties length 1 = 11 bytes before the payload.
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub', properties: { maximumPacketSize: 40 } });
    await sub.subscribe('size/x', 0);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'size/x', payload: Buffer.alloc(29, 0x61) });
    assert.equal((await sub.next('publish')).payload.length, 29);
    await pub.publish({ topic: 'size/x', payload: Buffer.alloc(30, 0x61) });
    await sub.expectNothing(100);
  });

  it("[MQTT-3.4.2-2] [MQTT-3.4.2-3] a PUBACK that would exceed the client's Maximum Packet Size goes without its Reason String and User Properties, and one that fits keeps them (v5)", async (t) => {
    const { connection, received, end } = activeConnection(30);
    t.after(end);
    const userProperties: [string, string][] = [['why', 'acl']];
    const properties = { reasonString: 'not allowed here', userProperties };
    connection.send({ type: 'puback', packetId: 7, reasonCode: 0x87, properties });
    connection.send({ type: 'puback', packetId: 8, reasonCode: 0x87, properties: { reasonString: 'short' } });
    await waitUntil(() => received.length === 2, 'both PUBACKs were written');
    const [trimmed, kept] = received;
    assert.ok(trimmed?.type === 'puback' && kept?.type === 'puback');
    assert.deepEqual([trimmed.packetId, trimmed.reasonCode, trimmed.properties], [7, 0x87, {}]);
    assert.deepEqual([kept.packetId, kept.properties.reasonString], [8, 'short']);
  });

  it("[MQTT-3.2.2-19] [MQTT-3.2.2-20] a CONNACK that would exceed the client's Maximum Packet Size goes without its Reason String and User Properties (v5)", async (t) => {
    const { connection, received, end } = activeConnection(30);
    t.after(end);
    connection.send({
      type: 'connack',
      sessionPresent: false,
      reasonCode: 0,
      properties: { receiveMaximum: 10, reasonString: 'welcome to a long reason string', userProperties: [['a', 'b']] },
    });
    await waitUntil(() => received.length === 1, 'the CONNACK was written');
    const connack = received[0]!;
    assert.ok(connack.type === 'connack');
    assert.deepEqual(connack.properties, { receiveMaximum: 10 });
  });
});
