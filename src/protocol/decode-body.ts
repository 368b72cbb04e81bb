/**
 * Decoding of one packet's variable header and payload, once the whole packet has arrived.
 * Each rule of the standards is checked here with its conformance statement.
 */
import { allowedReasonCodes, allowedSubackReturnCodesV4, type ProtocolVersion, type QoS } from './constants.js';
import { MalformedPacketError, ProtocolError, UnsupportedProtocolError } from './errors.js';
import type {
  AckProperties,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PublishPacket,
  PubAckLikePacket,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
  RetainHandling,
} from './packets.js';
import { readProperties } from './properties.js';
import type { Reader } from './reader.js';

/** Decodes the body in `reader` of the packet whose fixed header starts with `first`. */
export function decodeBody(
  first: number,
  reader: Reader,
  version: ProtocolVersion | undefined,
  packetStart = -1,
): Packet {
  checkFixedHeader(first, version);
  const v = version ?? 4;
  switch (first >> 4) {
    case 1:
      return decodeConnect(reader);
    case 2:
      return decodeConnack(reader, v);
    case 3:
      return decodePublish(first, reader, v, packetStart);
    case 4:
      return decodePubAckLike('puback', reader, v);
    case 5:
      return decodePubAckLike('pubrec', reader, v);
    case 6:
      return decodePubAckLike('pubrel', reader, v);
    case 7:
      return decodePubAckLike('pubcomp', reader, v);
    case 8:
      return decodeSubscribe(reader, v);
    case 9:
      return decodeSuback(reader, v);
    case 10:
      return decodeUnsubscribe(reader, v);
    case 11:
      return decodeUnsuback(reader, v);
    case 12:
      reader.expectEnd('PINGREQ');
      return { type: 'pingreq' };
    case 13:
      reader.expectEnd('PINGRESP');
      return { type: 'pingresp' };
    case 14:
      return decodeDisconnect(reader, v);
    default:
      return decodeAuth(reader);
  }
}

function packetId(reader: Reader, what: string): number {
  const id = reader.u16(`the packet identifier of ${what}`);
  // [MQTT-2.3.1-1] (3.1.1) / section 2.2.1 (5.0): packet identifiers are non-zero
  if (id === 0) throw new MalformedPacketError(`${what} has packet identifier 0`);
  return id;
}

function decodeConnect(reader: Reader): ConnectPacket {
  const protocolName = reader.string('the protocol name');
  const level = reader.u8('the protocol level');
  // [MQTT-3.1.2-1] (both versions) and [MQTT-3.1.2-2]: only MQIsdp 3, MQTT 4 and MQTT 5 are spoken here
  if (!((protocolName === 'MQTT' && (level === 4 || level === 5)) || (protocolName === 'MQIsdp' && level === 3))) {
    throw new UnsupportedProtocolError(protocolName, level);
  }
  const version = level;
  const flags = reader.u8('the connect flags');
  // [MQTT-3.1.2-3] the reserved flag is 0
  if ((flags & 0x01) !== 0) throw new MalformedPacketError('CONNECT reserved flag is set');
  const clean = (flags & 0x02) !== 0;
  const willFlag = (flags & 0x04) !== 0;
  const willQoS = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const passwordFlag = (flags & 0x40) !== 0;
  const usernameFlag = (flags & 0x80) !== 0;
  if (willFlag) {
    // [MQTT-3.1.2-14] (3.1.1) [MQTT-3.1.2-12] (5.0): Will QoS 3 is malformed
    if (willQoS === 3) throw new MalformedPacketError('CONNECT has Will QoS 3');
  } else {
    // [MQTT-3.1.2-13] [MQTT-3.1.2-15] (3.1.1) [MQTT-3.1.2-11] [MQTT-3.1.2-13] (5.0): no Will, so Will QoS and Retain are 0
    if (willQoS !== 0) throw new MalformedPacketError('CONNECT has Will QoS without the Will flag');
    if (willRetain) throw new MalformedPacketError('CONNECT has Will Retain without the Will flag');
  }
  // [MQTT-3.1.2-22] (3.1.1): a password needs a user name; 5.0 allows a password alone
  if (version !== 5 && passwordFlag && !usernameFlag) {
    throw new MalformedPacketError('CONNECT has the password flag without the user name flag');
  }
  const keepAlive = reader.u16('the keep alive');
  const properties = version === 5 ? readProperties(reader, 'connect') : undefined;
  // [MQTT-3.1.3-1] payload order; [MQTT-3.1.3-3] [MQTT-3.1.3-4] the client id comes first and is UTF-8
  const clientId = reader.string('the client identifier');
  let will: Will | undefined;
  if (willFlag) {
    // [MQTT-3.1.2-9] Will (Properties,) Topic and Payload are present
    const willProperties = version === 5 ? readProperties(reader, 'will') : undefined;
    const topic = reader.string('the will topic');
    const payload = reader.binary('the will payload');
    will = { topic, payload, qos: willQoS as QoS, retain: willRetain, properties: willProperties };
  }
  // [MQTT-3.1.2-17] [MQTT-3.1.2-19] (5.0) / [MQTT-3.1.2-19] [MQTT-3.1.2-21] (3.1.1): flagged fields are present
  const username = usernameFlag ? reader.string('the user name') : undefined;
  const password = passwordFlag ? reader.binary('the password') : undefined;
  reader.expectEnd('CONNECT');
  return {
    type: 'connect',
    protocolName: protocolName,
    protocolVersion: version,
    clean,
    keepAlive,
    clientId,
    username,
    password,
    will,
    properties,
  };
}

