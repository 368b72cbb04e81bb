/**
 * MQTT 5.0 properties (section 2.2.2): the table of every property with its identifier, data
 * type and the packets that may carry it, and their decoding, sizing and encoding.
 */
import type { AllProperties, UserProperty } from './packets.js';
import type { Reader } from './reader.js';
import { MalformedPacketError, ProtocolError } from './errors.js';
import { EncodeError } from './errors.js';
import { MAX_VARIABLE_BYTE_INTEGER } from './constants.js';

/** Where a property list stands; each property is allowed in some of these. */
export const PropertyContext = {
  connect: 1 << 0,
  will: 1 << 1,
  connack: 1 << 2,
  publish: 1 << 3,
  puback: 1 << 4,
  pubrec: 1 << 5,
  pubrel: 1 << 6,
  pubcomp: 1 << 7,
  subscribe: 1 << 8,
  suback: 1 << 9,
  unsubscribe: 1 << 10,
  unsuback: 1 << 11,
  disconnect: 1 << 12,
  auth: 1 << 13,
} as const;
export type PropertyContextName = keyof typeof PropertyContext;

type DataType = 'byte' | 'flag' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair';

interface PropertyDef {
  id: number;
  name: keyof AllProperties;
  type: DataType;
  contexts: number;
  /** May appear more than once (User Property; Subscription Identifier in PUBLISH). */
  repeatable?: true;
  /** Smallest value allowed (a 0 is a Protocol Error for several properties). */
  min?: number;
  /** Largest value allowed (Maximum QoS is 0 or 1). */
  max?: number;
}

const C = PropertyContext;
const ACKS = C.puback | C.pubrec | C.pubrel | C.pubcomp | C.suback | C.unsuback;
const ALL = (1 << 14) - 1;

/** Every property of MQTT 5.0, in identifier order (Table 2-4). */
export const propertyDefs: readonly PropertyDef[] = [
  { id: 0x01, name: 'payloadFormatIndicator', type: 'flag', contexts: C.publish | C.will },
  { id: 0x02, name: 'messageExpiryInterval', type: 'u32', contexts: C.publish | C.will },
  { id: 0x03, name: 'contentType', type: 'string', contexts: C.publish | C.will },
  { id: 0x08, name: 'responseTopic', type: 'string', contexts: C.publish | C.will },
  { id: 0x09, name: 'correlationData', type: 'binary', contexts: C.publish | C.will },
  // The Subscription Identifier repeats in PUBLISH (one per matching subscription) and stands once in SUBSCRIBE.
  {
    id: 0x0b,
    name: 'subscriptionIdentifiers',
    type: 'varint',
    contexts: C.publish,
    repeatable: true,
    min: 1,
    max: MAX_VARIABLE_BYTE_INTEGER,
  },
  {
    id: 0x0b,
    name: 'subscriptionIdentifier',
    type: 'varint',
    contexts: C.subscribe,
    min: 1,
    max: MAX_VARIABLE_BYTE_INTEGER,
  },
  { id: 0x11, name: 'sessionExpiryInterval', type: 'u32', contexts: C.connect | C.connack | C.disconnect },
  { id: 0x12, name: 'assignedClientIdentifier', type: 'string', contexts: C.connack },
  { id: 0x13, name: 'serverKeepAlive', type: 'u16', contexts: C.connack },
  { id: 0x15, name: 'authenticationMethod', type: 'string', contexts: C.connect | C.connack | C.auth },
  { id: 0x16, name: 'authenticationData', type: 'binary', contexts: C.connect | C.connack | C.auth },
  { id: 0x17, name: 'requestProblemInformation', type: 'flag', contexts: C.connect },
  { id: 0x18, name: 'willDelayInterval', type: 'u32', contexts: C.will },
  { id: 0x19, name: 'requestResponseInformation', type: 'flag', contexts: C.connect },
  { id: 0x1a, name: 'responseInformation', type: 'string', contexts: C.connack },
  { id: 0x1c, name: 'serverReference', type: 'string', contexts: C.connack | C.disconnect },
  { id: 0x1f, name: 'reasonString', type: 'string', contexts: C.connack | ACKS | C.disconnect | C.auth },
  { id: 0x21, name: 'receiveMaximum', type: 'u16', contexts: C.connect | C.connack, min: 1 },
  { id: 0x22, name: 'topicAliasMaximum', type: 'u16', contexts: C.connect | C.connack },
  { id: 0x23, name: 'topicAlias', type: 'u16', contexts: C.publish, min: 1 },
  { id: 0x24, name: 'maximumQoS', type: 'byte', contexts: C.connack, max: 1 },
  { id: 0x25, name: 'retainAvailable', type: 'flag', contexts: C.connack },
  { id: 0x26, name: 'userProperties', type: 'pair', contexts: ALL, repeatable: true },
  { id: 0x27, name: 'maximumPacketSize', type: 'u32', contexts: C.connect | C.connack, min: 1 },
  { id: 0x28, name: 'wildcardSubscriptionAvailable', type: 'flag', contexts: C.connack },
  { id: 0x29, name: 'subscriptionIdentifiersAvailable', type: 'flag', contexts: C.connack },
  { id: 0x2a, name: 'sharedSubscriptionAvailable', type: 'flag', contexts: C.connack },
];

