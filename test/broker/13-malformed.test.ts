// 13: malformed packets and protocol errors after CONNECT: each closes only the connection it
// arrived on (5.0: after DISCONNECT with the reason), and every other client keeps working.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { frame, str, u16, u8, varint } from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, startBroker } from '../helpers/broker.js';

/** One bad packet: its bytes per version, the 5.0 DISCONNECT reason, and the statements it proves. */
interface BadPacket {
  name: string;
  /** Spec ids of 3.1.1 and of 5.0, space-separated; empty when no numbered statement applies. */
  ids: [v311: string, v5: string];
  bytes: (v: 4 | 5) => Buffer;
  /** 5.0 DISCONNECT reason code: 0x81 Malformed Packet unless given. */
  reason?: number;
}

/** An empty 5.0 property block, or nothing in 3.1.1. */
const props = (v: 4 | 5): Buffer => (v === 5 ? u8(0) : Buffer.alloc(0));

const badPackets: BadPacket[] = [
  {
    name: 'a PUBLISH with QoS 3',
    ids: ['MQTT-3.3.1-4', 'MQTT-3.3.1-4'],
    bytes: (v) => frame(0x36, str('a/b'), u16(1), props(v), Buffer.from('x')),
  },
  {
    name: 'a QoS 0 PUBLISH with DUP set',
    ids: ['MQTT-3.3.1-2', 'MQTT-3.3.1-2'],
    bytes: (v) => frame(0x38, str('a/b'), props(v), Buffer.from('x')),
  },
  {
    name: 'a QoS 1 PUBLISH with packet identifier 0',
    ids: ['MQTT-2.3.1-1', ''],
    bytes: (v) => frame(0x32, str('a/b'), u16(0), props(v), Buffer.from('x')),
  },
  {
    name: 'a PUBLISH whose topic is not well-formed UTF-8',
    ids: ['MQTT-1.5.3-1', 'MQTT-1.5.4-1'],
    bytes: (v) => frame(0x30, str(Buffer.from([0x61, 0xff, 0x62])), props(v)),
  },
  {
    name: 'a PUBLISH whose topic encodes a UTF-16 surrogate (U+D800)',
    ids: ['MQTT-1.5.3-1', 'MQTT-1.5.4-1'],
    bytes: (v) => frame(0x30, str(Buffer.from([0x61, 0xed, 0xa0, 0x80])), props(v)),
  },
  {
    name: 'a PUBLISH whose topic contains U+0000',
    ids: ['MQTT-1.5.3-2 MQTT-4.7.3-2', 'MQTT-1.5.4-2 MQTT-4.7.3-2'],
    bytes: (v) => frame(0x30, str(Buffer.from([0x61, 0x00, 0x62])), props(v)),
  },
  {
    name: 'a PUBLISH with an empty topic (and no topic alias)',
    ids: ['MQTT-4.7.3-1', 'MQTT-4.7.3-1'],
    bytes: (v) => frame(0x30, str(''), props(v), Buffer.from('x')),
    reason: 0x82,
  },
  {
    name: 'a PUBLISH whose topic length runs past the packet',
    ids: ['', ''],
    bytes: () => Buffer.from([0x30, 0x03, 0x00, 0x05, 0x61]),
  },
  {
    name: 'a SUBSCRIBE with fixed-header flags 0000',
    ids: ['MQTT-3.8.1-1', 'MQTT-3.8.1-1'],
    bytes: (v) => frame(0x80, u16(1), props(v), str('a/b'), u8(0)),
  },
  {
    name: 'a SUBSCRIBE with no topic filter',
    ids: ['MQTT-3.8.3-3', 'MQTT-3.8.3-2'],
    bytes: (v) => frame(0x82, u16(1), props(v)),
    reason: 0x82,
  },
  {
    name: 'a SUBSCRIBE whose options set reserved bits',
    ids: ['MQTT-3.8.3-4', 'MQTT-3.8.3-5'],
    bytes: (v) => frame(0x82, u16(1), props(v), str('a/b'), u8(v === 5 ? 0x40 : 0x04)),
  },
  {
    name: 'a SUBSCRIBE requesting QoS 3',
    ids: ['MQTT-3.8.3-4', ''],
    bytes: (v) => frame(0x82, u16(1), props(v), str('a/b'), u8(0x03)),
    // 5.0 section 3.8.3.1: a Maximum QoS of 3 is a Protocol Error
    reason: 0x82,
  },
  {
    name: 'an UNSUBSCRIBE with fixed-header flags 0000',
    ids: ['MQTT-3.10.1-1', 'MQTT-3.10.1-1'],
    bytes: (v) => frame(0xa0, u16(1), props(v), str('a/b')),
  },
  {
    name: 'an UNSUBSCRIBE with no topic filter',
    ids: ['MQTT-3.10.3-2', 'MQTT-3.10.3-2'],
    bytes: (v) => frame(0xa2, u16(1), props(v)),
    reason: 0x82,
  },
  {
    name: 'a PUBREL with fixed-header flags 0000',
    ids: ['MQTT-3.6.1-1', 'MQTT-3.6.1-1'],
    bytes: () => frame(0x60, u16(1)),
  },
  {
    name: 'a PINGREQ with a reserved flag set',
    ids: ['MQTT-2.2.2-1 MQTT-2.2.2-2', 'MQTT-2.1.3-1'],
    bytes: () => Buffer.from([0xc1, 0x00]),
  },
  {
    name: 'a DISCONNECT with a reserved flag set',
    ids: ['MQTT-3.14.1-1', 'MQTT-3.14.1-1'],
    bytes: () => Buffer.from([0xe2, 0x00]),
  },
  {
    name: 'a packet of reserved type 0',
    ids: ['', ''],
    bytes: () => Buffer.from([0x00, 0x00]),
  },
  {
    name: 'a remaining length of five bytes',
    ids: ['', 'MQTT-1.5.5-1'],
    bytes: () => Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
  },
  {
    name: 'a remaining length not in its shortest form',
    ids: ['', 'MQTT-1.5.5-1'],
    bytes: () => Buffer.from([0xc0, 0x80, 0x00]),
  },
  {
    name: 'a PINGREQ with a body',
    ids: ['', ''],
    bytes: () => Buffer.from([0xc0, 0x01, 0x00]),
  },
  {
    name: 'a CONNACK sent by a client',
    ids: ['', ''],
    bytes: (v) => frame(0x20, u8(0), u8(0), props(v)),
    reason: 0x82,
  },
];