function decodeConnack(reader: Reader, version: ProtocolVersion): ConnackPacket {
  const flags = reader.u8('the connect acknowledge flags');
  // [MQTT-3.2.2-1] (5.0) and section 3.2.2.1 (3.1.1): bits 7-1 are reserved
  if ((flags & 0xfe) !== 0) throw new MalformedPacketError('CONNACK reserved flags are set');
  const reasonCode = reader.u8('the connect reason code');
  if (version === 5) {
    // [MQTT-3.2.2-8] only the codes of Table 3-1
    if (!allowedReasonCodes.connack.has(reasonCode)) {
      throw new MalformedPacketError(`CONNACK reason code 0x${reasonCode.toString(16)} is not defined`);
    }
  } else if (reasonCode > 5) {
    throw new MalformedPacketError(`CONNACK return code ${reasonCode} is reserved`);
  }
  const properties = version === 5 ? readProperties(reader, 'connack') : undefined;
  reader.expectEnd('CONNACK');
  return { type: 'connack', sessionPresent: (flags & 0x01) !== 0, reasonCode, properties };
}

function decodePublish(first: number, reader: Reader, version: ProtocolVersion, packetStart: number): PublishPacket {
  const qos = ((first >> 1) & 0x03) as QoS;
  // [MQTT-3.3.2-1] the topic name comes first and is a UTF-8 string
  const topic = reader.string('the topic name');
  // [MQTT-2.3.1-1] (3.1.1) a QoS 1/2 PUBLISH has a non-zero packet identifier; [MQTT-2.3.1-5] QoS 0 has none
  const id = qos > 0 ? packetId(reader, 'PUBLISH') : 0;
  const properties = version === 5 ? readProperties(reader, 'publish') : undefined;
  if (topic.length === 0 && properties?.topicAlias === undefined) {
    // [MQTT-4.7.3-1]: a topic name has at least one character; 5.0 allows it empty only with a Topic Alias
    throw new ProtocolError('PUBLISH has an empty topic name and no topic alias');
  }
  const start = packetStart < 0 ? -1 : reader.buf.byteOffset + packetStart;
  const packet: PublishPacket = {
    type: 'publish',
    topic,
    payload: reader.rest(),
    qos,
    retain: (first & 0x01) !== 0,
    dup: (first & 0x08) !== 0,
    packetId: id,
    properties,
  };
  if (start >= 0) packet.wireStart = start;
  return packet;
}

type AckType = 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';

