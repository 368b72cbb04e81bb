// 29: hostile input. Dozens of malformed and abusive connections, run a few at a time against one
// broker while a well-behaved publisher and subscriber exchange QoS 1 messages. Each hostile
// connection must end the way the spec says (5.0 DISCONNECT reason, CONNACK code, or a plain close),
// and only that connection: every well-behaved message arrives, in order, none late by a second, and
// the broker still accepts a connection at the end with its memory bounded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import type { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import * as pkt from '../helpers/packets.js';
import { frame, str, u16, u8, varint } from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, sleep, startBroker, waitUntil } from '../helpers/broker.js';

type Version = 4 | 5;

/** What a hostile case gets: the broker, its port, the version under test and a client id of its own. */
interface Context {
  broker: Broker;
  port: number;
  v: Version;
  id: string;
}

interface Hostile {
  name: string;
  /** Spec ids of 3.1.1 and of 5.0, space-separated; empty when no numbered statement applies. */
  ids?: [v311: string, v5: string];
  /** The versions the case applies to; both by default. */
  versions?: readonly Version[];
  run: (ctx: Context) => Promise<void>;
}

const options: BrokerOptions = {
  connectTimeoutMs: 1500,
  packetTimeoutMs: 500,
  maxTopicLength: 1024,
  maxControlPacketRate: 100,
  maxConnectionsPerAddress: 40,
  maxOutgoingBufferBytes: 256 * 1024,
  topicAliasMaximum: 10,
};

/** Hostile connections run at once. */
const PARALLEL = 8;

/** An empty 5.0 property block, or nothing in 3.1.1. */
const props = (v: Version): Buffer => (v === 5 ? u8(0) : Buffer.alloc(0));

/** Connects the case's own client. */
function offender(ctx: Context, connect: Omit<pkt.ConnectOptions, 'version' | 'clientId'> = {}): Promise<RawClient> {
  return RawClient.connect(ctx.port, { version: ctx.v, clientId: ctx.id, ...connect });
}

/** 5.0: DISCONNECT with `reasonCode`, then the close; 3.1.1: the close alone. */
async function expectDisconnect(client: RawClient, v: Version, reasonCode: number, timeoutMs = 2000): Promise<void> {
  if (v === 5) assert.equal((await client.next('disconnect', timeoutMs)).reasonCode, reasonCode);
  await client.closed(timeoutMs);
}

/** Sends `bytes` on a connected client and expects it to be disconnected with `reasonCode`. */
async function sendAndExpectDisconnect(ctx: Context, bytes: Buffer, reasonCode: number): Promise<void> {
  const client = await offender(ctx);
  client.send(bytes);
  await expectDisconnect(client, ctx.v, reasonCode);
}

/** Sends `bytes` on a fresh socket (no CONNECT) and expects a close without any packet. */
async function preConnectClose(ctx: Context, bytes: Buffer): Promise<void> {
  const client = await RawClient.open(ctx.port, ctx.v);
  client.send(bytes);
  await client.closed(3000);
}

/** A CONNECT with hand-made flags and payload (3.1.1 or 5.0 header), for the cases the builder refuses to make. */
function rawConnect(v: Version, flags: number, ...payload: Buffer[]): Buffer {
  return frame(0x10, str('MQTT'), u8(v), u8(flags), u16(60), props(v), ...payload);
}

/** A PUBLISH of `topic` (any bytes) at QoS 0. */
function publishTopic(v: Version, topic: Buffer | string): Buffer {
  return frame(0x30, str(topic), props(v), Buffer.from('x'));
}

/** The 5.0 PUBLISH body after the topic: a property block made of `bytes`. */
function publishWithProperties(topic: string, bytes: Buffer, qos: 0 | 1 = 0): Buffer {
  return frame(0x30 | (qos << 1), str(topic), ...(qos > 0 ? [u16(1)] : []), varint(bytes.length), bytes);
}

/** Writes `bytes` one at a time, `intervalMs` apart, until the socket closes. */
async function dribble(client: RawClient, bytes: Buffer, intervalMs: number): Promise<void> {
  for (const byte of bytes) {
    if (client.closedYet) return;
    client.send(Buffer.from([byte]));
    await sleep(intervalMs);
  }
}

