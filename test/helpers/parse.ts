/**
 * A strict parser of what a broker sends, written by hand from the standards and independent of
 * src/protocol (see ./packets.ts). Anything a broker must not send (a reserved flag, an unknown
 * property, a 3.1.1 DISCONNECT) is an error, so every test also checks the broker's output.
 */
import { propertyTable, type Properties, type ProtocolVersion, type QoS } from './packets.js';

const propertyById = new Map(propertyTable.map(([id, name, kind]) => [id, { name, kind }]));

export interface ConnackIn {
  type: 'connack';
  sessionPresent: boolean;
  /** 3.1.1 return code or 5.0 reason code. */
  reasonCode: number;
  properties: Properties;
}

export interface PublishIn {
  type: 'publish';
  topic: string;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** 0 for QoS 0 (absent on the wire). */
  packetId: number;
  payload: Buffer;
  properties: Properties;
}

export type AckType = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';

/** PUBACK, PUBREC, PUBREL or PUBCOMP. */
export interface AckIn<T extends AckType = AckType> {
  type: T;
  packetId: number;
  /** 0 when the 5.0 packet left it out, and always in 3.1.1. */
  reasonCode: number;
  properties: Properties;
}

export interface SubackIn {
  type: 'suback';
  packetId: number;
  /** Granted QoS or failure code, one per filter. */
  reasonCodes: number[];
  properties: Properties;
}

export interface UnsubackIn {
  type: 'unsuback';
  packetId: number;
  /** One per filter in 5.0; empty in 3.1.1. */
  reasonCodes: number[];
  properties: Properties;
}

export interface PingrespIn {
  type: 'pingresp';
}

export interface DisconnectIn {
  type: 'disconnect';
  /** 0 when left out. */
  reasonCode: number;
  properties: Properties;
}

export interface AuthIn {
  type: 'auth';
  reasonCode: number;
  properties: Properties;
}

/** Every packet a broker may send. */
export type ReceivedPacket =
  | ConnackIn
  | PublishIn
  | AckIn<'puback'>
  | AckIn<'pubrec'>
  | AckIn<'pubrel'>
  | AckIn<'pubcomp'>
  | SubackIn
  | UnsubackIn
  | PingrespIn
  | DisconnectIn
  | AuthIn;
export type ReceivedType = ReceivedPacket['type'];
export type ReceivedOf<T extends ReceivedType> = Extract<ReceivedPacket, { type: T }>;

/** The broker sent bytes that are not a packet a broker may send. */
export class BadPacketError extends Error {
  override readonly name = 'BadPacketError';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Reads the fields of one packet body. */
class BodyReader {
  private offset = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  private need(n: number, field: string): void {
    if (this.remaining < n) throw new BadPacketError(`${this.what}: truncated ${field}`);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf[this.offset++]!;
  }

