/**
 * The form of a message between nodes: a 4-byte header length, the header as JSON (topic, QoS,
 * flags, publisher, times, 5.0 properties with their binary values in base64), then the payload bytes
 * as they are. Used for stream entries and for the cluster's retained messages.
 */
import type { PublishProperties, QoS } from '../protocol/index.js';
import type { Message } from '../session/message.js';

interface Header {
  t: string;
  q: QoS;
  r: boolean;
  c: string;
  a: number;
  e?: number;
  o?: unknown;
}

/** Marks a Buffer inside the JSON of the properties. */
const BINARY = '$b64';

/** JSON.stringify's replacer: a Buffer becomes `{ $b64: BASE64 }`. */
export function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  // JSON.stringify hands Buffer.toJSON's result to the replacer; the holder still has the Buffer.
  const original = key === '' ? value : (this as Record<string, unknown>)[key];
  return Buffer.isBuffer(original) ? { [BINARY]: original.toString('base64') } : value;
}

/** JSON.parse's reviver: the inverse of jsonReplacer. */
export function jsonReviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && BINARY in value) {
    return Buffer.from(String((value as Record<string, unknown>)[BINARY]), 'base64');
  }
  return value;
}

/**
 * Turns the `{ "$b64": ... }` objects inside the parsed properties back into Buffers. Only the
 * properties are walked (a JSON.parse reviver would be called for every key of every header).
 */
function revive(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(revive);
  const record = value as Record<string, unknown>;
  if (BINARY in record) return Buffer.from(String(record[BINARY]), 'base64');
  for (const key of Object.keys(record)) record[key] = revive(record[key]);
  return record;
}

/** Properties that belong to one hop or one delivery, never carried to another node. */
function carried(properties: PublishProperties | undefined): PublishProperties | undefined {
  if (properties === undefined) return undefined;
  const { topicAlias: _alias, subscriptionIdentifiers: _ids, ...rest } = properties;
  return Object.keys(rest).length === 0 ? undefined : rest;
}

/** Encodes `message` for another node. */
export function encodeMessage(message: Message): Buffer {
  const header: Header = {
    t: message.topic,
    q: message.qos,
    r: message.retain,
    c: message.publisherId,
    a: message.receivedAt,
  };
  if (message.expiresAt !== undefined) header.e = message.expiresAt;
  const properties = carried(message.properties);
  if (properties !== undefined) header.o = properties;
  // The replacer is needed only for Buffers, which only the properties hold.
  const json = properties === undefined ? JSON.stringify(header) : JSON.stringify(header, jsonReplacer);
  const headerLength = Buffer.byteLength(json);
  const bytes = Buffer.allocUnsafe(4 + headerLength + message.payload.length);
  bytes.writeUInt32BE(headerLength, 0);
  bytes.write(json, 4, 'utf8');
  message.payload.copy(bytes, 4 + headerLength);
  return bytes;
}

/** Decodes what `encodeMessage` made (its cluster id `originId` kept on it); throws a RangeError or SyntaxError on anything else. */
export function decodeMessage(bytes: Buffer, originId?: string): Message {
  if (bytes.length < 4) throw new RangeError('cluster message shorter than its header length');
  const length = bytes.readUInt32BE(0);
  if (4 + length > bytes.length) throw new RangeError('cluster message shorter than its header');
  const header = JSON.parse(bytes.toString('utf8', 4, 4 + length)) as Header;
  if (typeof header !== 'object' || header === null || typeof header.t !== 'string' || ![0, 1, 2].includes(header.q)) {
    throw new RangeError('cluster message header lacks a topic or a QoS');
  }
  const message: Message = {
    topic: header.t,
    payload: bytes.subarray(4 + length),
    qos: header.q,
    retain: header.r === true,
    properties: header.o === undefined ? undefined : (revive(header.o) as PublishProperties),
    publisherId: typeof header.c === 'string' ? header.c : '',
    receivedAt: typeof header.a === 'number' ? header.a : Date.now(),
    expiresAt: header.e,
  };
  if (originId !== undefined) message.originId = originId;
  return message;
}