function decodePubAckLike<T extends AckType>(type: T, reader: Reader, version: ProtocolVersion): PubAckLikePacket<T> {
  const id = packetId(reader, type.toUpperCase());
  let reasonCode = 0;
  let properties: AckProperties | undefined;
  // 5.0: the reason code and the properties may be omitted when the remaining length is 2 or 3
  if (version === 5 && reader.remaining > 0) {
    reasonCode = reader.u8('the reason code');
    // [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1] only the codes the table allows
    if (!allowedReasonCodes[type].has(reasonCode)) {
      throw new MalformedPacketError(`${type.toUpperCase()} reason code 0x${reasonCode.toString(16)} is not defined`);
    }
    if (reader.remaining > 0) properties = readProperties(reader, type);
  }
  reader.expectEnd(type.toUpperCase());
  return { type, packetId: id, reasonCode, properties };
}

function decodeSubscribe(reader: Reader, version: ProtocolVersion): SubscribePacket {
  const id = packetId(reader, 'SUBSCRIBE');
  const properties = version === 5 ? readProperties(reader, 'subscribe') : undefined;
  const subscriptions: Subscription[] = [];
  while (reader.remaining > 0) {
    // [MQTT-3.8.3-1] topic filters are UTF-8 strings
    const topicFilter = reader.string('a topic filter');
    const options = reader.u8('the subscription options');
    const qos = options & 0x03;
    // [MQTT-3.8.3-4] (3.1.1): reserved bits 7-2 are 0; [MQTT-3.8.3-5] (5.0): reserved bits 7-6 are 0
    if (version === 5 ? (options & 0xc0) !== 0 : (options & 0xfc) !== 0) {
      throw new MalformedPacketError('SUBSCRIBE options have reserved bits set');
    }
    if (qos === 3) {
      // [MQTT-3.8.3-4] (3.1.1): QoS 3 is malformed; 5.0 section 3.8.3.1: a Maximum QoS of 3 is a Protocol Error
      if (version === 5) throw new ProtocolError('SUBSCRIBE requests QoS 3');
      throw new MalformedPacketError('SUBSCRIBE requests QoS 3');
    }
    const retainHandling = (options >> 4) & 0x03;
    // 5.0 section 3.8.3.1: Retain Handling 3 is a Protocol Error
    if (retainHandling === 3) throw new ProtocolError('SUBSCRIBE has Retain Handling 3');
    subscriptions.push({
      topicFilter,
      qos: qos as QoS,
      noLocal: (options & 0x04) !== 0,
      retainAsPublished: (options & 0x08) !== 0,
      retainHandling: retainHandling as RetainHandling,
    });
  }
  // [MQTT-3.8.3-3] (3.1.1) / [MQTT-3.8.3-2] (5.0): at least one filter
  if (subscriptions.length === 0) throw new ProtocolError('SUBSCRIBE has no topic filter');
  return { type: 'subscribe', packetId: id, subscriptions, properties };
}

function decodeSuback(reader: Reader, version: ProtocolVersion): SubackPacket {
  const id = packetId(reader, 'SUBACK');
  const properties = version === 5 ? readProperties(reader, 'suback') : undefined;
  const reasonCodes: number[] = [];
  const allowed = version === 5 ? allowedReasonCodes.suback : allowedSubackReturnCodesV4;
  while (reader.remaining > 0) {
    const code = reader.u8('a SUBACK reason code');
    // [MQTT-3.9.3-2] only the codes the table allows
    if (!allowed.has(code)) throw new MalformedPacketError(`SUBACK code 0x${code.toString(16)} is not defined`);
    reasonCodes.push(code);
  }
  if (reasonCodes.length === 0) throw new ProtocolError('SUBACK has no reason code');
  return { type: 'suback', packetId: id, reasonCodes, properties };
}

function decodeUnsubscribe(reader: Reader, version: ProtocolVersion): UnsubscribePacket {
  const id = packetId(reader, 'UNSUBSCRIBE');
  const properties = version === 5 ? readProperties(reader, 'unsubscribe') : undefined;
  const topicFilters: string[] = [];
  // [MQTT-3.10.3-1] topic filters are UTF-8 strings
  while (reader.remaining > 0) topicFilters.push(reader.string('a topic filter'));
  // [MQTT-3.10.3-2] at least one filter
  if (topicFilters.length === 0) throw new ProtocolError('UNSUBSCRIBE has no topic filter');
  return { type: 'unsubscribe', packetId: id, topicFilters, properties };
}