  u16(field: string): number {
    this.need(2, field);
    const value = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  u32(field: string): number {
    this.need(4, field);
    const value = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  varint(field: string): number {
    let value = 0;
    let multiplier = 1;
    for (let i = 0; i < 4; i++) {
      const byte = this.u8(field);
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return value;
      multiplier *= 128;
    }
    throw new BadPacketError(`${this.what}: ${field} is longer than four bytes`);
  }

  binary(field: string): Buffer {
    const length = this.u16(field);
    this.need(length, field);
    const value = this.buf.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  string(field: string): string {
    const bytes = this.binary(field);
    let value: string;
    try {
      value = utf8.decode(bytes);
    } catch {
      throw new BadPacketError(`${this.what}: ${field} is not well-formed UTF-8`);
    }
    if (value.includes('\u0000')) throw new BadPacketError(`${this.what}: ${field} contains U+0000`);
    return value;
  }

  rest(): Buffer {
    const value = this.buf.subarray(this.offset);
    this.offset = this.buf.length;
    return value;
  }

  properties(): Properties {
    const length = this.varint('property length');
    this.need(length, 'properties');
    const end = this.offset + length;
    const props: Properties = {};
    const seen = new Set<number>();
    while (this.offset < end) {
      const id = this.varint('property identifier');
      const entry = propertyById.get(id);
      if (entry === undefined) throw new BadPacketError(`${this.what}: unknown property 0x${id.toString(16)}`);
      const { name, kind } = entry;
      if (kind === 'pair') {
        (props.userProperties ??= []).push([this.string('user property name'), this.string('user property value')]);
        continue;
      }
      if (id === 0x0b) {
        (props.subscriptionIdentifiers ??= []).push(this.varint('subscription identifier'));
        continue;
      }
      if (seen.has(id)) throw new BadPacketError(`${this.what}: property ${name} appears twice`);
      seen.add(id);
      let value: number | string | Buffer;
      switch (kind) {
        case 'byte':
          value = this.u8(name);
          break;
        case 'u16':
          value = this.u16(name);
          break;
        case 'u32':
          value = this.u32(name);
          break;
        case 'varint':
          value = this.varint(name);
          break;
        case 'string':
          value = this.string(name);
          break;
        case 'binary':
          value = Buffer.from(this.binary(name));
          break;
      }
      (props as Record<string, unknown>)[name] = value;
    }
    if (this.offset !== end) throw new BadPacketError(`${this.what}: properties overrun their length`);
    return props;
  }

  end(): void {
    if (this.remaining !== 0) throw new BadPacketError(`${this.what}: ${this.remaining} unexpected trailing bytes`);
  }
}

/** Parses one whole packet a broker sent, checking the fixed-header flags of Table 2-2. */
export function parsePacket(first: number, body: Buffer, version: ProtocolVersion): ReceivedPacket {
  const type = first >> 4;
  const flags = first & 0x0f;
  const v5 = version === 5;
  const expectFlags = (what: string, required: number): BodyReader => {
    if (flags !== required) {
      throw new BadPacketError(`${what} has fixed-header flags ${flags.toString(2).padStart(4, '0')}`);
    }
    return new BodyReader(body, what);
  };
  switch (type) {
    case 2: {
      const r = expectFlags('CONNACK', 0);
      const ackFlags = r.u8('connect acknowledge flags');
      // Bits 7-1 are reserved; 3.1 has no Session Present either.
      if ((ackFlags & (version === 3 ? 0xff : 0xfe)) !== 0) {
        throw new BadPacketError(`CONNACK has reserved acknowledge flags 0x${ackFlags.toString(16)}`);
      }
      const reasonCode = r.u8('reason code');
      const props = v5 ? r.properties() : {};
      r.end();
      return { type: 'connack', sessionPresent: ackFlags === 1, reasonCode, properties: props };
    }
    case 3: {
      const qos = (flags >> 1) & 0x03;
      if (qos === 3) throw new BadPacketError('PUBLISH with QoS 3');
      const dup = (flags & 0x08) !== 0;
      if (qos === 0 && dup) throw new BadPacketError('QoS 0 PUBLISH with DUP set');
      const r = new BodyReader(body, 'PUBLISH');
      const topic = r.string('topic name');
      const packetId = qos > 0 ? r.u16('packet identifier') : 0;
      if (qos > 0 && packetId === 0) throw new BadPacketError('PUBLISH with packet identifier 0');
      const props = v5 ? r.properties() : {};
      return {
        type: 'publish',
        topic,
        qos: qos as QoS,
        retain: (flags & 0x01) !== 0,
        dup,
        packetId,
        payload: Buffer.from(r.rest()),
        properties: props,
      };
    }
    case 4:
    case 5:
    case 6:
    case 7: {
      const name = (['puback', 'pubrec', 'pubrel', 'pubcomp'] as const)[type - 4]!;
      const r = expectFlags(name.toUpperCase(), type === 6 ? 0x02 : 0);
      const packetId = r.u16('packet identifier');
      if (packetId === 0) throw new BadPacketError(`${name.toUpperCase()} with packet identifier 0`);
      let reasonCode = 0;
      let props: Properties = {};
      if (v5 && r.remaining > 0) {
        reasonCode = r.u8('reason code');
        if (r.remaining > 0) props = r.properties();
      }
      r.end();
      return { type: name, packetId, reasonCode, properties: props };
    }
    case 9: {
      const r = expectFlags('SUBACK', 0);
      const packetId = r.u16('packet identifier');
      const props = v5 ? r.properties() : {};
      const reasonCodes: number[] = [];
      while (r.remaining > 0) reasonCodes.push(r.u8('reason code'));
      if (reasonCodes.length === 0) throw new BadPacketError('SUBACK without a reason code');
      return { type: 'suback', packetId, reasonCodes, properties: props };
    }
    case 11: {
      const r = expectFlags('UNSUBACK', 0);
      const packetId = r.u16('packet identifier');
      const reasonCodes: number[] = [];
      let props: Properties = {};
      if (v5) {
        props = r.properties();
        while (r.remaining > 0) reasonCodes.push(r.u8('reason code'));
        if (reasonCodes.length === 0) throw new BadPacketError('5.0 UNSUBACK without a reason code');
      }
      r.end();
      return { type: 'unsuback', packetId, reasonCodes, properties: props };
    }
    case 13: {
      const r = expectFlags('PINGRESP', 0);
      r.end();
      return { type: 'pingresp' };
    }
    case 14: {
      const r = expectFlags('DISCONNECT', 0);
      if (!v5) throw new BadPacketError('a 3.1 / 3.1.1 server never sends DISCONNECT');
      let reasonCode = 0;
      let props: Properties = {};
      if (r.remaining > 0) {
        reasonCode = r.u8('reason code');
        if (r.remaining > 0) props = r.properties();
      }
      r.end();
      return { type: 'disconnect', reasonCode, properties: props };
    }
    case 15: {
      const r = expectFlags('AUTH', 0);
      if (!v5) throw new BadPacketError('AUTH exists only in 5.0');
      let reasonCode = 0;
      let props: Properties = {};
      if (r.remaining > 0) {
        reasonCode = r.u8('reason code');
        if (r.remaining > 0) props = r.properties();
      }
      r.end();
      return { type: 'auth', reasonCode, properties: props };
    }
    default:
      throw new BadPacketError(`a server does not send packet type ${type}`);
  }
}

/**
 * Splits a byte stream into packets and parses each. `version` says how to read them; it may
 * change between packets (a client that learns the broker's version).
 */
export class PacketStream {
  private pending: Buffer = Buffer.alloc(0);

  constructor(public version: ProtocolVersion) {}

  /** Bytes held for a packet that has not fully arrived. */
  get buffered(): number {
    return this.pending.length;
  }

  /** Adds `chunk`; returns every packet it completed, in order. Throws BadPacketError. */
  push(chunk: Buffer): ReceivedPacket[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: ReceivedPacket[] = [];
    for (;;) {
      const buf = this.pending;
      if (buf.length < 2) break;
      let remaining = 0;
      let multiplier = 1;
      let i = 1;
      let complete = false;
      while (i < buf.length && i <= 4) {
        const byte = buf[i++]!;
        remaining += (byte & 0x7f) * multiplier;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
        multiplier *= 128;
      }
      if (!complete) {
        if (i > 4) throw new BadPacketError('remaining length is longer than four bytes');
        break;
      }
      if (buf.length < i + remaining) break;
      out.push(parsePacket(buf[0]!, buf.subarray(i, i + remaining), this.version));
      this.pending = buf.subarray(i + remaining);
    }
    return out;
  }
}

/** A short description of a received packet, for failure messages. */
export function describePacket(packet: ReceivedPacket): string {
  switch (packet.type) {
    case 'connack':
      return `CONNACK(sessionPresent=${packet.sessionPresent}, code=0x${packet.reasonCode.toString(16)})`;
    case 'publish':
      return `PUBLISH(topic=${JSON.stringify(packet.topic)}, qos=${packet.qos}, retain=${packet.retain}, dup=${packet.dup}, id=${packet.packetId}, ${packet.payload.length} bytes)`;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return `${packet.type.toUpperCase()}(id=${packet.packetId}, code=0x${packet.reasonCode.toString(16)})`;
    case 'suback':
    case 'unsuback':
      return `${packet.type.toUpperCase()}(id=${packet.packetId}, codes=[${packet.reasonCodes.map((c) => '0x' + c.toString(16)).join(', ')}])`;
    case 'pingresp':
      return 'PINGRESP';
    case 'disconnect':
    case 'auth':
      return `${packet.type.toUpperCase()}(code=0x${packet.reasonCode.toString(16)})`;
    default: {
      const never: never = packet;
      return String(never);
    }
  }
}
