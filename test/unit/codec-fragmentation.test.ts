/**
 * The decoder reads a byte stream however TCP cuts it: a packet split anywhere, one byte at a
 * time, many packets in one chunk, and random chunkings of a long stream.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Decoder, encode, type Packet, type ProtocolVersion } from '../../src/protocol/index.js';
import { goldenPackets, normalize, type GoldenPacket } from '../fixtures/packets.js';
import { cut, decodeAll } from '../fixtures/codec.js';

/** Every golden packet with its encoding, for the version it belongs to. */
const encoded = goldenPackets.map((g) => ({ ...g, wire: encode(g.packet, g.version) }));

/** Decoder options for a golden packet: a CONNECT sets the version itself, others need it given. */
function optionsFor(g: GoldenPacket): { protocolVersion?: ProtocolVersion } {
  return g.packet.type === 'connect' ? {} : { protocolVersion: g.version };
}

/** Offsets to split at: every one for small packets; for large ones, both ends and a stride through the middle. */
function splitPoints(length: number): number[] {
  const points: number[] = [];
  for (let i = 1; i < length; i++) {
    if (length <= 2048 || i < 64 || i > length - 64 || i % 997 === 0) points.push(i);
  }
  return points;
}

describe('codec fragmentation', () => {
  describe('a packet split in two', () => {
    for (const g of encoded) {
      it(`decodes ${g.name} split in two pieces at every byte boundary`, () => {
        const expected = [normalize(g.packet)];
        for (const at of splitPoints(g.wire.length)) {
          const packets = decodeAll(cut(g.wire, [at]), optionsFor(g));
          assert.deepEqual(normalize(packets), expected, `split at ${at} of ${g.wire.length}`);
        }
      });
    }
  });

  it('decodes every golden packet fed one byte at a time, holding only the bytes of the packet in progress', () => {
    for (const g of encoded) {
      const decoder = new Decoder(optionsFor(g));
      const packets: Packet[] = [];
      for (let i = 0; i < g.wire.length; i++) {
        decoder.feed(g.wire.subarray(i, i + 1), (p) => packets.push(p));
        if (i < g.wire.length - 1) {
          assert.equal(packets.length, 0, g.name);
          assert.equal(decoder.bufferedBytes, i + 1, g.name);
        }
      }
      assert.equal(decoder.bufferedBytes, 0, g.name);
      assert.deepEqual(normalize(packets), [normalize(g.packet)], g.name);
    }
  });

  it('ignores an empty chunk between two halves of a packet', () => {
    const g = encoded.find((x) => x.name === 'publish qos1 v5 properties')!;
    const packets = decodeAll([g.wire.subarray(0, 5), Buffer.alloc(0), g.wire.subarray(5)], optionsFor(g));
    assert.deepEqual(normalize(packets), [normalize(g.packet)]);
  });

  it('decodes a packet whose fixed header is split over three chunks, with tiny packets around it', () => {
    const big = encoded.find((g) => g.name === 'publish qos0 v4 three-byte remaining length')!;
    const ping = encoded.find((g) => g.name === 'pingreq v4')!;
    const stream = Buffer.concat([ping.wire, big.wire, ping.wire, ping.wire]);
    // Cut after the first byte of the PUBLISH, after its second byte, and inside the following PINGREQs.
    const chunks = cut(stream, [3, 4, 2 + big.wire.length - 1, 2 + big.wire.length + 3]);
    const packets = decodeAll(chunks, { protocolVersion: 4 });
    assert.deepEqual(normalize(packets), normalize([ping.packet, big.packet, ping.packet, ping.packet]));
  });

  for (const version of [3, 4, 5] as const) {
    const pool = encoded.filter((g) => g.version === version && g.packet.type !== 'connect');
    it(`decodes 100 mixed version ${version} packets arriving in one chunk, in order`, () => {
      const picks = Array.from({ length: 100 }, (_, i) => pool[(i * 37) % pool.length]!);
      const stream = Buffer.concat(picks.map((g) => g.wire));
      const packets = decodeAll(stream, { protocolVersion: version });
      assert.deepEqual(normalize(packets), normalize(picks.map((g) => g.packet)));
    });
  }

  it('decodes a CONNECT and the packets after it in one chunk with the version the CONNECT names', () => {
    const connect = encoded.find((g) => g.name === 'connect v5 all properties')!;
    const rest = encoded.filter((g) => g.version === 5 && g.packet.type !== 'connect').slice(0, 40);
    const stream = Buffer.concat([connect.wire, ...rest.map((g) => g.wire)]);
    const packets = decodeAll(stream);
    assert.deepEqual(normalize(packets), normalize([connect.packet, ...rest.map((g) => g.packet)]));
  });

  for (const version of [3, 4, 5] as const) {
    it(`decodes a stream of version ${version} packets cut into random chunks to the same packets`, () => {
      const pool = encoded.filter((g) => g.version === version && g.packet.type !== 'connect' && g.wire.length < 4096);
      const arbitrary = fc
        .array(fc.integer({ min: 0, max: pool.length - 1 }), { minLength: 1, maxLength: 30 })
        .chain((indices) => {
          const stream = Buffer.concat(indices.map((i) => pool[i]!.wire));
          return fc.tuple(
            fc.constant(indices),
            fc.constant(stream),
            fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, stream.length - 1) }), {
              maxLength: Math.min(60, stream.length - 1),
            }),
          );
        });
      fc.assert(
        fc.property(arbitrary, ([indices, stream, offsets]) => {
          const chunks = cut(
            stream,
            [...offsets].sort((a, b) => a - b),
          );
          const packets = decodeAll(chunks, { protocolVersion: version });
          assert.deepEqual(normalize(packets), normalize(indices.map((i) => pool[i]!.packet)));
        }),
        { numRuns: 200 },
      );
    });
  }
});
