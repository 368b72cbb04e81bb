/**
 * Property-based fuzzing of the codec. The decoder, fed arbitrary bytes or mutations of valid
 * packets, only ever returns packets or throws its typed errors (FennecError with a reason code),
 * never a TypeError or RangeError, and never holds more than the maximum packet size. The encoder,
 * given packets with out-of-range fields, either refuses them with an EncodeError or writes bytes
 * the decoder reads back to the same packet.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FennecError } from '../../src/errors/index.js';
import {
  Decoder,
  EncodeError,
  encode,
  MalformedPacketError,
  PacketTooLargeError,
  ProtocolError,
  UnsupportedProtocolError,
  type Packet,
  type ProtocolVersion,
} from '../../src/protocol/index.js';
import { anyPacket, versionedPacket } from '../fixtures/arbitraries.js';
import { cut, decodeAll } from '../fixtures/codec.js';
import { expectedRoundTrip, goldenPackets, normalize } from '../fixtures/packets.js';

const maximumPacketSize = 512;
const versionOption = fc.constantFrom<ProtocolVersion | undefined>(undefined, 3, 4, 5);

/**
 * Feeds `chunks` to a decoder with a maximum packet size and checks the decoder's contract after
 * every chunk. Returns the packets decoded before it failed, if it failed.
 */
function feedChecked(chunks: readonly Buffer[], protocolVersion: ProtocolVersion | undefined): Packet[] {
  const decoder = new Decoder(
    protocolVersion === undefined ? { maximumPacketSize } : { maximumPacketSize, protocolVersion },
  );
  const packets: Packet[] = [];
  for (const chunk of chunks) {
    try {
      decoder.feed(chunk, (packet) => packets.push(packet));
    } catch (err) {
      assertTypedError(err);
      // A failed decoder stays failed and throws the same error again.
      assert.equal(
        (() => {
          try {
            decoder.feed(Buffer.from([0xc0, 0]), () => undefined);
          } catch (again) {
            return again;
          }
          return undefined;
        })(),
        err,
      );
      return packets;
    }
    assert.ok(decoder.bufferedBytes <= maximumPacketSize, `buffered ${decoder.bufferedBytes} bytes`);
  }
  return packets;
}

function assertTypedError(err: unknown): void {
  assert.ok(err instanceof FennecError, `not a FennecError: ${String(err)}`);
  assert.ok(
    err instanceof MalformedPacketError ||
      err instanceof ProtocolError ||
      err instanceof PacketTooLargeError ||
      err instanceof UnsupportedProtocolError,
    `unexpected error class ${err.name}`,
  );
  assert.ok([0x81, 0x82, 0x84, 0x95].includes(err.reasonCode ?? -1), `reason code ${err.reasonCode}`);
}

/** Splits bytes at a few arbitrary points. */
const chunked = (bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Buffer[]> =>
  bytes.chain((data) =>
    fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, data.length - 1) }), { maxLength: 4 }).map((offsets) => {
      const buf = Buffer.from(data);
      return cut(
        buf,
        offsets.filter((o) => o < buf.length).sort((a, b) => a - b),
      );
    }),
  );

/** Valid wire bytes: a golden packet or a random valid packet, with the version to decode it in. */
const validWire: fc.Arbitrary<{ bytes: Buffer; version: ProtocolVersion }> = fc.oneof(
  fc
    .constantFrom(...goldenPackets.map((g) => ({ bytes: encode(g.packet, g.version), version: g.version })))
    .filter(({ bytes }) => bytes.length <= 2048),
  versionedPacket().map(([version, packet]) => ({ bytes: encode(packet, version), version })),
);

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'overwrite'; at: number; byte: number }
  | { kind: 'delete'; at: number; count: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }),
  }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 4 }) }),
);

function mutate(bytes: Buffer, mutations: readonly Mutation[]): Buffer {
  let out = Buffer.from(bytes);
  for (const m of mutations) {
    if (out.length === 0) break;
    const at = m.at % out.length;
    switch (m.kind) {
      case 'flip':
        out[at] = out[at]! ^ (1 << m.bit);
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), Buffer.from(m.bytes), out.subarray(at)]);
        break;
      case 'overwrite':
        out[at] = m.byte;
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.count)]);
        break;
      default: {
        const never: never = m;
        throw new Error(`unknown mutation ${String(never)}`);
      }
    }
  }
  return out;
}

/**
 * Values at the edges of what each field may hold, of the same JavaScript type as the field, so
 * the packet still type-checks but may break a rule of the standard.
 */
const edgeNumber = fc.constantFrom(
  0,
  -1,
  1.5,
  2,
  3,
  4,
  6,
  255,
  256,
  0xffff,
  0x10000,
  0xffff_ffff,
  2 ** 32,
  268_435_456,
  NaN,
);
const edgeString = fc.constantFrom('', '\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\udc00\ud800', 'a'.repeat(65_536));
const edgeBuffer = fc.constantFrom(Buffer.alloc(0), Buffer.alloc(65_536));