function decodeUnsuback(reader: Reader, version: ProtocolVersion): UnsubackPacket {
  const id = packetId(reader, 'UNSUBACK');
  const reasonCodes: number[] = [];
  let properties: AckProperties | undefined;
  if (version === 5) {
    properties = readProperties(reader, 'unsuback');
    while (reader.remaining > 0) {
      const code = reader.u8('an UNSUBACK reason code');
      if (!allowedReasonCodes.unsuback.has(code)) {
        throw new MalformedPacketError(`UNSUBACK reason code 0x${code.toString(16)} is not defined`);
      }
      reasonCodes.push(code);
    }
    if (reasonCodes.length === 0) throw new ProtocolError('UNSUBACK has no reason code');
  }
  reader.expectEnd('UNSUBACK');
  return { type: 'unsuback', packetId: id, reasonCodes, properties };
}

function decodeDisconnect(reader: Reader, version: ProtocolVersion): DisconnectPacket {
  let reasonCode = 0;
  let properties: DisconnectPacket['properties'];
  if (version === 5 && reader.remaining > 0) {
    reasonCode = reader.u8('the disconnect reason code');
    if (!allowedReasonCodes.disconnect.has(reasonCode)) {
      throw new MalformedPacketError(`DISCONNECT reason code 0x${reasonCode.toString(16)} is not defined`);
    }
    if (reader.remaining > 0) properties = readProperties(reader, 'disconnect');
  }
  reader.expectEnd('DISCONNECT');
  return { type: 'disconnect', reasonCode, properties };
}

function decodeAuth(reader: Reader): AuthPacket {
  let reasonCode = 0;
  let properties: AuthPacket['properties'];
  if (reader.remaining > 0) {
    reasonCode = reader.u8('the authenticate reason code');
    if (!allowedReasonCodes.auth.has(reasonCode)) {
      throw new MalformedPacketError(`AUTH reason code 0x${reasonCode.toString(16)} is not defined`);
    }
    if (reader.remaining > 0) properties = readProperties(reader, 'auth');
  }
  reader.expectEnd('AUTH');
  return { type: 'auth', reasonCode, properties };
}

/**
 * Checks the first byte of a fixed header: a known packet type and the flags Table 2-2 requires.
 * Throws MalformedPacketError otherwise.
 */
export function checkFixedHeader(first: number, version: ProtocolVersion | undefined): void {
  const type = first >> 4;
  const flags = first & 0x0f;
  if (type === 0 || (type === 15 && version !== 5)) {
    throw new MalformedPacketError(`packet type ${type} is reserved`);
  }
  if (type === 3) {
    // [MQTT-3.3.1-4] QoS 3 is malformed (both versions)
    if ((flags & 0x06) === 0x06) throw new MalformedPacketError('PUBLISH with QoS 3');
    // [MQTT-3.3.1-2] DUP must be 0 on QoS 0
    if ((flags & 0x06) === 0 && (flags & 0x08) !== 0) throw new MalformedPacketError('PUBLISH with QoS 0 and DUP set');
    return;
  }
  // [MQTT-2.2.2-1] [MQTT-2.2.2-2] (3.1.1), [MQTT-2.1.3-1] (5.0): reserved flags; PUBREL [MQTT-3.6.1-1],
  // SUBSCRIBE [MQTT-3.8.1-1] and UNSUBSCRIBE [MQTT-3.10.1-1] need 0010, every other type 0000.
  const required = type === 6 || type === 8 || type === 10 ? 2 : 0;
  // MQTT 3.1 (sections 3.6, 3.8 and 3.10 of its specification) gives these three packets a DUP flag, set
  // when a client resends them: a retried PUBREL is 0x6A. 3.1.1 and 5.0 fix the flags, so only 3.1 may.
  if (flags !== required && !(version === 3 && required === 2 && flags === 0x0a)) {
    throw new MalformedPacketError(`packet type ${type} has reserved flags ${flags.toString(2).padStart(4, '0')}`);
  }
}
