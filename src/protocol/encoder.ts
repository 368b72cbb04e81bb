/**
 * MQTT encoder: computes each packet's exact size first, then writes it into one buffer.
 * A PUBLISH payload is copied once, into that buffer, and nowhere else.
 */
import {
  allowedReasonCodes,
  allowedSubackReturnCodesV4,
  MAX_VARIABLE_BYTE_INTEGER,
  PacketTypeCode,
  type ProtocolVersion,
} from './constants.js';
import { EncodeError } from './errors.js';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PubAckLikePacket,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from './packets.js';
import {
  binaryFieldLength,
  propertiesLength,
  stringFieldLength,
  varintLength,
  writeBinary,
  writeProperties,
  writeString,
  writeVarint,
} from './properties.js';

/** Encodes `packet` as `version` speaks it (a CONNECT uses its own protocolVersion). */
export function encode(packet: Packet, version: ProtocolVersion): Buffer {
  switch (packet.type) {
    case 'connect':
      return encodeConnect(packet);
    case 'connack':
      return encodeConnack(packet, version);
    case 'publish':
      return encodePublish(packet, version);
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return encodePubAckLike(packet, version);
    case 'subscribe':
      return encodeSubscribe(packet, version);
    case 'suback':
      return encodeSuback(packet, version);
    case 'unsubscribe':
      return encodeUnsubscribe(packet, version);
    case 'unsuback':
      return encodeUnsuback(packet, version);
    case 'pingreq':
      return Buffer.from([0xc0, 0]);
    case 'pingresp':
      return Buffer.from([0xd0, 0]);
    case 'disconnect':
      return encodeReasonOnly(packet, version);
    case 'auth':
      if (version !== 5) throw new EncodeError('AUTH exists only in MQTT 5.0');
      return encodeReasonOnly(packet, version);
    default: {
      const never: never = packet;
      throw new EncodeError(`unknown packet type ${String((never as { type: unknown }).type)}`);
    }
  }
}

/** Allocates a packet buffer and writes its fixed header; returns the buffer and the body's offset. */
function allocate(first: number, remaining: number): [Buffer, number] {
  if (remaining > MAX_VARIABLE_BYTE_INTEGER) {
    throw new EncodeError(
      `packet body of ${remaining} bytes exceeds the protocol's limit of ${MAX_VARIABLE_BYTE_INTEGER}`,
    );
  }
  const buf = Buffer.allocUnsafe(1 + varintLength(remaining) + remaining);
  buf[0] = first;
  return [buf, writeVarint(buf, 1, remaining)];
}

function checkPacketId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 1 || id > 0xffff) {
    throw new EncodeError(`${what} packet identifier must be 1 to 65535, got ${id}`);
  }
}

function isQoS(value: number): boolean {
  return value === 0 || value === 1 || value === 2;
}

/** Throws unless `code` is one the packet may carry in 5.0 (Tables 3-1 to 3-11 of 5.0). */
function checkReasonCode(code: number, allowed: ReadonlySet<number>, what: string): void {
  // [MQTT-3.2.2-8] [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1] [MQTT-3.9.3-2] [MQTT-3.11.3-2]
  // [MQTT-3.14.2-1] [MQTT-3.15.2-1] (5.0): only the codes of the packet's table
  if (!allowed.has(code)) throw new EncodeError(`${what} cannot carry reason code ${String(code)}`);
}

function checkU16(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) {
    throw new EncodeError(`${what} must be 0 to 65535, got ${value}`);
  }
}