/** Every path to a leaf (or array) of a packet, except the discriminant. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (Buffer.isBuffer(value) || value === null || typeof value !== 'object') return [prefix];
  const out: (string | number)[][] = Array.isArray(value) ? [prefix] : [];
  for (const [key, item] of Object.entries(value)) {
    if (prefix.length === 0 && (key === 'type' || key === 'protocolName')) continue;
    out.push(...paths(item, [...prefix, Array.isArray(value) ? Number(key) : key]));
  }
  return out;
}

function setAt(root: unknown, path: readonly (string | number)[], replace: (old: unknown) => unknown): unknown {
  if (path.length === 0) return replace(root);
  const [head, ...rest] = path;
  if (Array.isArray(root)) {
    const copy: unknown[] = [...(root as unknown[])];
    copy[head as number] = setAt(copy[head as number], rest, replace);
    return copy;
  }
  const copy = { ...(root as Record<string, unknown>) };
  copy[head as string] = setAt(copy[head as string], rest, replace);
  return copy;
}

/** A valid packet with one field replaced by an edge value of the same type. */
const edgyPacket: fc.Arbitrary<[ProtocolVersion, Packet]> = versionedPacket().chain(([version, packet]) => {
  const all = paths(packet);
  if (all.length === 0) return fc.constant<[ProtocolVersion, Packet]>([version, packet]);
  return fc
    .tuple(fc.constantFrom(...all), edgeNumber, edgeString, edgeBuffer, fc.boolean())
    .map(([path, n, s, b, emptyArray]): [ProtocolVersion, Packet] => {
      const edited = setAt(packet, path, (old) => {
        if (typeof old === 'number') return n;
        if (typeof old === 'string') return s;
        if (Buffer.isBuffer(old)) return b;
        // Lists may be emptied; a user property pair is a tuple and keeps its shape.
        if (Array.isArray(old))
          return emptyArray && typeof path[path.length - 1] === 'string' ? [] : (old as unknown[]);
        return old;
      });
      return [version, edited as Packet];
    });
});

describe('codec fuzzing', () => {
  it('turns arbitrary bytes into packets or typed errors only, holding at most the maximum packet size', () => {
    fc.assert(
      fc.property(chunked(fc.uint8Array({ maxLength: 600 })), versionOption, (chunks, version) => {
        feedChecked(chunks, version);
      }),
      { numRuns: 3000 },
    );
  });

  it('turns arbitrary bytes after a valid fixed header into packets or typed errors only', () => {
    const header = fc.integer({ min: 0, max: 255 });
    const body = fc.uint8Array({ maxLength: 120 });
    fc.assert(
      fc.property(header, body, versionOption, (first, rest, version) => {
        const bytes = Buffer.concat([Buffer.from([first, rest.length]), Buffer.from(rest)]);
        feedChecked([bytes], version);
      }),
      { numRuns: 3000 },
    );
  });

  it('turns mutated valid packets (bit flips, truncation, insertion, deletion) into packets or typed errors only', () => {
    fc.assert(
      fc.property(
        validWire,
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        ({ bytes, version }, mutations, byteAtATime) => {
          const mutated = mutate(bytes, mutations);
          const chunks = byteAtATime
            ? Array.from(mutated, (_, i) => mutated.subarray(i, i + 1))
            : [mutated.subarray(0, mutated.length >> 1), mutated.subarray(mutated.length >> 1)];
          feedChecked(chunks, version);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('re-encodes whatever it decodes from mutated input to bytes that decode to the same packets', () => {
    fc.assert(
      fc.property(validWire, fc.array(mutation, { minLength: 1, maxLength: 2 }), ({ bytes, version }, mutations) => {
        const packets = feedChecked([mutate(bytes, mutations)], version);
        for (const packet of packets) {
          const again = decodeAll(
            encode(packet, version),
            packet.type === 'connect' ? {} : { protocolVersion: version },
          );
          assert.deepEqual(normalize(again), [expectedRoundTrip(packet, version)]);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never buffers more than the maximum packet size while a stream of valid packets arrives in small chunks', () => {
    fc.assert(
      fc.property(
        fc.array(anyPacket(5), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 64 }),
        (packets, size) => {
          const stream = Buffer.concat(packets.map((p) => encode(p, 5)));
          const chunks: Buffer[] = [];
          for (let i = 0; i < stream.length; i += size) chunks.push(stream.subarray(i, i + size));
          feedChecked(chunks, 5);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('encodes a packet with an out-of-range field only to bytes the decoder reads back to the same packet', () => {
    fc.assert(
      fc.property(edgyPacket, ([version, packet]) => {
        let bytes: Buffer;
        try {
          bytes = encode(packet, version);
        } catch (err) {
          assert.ok(err instanceof EncodeError, `encode threw ${String(err)}`);
          return;
        }
        const decoded = decodeAll(bytes, packet.type === 'connect' ? {} : { protocolVersion: version });
        assert.deepEqual(normalize(decoded), [expectedRoundTrip(packet, version)]);
      }),
      { numRuns: 4000 },
    );
  });
});