/** Per context: property id -> definition. */
const byContextAndId = new Map<number, (PropertyDef | undefined)[]>();
/** Per context: property name -> definition. */
const byContextAndName = new Map<number, Map<string, PropertyDef>>();
for (const bit of Object.values(PropertyContext)) {
  const ids: (PropertyDef | undefined)[] = new Array<PropertyDef | undefined>(0x2b).fill(undefined);
  const names = new Map<string, PropertyDef>();
  for (const def of propertyDefs) {
    if ((def.contexts & bit) === 0) continue;
    ids[def.id] = def;
    names.set(def.name, def);
  }
  byContextAndId.set(bit, ids);
  byContextAndName.set(bit, names);
}

type MutableProperties = Record<string, unknown>;

/**
 * Reads a property list (its Variable Byte Integer length, then the properties) for `context`.
 * Returns undefined when the list is empty, so packets without properties allocate nothing.
 */
export function readProperties(reader: Reader, context: PropertyContextName): AllProperties | undefined {
  const length = reader.varint('the property length');
  if (length === 0) return undefined;
  if (length > reader.remaining) throw new MalformedPacketError('the property length exceeds the packet');
  const end = reader.pos + length;
  const table = byContextAndId.get(PropertyContext[context])!;
  const props: MutableProperties = {};
  while (reader.pos < end) {
    const id = reader.varint('a property identifier');
    const def = id < table.length ? table[id] : undefined;
    // A property identifier not valid for the packet is a Malformed Packet (section 2.2.2.2).
    if (def === undefined) {
      throw new MalformedPacketError(`property 0x${id.toString(16).padStart(2, '0')} is not allowed in ${context}`);
    }
    const value = readValue(reader, def, context);
    if (def.repeatable) {
      const list = props[def.name] as unknown[] | undefined;
      if (list === undefined) props[def.name] = [value];
      else list.push(value);
    } else {
      // It is a Protocol Error to include a non-repeatable property more than once (section 3.x.2.2).
      if (props[def.name] !== undefined) throw new ProtocolError(`property ${def.name} appears more than once`);
      props[def.name] = value;
    }
  }
  if (reader.pos !== end) throw new MalformedPacketError('a property runs past the property length');
  return props;
}

function readValue(reader: Reader, def: PropertyDef, context: string): unknown {
  const what = `property ${def.name}`;
  let value: number;
  switch (def.type) {
    case 'string':
      return reader.string(what);
    case 'binary':
      return reader.binary(what);
    case 'pair': {
      const pair: UserProperty = [reader.string(`a user property name`), reader.string(`a user property value`)];
      return pair;
    }
    case 'flag':
      value = reader.u8(what);
      // Boolean-valued properties are 0 or 1; anything else is a Protocol Error.
      if (value > 1) throw new ProtocolError(`${what} in ${context} must be 0 or 1, got ${value}`);
      return value === 1;
    case 'byte':
      value = reader.u8(what);
      break;
    case 'u16':
      value = reader.u16(what);
      break;
    case 'u32':
      value = reader.u32(what);
      break;
    case 'varint':
      value = reader.varint(what);
      break;
  }
  if (def.min !== undefined && value < def.min) {
    throw new ProtocolError(`${what} in ${context} must be at least ${def.min}, got ${value}`);
  }
  if (def.max !== undefined && value > def.max) {
    throw new ProtocolError(`${what} in ${context} must be at most ${def.max}, got ${value}`);
  }
  return value;
}

/** `String.prototype.isWellFormed` (Node 20), which the ES2023 library types do not declare yet. */
const isWellFormed = (value: string): boolean => (value as unknown as { isWellFormed(): boolean }).isWellFormed();

/**
 * Bytes of a UTF-8 string field, length prefix included. Throws when over 65,535 bytes, when the
 * string holds U+0000, or a lone surrogate that UTF-8 cannot carry (it would be sent as U+FFFD).
 */
export function stringFieldLength(value: string, what: string): number {
  const length = Buffer.byteLength(value, 'utf8');
  if (length > 0xffff) throw new EncodeError(`${what} is ${length} bytes; the maximum is 65535`);
  // [MQTT-1.5.3-2] (3.1.1) [MQTT-1.5.4-2] (5.0): no U+0000; the receiver would close the connection
  if (value.includes('\u0000')) throw new EncodeError(`${what} contains U+0000`);
  // [MQTT-1.5.3-1] (3.1.1) [MQTT-1.5.4-1] (5.0): well-formed UTF-8, so no lone surrogate. A string
  // of as many bytes as code units is ASCII and cannot hold one.
  if (length !== value.length && !isWellFormed(value)) throw new EncodeError(`${what} contains a lone surrogate`);
  return 2 + length;
}