function encodeConnect(packet: ConnectPacket): Buffer {
  const version = packet.protocolVersion;
  if (version !== 3 && version !== 4 && version !== 5) {
    throw new EncodeError(`CONNECT protocol version must be 3, 4 or 5, got ${String(version)}`);
  }
  const v5 = version === 5;
  const protocolName = version === 3 ? 'MQIsdp' : 'MQTT';
  checkU16(packet.keepAlive, 'keep alive');
  const { will, username, password } = packet;
  if (version !== 5 && password !== undefined && username === undefined) {
    throw new EncodeError('MQTT 3.1 / 3.1.1 CONNECT cannot carry a password without a user name');
  }
  // [MQTT-3.1.2-14] (3.1.1) [MQTT-3.1.2-12] (5.0): Will QoS is 0, 1 or 2
  if (will !== undefined && !isQoS(will.qos)) throw new EncodeError(`will QoS ${String(will.qos)} is not 0, 1 or 2`);
  const propsLength = v5 ? propertiesLength(packet.properties, 'connect') : 0;
  const willPropsLength = v5 && will !== undefined ? propertiesLength(will.properties, 'will') : 0;
  let remaining = 2 + protocolName.length + 1 + 1 + 2 + stringFieldLength(packet.clientId, 'client identifier');
  if (v5) remaining += varintLength(propsLength) + propsLength;
  if (will !== undefined) {
    remaining += stringFieldLength(will.topic, 'will topic') + binaryFieldLength(will.payload, 'will payload');
    if (v5) remaining += varintLength(willPropsLength) + willPropsLength;
  }
  if (username !== undefined) remaining += stringFieldLength(username, 'user name');
  if (password !== undefined) remaining += binaryFieldLength(password, 'password');

  const [buf, start] = allocate(PacketTypeCode.connect << 4, remaining);
  let offset = writeString(buf, start, protocolName);
  buf[offset++] = version;
  let flags = packet.clean ? 0x02 : 0;
  if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (password !== undefined) flags |= 0x40;
  if (username !== undefined) flags |= 0x80;
  buf[offset++] = flags;
  buf.writeUInt16BE(packet.keepAlive, offset);
  offset += 2;
  if (v5) offset = writeProperties(buf, offset, packet.properties, 'connect', propsLength);
  offset = writeString(buf, offset, packet.clientId);
  if (will !== undefined) {
    if (v5) offset = writeProperties(buf, offset, will.properties, 'will', willPropsLength);
    offset = writeString(buf, offset, will.topic);
    offset = writeBinary(buf, offset, will.payload);
  }
  if (username !== undefined) offset = writeString(buf, offset, username);
  if (password !== undefined) writeBinary(buf, offset, password);
  return buf;
}

function encodeConnack(packet: ConnackPacket, version: ProtocolVersion): Buffer {
  const v5 = version === 5;
  if (v5) checkReasonCode(packet.reasonCode, allowedReasonCodes.connack, 'CONNACK');
  // 3.1.1 section 3.2.2.3: return codes 6-255 are reserved
  else if (!Number.isInteger(packet.reasonCode) || packet.reasonCode < 0 || packet.reasonCode > 5) {
    throw new EncodeError(`CONNACK return code must be 0 to 5 before 5.0, got ${packet.reasonCode}`);
  }
  const propsLength = v5 ? propertiesLength(packet.properties, 'connack') : 0;
  const remaining = 2 + (v5 ? varintLength(propsLength) + propsLength : 0);
  const [buf, start] = allocate(PacketTypeCode.connack << 4, remaining);
  // MQTT 3.1 has no session present flag: the whole byte is reserved.
  buf[start] = packet.sessionPresent && version !== 3 ? 1 : 0;
  buf[start + 1] = packet.reasonCode;
  if (v5) writeProperties(buf, start + 2, packet.properties, 'connack', propsLength);
  return buf;
}

/** Encodes a PUBLISH; the payload is copied once, into the returned buffer. */
export function encodePublish(packet: PublishPacket, version: ProtocolVersion): Buffer {
  const { qos, topic, payload } = packet;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new EncodeError(`PUBLISH QoS must be 0, 1 or 2, got ${String(qos)}`);
  if (qos > 0) checkPacketId(packet.packetId, 'PUBLISH');
  const v5 = version === 5;
  // [MQTT-4.7.3-1]: a topic name has at least one character; 5.0 sends it empty only with a Topic Alias
  if (topic.length === 0 && (!v5 || packet.properties?.topicAlias === undefined)) {
    throw new EncodeError('PUBLISH needs a topic name, or in 5.0 a topic alias');
  }
  const propsLength = v5 ? propertiesLength(packet.properties, 'publish') : 0;
  let remaining = stringFieldLength(topic, 'topic name') + (qos > 0 ? 2 : 0) + payload.length;
  if (v5) remaining += varintLength(propsLength) + propsLength;
  if (remaining > MAX_VARIABLE_BYTE_INTEGER) {
    throw new EncodeError(
      `packet body of ${remaining} bytes exceeds the protocol's limit of ${MAX_VARIABLE_BYTE_INTEGER}`,
    );
  }
  // The fixed header is written here rather than by allocate(), which returns a tuple: this is the
  // hot path (bench/codec.ts, "encode").
  const buf = Buffer.allocUnsafe(1 + varintLength(remaining) + remaining);
  // [MQTT-3.3.1-2] DUP is 0 on QoS 0
  buf[0] = (PacketTypeCode.publish << 4) | (packet.dup && qos > 0 ? 0x08 : 0) | (qos << 1) | (packet.retain ? 1 : 0);
  let offset = writeString(buf, writeVarint(buf, 1, remaining), topic);
  if (qos > 0) {
    buf[offset++] = packet.packetId >> 8;
    buf[offset++] = packet.packetId & 0xff;
  }
  if (v5) offset = writeProperties(buf, offset, packet.properties, 'publish', propsLength);
  buf.set(payload, offset);
  return buf;
}

