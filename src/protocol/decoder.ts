/**
 * Streaming MQTT decoder: feed it chunks of any size and it calls back with whole packets.
 * The remaining length is checked against the maximum packet size as soon as the fixed header
 * is read, before any of the body is buffered, so a peer announcing 256 MB costs nothing.
 */
import { MAX_PACKET_SIZE, type ProtocolVersion } from './constants.js';
import { MalformedPacketError, PacketTooLargeError } from './errors.js';
import type { Packet, PublishPacket } from './packets.js';
import { Reader } from './reader.js';
import { checkFixedHeader, decodeBody } from './decode-body.js';
import { FennecError } from '../errors/index.js';

/** Options of a Decoder. */
export interface DecoderOptions {
  /** Largest packet accepted, in bytes, fixed header included. Default: the protocol's limit, 268,435,460. */
  maximumPacketSize?: number;
  /** Version used for packets other than CONNECT. A decoded CONNECT sets it. Default: unset (read as 4). */
  protocolVersion?: ProtocolVersion;
}

/**
 * The bytes of a decoded PUBLISH as they were received (a view of the chunk it came in, no copy), or
 * undefined for a packet made in memory: a decoded payload ends where its packet ends.
 */
export function receivedBytes(packet: PublishPacket): Buffer | undefined {
  const start = packet.wireStart;
  if (start === undefined) return undefined;
  const payload = packet.payload;
  return Buffer.from(payload.buffer, start, payload.byteOffset + payload.length - start);
}

/** Called with each whole packet, in order. */
export type PacketSink = (packet: Packet) => void;

/**
 * One Reader for every Decoder: a body is decoded synchronously, before any packet is handed on, so
 * the cursor is never shared by two decodes at once. A Reader per Decoder held each connection's
 * last chunk (its Buffer and bytes) for as long as the connection was idle.
 */
const reader = new Reader();
const EMPTY = Buffer.alloc(0);
/** No bytes held: shared, never pushed to (`hold` makes the array a packet's parts are pushed to). */
const NO_PARTS: readonly Buffer[] = Object.freeze([]);

/**
 * Turns a byte stream into packets. Once it has thrown (a MalformedPacketError, ProtocolError,
 * PacketTooLargeError or UnsupportedProtocolError) it is failed and throws the same error again;
 * the connection is expected to close.
 */
export class Decoder {
  /** Version of the peer's protocol; set by a decoded CONNECT, or by the client before it connects. */
  protocolVersion: ProtocolVersion | undefined;
  /** Largest packet accepted, in bytes, fixed header included. */
  maximumPacketSize: number;

  /** Bytes of an incomplete packet, from its first byte; NO_PARTS while none. */
  private parts: Buffer[] = NO_PARTS as Buffer[];
  private partsLength = 0;
  /** Total size of the incomplete packet, or -1 while its fixed header is incomplete. */
  private expected = -1;
  private failure: FennecError | undefined;

  constructor(options: DecoderOptions = {}) {
    this.maximumPacketSize = options.maximumPacketSize ?? MAX_PACKET_SIZE;
    this.protocolVersion = options.protocolVersion;
  }

  /**
   * Whether a decoded PUBLISH carries `wireStart` (see WireDecoder). A getter of the class, not a
   * field: every idle connection holds a Decoder, and this costs it no memory.
   */
  protected get wireOffsets(): boolean {
    return false;
  }

  /** Size in bytes, fixed header included, of the packet last passed to `onPacket`; 0 before any. */
  lastPacketSize = 0;

  /** Bytes held for a packet that has not fully arrived. */
  get bufferedBytes(): number {
    return this.partsLength;
  }

  /**
   * Decodes every whole packet in `chunk` (together with bytes held from earlier chunks) and
   * passes each to `onPacket`. An exception thrown by `onPacket` propagates and drops the rest
   * of the chunk.
   */
  feed(chunk: Buffer, onPacket: PacketSink): void {
    if (this.failure !== undefined) throw this.failure;
    let data = chunk;
    // A held fixed header is finished with at most four borrowed bytes, so that a large chunk is
    // not copied just to complete a header of a few bytes.
    while (this.partsLength > 0 && this.expected < 0 && data.length > 0) {
      const borrowed = Math.min(data.length, 4);
      const head = Buffer.concat([...this.parts, data.subarray(0, borrowed)]);
      this.parts = NO_PARTS as Buffer[];
      this.partsLength = 0;
      data = data.subarray(borrowed);
      this.process(head, onPacket);
    }
    if (data.length === 0) return;
    if (this.partsLength > 0) {
      // The held packet's size is known: copy in only the bytes it lacks and read the rest of the chunk in place.
      const missing = this.expected - this.partsLength;
      if (data.length < missing) {
        this.parts.push(data);
        this.partsLength += data.length;
        return;
      }
      this.parts.push(data.subarray(0, missing));
      const whole = Buffer.concat(this.parts, this.expected);
      this.parts = NO_PARTS as Buffer[];
      this.partsLength = 0;
      this.expected = -1;
      this.process(whole, onPacket);
      data = data.subarray(missing);
    }
    this.process(data, onPacket);
  }

  private process(buf: Buffer, onPacket: PacketSink): void {
    let offset = 0;
    const length = buf.length;
    while (offset < length) {
      let packet: Packet;
      try {
        const first = buf[offset]!;
        // Remaining Length: a Variable Byte Integer of at most four bytes [MQTT-1.5.5-1].
        let remaining = 0;
        let multiplier = 1;
        let i = offset + 1;
        let complete = false;
        while (i < length && i <= offset + 4) {
          const byte = buf[i++]!;
          remaining += (byte & 0x7f) * multiplier;
          if ((byte & 0x80) === 0) {
            if (byte === 0 && i - offset > 2)
              throw new MalformedPacketError('remaining length is not minimally encoded');
            complete = true;
            break;
          }
          multiplier *= 128;
        }
        if (!complete) {
          if (i > offset + 4) throw new MalformedPacketError('remaining length is longer than four bytes');
          this.hold(buf, offset, -1);
          return;
        }
        const headerLength = i - offset;
        const total = headerLength + remaining;
        if (total > this.maximumPacketSize) throw new PacketTooLargeError(total, this.maximumPacketSize);
        if (offset + total > length) {
          // Checked now, so a packet of a reserved type or with bad flags is refused before its body arrives.
          checkFixedHeader(first, this.protocolVersion);
          this.hold(buf, offset, total);
          return;
        }
        reader.reset(buf, offset + headerLength, offset + total);
        packet = decodeBody(first, reader, this.protocolVersion, this.wireOffsets ? offset : -1);
        // Not left pointing at this connection's chunk (a throw leaves it: the connection then closes).
        reader.reset(EMPTY, 0, 0);
        if (packet.type === 'connect') this.protocolVersion = packet.protocolVersion;
        offset += total;
        this.lastPacketSize = total;
      } catch (err) {
        if (err instanceof FennecError) this.failure = err;
        throw err;
      }
      onPacket(packet);
    }
  }

  private hold(buf: Buffer, offset: number, expected: number): void {
    // A view, not a copy: Node never reuses a chunk it has handed to a 'data' listener.
    const rest = buf.subarray(offset);
    this.parts = [rest];
    this.partsLength = rest.length;
    this.expected = expected;
  }
}

/**
 * A Decoder whose PUBLISH packets carry `wireStart`, so that `receivedBytes` gives their bytes as
 * received: the broker forwards them (session/verbatim.ts). Elsewhere a decoded packet has no such field.
 */
export class WireDecoder extends Decoder {
  protected override get wireOffsets(): boolean {
    return true;
  }
}
