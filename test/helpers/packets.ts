/**
 * A test-side MQTT packet builder, written by hand from the standards (sections 1.5, 2
 * and 3 of MQTT 3.1.1 and 5.0) and independent of src/protocol, so that a codec mistake cannot
 * hide in the broker tests by being made twice. Like Mosquitto's `mosq_test.gen_*`.
 *
 * Builders take the protocol version first and return the exact bytes of one packet. They can
 * also build packets a correct client never sends (a reserved flag, a bad protocol name), which
 * the malformed-packet tests need. What the broker sends back is read by ./parse.ts.
 */

/** Protocol level: 3 = MQTT 3.1 (`MQIsdp`), 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
export type ProtocolVersion = 3 | 4 | 5;
export type QoS = 0 | 1 | 2;

/** MQTT 5.0 properties by name (section 2.2.2.2); each packet uses a subset. */
export interface Properties {
  payloadFormatIndicator?: number;
  /** Seconds. */
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  /** In SUBSCRIBE: the one identifier. */
  subscriptionIdentifier?: number;
  /** In a received PUBLISH: every identifier, in order (the property may repeat). */
  subscriptionIdentifiers?: number[];
  /** Seconds. */
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  /** Seconds. */
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: number;
  /** Seconds. */
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: number;
  userProperties?: [string, string][];
  /** Bytes. */
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifiersAvailable?: number;
  sharedSubscriptionAvailable?: number;
}

export type PropertyKind = 'byte' | 'u16' | 'u32' | 'varint' | 'string' | 'binary' | 'pair';
export type PropertyName = Exclude<keyof Properties, 'subscriptionIdentifiers'>;

/** Table 2-4 of MQTT 5.0: identifier, name and data type of every property. */
export const propertyTable: readonly [id: number, name: PropertyName, kind: PropertyKind][] = [
  [0x01, 'payloadFormatIndicator', 'byte'],
  [0x02, 'messageExpiryInterval', 'u32'],
  [0x03, 'contentType', 'string'],
  [0x08, 'responseTopic', 'string'],
  [0x09, 'correlationData', 'binary'],
  [0x0b, 'subscriptionIdentifier', 'varint'],
  [0x11, 'sessionExpiryInterval', 'u32'],
  [0x12, 'assignedClientIdentifier', 'string'],
  [0x13, 'serverKeepAlive', 'u16'],
  [0x15, 'authenticationMethod', 'string'],
  [0x16, 'authenticationData', 'binary'],
  [0x17, 'requestProblemInformation', 'byte'],
  [0x18, 'willDelayInterval', 'u32'],
  [0x19, 'requestResponseInformation', 'byte'],
  [0x1a, 'responseInformation', 'string'],
  [0x1c, 'serverReference', 'string'],
  [0x1f, 'reasonString', 'string'],
  [0x21, 'receiveMaximum', 'u16'],
  [0x22, 'topicAliasMaximum', 'u16'],
  [0x23, 'topicAlias', 'u16'],
  [0x24, 'maximumQoS', 'byte'],
  [0x25, 'retainAvailable', 'byte'],
  [0x26, 'userProperties', 'pair'],
  [0x27, 'maximumPacketSize', 'u32'],
  [0x28, 'wildcardSubscriptionAvailable', 'byte'],
  [0x29, 'subscriptionIdentifiersAvailable', 'byte'],
  [0x2a, 'sharedSubscriptionAvailable', 'byte'],
];

// ---------------------------------------------------------------------------------------------
// Writing

/** One byte. */
export function u8(value: number): Buffer {
  return Buffer.from([value]);
}

/** Two Byte Integer, big-endian (section 1.5.2). */
export function u16(value: number): Buffer {
  const buf = Buffer.alloc(2);
  buf.writeUInt16BE(value);
  return buf;
}

/** Four Byte Integer, big-endian (section 1.5.3 of 5.0). */
export function u32(value: number): Buffer {
  const buf = Buffer.alloc(4);
  buf.writeUInt32BE(value);
  return buf;
}

/** Variable Byte Integer: 7 bits per byte, least significant first, high bit = more follows. */
export function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return Buffer.from(bytes);
}

/** UTF-8 Encoded String: a two-byte length, then the bytes. */
export function str(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([u16(bytes.length), bytes]);
}