/** A raw socket from another loopback address, recording whether it got any bytes before it closed. */
function openFrom(
  port: number,
  localAddress: string,
): Promise<{ socket: Socket; received: () => number; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    let received = 0;
    let closed = false;
    const socket = netConnect({ port, host: '127.0.0.1', localAddress });
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    socket.on('close', () => (closed = true));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve({ socket, received: () => received, closed: () => closed });
    });
  });
}

/**
 * A QoS 1 PUBLISH (packet id 1, to a topic nobody subscribes to) with 65,535 User Properties 'k'='v',
 * built once before the clock starts: building it is the test's own work, not the broker's.
 */
const MANY_USER_PROPERTIES = ((): Buffer => {
  const one = Buffer.from([0x26, 0x00, 0x01, 0x6b, 0x00, 0x01, 0x76]);
  const block = Buffer.alloc(one.length * 65_535);
  for (let offset = 0; offset < block.length; offset += one.length) one.copy(block, offset);
  return frame(0x32, str('nobody/here'), u16(1), varint(block.length), block, Buffer.from('x'));
})();

const hostile: Hostile[] = [
  // Before CONNECT
  {
    name: 'a PUBLISH before CONNECT is closed without an answer',
    ids: ['MQTT-3.1.0-1', 'MQTT-3.1.0-1'],
    run: (ctx) => preConnectClose(ctx, pkt.publish(ctx.v, { topic: 'a', payload: 'x' })),
  },
  {
    name: 'a PINGREQ before CONNECT is closed without an answer',
    ids: ['MQTT-3.1.0-1', 'MQTT-3.1.0-1'],
    run: (ctx) => preConnectClose(ctx, pkt.pingreq()),
  },
  {
    name: 'a SUBSCRIBE before CONNECT is closed without an answer',
    ids: ['MQTT-3.1.0-1', 'MQTT-3.1.0-1'],
    run: (ctx) => preConnectClose(ctx, pkt.subscribe(ctx.v, 1, ['#'])),
  },
  {
    name: `a CONNECT with the protocol name MQTX gets CONNACK 'unsupported protocol' and is closed`,
    ids: ['MQTT-3.1.2-1', 'MQTT-3.1.2-1'],
    run: async (ctx) => {
      const client = await RawClient.open(ctx.port, ctx.v);
      client.send(pkt.connect({ version: ctx.v, clientId: ctx.id, protocolName: 'MQTX' }));
      assert.equal((await client.next('connack')).reasonCode, ctx.v === 5 ? 0x84 : 1);
      await client.closed();
    },
  },
  {
    name: 'a CONNECT of protocol level 6 gets CONNACK 0x01 and is closed',
    ids: ['MQTT-3.1.2-2', 'MQTT-3.1.2-2'],
    versions: [4],
    run: async (ctx) => {
      const client = await RawClient.open(ctx.port, 4);
      client.send(pkt.connect({ version: 4, clientId: ctx.id, protocolLevel: 6 }));
      assert.equal((await client.next('connack')).reasonCode, 1);
      await client.closed();
    },
  },
  {
    name: 'a CONNECT with the reserved flag set is closed',
    ids: ['MQTT-3.1.2-3', 'MQTT-3.1.2-3'],
    run: (ctx) => preConnectClose(ctx, pkt.connect({ version: ctx.v, clientId: ctx.id, reservedFlag: true })),
  },
  {
    name: 'a client id containing U+0000 is closed',
    ids: ['MQTT-1.5.3-2', 'MQTT-1.5.4-2'],
    run: (ctx) => preConnectClose(ctx, rawConnect(ctx.v, 0x02, str(Buffer.from([0x61, 0x00, 0x62])))),
  },
  {
    name: 'a client id that is not UTF-8 is closed',
    ids: ['MQTT-1.5.3-1', 'MQTT-1.5.4-1'],
    run: (ctx) => preConnectClose(ctx, rawConnect(ctx.v, 0x02, str(Buffer.from([0x61, 0xc0, 0xaf])))),
  },
  {
    name: 'a 5,000-byte client id (over max_client_id_length) is refused as an invalid identifier',
    ids: ['MQTT-3.1.3-9', 'MQTT-3.1.3-8'],
    run: async (ctx) => {
      const client = await RawClient.open(ctx.port, ctx.v);
      client.send(pkt.connect({ version: ctx.v, clientId: 'x'.repeat(5000) }));
      assert.equal((await client.next('connack')).reasonCode, ctx.v === 5 ? 0x85 : 2);
      await client.closed();
    },
  },
  {
    name: 'a Will QoS without the Will Flag is closed',
    ids: ['MQTT-3.1.2-13', 'MQTT-3.1.2-11'],
    run: (ctx) => preConnectClose(ctx, rawConnect(ctx.v, 0x02 | 0x08, str(ctx.id))),
  },
  {
    name: 'a password without a user name is closed',
    ids: ['MQTT-3.1.2-22', ''],
    versions: [4],
    run: (ctx) => preConnectClose(ctx, rawConnect(4, 0x02 | 0x40, str(ctx.id), str('secret'))),
  },
  {
    name: 'a remaining length of five bytes before CONNECT is closed',
    ids: ['', 'MQTT-1.5.5-1'],
    run: (ctx) => preConnectClose(ctx, Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01])),
  },
  {
    name: 'an HTTP request on the MQTT port is closed',
    run: (ctx) => preConnectClose(ctx, Buffer.from('GET / HTTP/1.1\r\nHost: fennec\r\n\r\n')),
  },
  {
    name: 'a TLS ClientHello on the plain port is closed',
    run: (ctx) => preConnectClose(ctx, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03])),
  },
  {
    name: 'a packet of reserved type 0 before CONNECT is closed',
    run: (ctx) => preConnectClose(ctx, Buffer.from([0x00, 0x00])),
  },
  {
    name: 'a socket that never sends CONNECT is closed after connect_timeout_ms',
    run: async (ctx) => {
      const client = await RawClient.open(ctx.port, ctx.v);
      await client.closed(3000);
    },
  },
  {
    name: 'a CONNECT sent one byte every 200 ms (slow-loris) is closed after packet_timeout_ms',
    run: async (ctx) => {
      const client = await RawClient.open(ctx.port, ctx.v);
      const started = Date.now();
      void dribble(client, pkt.connect({ version: ctx.v, clientId: ctx.id }), 200);
      await client.closed(3000);
      // Closed before the 40-odd bytes (8 s) were sent, and before connect_timeout_ms.
      assert.ok(Date.now() - started < 1500, `closed after ${Date.now() - started} ms`);
    },
  },
  {
    name: 'a connect flood from one address: over max_connections_per_address CONNACK refuses, past twice it the socket is closed unread',
    run: async (ctx) => {
      const limit = options.maxConnectionsPerAddress!;
      const address = ctx.v === 5 ? '127.0.0.95' : '127.0.0.94';
      const sockets: Awaited<ReturnType<typeof openFrom>>[] = [];
      try {
        for (let i = 0; i < 2 * limit + 20; i++) sockets.push(await openFrom(ctx.port, address));
        const flooded = sockets.slice(2 * limit);
        await waitUntil(() => flooded.every((s) => s.closed()), 'the flood is closed', 2000);
        assert.ok(
          flooded.every((s) => s.received() === 0),
          'closed without a word',
        );
        // One admitted over the limit (but under twice it) is told why when it sends CONNECT.
        const refused = sockets[limit]!;
        const reply: Buffer[] = [];
        refused.socket.on('data', (chunk: Buffer) => reply.push(chunk));
        refused.socket.write(pkt.connect({ version: ctx.v, clientId: `${ctx.id}-r` }));
        await waitUntil(() => refused.closed(), 'the refused connection is closed', 2000);
        const connack = Buffer.concat(reply);
        assert.equal(connack[0], 0x20, 'a CONNACK');
        assert.equal(connack[3], ctx.v === 5 ? 0x97 : 3);
        // Those under the limit were admitted: one of them connects.
        const admitted = sockets[0]!;
        const answer: Buffer[] = [];
        admitted.socket.on('data', (chunk: Buffer) => answer.push(chunk));
        admitted.socket.write(pkt.connect({ version: ctx.v, clientId: `${ctx.id}-a` }));
        await waitUntil(() => Buffer.concat(answer).length >= 4, 'CONNACK', 2000);
        assert.equal(Buffer.concat(answer)[3], 0);
      } finally {
        for (const s of sockets) s.socket.destroy();
      }
    },
  },
  // After CONNECT
  {
    name: 'a second CONNECT is a protocol error',
    ids: ['MQTT-3.1.0-2', 'MQTT-3.1.0-2'],
    run: (ctx) => sendAndExpectDisconnect(ctx, pkt.connect({ version: ctx.v, clientId: ctx.id }), 0x82),
  },
  {
    name: 'a PUBLISH with QoS 3 is malformed',
    ids: ['MQTT-3.3.1-4', 'MQTT-3.3.1-4'],
    run: (ctx) => sendAndExpectDisconnect(ctx, frame(0x36, str('a'), u16(1), props(ctx.v)), 0x81),
  },
  {
    name: 'a QoS 1 PUBLISH with packet identifier 0 is malformed',
    ids: ['MQTT-2.3.1-1', ''],
    run: (ctx) => sendAndExpectDisconnect(ctx, frame(0x32, str('a'), u16(0), props(ctx.v)), 0x81),
  },
  {
    name: "a PUBLISH to a topic with '+' gets Topic Name invalid",
    ids: ['MQTT-3.3.2-2', 'MQTT-3.3.2-2'],
    run: (ctx) => sendAndExpectDisconnect(ctx, publishTopic(ctx.v, 'a/+/b'), 0x90),
  },
  {
    name: "a PUBLISH to a topic with '#' gets Topic Name invalid",
    ids: ['MQTT-3.3.2-2', 'MQTT-3.3.2-2'],
    run: (ctx) => sendAndExpectDisconnect(ctx, publishTopic(ctx.v, 'a/#'), 0x90),
  },
  {
    name: 'a PUBLISH topic containing U+0000 is malformed',
    ids: ['MQTT-4.7.3-2', 'MQTT-4.7.3-2'],
    run: (ctx) => sendAndExpectDisconnect(ctx, publishTopic(ctx.v, Buffer.from([0x61, 0x00])), 0x81),
  },
  {
    name: 'a PUBLISH topic that is not UTF-8 is malformed',
    ids: ['MQTT-1.5.3-1', 'MQTT-1.5.4-1'],
    run: (ctx) => sendAndExpectDisconnect(ctx, publishTopic(ctx.v, Buffer.from([0xff, 0xfe])), 0x81),
  },
  {
    name: 'a 5,000-byte PUBLISH topic (over max_topic_length) gets Topic Name invalid',
    run: (ctx) => sendAndExpectDisconnect(ctx, publishTopic(ctx.v, 'h'.repeat(5000)), 0x90),
  },
  {
    name: 'a 200-level PUBLISH topic (over max_topic_levels) gets Topic Name invalid',
    run: (ctx) => sendAndExpectDisconnect(ctx, publishTopic(ctx.v, 'l/'.repeat(199) + 'l'), 0x90),
  },
  {
    name: 'a PUBLISH whose topic length runs past the packet (truncated) is malformed',
    run: (ctx) => sendAndExpectDisconnect(ctx, Buffer.from([0x30, 0x03, 0x00, 0x09, 0x61]), 0x81),
  },
  {
    name: 'a QoS 0 PUBLISH with DUP set is malformed',
    ids: ['MQTT-3.3.1-2', 'MQTT-3.3.1-2'],
    run: (ctx) => sendAndExpectDisconnect(ctx, frame(0x38, str('a'), props(ctx.v)), 0x81),
  },
  {
    name: 'a SUBSCRIBE with no topic filter is a protocol error',
    ids: ['MQTT-3.8.3-3', 'MQTT-3.8.3-2'],
    run: (ctx) => sendAndExpectDisconnect(ctx, frame(0x82, u16(1), props(ctx.v)), 0x82),
  },
  {
    name: 'a SUBSCRIBE with fixed-header flags 0000 is malformed',
    ids: ['MQTT-3.8.1-1', 'MQTT-3.8.1-1'],
    run: (ctx) => sendAndExpectDisconnect(ctx, frame(0x80, u16(1), props(ctx.v), str('a'), u8(0)), 0x81),
  },
  {
    name: 'a SUBSCRIBE whose options set reserved bits is malformed',
    ids: ['MQTT-3.8.3-4', 'MQTT-3.8.3-5'],
    run: (ctx) =>
      sendAndExpectDisconnect(ctx, frame(0x82, u16(1), props(ctx.v), str('a'), u8(ctx.v === 5 ? 0xc0 : 0x04)), 0x81),
  },
  {
    name: 'a 5,000-byte filter (over max_topic_length) is refused in SUBACK, and the connection stays',
    run: async (ctx) => {
      const client = await offender(ctx);
      assert.deepEqual(await client.subscribe(['f'.repeat(5000), 'ok'], 1), [ctx.v === 5 ? 0x8f : 0x80, 1]);
      await client.ping();
    },
  },
  {
    name: "a filter with '#' not last is malformed, not refused in SUBACK",
    ids: ['MQTT-4.7.1-2', 'MQTT-4.7.1-1'],
    run: (ctx) => sendAndExpectDisconnect(ctx, pkt.subscribe(ctx.v, 1, [{ topic: 'a/#/b', qos: 1 }]), 0x81),
  },
  {
    name: 'an UNSUBSCRIBE with no topic filter is a protocol error',
    ids: ['MQTT-3.10.3-2', 'MQTT-3.10.3-2'],
    run: (ctx) => sendAndExpectDisconnect(ctx, frame(0xa2, u16(1), props(ctx.v)), 0x82),
  },
  {
    name: 'a PUBREL with fixed-header flags 0000 is malformed',
    ids: ['MQTT-3.6.1-1', 'MQTT-3.6.1-1'],
    run: (ctx) => sendAndExpectDisconnect(ctx, frame(0x60, u16(1)), 0x81),
  },
  {
    name: 'a PINGREQ with a reserved flag set is malformed',
    ids: ['MQTT-2.2.2-2', 'MQTT-2.1.3-1'],
    run: (ctx) => sendAndExpectDisconnect(ctx, Buffer.from([0xc2, 0x00]), 0x81),
  },
  {
    name: 'a remaining length of five bytes is malformed',
    ids: ['', 'MQTT-1.5.5-1'],
    run: (ctx) => sendAndExpectDisconnect(ctx, Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]), 0x81),
  },
  {
    name: 'a packet announcing 200 MB (over maximum_packet_size) is refused before its body',
    ids: ['', 'MQTT-3.2.2-15'],
    run: (ctx) => sendAndExpectDisconnect(ctx, Buffer.from([0x30, 0x80, 0x80, 0xe8, 0x5f, 0x00]), 0x95),
  },
  {
    name: 'a CONNACK sent by a client is a protocol error',
    run: (ctx) => sendAndExpectDisconnect(ctx, frame(0x20, u8(0), u8(0), props(ctx.v)), 0x82),
  },
  {
    name: 'acknowledgements for packet ids never sent are ignored',
    run: async (ctx) => {
      const client = await offender(ctx);
      client.send(pkt.puback(ctx.v, 77), pkt.pubrec(ctx.v, 78), pkt.pubcomp(ctx.v, 79));
      await client.ping();
    },
  },
  {
    name: 'a PINGREQ flood (150 in one write) gets Quota exceeded after max_control_packet_rate',
    run: async (ctx) => {
      const client = await offender(ctx);
      client.send(Buffer.concat(Array.from({ length: 150 }, () => pkt.pingreq())));
      for (let i = 0; i < options.maxControlPacketRate!; i++) await client.next('pingresp');
      await expectDisconnect(client, ctx.v, 0x97);
    },
  },
  {
    name: 'a SUBSCRIBE flood (150 in one write) gets Quota exceeded after max_control_packet_rate',
    run: async (ctx) => {
      const client = await offender(ctx);
      client.send(Buffer.concat(Array.from({ length: 150 }, (_, i) => pkt.subscribe(ctx.v, i + 1, [`flood/${i}`]))));
      for (let i = 0; i < options.maxControlPacketRate!; i++) await client.next('suback');
      await expectDisconnect(client, ctx.v, 0x97);
    },
  },
  {
    name: 'half a packet, then silence, is closed after packet_timeout_ms (keep alive 0)',
    run: async (ctx) => {
      const client = await offender(ctx, { keepAlive: 0 });
      client.send(
        pkt.publish(ctx.v, { topic: 'half/way', payload: 'x'.repeat(100), qos: 1, packetId: 1 }).subarray(0, 20),
      );
      await expectDisconnect(client, ctx.v, 0x8d);
    },
  },
  {
    name: 'a PUBLISH sent one byte every 100 ms (slow-loris) is closed after packet_timeout_ms',
    run: async (ctx) => {
      const client = await offender(ctx, { keepAlive: 0 });
      void dribble(client, pkt.publish(ctx.v, { topic: 'slow/loris', payload: 'y'.repeat(50) }), 100);
      await expectDisconnect(client, ctx.v, 0x8d);
    },
  },
  {
    name: 'a subscriber that never reads holds at most max_outgoing_buffer_bytes (+ one packet) in the broker while a flood flows to it',
    run: async (ctx) => {
      const sink = await offender(ctx);
      await sink.subscribe(`sink/${ctx.id}`, 0);
      sink.stopReading();
      const flooder = await RawClient.connect(ctx.port, { version: ctx.v, clientId: `${ctx.id}-flooder` });
      const payload = Buffer.alloc(128 * 1024, 0x66);
      const connection = ctx.broker.clients.get(ctx.id)!;
      const dropped = ctx.broker.sessions.get(ctx.id)!.dropped;
      let maxBuffered = 0;
      // Until the kernel's socket buffers are full and the broker drops for the slow reader (at most 64 MB).
      for (let i = 0; i < 512 && dropped['slow-reader'] === 0; i++) {
        flooder.send(pkt.publish(ctx.v, { topic: `sink/${ctx.id}`, payload }));
        if (i % 4 === 3) await flooder.ping();
        maxBuffered = Math.max(maxBuffered, connection.stream.writableLength);
      }
      for (let i = 0; i < 16; i++) flooder.send(pkt.publish(ctx.v, { topic: `sink/${ctx.id}`, payload }));
      await flooder.ping();
      maxBuffered = Math.max(maxBuffered, connection.stream.writableLength);
      assert.ok(dropped['slow-reader'] > 0, 'QoS 0 to the slow reader is dropped');
      assert.ok(maxBuffered <= options.maxOutgoingBufferBytes! + payload.length + 64, `buffered ${maxBuffered} bytes`);
      flooder.destroy();
      sink.destroy();
    },
  },
  // 3.1.1 only
  {
    name: 'a packet of type 15 (reserved in 3.1.1) is closed',
    versions: [4],
    run: (ctx) => sendAndExpectDisconnect(ctx, Buffer.from([0xf0, 0x00]), 0x81),
  },
  {
    name: 'a PUBLISH just under maximum_packet_size is accepted',
    versions: [4],
    run: async (ctx) => {
      const client = await offender(ctx);
      assert.equal(await client.publish({ topic: 'big/one', payload: Buffer.alloc(1_000_000, 1), qos: 1 }), 0);
    },
  },
  // 5.0 only
  {
    name: 'a PUBLISH with 65,535 user properties is handled like any other, without stalling others',
    versions: [5],
    run: async (ctx) => {
      const client = await offender(ctx);
      client.send(MANY_USER_PROPERTIES);
      const puback = await client.next('puback');
      assert.equal(puback.packetId, 1);
      // 0x10 No matching subscribers: it was read, routed to no one and acknowledged.
      assert.equal(puback.reasonCode, 0x10);
    },
  },
  {
    name: 'a topic alias of 0 is a protocol error',
    ids: ['', 'MQTT-3.3.2-8'],
    versions: [5],
    run: (ctx) => sendAndExpectDisconnect(ctx, publishWithProperties('a', Buffer.from([0x23, 0x00, 0x00])), 0x82),
  },
  {
    name: 'a topic alias above Topic Alias Maximum gets Topic Alias invalid',
    ids: ['', 'MQTT-3.3.2-9'],
    versions: [5],
    run: (ctx) => sendAndExpectDisconnect(ctx, publishWithProperties('a', Buffer.from([0x23, 0x00, 0x0b])), 0x94),
  },
  {
    name: 'a topic alias used before it is set is a protocol error',
    versions: [5],
    run: (ctx) => sendAndExpectDisconnect(ctx, publishWithProperties('', Buffer.from([0x23, 0x00, 0x01])), 0x82),
  },
  {
    name: 'an unknown property identifier is malformed',
    versions: [5],
    run: (ctx) => sendAndExpectDisconnect(ctx, publishWithProperties('a', Buffer.from([0x7f, 0x00])), 0x81),
  },
  {
    name: 'a Payload Format Indicator given twice is a protocol error',
    versions: [5],
    run: (ctx) => sendAndExpectDisconnect(ctx, publishWithProperties('a', Buffer.from([0x01, 0x00, 0x01, 0x00])), 0x82),
  },
  {
    name: 'a Response Topic with a wildcard is a protocol error',
    ids: ['', 'MQTT-3.3.2-14'],
    versions: [5],
    run: (ctx) => sendAndExpectDisconnect(ctx, publishWithProperties('a', Buffer.concat([u8(0x08), str('r/#')])), 0x82),
  },
  {
    name: 'a payload that is not the UTF-8 its Payload Format Indicator announces gets Payload format invalid',
    versions: [5],
    run: (ctx) =>
      sendAndExpectDisconnect(
        ctx,
        frame(0x30, str('a'), varint(2), u8(0x01), u8(0x01), Buffer.from([0xff, 0xfe, 0xfd])),
        0x99,
      ),
  },
  {
    name: 'a CONNECT with Receive Maximum 0 is closed',
    versions: [5],
    run: async (ctx) => {
      // Section 4.13.1: before CONNACK the broker may close without one, which it does.
      await preConnectClose(
        ctx,
        frame(0x10, str('MQTT'), u8(5), u8(0x02), u16(60), varint(3), u8(0x21), u16(0), str(ctx.id)),
      );
    },
  },
];