type AckType = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';

function encodePubAckLike(packet: PubAckLikePacket<AckType>, version: ProtocolVersion): Buffer {
  checkPacketId(packet.packetId, packet.type.toUpperCase());
  const first = (PacketTypeCode[packet.type] << 4) | (packet.type === 'pubrel' ? 0x02 : 0);
  if (version === 5) checkReasonCode(packet.reasonCode, allowedReasonCodes[packet.type], packet.type.toUpperCase());
  const propsLength = version === 5 ? propertiesLength(packet.properties, packet.type) : 0;
  let remaining = 2;
  // 5.0: the reason code may be left out when it is 0 and there are no properties (section 3.4.2.1)
  if (version === 5 && (packet.reasonCode !== 0 || propsLength > 0)) {
    remaining += 1 + (propsLength > 0 ? varintLength(propsLength) + propsLength : 0);
  }
  const [buf, start] = allocate(first, remaining);
  buf[start] = packet.packetId >> 8;
  buf[start + 1] = packet.packetId & 0xff;
  if (remaining > 2) buf[start + 2] = packet.reasonCode;
  if (propsLength > 0) writeProperties(buf, start + 3, packet.properties, packet.type, propsLength);
  return buf;
}

function encodeSubscribe(packet: SubscribePacket, version: ProtocolVersion): Buffer {
  checkPacketId(packet.packetId, 'SUBSCRIBE');
  if (packet.subscriptions.length === 0) throw new EncodeError('SUBSCRIBE needs at least one topic filter');
  const v5 = version === 5;
  const propsLength = v5 ? propertiesLength(packet.properties, 'subscribe') : 0;
  let remaining = 2 + (v5 ? varintLength(propsLength) + propsLength : 0);
  for (const sub of packet.subscriptions) {
    remaining += stringFieldLength(sub.topicFilter, 'topic filter') + 1;
    // [MQTT-3.8.3-4] (3.1.1): QoS 0, 1 or 2; 5.0 section 3.8.3.1: Retain Handling 3 is a Protocol Error
    if (!isQoS(sub.qos)) throw new EncodeError(`subscription QoS must be 0, 1 or 2, got ${String(sub.qos)}`);
    if (v5 && !isQoS(sub.retainHandling)) {
      throw new EncodeError(`retain handling must be 0, 1 or 2, got ${String(sub.retainHandling)}`);
    }
  }
  const [buf, start] = allocate((PacketTypeCode.subscribe << 4) | 0x02, remaining);
  buf.writeUInt16BE(packet.packetId, start);
  let offset = start + 2;
  if (v5) offset = writeProperties(buf, offset, packet.properties, 'subscribe', propsLength);
  for (const sub of packet.subscriptions) {
    offset = writeString(buf, offset, sub.topicFilter);
    let options: number = sub.qos;
    if (v5) {
      options |= (sub.noLocal ? 0x04 : 0) | (sub.retainAsPublished ? 0x08 : 0) | (sub.retainHandling << 4);
    }
    buf[offset++] = options;
  }
  return buf;
}