/** Bytes of a binary field, length prefix included; throws when over 65,535 bytes. */
export function binaryFieldLength(value: Buffer, what: string): number {
  if (value.length > 0xffff) throw new EncodeError(`${what} is ${value.length} bytes; the maximum is 65535`);
  return 2 + value.length;
}

/** Bytes a Variable Byte Integer takes. */
export function varintLength(value: number): number {
  if (value < 128) return 1;
  if (value < 16_384) return 2;
  if (value < 2_097_152) return 3;
  if (value <= MAX_VARIABLE_BYTE_INTEGER) return 4;
  throw new EncodeError(`${value} does not fit in a Variable Byte Integer`);
}

/** Size of a property list's contents (without its own length field). */
export function propertiesLength(props: AllProperties | undefined, context: PropertyContextName): number {
  if (props === undefined) return 0;
  const names = byContextAndName.get(PropertyContext[context])!;
  let total = 0;
  for (const key in props) {
    const value = (props as MutableProperties)[key];
    if (value === undefined) continue;
    const def = names.get(key);
    if (def === undefined) throw new EncodeError(`property ${key} is not allowed in ${context}`);
    if (def.repeatable) {
      for (const item of value as unknown[]) total += 1 + valueLength(def, item);
    } else {
      total += 1 + valueLength(def, value);
    }
  }
  return total;
}

function valueLength(def: PropertyDef, value: unknown): number {
  switch (def.type) {
    case 'flag':
      return 1;
    case 'byte':
      checkInteger(def, value, def.max ?? 0xff);
      return 1;
    case 'u16':
      checkInteger(def, value, def.max ?? 0xffff);
      return 2;
    case 'u32':
      checkInteger(def, value, def.max ?? 0xffff_ffff);
      return 4;
    case 'varint':
      checkInteger(def, value, def.max ?? MAX_VARIABLE_BYTE_INTEGER);
      return varintLength(value as number);
    case 'string':
      return stringFieldLength(value as string, `property ${def.name}`);
    case 'binary':
      return binaryFieldLength(value as Buffer, `property ${def.name}`);
    case 'pair': {
      const [name, v] = value as UserProperty;
      return stringFieldLength(name, 'a user property name') + stringFieldLength(v, 'a user property value');
    }
  }
}

/** Checks an integer property against its type's range and the minimum and maximum the standard sets. */
function checkInteger(def: PropertyDef, value: unknown, max: number): void {
  // The receiver treats a value below the minimum (a 0 Receive Maximum, Topic Alias [MQTT-3.3.2-8],
  // Maximum Packet Size or Subscription Identifier) or above the maximum (Maximum QoS 2) as a Protocol Error.
  const min = def.min ?? 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new EncodeError(`property ${def.name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Writes a Variable Byte Integer at `offset`; returns the offset after it. */
export function writeVarint(buf: Buffer, offset: number, value: number): number {
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    buf[offset++] = byte;
  } while (value > 0);
  return offset;
}

/** Writes a length-prefixed UTF-8 string; returns the offset after it. */
export function writeString(buf: Buffer, offset: number, value: string): number {
  const written = buf.write(value, offset + 2, 'utf8');
  buf[offset] = written >> 8;
  buf[offset + 1] = written & 0xff;
  return offset + 2 + written;
}

/** Writes a length-prefixed binary field; returns the offset after it. */
export function writeBinary(buf: Buffer, offset: number, value: Buffer): number {
  buf[offset] = value.length >> 8;
  buf[offset + 1] = value.length & 0xff;
  buf.set(value, offset + 2);
  return offset + 2 + value.length;
}

/**
 * Writes a property list (length then properties). `length` is what propertiesLength returned.
 * Returns the offset after it.
 */
export function writeProperties(
  buf: Buffer,
  offset: number,
  props: AllProperties | undefined,
  context: PropertyContextName,
  length: number,
): number {
  offset = writeVarint(buf, offset, length);
  if (props === undefined || length === 0) return offset;
  const names = byContextAndName.get(PropertyContext[context])!;
  for (const key in props) {
    const value = (props as MutableProperties)[key];
    if (value === undefined) continue;
    const def = names.get(key)!;
    if (def.repeatable) {
      for (const item of value as unknown[]) offset = writeValue(buf, offset, def, item);
    } else {
      offset = writeValue(buf, offset, def, value);
    }
  }
  return offset;
}

function writeValue(buf: Buffer, offset: number, def: PropertyDef, value: unknown): number {
  buf[offset++] = def.id;
  switch (def.type) {
    case 'flag':
      buf[offset] = value ? 1 : 0;
      return offset + 1;
    case 'byte':
      buf[offset] = value as number;
      return offset + 1;
    case 'u16':
      buf.writeUInt16BE(value as number, offset);
      return offset + 2;
    case 'u32':
      buf.writeUInt32BE(value as number, offset);
      return offset + 4;
    case 'varint':
      return writeVarint(buf, offset, value as number);
    case 'string':
      return writeString(buf, offset, value as string);
    case 'binary':
      return writeBinary(buf, offset, value as Buffer);
    case 'pair': {
      const [name, v] = value as UserProperty;
      return writeString(buf, writeString(buf, offset, name), v);
    }
  }
}