for (const v of VERSIONS) {
  describe(`29 hostile input (v${v})`, () => {
    const cases = hostile.filter((c) => (c.versions ?? VERSIONS).includes(v));

    it(
      `${cases.length} hostile connections, ${PARALLEL} at a time, each end as the spec says while well-behaved QoS 1 traffic flows on time and in order (v${v})`,
      { concurrency: PARALLEL },
      async (t) => {
        const { broker, port } = await startBroker(t, options);
        const memoryBefore = process.memoryUsage();

        // The well-behaved pair: one QoS 1 message at a time, each stamped with its number and send time.
        const sub = await RawClient.connect(port, { version: v, clientId: 'well-sub' });
        await sub.subscribe('well/#', 1);
        const pub = await RawClient.connect(port, { version: v, clientId: 'well-pub' });
        let stop = false;
        let sent = 0;
        const latencies: number[] = [];
        let maxGap = 0;
        const publishing = (async () => {
          while (!stop) {
            await pub.publish({ topic: 'well/seq', payload: JSON.stringify({ n: sent, at: Date.now() }), qos: 1 });
            sent++;
            await sleep(5);
          }
          await pub.publish({
            topic: 'well/seq',
            payload: JSON.stringify({ n: sent, at: Date.now(), end: true }),
            qos: 1,
          });
        })();
        const receiving = (async () => {
          let last = Date.now();
          for (let n = 0; ; n++) {
            const message = await sub.receive(3000);
            const now = Date.now();
            const body = JSON.parse(message.payload.toString()) as { n: number; at: number; end?: boolean };
            assert.equal(body.n, n, 'in order, none missing');
            if (body.end === true) return;
            latencies.push(now - body.at);
            maxGap = Math.max(maxGap, now - last);
            last = now;
          }
        })();

        await Promise.all(
          cases.map((c, i) => {
            const id = c.ids?.[v === 5 ? 1 : 0] ?? '';
            const prefix = id === '' ? '' : `${cite(v, c.ids![0], c.ids![1])} `;
            return t.test(`${prefix}${c.name} (v${v})`, () => c.run({ broker, port, v, id: `hostile-${i}` }));
          }),
        );

        stop = true;
        await publishing;
        await receiving;
        assert.ok(sent >= 20, `the well-behaved publisher sent ${sent} messages`);
        const maxLatency = Math.max(...latencies);
        t.diagnostic(`${sent} well-behaved messages; slowest ${maxLatency} ms, longest gap ${maxGap} ms`);
        // Correctness bounds, generous: no message is held up behind a hostile connection.
        assert.ok(maxLatency < 1000, `the slowest well-behaved message took ${maxLatency} ms`);
        assert.ok(maxGap < 1000, `the longest gap between well-behaved messages was ${maxGap} ms`);

        // Still serving, with memory bounded.
        const late = await RawClient.connect(port, { version: v, clientId: 'late-comer' });
        await late.ping();
        const memoryAfter = process.memoryUsage();
        const growth = Math.max(memoryAfter.heapUsed - memoryBefore.heapUsed, memoryAfter.rss - memoryBefore.rss);
        assert.ok(growth < 200 * 1024 * 1024, `memory grew by ${Math.round(growth / 1048576)} MB`);
        assert.ok(broker.counters.limits.maxControlPacketRate >= 2);
        assert.ok(broker.counters.limits.packetTimeoutMs >= 2);
        assert.ok(broker.counters.limits.maxConnectionsPerAddress >= 1);
      },
    );
  });
}