function encodeSuback(packet: SubackPacket, version: ProtocolVersion): Buffer {
  checkPacketId(packet.packetId, 'SUBACK');
  const v5 = version === 5;
  // [MQTT-3.8.4-6] (5.0) [MQTT-3.8.4-5] (3.1.1): one code per topic filter, so at least one
  if (packet.reasonCodes.length === 0) throw new EncodeError('SUBACK needs at least one reason code');
  // [MQTT-3.9.3-2]: only the codes of the version's table
  const allowed = v5 ? allowedReasonCodes.suback : allowedSubackReturnCodesV4;
  for (const code of packet.reasonCodes) checkReasonCode(code, allowed, 'SUBACK');
  const propsLength = v5 ? propertiesLength(packet.properties, 'suback') : 0;
  const remaining = 2 + (v5 ? varintLength(propsLength) + propsLength : 0) + packet.reasonCodes.length;
  const [buf, start] = allocate(PacketTypeCode.suback << 4, remaining);
  buf.writeUInt16BE(packet.packetId, start);
  let offset = start + 2;
  if (v5) offset = writeProperties(buf, offset, packet.properties, 'suback', propsLength);
  for (const code of packet.reasonCodes) buf[offset++] = code;
  return buf;
}

function encodeUnsubscribe(packet: UnsubscribePacket, version: ProtocolVersion): Buffer {
  checkPacketId(packet.packetId, 'UNSUBSCRIBE');
  if (packet.topicFilters.length === 0) throw new EncodeError('UNSUBSCRIBE needs at least one topic filter');
  const v5 = version === 5;
  const propsLength = v5 ? propertiesLength(packet.properties, 'unsubscribe') : 0;
  let remaining = 2 + (v5 ? varintLength(propsLength) + propsLength : 0);
  for (const filter of packet.topicFilters) remaining += stringFieldLength(filter, 'topic filter');
  const [buf, start] = allocate((PacketTypeCode.unsubscribe << 4) | 0x02, remaining);
  buf.writeUInt16BE(packet.packetId, start);
  let offset = start + 2;
  if (v5) offset = writeProperties(buf, offset, packet.properties, 'unsubscribe', propsLength);
  for (const filter of packet.topicFilters) offset = writeString(buf, offset, filter);
  return buf;
}

function encodeUnsuback(packet: UnsubackPacket, version: ProtocolVersion): Buffer {
  checkPacketId(packet.packetId, 'UNSUBACK');
  const v5 = version === 5;
  if (v5) {
    // 5.0 section 3.11.3: one reason code per topic filter of the UNSUBSCRIBE, so at least one
    if (packet.reasonCodes.length === 0) throw new EncodeError('UNSUBACK needs at least one reason code in 5.0');
    for (const code of packet.reasonCodes) checkReasonCode(code, allowedReasonCodes.unsuback, 'UNSUBACK');
  }
  const propsLength = v5 ? propertiesLength(packet.properties, 'unsuback') : 0;
  // 3.1 / 3.1.1 UNSUBACK carries only the packet identifier.
  const remaining = 2 + (v5 ? varintLength(propsLength) + propsLength + packet.reasonCodes.length : 0);
  const [buf, start] = allocate(PacketTypeCode.unsuback << 4, remaining);
  buf.writeUInt16BE(packet.packetId, start);
  if (v5) {
    let offset = writeProperties(buf, start + 2, packet.properties, 'unsuback', propsLength);
    for (const code of packet.reasonCodes) buf[offset++] = code;
  }
  return buf;
}

function encodeReasonOnly(packet: DisconnectPacket | AuthPacket, version: ProtocolVersion): Buffer {
  const first = PacketTypeCode[packet.type] << 4;
  if (version !== 5) return Buffer.from([first, 0]);
  checkReasonCode(packet.reasonCode, allowedReasonCodes[packet.type], packet.type.toUpperCase());
  const propsLength = propertiesLength(packet.properties, packet.type);
  // 5.0: a reason code of 0 with no properties may be sent as an empty body (sections 3.14.2.1, 3.15.2.1)
  if (packet.reasonCode === 0 && propsLength === 0) return Buffer.from([first, 0]);
  const remaining = 1 + (propsLength > 0 ? varintLength(propsLength) + propsLength : 0);
  const [buf, start] = allocate(first, remaining);
  buf[start] = packet.reasonCode;
  if (propsLength > 0) writeProperties(buf, start + 1, packet.properties, packet.type, propsLength);
  return buf;
}
