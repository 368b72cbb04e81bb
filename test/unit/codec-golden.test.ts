/**
 * The golden packets, both ways: the hand-written bytes from the standard are what the encoder
 * writes and what the decoder reads, and every golden packet survives a round trip.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  allowedSubackReturnCodesV4,
  Decoder,
  EncodeError,
  encode,
  type Packet,
  type ProtocolVersion,
} from '../../src/protocol/index.js';
import { expectedRoundTrip, golden, goldenPackets, handWrittenPackets, normalize, wire } from '../fixtures/packets.js';
import { decodeAll, thrownBy } from '../fixtures/codec.js';

/** Whether the return codes of 3.1 / 3.1.1 can carry the codes of `packet`. */
function expressibleIn(packet: Packet, version: ProtocolVersion): boolean {
  if (version === 5) return true;
  if (packet.type === 'connack') return packet.reasonCode <= 5;
  if (packet.type === 'suback') return packet.reasonCodes.every((code) => allowedSubackReturnCodesV4.has(code));
  return true;
}

function decodeOne(bytes: Buffer, version: ProtocolVersion): Packet {
  const packets = decodeAll(bytes, { protocolVersion: version });
  assert.equal(packets.length, 1, 'exactly one packet');
  return packets[0]!;
}

describe('codec golden packets', () => {
  it('has unique names and covers every packet type in every version that has it', () => {
    const names = new Set(goldenPackets.map((g) => g.name));
    assert.equal(names.size, goldenPackets.length);
    const types: Packet['type'][] = [
      'connect',
      'connack',
      'publish',
      'puback',
      'pubrec',
      'pubrel',
      'pubcomp',
      'subscribe',
      'suback',
      'unsubscribe',
      'unsuback',
      'pingreq',
      'pingresp',
      'disconnect',
      'auth',
    ];
    for (const version of [3, 4, 5] as const) {
      for (const type of types) {
        if (type === 'auth' && version !== 5) continue;
        assert.ok(
          goldenPackets.some((g) => g.version === version && g.packet.type === type),
          `${type} in version ${version}`,
        );
      }
    }
  });

  describe('hand-written bytes from the standard', () => {
    for (const g of handWrittenPackets) {
      it(`encodes ${g.name} to the bytes the standard gives`, () => {
        assert.equal(encode(g.packet, g.version).toString('hex'), g.bytes.toString('hex'));
      });
      it(`decodes the bytes of ${g.name} to the packet`, () => {
        assert.deepEqual(normalize(decodeOne(g.bytes, g.version)), normalize(g.packet));
      });
    }
  });

  describe('round trip', () => {
    for (const g of goldenPackets) {
      it(`encodes and decodes ${g.name} back to itself`, () => {
        const bytes = encode(g.packet, g.version);
        assert.deepEqual(normalize(decodeOne(bytes, g.version)), normalize(g.packet));
        // Encoding is deterministic: the decoded packet encodes to the same bytes.
        assert.equal(encode(decodeOne(bytes, g.version), g.version).toString('hex'), bytes.toString('hex'));
      });
    }
  });

  describe('one packet in every version', () => {
    // A packet written for 5.0 encoded as 3.1 or 3.1.1 loses what those versions cannot carry,
    // and nothing else. CONNECT always speaks its own protocolVersion; AUTH exists only in 5.0.
    const fiveOnly = goldenPackets.filter((g) => g.version === 5 && g.packet.type !== 'connect');
    for (const g of fiveOnly) {
      for (const version of [3, 4] as const) {
        if (g.packet.type === 'auth') {
          it(`refuses to encode ${g.name} as version ${version}, which has no AUTH`, () => {
            assert.ok(thrownBy(() => encode(g.packet, version)) instanceof EncodeError);
          });
          continue;
        }
        if (g.packet.type === 'publish' && g.packet.topic === '') continue; // needs a 5.0 topic alias
        if (!expressibleIn(g.packet, version)) {
          it(`refuses to encode ${g.name} as version ${version}, whose return codes cannot say it`, () => {
            assert.ok(thrownBy(() => encode(g.packet, version)) instanceof EncodeError);
          });
          continue;
        }
        it(`encodes ${g.name} as version ${version} without its 5.0 fields`, () => {
          const decoded = decodeOne(encode(g.packet, version), version);
          assert.deepEqual(normalize(decoded), expectedRoundTrip(g.packet, version));
        });
      }
    }
  });

  describe('statements of the standard shown by the golden bytes', () => {
    it('[MQTT-2.2.2-1] (5.0) writes a property length of 0 when a packet has no properties', () => {
      const bytes = encode(golden('publish qos0 v5 no properties').packet, 5);
      assert.equal(bytes[2 + 5], 0, 'the byte after the topic name is the property length 0');
    });

    it('[MQTT-1.5.3-3] (3.1.1) [MQTT-1.5.4-3] (5.0) keeps a leading BOM in a string, neither skipped nor stripped', () => {
      for (const version of [4, 5] as const) {
        const bytes = wire(
          0x30,
          6 + (version === 5 ? 1 : 0),
          0,
          4,
          0xef,
          0xbb,
          0xbf,
          'a',
          ...(version === 5 ? [0] : []),
        );
        const packet = decodeOne(bytes, version);
        assert.equal(packet.type === 'publish' && packet.topic, '\ufeffa');
      }
    });

    it('[MQTT-3.1.3-1] (3.1.1 and 5.0) writes the CONNECT payload in order: client id, will, user name, password', () => {
      const bytes = encode(golden('connect v4 will user name and password').packet, 4);
      const text = bytes.toString('latin1');
      const positions = ['c1', 'w/t', 'bye', '\u0000\u0001u', '\u0000\u0001p'].map((field) => text.indexOf(field));
      assert.deepEqual(
        positions,
        [...positions].sort((a, b) => a - b),
      );
      assert.ok(positions.every((p) => p > 0));
    });

    it('[MQTT-3.3.1-2] never sets DUP on a QoS 0 PUBLISH, even when asked to', () => {
      for (const version of [3, 4, 5] as const) {
        const bytes = encode({ ...golden('publish qos0 v4').packet, dup: true } as Packet, version);
        assert.equal(bytes[0]! & 0x08, 0);
      }
    });

    it('[MQTT-2.3.1-5] (3.1.1) [MQTT-2.2.1-2] (5.0) writes no packet identifier in a QoS 0 PUBLISH', () => {
      const packet = { ...golden('publish qos0 v4').packet, packetId: 77 } as Packet;
      assert.equal(encode(packet, 4).toString('hex'), golden('publish qos0 v4').bytes!.toString('hex'));
    });

    it('[MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1] writes the flags 0010 on PUBREL, SUBSCRIBE and UNSUBSCRIBE', () => {
      for (const version of [3, 4, 5] as const) {
        for (const name of ['pubrel', 'subscribe', 'unsubscribe'] as const) {
          const g = goldenPackets.find((x) => x.version === version && x.packet.type === name)!;
          assert.equal(encode(g.packet, g.version)[0]! & 0x0f, 0b0010, `${name} v${version}`);
        }
      }
    });

    it('[MQTT-1.5.5-1] writes every Variable Byte Integer in the fewest bytes', () => {
      const cases: [number, number[]][] = [
        [1, [0x01]],
        [127, [0x7f]],
        [128, [0x80, 0x01]],
        [16_383, [0xff, 0x7f]],
        [16_384, [0x80, 0x80, 0x01]],
        [2_097_151, [0xff, 0xff, 0x7f]],
        [2_097_152, [0x80, 0x80, 0x80, 0x01]],
        [268_435_455, [0xff, 0xff, 0xff, 0x7f]],
      ];
      for (const [value, expected] of cases) {
        const packet: Packet = {
          type: 'subscribe',
          packetId: 1,
          properties: { subscriptionIdentifier: value },
          subscriptions: [{ topicFilter: 'a', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
        };
        const bytes = encode(packet, 5);
        const body = wire(0, 1, 1 + expected.length, 0x0b, expected, 0, 1, 'a', 0);
        assert.equal(bytes.toString('hex'), wire(0x82, body.length, body).toString('hex'), `value ${value}`);
      }
    });

    it('writes a remaining length in four bytes for a 2 MiB packet and reads it back', () => {
      const payload = Buffer.alloc(2_097_152, 1);
      const packet: Packet = { type: 'publish', topic: 't', payload, qos: 0, retain: false, dup: false, packetId: 0 };
      const bytes = encode(packet, 4);
      // remaining length 2,097,155 = 3 + 0 * 128 + 0 * 128^2 + 1 * 128^3
      assert.equal(bytes.subarray(0, 5).toString('hex'), '3083808001');
      assert.deepEqual(normalize(decodeOne(bytes, 4)), normalize(packet));
    });

    it('reads a CONNECT in any version and sets the decoder to the version it names', () => {
      for (const version of [3, 4, 5] as const) {
        const g = goldenPackets.find((x) => x.version === version && x.packet.type === 'connect')!;
        const decoder = new Decoder();
        const packets: Packet[] = [];
        decoder.feed(encode(g.packet, version), (p) => packets.push(p));
        assert.equal(decoder.protocolVersion, version);
        assert.deepEqual(normalize(packets), [normalize(g.packet)]);
      }
    });

    it('keeps the order of user properties and repeated names', () => {
      const packet = golden('publish qos2 v5 all properties').packet;
      const decoded = decodeOne(encode(packet, 5), 5);
      assert.ok(decoded.type === 'publish');
      assert.deepEqual(decoded.properties?.userProperties, [
        ['region', 'eu'],
        ['region', 'us'],
        ['é', '🦊'],
      ]);
      assert.deepEqual(decoded.properties?.subscriptionIdentifiers, [1, 127, 128, 16_383, 16_384, 268_435_455]);
    });
  });
});