/** Binary Data: a two-byte length, then the bytes. */
export function bin(value: Buffer | string): Buffer {
  return str(typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
}

/** A whole packet: the first byte, the remaining length, then the body parts. */
export function frame(first: number, ...body: Buffer[]): Buffer {
  const rest = Buffer.concat(body);
  return Buffer.concat([u8(first), varint(rest.length), rest]);
}

/** The property block of a 5.0 packet: its length, then each property. */
export function properties(props: Properties | undefined): Buffer {
  const parts: Buffer[] = [];
  if (props !== undefined) {
    for (const [id, name, kind] of propertyTable) {
      const value = props[name];
      if (value === undefined) continue;
      if (kind === 'pair') {
        for (const [k, v] of value as [string, string][]) parts.push(u8(id), str(k), str(v));
        continue;
      }
      parts.push(u8(id));
      switch (kind) {
        case 'byte':
          parts.push(u8(value as number));
          break;
        case 'u16':
          parts.push(u16(value as number));
          break;
        case 'u32':
          parts.push(u32(value as number));
          break;
        case 'varint':
          parts.push(varint(value as number));
          break;
        case 'string':
          parts.push(str(value as string));
          break;
        case 'binary':
          parts.push(bin(value as Buffer));
          break;
      }
    }
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([varint(body.length), body]);
}

function payloadOf(value: Buffer | string | undefined): Buffer {
  if (value === undefined) return Buffer.alloc(0);
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

/** The Will of a CONNECT. */
export interface WillOptions {
  topic: string;
  payload?: Buffer | string;
  qos?: QoS;
  retain?: boolean;
  /** 5.0 Will Properties. */
  properties?: Properties;
}

/** Fields of a CONNECT; the last three build deliberately wrong packets. */
export interface ConnectOptions {
  /** Default 4 (MQTT 3.1.1). */
  version?: ProtocolVersion;
  /** Default empty. */
  clientId?: string;
  /** Clean Session (3.1.1) / Clean Start (5.0). Default true. */
  clean?: boolean;
  /** Seconds; default 60. */
  keepAlive?: number;
  will?: WillOptions;
  username?: string;
  password?: Buffer | string;
  /** 5.0 CONNECT properties. */
  properties?: Properties;
  /** Overrides the protocol name (`MQTT`, or `MQIsdp` for 3.1). */
  protocolName?: string;
  /** Overrides the protocol level byte (the version). */
  protocolLevel?: number;
  /** Sets bit 0 of the Connect Flags, which is reserved [MQTT-3.1.2-3]. */
  reservedFlag?: boolean;
}

/** CONNECT (section 3.1). */
export function connect(options: ConnectOptions = {}): Buffer {
  const version = options.version ?? 4;
  const v5 = version === 5;
  const { will, username, password } = options;
  let flags = options.clean === false ? 0 : 0x02;
  if (will !== undefined) flags |= 0x04 | ((will.qos ?? 0) << 3) | (will.retain === true ? 0x20 : 0);
  if (password !== undefined) flags |= 0x40;
  if (username !== undefined) flags |= 0x80;
  if (options.reservedFlag === true) flags |= 0x01;
  const parts: Buffer[] = [
    str(options.protocolName ?? (version === 3 ? 'MQIsdp' : 'MQTT')),
    u8(options.protocolLevel ?? version),
    u8(flags),
    u16(options.keepAlive ?? 60),
  ];
  if (v5) parts.push(properties(options.properties));
  parts.push(str(options.clientId ?? ''));
  if (will !== undefined) {
    if (v5) parts.push(properties(will.properties));
    parts.push(str(will.topic), bin(payloadOf(will.payload)));
  }
  if (username !== undefined) parts.push(str(username));
  if (password !== undefined) parts.push(bin(password));
  return frame(0x10, ...parts);
}

/** Fields of a PUBLISH. */
export interface PublishOptions {
  topic: string;
  payload?: Buffer | string;
  /** Default 0. */
  qos?: QoS;
  retain?: boolean;
  dup?: boolean;
  /** Required for QoS 1 and 2; default 1 there. */
  packetId?: number;
  /** 5.0 PUBLISH properties. */
  properties?: Properties;
}

/** PUBLISH (section 3.3). */
export function publish(version: ProtocolVersion, options: PublishOptions): Buffer {
  const qos = options.qos ?? 0;
  const first = 0x30 | (options.dup === true ? 0x08 : 0) | (qos << 1) | (options.retain === true ? 0x01 : 0);
  const parts: Buffer[] = [str(options.topic)];
  if (qos > 0) parts.push(u16(options.packetId ?? 1));
  if (version === 5) parts.push(properties(options.properties));
  parts.push(payloadOf(options.payload));
  return frame(first, ...parts);
}

function ackLike(first: number, version: ProtocolVersion, packetId: number, reasonCode: number, props?: Properties) {
  // 5.0 sections 3.4.2.1 etc.: reason code 0 with no properties may be left out (remaining length 2)
  if (version !== 5 || (reasonCode === 0 && props === undefined)) return frame(first, u16(packetId));
  return frame(first, u16(packetId), u8(reasonCode), properties(props));
}

/** PUBACK (section 3.4). */
export function puback(version: ProtocolVersion, packetId: number, reasonCode = 0, props?: Properties): Buffer {
  return ackLike(0x40, version, packetId, reasonCode, props);
}

/** PUBREC (section 3.5). */
export function pubrec(version: ProtocolVersion, packetId: number, reasonCode = 0, props?: Properties): Buffer {
  return ackLike(0x50, version, packetId, reasonCode, props);
}

/** PUBREL (section 3.6); its fixed-header flags are 0010. */
export function pubrel(version: ProtocolVersion, packetId: number, reasonCode = 0, props?: Properties): Buffer {
  return ackLike(0x62, version, packetId, reasonCode, props);
}

/** PUBCOMP (section 3.7). */
export function pubcomp(version: ProtocolVersion, packetId: number, reasonCode = 0, props?: Properties): Buffer {
  return ackLike(0x70, version, packetId, reasonCode, props);
}

/** One topic filter of a SUBSCRIBE with its options (section 3.8.3.1). */
export interface SubscriptionRequest {
  topic: string;
  /** Requested maximum QoS; default 0. */
  qos?: QoS;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: 0 | 1 | 2;
  /** The whole options byte, overriding the fields above (for malformed packets). */
  optionsByte?: number;
}

/** SUBSCRIBE (section 3.8); a string is a filter at QoS 0. Flags 0010. */
export function subscribe(
  version: ProtocolVersion,
  packetId: number,
  subscriptions: readonly (string | SubscriptionRequest)[],
  props?: Properties,
): Buffer {
  const parts: Buffer[] = [u16(packetId)];
  if (version === 5) parts.push(properties(props));
  for (const entry of subscriptions) {
    const sub = typeof entry === 'string' ? { topic: entry } : entry;
    const options =
      sub.optionsByte ??
      (sub.qos ?? 0) |
        (sub.noLocal === true ? 0x04 : 0) |
        (sub.retainAsPublished === true ? 0x08 : 0) |
        ((sub.retainHandling ?? 0) << 4);
    parts.push(str(sub.topic), u8(options));
  }
  return frame(0x82, ...parts);
}

/** UNSUBSCRIBE (section 3.10). Flags 0010. */
export function unsubscribe(
  version: ProtocolVersion,
  packetId: number,
  topicFilters: readonly string[],
  props?: Properties,
): Buffer {
  const parts: Buffer[] = [u16(packetId)];
  if (version === 5) parts.push(properties(props));
  for (const filter of topicFilters) parts.push(str(filter));
  return frame(0xa2, ...parts);
}

/** PINGREQ (section 3.12). */
export function pingreq(): Buffer {
  return Buffer.from([0xc0, 0x00]);
}

/** DISCONNECT (section 3.14); in 5.0 with a reason code (and properties) when given. */
export function disconnect(version: ProtocolVersion, reasonCode = 0, props?: Properties): Buffer {
  if (version !== 5 || (reasonCode === 0 && props === undefined)) return Buffer.from([0xe0, 0x00]);
  return frame(0xe0, u8(reasonCode), properties(props));
}

/** AUTH (section 3.15, 5.0 only) with a reason code and properties. Flags 0000. */
export function auth(reasonCode: number, props?: Properties): Buffer {
  return frame(0xf0, u8(reasonCode), properties(props));
}