/** Bytes of a valid PUBLISH whose property block is longer than the packet (5.0). */
function publishWithOverlongProperties(): Buffer {
  return frame(0x30, str('a/b'), varint(20), u8(0x01), u8(1));
}

for (const v of VERSIONS) {
  describe(`13 malformed packets (v${v})`, () => {
    /** A subscriber and a publisher that must keep working while another connection is closed. */
    async function bystanders(port: number): Promise<{ sub: RawClient; pub: RawClient }> {
      const sub = await RawClient.connect(port, { version: v, clientId: 'bystander-sub' });
      await sub.subscribe('ok/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'bystander-pub' });
      return { sub, pub };
    }

    async function stillWorking({ sub, pub }: { sub: RawClient; pub: RawClient }): Promise<void> {
      await pub.publish({ topic: 'ok/after', payload: 'still here', qos: 1 });
      assert.equal((await sub.receive()).payload.toString(), 'still here');
    }

    const cases: BadPacket[] = [...badPackets];
    if (v === 5) {
      cases.push({
        name: 'a PUBLISH whose property length runs past the packet',
        ids: ['', ''],
        bytes: () => publishWithOverlongProperties(),
      });
      cases.push({
        name: 'a SUBSCRIBE with Retain Handling 3',
        ids: ['', ''],
        bytes: () => frame(0x82, u16(1), u8(0), str('a/b'), u8(0x30)),
        reason: 0x82,
      });
      cases.push({
        name: 'a PUBLISH with an unknown property',
        ids: ['', ''],
        bytes: () => frame(0x30, str('a/b'), varint(2), u8(0x7f), u8(0)),
      });
    } else {
      cases.push({
        name: 'an AUTH packet (type 15 is reserved in 3.1.1)',
        ids: ['', ''],
        bytes: () => Buffer.from([0xf0, 0x00]),
      });
    }

    for (const bad of cases) {
      const id = bad.ids[v === 5 ? 1 : 0];
      const prefix = id === '' ? '' : `${cite(v, bad.ids[0], bad.ids[1])} `;
      const reason = bad.reason ?? 0x81;
      it(`${prefix}${bad.name} closes that connection${v === 5 ? ` after DISCONNECT 0x${reason.toString(16)}` : ''}, and only that one (v${v})`, async (t) => {
        const { port } = await startBroker(t);
        const others = await bystanders(port);
        const client = await RawClient.connect(port, { version: v, clientId: 'offender' });
        client.send(bad.bytes(v));
        if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, reason);
        await client.closed();
        await stillWorking(others);
      });
    }

    it(`${v === 5 ? '[MQTT-3.2.2-15] ' : ''}a packet larger than maximumPacketSize closes the connection${v === 5 ? ' after DISCONNECT 0x95' : ''} before the broker reads its body (v${v})`, async (t) => {
      const { port } = await startBroker(t, { maximumPacketSize: 1024 });
      const others = await bystanders(port);
      const client = await RawClient.connect(port, { version: v, clientId: 'big' });
      if (v === 5) assert.equal(client.connack.properties.maximumPacketSize, 1024, 'CONNACK announces the limit');
      const big = pkt.publish(v, { topic: 'ok/big', payload: Buffer.alloc(2000, 1), qos: 1, packetId: 1 });
      // Only the fixed header and the start of the body: the announced size alone is too large.
      client.send(big.subarray(0, 16));
      if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, 0x95);
      await client.closed();
      await others.sub.expectNothing(50);
      await stillWorking(others);
    });

    it(`a packet arriving one byte at a time, and many packets in one write, are read correctly (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const others = await bystanders(port);
      const client = await RawClient.open(port, v);
      const bytes = Buffer.concat([
        pkt.connect({ version: v, clientId: 'dribble', will: { topic: 'ok/will', payload: 'w' } }),
        pkt.publish(v, { topic: 'ok/one', payload: 'slow', qos: 1, packetId: 1 }),
      ]);
      for (const byte of bytes) {
        client.send(Buffer.from([byte]));
        await new Promise((resolve) => setImmediate(resolve));
      }
      await client.next('connack');
      assert.equal((await client.next('puback')).packetId, 1);
      assert.equal((await others.sub.receive()).payload.toString(), 'slow');
      client.send(
        Buffer.concat([
          pkt.publish(v, { topic: 'ok/two', payload: '2' }),
          pkt.publish(v, { topic: 'ok/three', payload: '3', qos: 1, packetId: 2 }),
          pkt.pingreq(),
        ]),
      );
      assert.equal((await client.next('puback')).packetId, 2);
      await client.next('pingresp');
      assert.equal((await others.sub.receive()).topic, 'ok/two');
      assert.equal((await others.sub.receive()).topic, 'ok/three');
    });
  });
}
