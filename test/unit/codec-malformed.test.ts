/**
 * The malformed-input corpus: one case per validation rule of the decoder (fixed header, reader,
 * properties, each packet body), each asserting the error class and its reason code, and the
 * encoder's refusals of packets that cannot be put on the wire.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FennecError } from '../../src/errors/index.js';
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
  type PublishPacket,
} from '../../src/protocol/index.js';
import { decodeAll, thrownBy } from '../fixtures/codec.js';
import { frame, golden, goldenPackets, normalize, wire } from '../fixtures/packets.js';

type ErrorClass = typeof MalformedPacketError | typeof ProtocolError | typeof UnsupportedProtocolError;

interface MalformedCase {
  /** What is wrong, with the statement it breaks. */
  name: string;
  /** Version the decoder is told (a CONNECT names its own). */
  version?: ProtocolVersion;
  bytes: Buffer;
  error: ErrorClass;
}

const M = MalformedPacketError;
const P = ProtocolError;
const U = UnsupportedProtocolError;
const reasonCodeOf = new Map<ErrorClass, number>([
  [M, 0x81],
  [P, 0x82],
  [U, 0x84],
]);

type Part = number | string | Buffer | readonly number[];

/** A 3.1.1 CONNECT with the given connect flags and payload (keep alive 60). */
const connect4 = (flags: number, ...payload: Part[]): Buffer => frame(0x10, 0, 4, 'MQTT', 4, flags, 0, 60, ...payload);
/** A 3.1 CONNECT with the given connect flags and payload. */
const connect3 = (flags: number, ...payload: Part[]): Buffer =>
  frame(0x10, 0, 6, 'MQIsdp', 3, flags, 0, 60, ...payload);
/** A 5.0 CONNECT with the given connect flags, property bytes (without their length) and payload. */
const connect5 = (flags: number, props: readonly number[], ...payload: Part[]): Buffer =>
  frame(0x10, 0, 4, 'MQTT', 5, flags, 0, 60, props.length, props, ...payload);
/** A 5.0 CONNACK (accepted) with the given property bytes. */
const connack5 = (props: readonly number[]): Buffer => frame(0x20, 0, 0, props.length, props);
/** A 5.0 QoS 0 PUBLISH on topic `t` with the given property bytes. */
const publish5 = (props: readonly number[]): Buffer => frame(0x30, 0, 1, 't', props.length, props, 'x');
/** A 5.0 SUBSCRIBE (id 1) of filter `a` at QoS 0 with the given property bytes. */
const subscribe5 = (props: readonly number[]): Buffer => frame(0x82, 0, 1, props.length, props, 0, 1, 'a', 0);

const corpus: MalformedCase[] = [
  // Fixed header (section 2.1 of 5.0, 2.2 of 3.1.1).
  { name: 'packet type 0, which is reserved', version: 4, bytes: wire(0x00, 0), error: M },
  { name: 'packet type 0 in 5.0', version: 5, bytes: wire(0x00, 0), error: M },
  { name: 'AUTH in 3.1.1, where type 15 is reserved', version: 4, bytes: wire(0xf0, 0), error: M },
  { name: 'AUTH in 3.1', version: 3, bytes: wire(0xf0, 0), error: M },
  { name: 'AUTH before any CONNECT has named 5.0', bytes: wire(0xf0, 0), error: M },
  { name: '[MQTT-3.3.1-4] a PUBLISH with QoS 3 (3.1.1)', version: 4, bytes: frame(0x36, 0, 1, 't', 0, 1), error: M },
  { name: '[MQTT-3.3.1-4] a PUBLISH with QoS 3 (5.0)', version: 5, bytes: frame(0x36, 0, 1, 't', 0, 1, 0), error: M },
  { name: '[MQTT-3.3.1-2] a QoS 0 PUBLISH with DUP set (3.1.1)', version: 4, bytes: frame(0x38, 0, 1, 't'), error: M },
  { name: '[MQTT-3.3.1-2] a QoS 0 PUBLISH with DUP set (5.0)', version: 5, bytes: frame(0x38, 0, 1, 't', 0), error: M },

  // Variable Byte Integers [MQTT-1.5.5-1] and lengths.
  {
    name: '[MQTT-1.5.5-1] a remaining length of five bytes',
    version: 4,
    bytes: wire(0x30, 0xff, 0xff, 0xff, 0xff, 0x01),
    error: M,
  },
  {
    name: '[MQTT-1.5.5-1] a remaining length whose fourth byte continues',
    version: 4,
    bytes: wire(0x30, 0x80, 0x80, 0x80, 0x80),
    error: M,
  },
  { name: '[MQTT-1.5.5-1] a remaining length of 0 in two bytes', version: 4, bytes: wire(0xc0, 0x80, 0x00), error: M },
  {
    name: '[MQTT-1.5.5-1] a remaining length of 4 in two bytes',
    version: 4,
    bytes: wire(0x30, 0x84, 0x00, 0, 1, 't', 'x'),
    error: M,
  },
  {
    name: '[MQTT-1.5.5-1] a property length of 0 in two bytes',
    version: 5,
    bytes: frame(0x30, 0, 1, 't', 0x80, 0x00),
    error: M,
  },
  {
    name: '[MQTT-1.5.5-1] a subscription identifier of 1 in two bytes',
    version: 5,
    bytes: subscribe5([0x0b, 0x81, 0x00]),
    error: M,
  },
  {
    name: '[MQTT-1.5.5-1] a subscription identifier of five bytes',
    version: 5,
    bytes: subscribe5([0x0b, 0xff, 0xff, 0xff, 0xff, 0x7f]),
    error: M,
  },
  { name: '[MQTT-1.5.5-1] a property identifier in two bytes', version: 5, bytes: publish5([0x81, 0x00, 1]), error: M },

  // Truncated fields: a field that runs past the end of the packet.
  { name: 'a topic name longer than the packet', version: 4, bytes: frame(0x30, 0, 5, 'ab'), error: M },
  { name: 'a topic name length cut in half', version: 4, bytes: frame(0x30, 0), error: M },
  { name: 'a QoS 1 PUBLISH without its packet identifier', version: 4, bytes: frame(0x32, 0, 1, 't'), error: M },
  {
    name: 'a QoS 1 PUBLISH (5.0) without its property length',
    version: 5,
    bytes: frame(0x32, 0, 1, 't', 0, 1),
    error: M,
  },
  { name: 'a PUBACK of one byte', version: 4, bytes: frame(0x40, 0), error: M },
  { name: 'a PUBREL with no body', version: 5, bytes: frame(0x62), error: M },
  { name: 'a CONNACK of one byte', version: 4, bytes: frame(0x20, 0), error: M },
  { name: 'a CONNECT that ends after the protocol name', bytes: frame(0x10, 0, 4, 'MQTT'), error: M },
  { name: 'a CONNECT that ends before the keep alive', bytes: frame(0x10, 0, 4, 'MQTT', 4, 0x02, 0), error: M },
  { name: '[MQTT-3.1.3-3] a CONNECT without a client identifier', bytes: connect4(0x02), error: M },
  { name: 'a 5.0 CONNECT without its property length', bytes: frame(0x10, 0, 4, 'MQTT', 5, 0x02, 0, 60), error: M },
  { name: '[MQTT-3.1.2-9] (3.1.1) the Will flag without a Will Topic', bytes: connect4(0x06, 0, 1, 'c'), error: M },
  {
    name: '[MQTT-3.1.2-9] (3.1.1) the Will flag without a Will Message',
    bytes: connect4(0x06, 0, 1, 'c', 0, 1, 't'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-9] (5.0) the Will flag without Will Properties',
    bytes: connect5(0x06, [], 0, 1, 'c'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-19] (3.1.1) the User Name flag without a User Name',
    bytes: connect4(0x82, 0, 1, 'c'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-17] (5.0) the User Name flag without a User Name',
    bytes: connect5(0x82, [], 0, 1, 'c'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-21] (3.1.1) the Password flag without a Password',
    bytes: connect4(0xc2, 0, 1, 'c', 0, 1, 'u'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-19] (5.0) the Password flag without a Password',
    bytes: connect5(0x42, [], 0, 1, 'c'),
    error: M,
  },
  { name: 'a property length beyond the packet', version: 5, bytes: frame(0x30, 0, 1, 't', 10, 0x01, 1), error: M },
  {
    name: 'a property that runs past the property length',
    version: 5,
    bytes: frame(0x30, 0, 1, 't', 2, 0x02, 0, 0, 0, 60),
    error: M,
  },
  {
    name: 'a user property without its value',
    version: 5,
    bytes: frame(0x40, 0, 1, 0x80, 5, 0x26, 0, 1, 'k', 0),
    error: M,
  },
  { name: 'a binary property longer than the packet', version: 5, bytes: publish5([0x09, 0, 9, 1]), error: M },
  {
    name: 'a SUBSCRIBE topic filter without its options byte',
    version: 4,
    bytes: frame(0x82, 0, 1, 0, 1, 'a'),
    error: M,
  },

  // UTF-8 Encoded Strings (section 1.5.3 of 3.1.1, 1.5.4 of 5.0).
  {
    name: '[MQTT-1.5.3-1] (3.1.1) ill-formed UTF-8 in a topic name',
    version: 4,
    bytes: frame(0x30, 0, 2, 0xc3, 0x28),
    error: M,
  },
  {
    name: '[MQTT-1.5.4-1] (5.0) ill-formed UTF-8 in a topic name',
    version: 5,
    bytes: frame(0x30, 0, 2, 0xc3, 0x28, 0),
    error: M,
  },
  { name: '[MQTT-1.5.4-1] (5.0) a lone continuation byte', version: 5, bytes: frame(0x30, 0, 1, 0x80, 0), error: M },
  {
    name: '[MQTT-1.5.4-1] (5.0) a UTF-8 sequence cut short',
    version: 5,
    bytes: frame(0x30, 0, 2, 0xe2, 0x82, 0),
    error: M,
  },
  {
    name: '[MQTT-1.5.3-1] (3.1.1) an encoded surrogate U+D800',
    version: 4,
    bytes: frame(0x30, 0, 3, 0xed, 0xa0, 0x80),
    error: M,
  },
  {
    name: '[MQTT-1.5.4-1] (5.0) an encoded surrogate U+DFFF',
    version: 5,
    bytes: frame(0x30, 0, 3, 0xed, 0xbf, 0xbf, 0),
    error: M,
  },
  {
    name: '[MQTT-1.5.4-1] (5.0) an overlong encoding of "/"',
    version: 5,
    bytes: frame(0x30, 0, 2, 0xc0, 0xaf, 0),
    error: M,
  },
  {
    name: '[MQTT-1.5.4-1] (5.0) a code point above U+10FFFF',
    version: 5,
    bytes: frame(0x30, 0, 4, 0xf4, 0x90, 0x80, 0x80, 0),
    error: M,
  },
  {
    name: '[MQTT-1.5.3-2] (3.1.1) U+0000 in a topic name',
    version: 4,
    bytes: frame(0x30, 0, 3, 'a', 0, 'b'),
    error: M,
  },
  {
    name: '[MQTT-1.5.4-2] [MQTT-4.7.3-2] (5.0) U+0000 in a topic name',
    version: 5,
    bytes: frame(0x30, 0, 3, 'a', 0, 'b', 0),
    error: M,
  },
  {
    name: '[MQTT-1.5.4-2] (5.0) U+0000 written as the overlong C0 80',
    version: 5,
    bytes: frame(0x30, 0, 2, 0xc0, 0x80, 0),
    error: M,
  },
  {
    name: '[MQTT-4.7.3-2] (3.1.1) U+0000 in a SUBSCRIBE topic filter',
    version: 4,
    bytes: frame(0x82, 0, 1, 0, 2, 'a', 0, 0),
    error: M,
  },
  {
    name: '[MQTT-4.7.3-2] (3.1.1) U+0000 in an UNSUBSCRIBE topic filter',
    version: 4,
    bytes: frame(0xa2, 0, 1, 0, 1, 0),
    error: M,
  },
  { name: '[MQTT-3.1.3-4] (3.1.1) U+0000 in the client identifier', bytes: connect4(0x02, 0, 2, 'c', 0), error: M },
  {
    name: '[MQTT-3.1.3-4] (5.0) ill-formed UTF-8 in the client identifier',
    bytes: connect5(0x02, [], 0, 1, 0xff),
    error: M,
  },
  {
    name: '[MQTT-3.1.3-10] (3.1.1) ill-formed UTF-8 in the Will Topic',
    bytes: connect4(0x06, 0, 1, 'c', 0, 1, 0xff, 0, 0),
    error: M,
  },
  {
    name: '[MQTT-3.1.3-11] (5.0) ill-formed UTF-8 in the Will Topic',
    bytes: connect5(0x06, [], 0, 1, 'c', 0, 0, 1, 0xfe, 0, 0),
    error: M,
  },
  {
    name: '[MQTT-3.1.3-11] (3.1.1) ill-formed UTF-8 in the User Name',
    bytes: connect4(0x82, 0, 1, 'c', 0, 1, 0xff),
    error: M,
  },
  { name: '[MQTT-3.1.3-12] (5.0) U+0000 in the User Name', bytes: connect5(0x82, [], 0, 1, 'c', 0, 1, 0), error: M },
  {
    name: 'ill-formed UTF-8 in the protocol name',
    bytes: frame(0x10, 0, 4, 'MQT', 0xff, 4, 0x02, 0, 60, 0, 1, 'c'),
    error: M,
  },
  {
    name: '[MQTT-1.5.7-1] (5.0) ill-formed UTF-8 in a user property name',
    version: 5,
    bytes: frame(0x40, 0, 1, 0x80, 6, 0x26, 0, 1, 0xff, 0, 0),
    error: M,
  },
  {
    name: '[MQTT-1.5.7-1] (5.0) U+0000 in a user property value',
    version: 5,
    bytes: frame(0x40, 0, 1, 0x80, 7, 0x26, 0, 1, 'k', 0, 1, 0),
    error: M,
  },
  {
    name: '[MQTT-3.3.2-19] (5.0) ill-formed UTF-8 in the Content Type',
    version: 5,
    bytes: publish5([0x03, 0, 1, 0xff]),
    error: M,
  },
  {
    name: '[MQTT-3.3.2-13] (5.0) ill-formed UTF-8 in the Response Topic',
    version: 5,
    bytes: publish5([0x08, 0, 1, 0xff]),
    error: M,
  },
  { name: 'U+0000 in a reason string', version: 5, bytes: frame(0xe0, 0x80, 4, 0x1f, 0, 1, 0), error: M },

  // Packet identifiers are non-zero: [MQTT-2.3.1-1] (3.1.1), section 2.2.1 (5.0).
  {
    name: '[MQTT-2.3.1-1] (3.1.1) a QoS 1 PUBLISH with packet identifier 0',
    version: 4,
    bytes: frame(0x32, 0, 1, 't', 0, 0),
    error: M,
  },
  {
    name: '[MQTT-2.3.1-1] (3.1.1) a QoS 2 PUBLISH with packet identifier 0',
    version: 4,
    bytes: frame(0x34, 0, 1, 't', 0, 0),
    error: M,
  },
  {
    name: 'a 5.0 QoS 1 PUBLISH with packet identifier 0',
    version: 5,
    bytes: frame(0x32, 0, 1, 't', 0, 0, 0),
    error: M,
  },
  {
    name: '[MQTT-2.3.1-1] (3.1.1) a SUBSCRIBE with packet identifier 0',
    version: 4,
    bytes: frame(0x82, 0, 0, 0, 1, 'a', 0),
    error: M,
  },
  {
    name: '[MQTT-2.3.1-1] (3.1.1) an UNSUBSCRIBE with packet identifier 0',
    version: 4,
    bytes: frame(0xa2, 0, 0, 0, 1, 'a'),
    error: M,
  },
  { name: 'a PUBACK with packet identifier 0', version: 4, bytes: frame(0x40, 0, 0), error: M },
  { name: 'a PUBREC with packet identifier 0', version: 5, bytes: frame(0x50, 0, 0), error: M },
  { name: 'a PUBREL with packet identifier 0', version: 4, bytes: frame(0x62, 0, 0), error: M },
  { name: 'a PUBCOMP with packet identifier 0', version: 5, bytes: frame(0x70, 0, 0), error: M },
  { name: 'a SUBACK with packet identifier 0', version: 4, bytes: frame(0x90, 0, 0, 0), error: M },
  { name: 'an UNSUBACK with packet identifier 0', version: 4, bytes: frame(0xb0, 0, 0), error: M },

  // CONNECT flags and protocol (section 3.1.2).
  { name: '[MQTT-3.1.2-3] (3.1.1) the reserved connect flag set', bytes: connect4(0x03, 0, 1, 'c'), error: M },
  { name: '[MQTT-3.1.2-3] (5.0) the reserved connect flag set', bytes: connect5(0x03, [], 0, 1, 'c'), error: M },
  { name: '[MQTT-3.1.2-14] (3.1.1) Will QoS 3', bytes: connect4(0x1e, 0, 1, 'c', 0, 1, 't', 0, 0), error: M },
  { name: '[MQTT-3.1.2-12] (5.0) Will QoS 3', bytes: connect5(0x1e, [], 0, 1, 'c', 0, 0, 1, 't', 0, 0), error: M },
  { name: '[MQTT-3.1.2-13] (3.1.1) Will QoS 1 without the Will flag', bytes: connect4(0x0a, 0, 1, 'c'), error: M },
  { name: '[MQTT-3.1.2-11] (5.0) Will QoS 2 without the Will flag', bytes: connect5(0x12, [], 0, 1, 'c'), error: M },
  { name: '[MQTT-3.1.2-15] (3.1.1) Will Retain without the Will flag', bytes: connect4(0x22, 0, 1, 'c'), error: M },
  { name: '[MQTT-3.1.2-13] (5.0) Will Retain without the Will flag', bytes: connect5(0x22, [], 0, 1, 'c'), error: M },
  {
    name: '[MQTT-3.1.2-22] (3.1.1) a password without a user name',
    bytes: connect4(0x42, 0, 1, 'c', 0, 1, 'p'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-22] (3.1.1 rule, in 3.1) a password without a user name',
    bytes: connect3(0x42, 0, 1, 'c', 0, 1, 'p'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-18] (3.1.1) a user name without the User Name flag',
    bytes: connect4(0x02, 0, 1, 'c', 0, 1, 'u'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-16] (5.0) a user name without the User Name flag',
    bytes: connect5(0x02, [], 0, 1, 'c', 0, 1, 'u'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-20] (3.1.1) a password without the Password flag',
    bytes: connect4(0x82, 0, 1, 'c', 0, 1, 'u', 0, 1, 'p'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-18] (5.0) a password without the Password flag',
    bytes: connect5(0x82, [], 0, 1, 'c', 0, 1, 'u', 0, 1, 'p'),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-11] (3.1.1) a Will Topic without the Will flag',
    bytes: connect4(0x02, 0, 1, 'c', 0, 1, 't', 0, 0),
    error: M,
  },
  {
    name: '[MQTT-3.1.2-1] (5.0) the protocol name MQTX',
    bytes: frame(0x10, 0, 4, 'MQTX', 5, 0x02, 0, 60, 0, 0, 1, 'c'),
    error: U,
  },
  {
    name: '[MQTT-3.1.2-1] (3.1.1) the protocol name mqtt in lower case',
    bytes: frame(0x10, 0, 4, 'mqtt', 4, 0x02, 0, 60, 0, 1, 'c'),
    error: U,
  },
  {
    name: '[MQTT-3.1.2-2] (3.1.1) protocol level 3 with the name MQTT',
    bytes: frame(0x10, 0, 4, 'MQTT', 3, 0x02, 0, 60, 0, 1, 'c'),
    error: U,
  },
  {
    name: '[MQTT-3.1.2-2] (5.0) protocol level 6',
    bytes: frame(0x10, 0, 4, 'MQTT', 6, 0x02, 0, 60, 0, 0, 1, 'c'),
    error: U,
  },
  {
    name: '[MQTT-3.1.2-2] (3.1.1) the name MQIsdp with level 4',
    bytes: frame(0x10, 0, 6, 'MQIsdp', 4, 0x02, 0, 60, 0, 1, 'c'),
    error: U,
  },
  {
    name: 'protocol level 0x84, the bridge bit of some brokers',
    bytes: frame(0x10, 0, 4, 'MQTT', 0x84, 0x02, 0, 60, 0, 1, 'c'),
    error: U,
  },

  // CONNACK (section 3.2).
  { name: '[MQTT-3.2.2-1] (5.0) reserved acknowledge flags set', version: 5, bytes: frame(0x20, 0x02, 0, 0), error: M },
  { name: 'reserved acknowledge flags set (3.1.1 section 3.2.2.1)', version: 4, bytes: frame(0x20, 0x80, 0), error: M },
  { name: 'return code 6, reserved in 3.1.1', version: 4, bytes: frame(0x20, 0, 6), error: M },
  {
    name: '[MQTT-3.2.2-8] (5.0) reason code 0x01, not in Table 3-1',
    version: 5,
    bytes: frame(0x20, 0, 0x01, 0),
    error: M,
  },
  {
    name: '[MQTT-3.2.2-8] (5.0) reason code 0x8e, not in Table 3-1',
    version: 5,
    bytes: frame(0x20, 0, 0x8e, 0),
    error: M,
  },
  { name: 'a 3.1.1 CONNACK with a third byte', version: 4, bytes: frame(0x20, 0, 0, 0), error: M },
  { name: 'a 5.0 CONNACK with bytes after its properties', version: 5, bytes: frame(0x20, 0, 0, 0, 0xff), error: M },

  // PUBLISH topic (sections 3.3.2, 4.7.3).
  { name: '[MQTT-4.7.3-1] (3.1.1) an empty topic name', version: 4, bytes: frame(0x30, 0, 0, 'x'), error: P },
  {
    name: '[MQTT-4.7.3-1] (5.0) an empty topic name without a topic alias',
    version: 5,
    bytes: frame(0x30, 0, 0, 0, 'x'),
    error: P,
  },

  // Acknowledgements.
  { name: '[MQTT-3.4.2-1] (5.0) PUBACK reason code 0x01', version: 5, bytes: frame(0x40, 0, 1, 0x01), error: M },
  { name: '[MQTT-3.5.2-1] (5.0) PUBREC reason code 0x92', version: 5, bytes: frame(0x50, 0, 1, 0x92), error: M },
  { name: '[MQTT-3.6.2-1] (5.0) PUBREL reason code 0x10', version: 5, bytes: frame(0x62, 0, 1, 0x10), error: M },
  { name: '[MQTT-3.7.2-1] (5.0) PUBCOMP reason code 0x80', version: 5, bytes: frame(0x70, 0, 1, 0x80), error: M },
  { name: 'a 3.1.1 PUBACK of three bytes', version: 4, bytes: frame(0x40, 0, 1, 0), error: M },
  { name: 'a 5.0 PUBACK with bytes after its properties', version: 5, bytes: frame(0x40, 0, 1, 0, 0, 0xff), error: M },

  // SUBSCRIBE (section 3.8).
  { name: '[MQTT-3.8.3-3] (3.1.1) a SUBSCRIBE without a topic filter', version: 4, bytes: frame(0x82, 0, 1), error: P },
  {
    name: '[MQTT-3.8.3-2] (5.0) a SUBSCRIBE without a topic filter',
    version: 5,
    bytes: frame(0x82, 0, 1, 0),
    error: P,
  },
  {
    name: '[MQTT-3.8.3-4] (3.1.1) subscription option bit 2 set',
    version: 4,
    bytes: frame(0x82, 0, 1, 0, 1, 'a', 0x04),
    error: M,
  },
  {
    name: '[MQTT-3.8.3-4] (3.1.1) subscription option bit 7 set',
    version: 4,
    bytes: frame(0x82, 0, 1, 0, 1, 'a', 0x80),
    error: M,
  },
  {
    name: '[MQTT-3.8.3-4] (3.1.1) a requested QoS of 3',
    version: 4,
    bytes: frame(0x82, 0, 1, 0, 1, 'a', 0x03),
    error: M,
  },
  {
    name: '[MQTT-3.8.3-5] (5.0) subscription option bit 6 set',
    version: 5,
    bytes: frame(0x82, 0, 1, 0, 0, 1, 'a', 0x40),
    error: M,
  },
  {
    name: '[MQTT-3.8.3-5] (5.0) subscription option bit 7 set',
    version: 5,
    bytes: frame(0x82, 0, 1, 0, 0, 1, 'a', 0x81),
    error: M,
  },
  {
    name: 'a 5.0 Maximum QoS of 3 (section 3.8.3.1)',
    version: 5,
    bytes: frame(0x82, 0, 1, 0, 0, 1, 'a', 0x03),
    error: P,
  },
  {
    name: 'a 5.0 Retain Handling of 3 (section 3.8.3.1)',
    version: 5,
    bytes: frame(0x82, 0, 1, 0, 0, 1, 'a', 0x30),
    error: P,
  },
  {
    name: 'a second filter missing its options byte',
    version: 5,
    bytes: frame(0x82, 0, 1, 0, 0, 1, 'a', 0, 0, 1, 'b'),
    error: M,
  },

  // SUBACK, UNSUBSCRIBE, UNSUBACK.
  { name: 'a SUBACK without a return code', version: 4, bytes: frame(0x90, 0, 1), error: P },
  { name: '[MQTT-3.9.3-2] (3.1.1) SUBACK return code 3', version: 4, bytes: frame(0x90, 0, 1, 3), error: M },
  { name: '[MQTT-3.9.3-2] (5.0) SUBACK reason code 0x03', version: 5, bytes: frame(0x90, 0, 1, 0, 3), error: M },
  {
    name: '[MQTT-3.9.3-2] (3.1.1) SUBACK code 0x8f, a 5.0-only code',
    version: 4,
    bytes: frame(0x90, 0, 1, 0x8f),
    error: M,
  },
  {
    name: '[MQTT-3.10.3-2] (3.1.1) an UNSUBSCRIBE without a topic filter',
    version: 4,
    bytes: frame(0xa2, 0, 1),
    error: P,
  },
  {
    name: '[MQTT-3.10.3-2] (5.0) an UNSUBSCRIBE without a topic filter',
    version: 5,
    bytes: frame(0xa2, 0, 1, 0),
    error: P,
  },
  { name: 'a 3.1.1 UNSUBACK with a reason code', version: 4, bytes: frame(0xb0, 0, 1, 0), error: M },
  { name: 'a 5.0 UNSUBACK without a reason code', version: 5, bytes: frame(0xb0, 0, 1, 0), error: P },
  { name: '[MQTT-3.11.3-2] (5.0) UNSUBACK reason code 0x01', version: 5, bytes: frame(0xb0, 0, 1, 0, 0x01), error: M },

  // PINGREQ, PINGRESP, DISCONNECT, AUTH.
  { name: 'a PINGREQ with a body', version: 4, bytes: frame(0xc0, 0), error: M },
  { name: 'a PINGRESP with a body', version: 5, bytes: frame(0xd0, 0), error: M },
  { name: 'a 3.1.1 DISCONNECT with a body', version: 4, bytes: frame(0xe0, 0), error: M },
  { name: '[MQTT-3.14.2-1] (5.0) DISCONNECT reason code 0x05', version: 5, bytes: frame(0xe0, 0x05), error: M },
  {
    name: '[MQTT-3.14.2-1] (5.0) DISCONNECT reason code 0x8c, not in Table 3-10',
    version: 5,
    bytes: frame(0xe0, 0x8c),
    error: M,
  },
  { name: 'a 5.0 DISCONNECT with bytes after its properties', version: 5, bytes: frame(0xe0, 0, 0, 1), error: M },
  { name: '[MQTT-3.15.2-1] (5.0) AUTH reason code 0x01', version: 5, bytes: frame(0xf0, 0x01), error: M },
  { name: 'an AUTH with bytes after its properties', version: 5, bytes: frame(0xf0, 0x18, 0, 0), error: M },

  // Properties (section 2.2.2 of 5.0): each may appear once unless repeatable.
  {
    name: 'Session Expiry Interval twice in CONNECT',
    bytes: connect5(0x02, [0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2], 0, 1, 'c'),
    error: P,
  },
  { name: 'Receive Maximum twice in CONNECT', bytes: connect5(0x02, [0x21, 0, 1, 0x21, 0, 1], 0, 1, 'c'), error: P },
  {
    name: 'Authentication Method twice in CONNECT',
    bytes: connect5(0x02, [0x15, 0, 1, 0x61, 0x15, 0, 0], 0, 1, 'c'),
    error: P,
  },
  { name: 'Payload Format Indicator twice in PUBLISH', version: 5, bytes: publish5([0x01, 0, 0x01, 1]), error: P },
  { name: 'Topic Alias twice in PUBLISH', version: 5, bytes: publish5([0x23, 0, 1, 0x23, 0, 2]), error: P },
  { name: 'Correlation Data twice in PUBLISH', version: 5, bytes: publish5([0x09, 0, 0, 0x09, 0, 0]), error: P },
  { name: 'Subscription Identifier twice in SUBSCRIBE', version: 5, bytes: subscribe5([0x0b, 1, 0x0b, 2]), error: P },
  { name: 'Maximum QoS twice in CONNACK', version: 5, bytes: connack5([0x24, 0, 0x24, 1]), error: P },
  {
    name: 'Reason String twice in PUBACK',
    version: 5,
    bytes: frame(0x40, 0, 1, 0x80, 6, 0x1f, 0, 0, 0x1f, 0, 0),
    error: P,
  },
  {
    name: 'Will Delay Interval twice in the Will Properties',
    bytes: connect5(0x06, [], 0, 1, 'c', 10, [0x18, 0, 0, 0, 1, 0x18, 0, 0, 0, 1], 0, 1, 't', 0, 0),
    error: P,
  },

  // A property not allowed in the packet is malformed (section 2.2.2.2).
  { name: 'Session Expiry Interval in PUBLISH', version: 5, bytes: publish5([0x11, 0, 0, 0, 1]), error: M },
  { name: 'Topic Alias in CONNECT', bytes: connect5(0x02, [0x23, 0, 1], 0, 1, 'c'), error: M },
  {
    name: 'Will Delay Interval in the CONNECT properties',
    bytes: connect5(0x02, [0x18, 0, 0, 0, 1], 0, 1, 'c'),
    error: M,
  },
  {
    name: 'Session Expiry Interval in the Will Properties',
    bytes: connect5(0x06, [], 0, 1, 'c', 5, [0x11, 0, 0, 0, 1], 0, 1, 't', 0, 0),
    error: M,
  },
  { name: 'Assigned Client Identifier in CONNECT', bytes: connect5(0x02, [0x12, 0, 0], 0, 1, 'c'), error: M },
  { name: 'Subscription Identifier in SUBACK', version: 5, bytes: frame(0x90, 0, 1, 2, 0x0b, 1, 0), error: M },
  { name: 'Maximum QoS in CONNECT', bytes: connect5(0x02, [0x24, 1], 0, 1, 'c'), error: M },
  { name: 'Server Reference in PUBACK', version: 5, bytes: frame(0x40, 0, 1, 0x80, 3, 0x1c, 0, 0), error: M },
  { name: 'Reason String in SUBSCRIBE', version: 5, bytes: subscribe5([0x1f, 0, 0]), error: M },
  { name: 'Authentication Method in DISCONNECT', version: 5, bytes: frame(0xe0, 0, 3, 0x15, 0, 0), error: M },
  { name: 'Session Expiry Interval in AUTH', version: 5, bytes: frame(0xf0, 0x18, 5, 0x11, 0, 0, 0, 1), error: M },
  { name: 'the unassigned property identifier 0x00', version: 5, bytes: publish5([0x00, 0]), error: M },
  { name: 'the unassigned property identifier 0x04', version: 5, bytes: publish5([0x04, 0]), error: M },
  { name: 'the unassigned property identifier 0x2b', version: 5, bytes: connack5([0x2b, 0]), error: M },
  {
    name: 'the property identifier 128, written as a two-byte integer',
    version: 5,
    bytes: publish5([0x80, 0x01, 0]),
    error: M,
  },

  // Property values the standard forbids are a Protocol Error.
  { name: 'a Receive Maximum of 0 in CONNECT', bytes: connect5(0x02, [0x21, 0, 0], 0, 1, 'c'), error: P },
  { name: 'a Receive Maximum of 0 in CONNACK', version: 5, bytes: connack5([0x21, 0, 0]), error: P },
  { name: '[MQTT-3.3.2-8] (5.0) a Topic Alias of 0', version: 5, bytes: publish5([0x23, 0, 0]), error: P },
  { name: 'a Maximum Packet Size of 0 in CONNECT', bytes: connect5(0x02, [0x27, 0, 0, 0, 0], 0, 1, 'c'), error: P },
  { name: 'a Maximum Packet Size of 0 in CONNACK', version: 5, bytes: connack5([0x27, 0, 0, 0, 0]), error: P },
  { name: 'a Subscription Identifier of 0 in SUBSCRIBE', version: 5, bytes: subscribe5([0x0b, 0]), error: P },
  { name: 'a Subscription Identifier of 0 in PUBLISH', version: 5, bytes: publish5([0x0b, 0]), error: P },
  { name: 'a Maximum QoS of 2', version: 5, bytes: connack5([0x24, 2]), error: P },
  { name: 'a Payload Format Indicator of 2 in PUBLISH', version: 5, bytes: publish5([0x01, 2]), error: P },
  {
    name: 'a Payload Format Indicator of 255 in the Will Properties',
    bytes: connect5(0x06, [], 0, 1, 'c', 2, [0x01, 0xff], 0, 1, 't', 0, 0),
    error: P,
  },
  { name: 'a Request Problem Information of 2', bytes: connect5(0x02, [0x17, 2], 0, 1, 'c'), error: P },
  { name: 'a Request Response Information of 2', bytes: connect5(0x02, [0x19, 2], 0, 1, 'c'), error: P },
  { name: 'a Retain Available of 2', version: 5, bytes: connack5([0x25, 2]), error: P },
  { name: 'a Wildcard Subscription Available of 2', version: 5, bytes: connack5([0x28, 2]), error: P },
  { name: 'a Subscription Identifiers Available of 2', version: 5, bytes: connack5([0x29, 2]), error: P },
  { name: 'a Shared Subscription Available of 2', version: 5, bytes: connack5([0x2a, 2]), error: P },
];

/** The flags each packet type must carry (Table 2-2 of 5.0, Table 2.2 of 3.1.1); PUBLISH's are its own. */
const requiredFlags: [type: number, name: string, flags: number][] = [
  [1, 'CONNECT', 0],
  [2, 'CONNACK', 0],
  [4, 'PUBACK', 0],
  [5, 'PUBREC', 0],
  [6, 'PUBREL', 0b0010],
  [7, 'PUBCOMP', 0],
  [8, 'SUBSCRIBE', 0b0010],
  [9, 'SUBACK', 0],
  [10, 'UNSUBSCRIBE', 0b0010],
  [11, 'UNSUBACK', 0],
  [12, 'PINGREQ', 0],
  [13, 'PINGRESP', 0],
  [14, 'DISCONNECT', 0],
  [15, 'AUTH', 0],
];

const specOfFlags: Record<string, string> = {
  PUBREL: '[MQTT-3.6.1-1] ',
  SUBSCRIBE: '[MQTT-3.8.1-1] ',
  UNSUBSCRIBE: '[MQTT-3.10.1-1] ',
  DISCONNECT: '[MQTT-3.14.1-1] ',
  AUTH: '[MQTT-3.15.1-1] ',
};

function assertDecodeError(bytes: Buffer, version: ProtocolVersion | undefined, error: ErrorClass): FennecError {
  const err = thrownBy(() => decodeAll(bytes, version === undefined ? {} : { protocolVersion: version }));
  assert.ok(err instanceof error, `expected ${error.name}, got ${String(err)}`);
  assert.equal(err.reasonCode, reasonCodeOf.get(error));
  return err;
}

describe('codec malformed input', () => {
  it('has one uniquely named case per rule', () => {
    assert.equal(new Set(corpus.map((c) => c.name)).size, corpus.length);
  });

  describe('the decoder refuses', () => {
    for (const c of corpus) {
      const label = `${c.error.name} 0x${reasonCodeOf.get(c.error)!.toString(16)}`;
      it(`refuses ${c.name} with ${label}`, () => {
        assertDecodeError(c.bytes, c.version, c.error);
      });
    }
  });

  describe('reserved fixed header flags', () => {
    for (const [type, name, required] of requiredFlags) {
      for (const version of type === 15 ? ([5] as const) : ([3, 4, 5] as const)) {
        const spec = version === 5 ? '[MQTT-2.1.3-1] (5.0)' : '[MQTT-2.2.2-1] [MQTT-2.2.2-2] (3.1.1)';
        it(`${spec} ${specOfFlags[name] ?? ''}refuses ${name} in version ${version} with any flags but ${required.toString(2).padStart(4, '0')}`, () => {
          const valid = goldenPackets.find((g) => g.version === version && g.packet.type === name.toLowerCase());
          assert.ok(valid !== undefined, `a golden ${name} in version ${version}`);
          const bytes = encode(valid.packet, version);
          assert.equal(bytes[0]! & 0x0f, required);
          for (let flags = 0; flags < 16; flags++) {
            if (flags === required) continue;
            // MQTT 3.1 allows DUP (1010) on PUBREL, SUBSCRIBE and UNSUBSCRIBE: see 'MQTT 3.1 retries'
            if (version === 3 && required === 2 && flags === 0x0a) continue;
            const bad = Buffer.from(bytes);
            bad[0] = (type << 4) | flags;
            // Only the flags differ from a valid packet, so they are what is refused.
            assertDecodeError(bad, type === 1 ? undefined : version, M);
          }
        });
      }
    }
  });

  describe('statements the decoder accepts', () => {
    it('[MQTT-3.1.2-22] (3.1.1) does not bind 5.0: a 5.0 CONNECT may carry a password without a user name', () => {
      const [packet] = decodeAll(connect5(0x42, [], 0, 1, 'c', 0, 2, 'pw'));
      assert.ok(packet?.type === 'connect');
      assert.deepEqual(packet.password, Buffer.from('pw'));
      assert.equal(packet.username, undefined);
    });

    it('accepts No Local, Retain As Published and Retain Handling 2 in a 5.0 SUBSCRIBE, which 3.1.1 reserves', () => {
      const [packet] = decodeAll(frame(0x82, 0, 1, 0, 0, 1, 'a', 0x2e), { protocolVersion: 5 });
      assert.ok(packet?.type === 'subscribe');
      assert.deepEqual(packet.subscriptions, [
        { topicFilter: 'a', qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2 },
      ]);
    });

    it('[MQTT-1.5.3-3] (3.1.1) [MQTT-1.5.4-3] (5.0) accepts U+FEFF anywhere in a string and keeps it', () => {
      const [packet] = decodeAll(frame(0x30, 0, 7, 'a', 0xef, 0xbb, 0xbf, 'b/c', 0), { protocolVersion: 5 });
      assert.ok(packet?.type === 'publish');
      assert.equal(packet.topic, 'a\ufeffb/c');
    });

    it('accepts repeated User Properties and Subscription Identifiers in a PUBLISH, in order', () => {
      const [packet] = decodeAll(publish5([0x0b, 2, 0x0b, 1, 0x26, 0, 1, 0x6b, 0, 0, 0x26, 0, 1, 0x6b, 0, 0]), {
        protocolVersion: 5,
      });
      assert.ok(packet?.type === 'publish');
      assert.deepEqual(packet.properties, {
        subscriptionIdentifiers: [2, 1],
        userProperties: [
          ['k', ''],
          ['k', ''],
        ],
      });
    });

    it('accepts a 5.0 PUBACK, PUBREC, PUBREL and PUBCOMP with a reason code and no property length', () => {
      for (const first of [0x40, 0x50, 0x62, 0x70]) {
        const [packet] = decodeAll(frame(first, 0, 9, 0), { protocolVersion: 5 });
        assert.deepEqual(normalize(packet), { type: packet!.type, packetId: 9, reasonCode: 0 });
      }
    });
  });

  describe('MQTT 3.1 retries', () => {
    it('accepts a 3.1 PUBREL, SUBSCRIBE and UNSUBSCRIBE with DUP set, and refuses the same bytes in 3.1.1 and 5.0', () => {
      const retried = [frame(0x6a, 0, 9), frame(0x8a, 0, 9, 0, 1, 'a', 1), frame(0xaa, 0, 9, 0, 1, 'a')];
      const types = retried.map((bytes) => decodeAll(bytes, { protocolVersion: 3 })[0]?.type);
      assert.deepEqual(types, ['pubrel', 'subscribe', 'unsubscribe']);
      for (const version of [4, 5] as const) {
        const err = thrownBy(() => decodeAll(frame(0x6a, 0, 9), { protocolVersion: version }));
        assert.ok(err instanceof MalformedPacketError);
      }
      // Only DUP is allowed: other flags on a 3.1 PUBREL are still malformed
      assert.ok(thrownBy(() => decodeAll(frame(0x66, 0, 9), { protocolVersion: 3 })) instanceof MalformedPacketError);
    });
  });

  describe('packet too large', () => {
    it('[MQTT-3.2.2-15] (5.0) throws PacketTooLargeError 0x95 as soon as the fixed header announces too much, before the body arrives', () => {
      const decoder = new Decoder({ maximumPacketSize: 1024 });
      // PUBLISH announcing a remaining length of 16,384 (three bytes): only the fixed header is fed.
      const err = thrownBy(() => decoder.feed(wire(0x30, 0x80, 0x80, 0x01), () => assert.fail('no packet')));
      assert.ok(err instanceof PacketTooLargeError);
      assert.equal(err.reasonCode, 0x95);
      assert.equal(err.packetSize, 4 + 16_384);
      assert.equal(err.maximumPacketSize, 1024);
      assert.equal(decoder.bufferedBytes, 0);
    });

    it('refuses a 256 MB announcement under a limit, and waits for its body without one', () => {
      const decoder = new Decoder({ maximumPacketSize: 10_000 });
      const err = thrownBy(() => decoder.feed(wire(0x30, 0xff, 0xff, 0xff, 0x7f), () => undefined));
      assert.ok(err instanceof PacketTooLargeError);
      assert.equal(err.packetSize, 5 + 268_435_455);
      const unlimited = new Decoder();
      unlimited.feed(wire(0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1), () => assert.fail('no packet'));
      assert.equal(unlimited.bufferedBytes, 7);
    });

    it('accepts a packet of exactly the maximum size and refuses one byte more', () => {
      const make = (payloadLength: number): Buffer =>
        encode(
          {
            type: 'publish',
            topic: 't',
            payload: Buffer.alloc(payloadLength),
            qos: 0,
            retain: false,
            dup: false,
            packetId: 0,
          },
          4,
        );
      assert.equal(make(95).length, 100);
      assert.equal(decodeAll(make(95), { maximumPacketSize: 100, protocolVersion: 4 }).length, 1);
      const err = thrownBy(() => decodeAll(make(96), { maximumPacketSize: 100, protocolVersion: 4 }));
      assert.ok(err instanceof PacketTooLargeError);
      assert.equal(err.packetSize, 101);
    });

    it('counts the fixed header in the maximum packet size', () => {
      // remaining length 126 + 2 header bytes = 128 > 127
      const err = thrownBy(() => decodeAll(wire(0x30, 126), { maximumPacketSize: 127 }));
      assert.ok(err instanceof PacketTooLargeError);
      assert.equal(err.packetSize, 128);
    });
  });

  describe('the fixed header is checked before the body arrives', () => {
    const cases: [string, Buffer, ProtocolVersion | undefined][] = [
      ['a reserved packet type 0', wire(0x00, 0x05), 4],
      ['[MQTT-3.6.1-1] a PUBREL with flags 0000', wire(0x60, 0x02), 4],
      ['[MQTT-3.3.1-4] a PUBLISH with QoS 3', wire(0x36, 0x10), 5],
      ['AUTH in 3.1.1', wire(0xf0, 0x03), 4],
    ];
    for (const [name, header, version] of cases) {
      it(`refuses ${name} after only its fixed header was fed`, () => {
        const decoder = new Decoder(version === undefined ? {} : { protocolVersion: version });
        const err = thrownBy(() => decoder.feed(header, () => assert.fail('no packet')));
        assert.ok(err instanceof MalformedPacketError);
        assert.equal(err.reasonCode, 0x81);
      });
    }
  });

  describe('a failed decoder', () => {
    it('throws the same error again and reads nothing more', () => {
      const decoder = new Decoder({ protocolVersion: 4 });
      const first = thrownBy(() => decoder.feed(wire(0x00, 0), () => assert.fail('no packet')));
      const second = thrownBy(() => decoder.feed(golden('pingreq v4').bytes!, () => assert.fail('no packet')));
      assert.equal(second, first);
    });

    it('delivers the packets before the malformed one, then throws', () => {
      const packets: Packet[] = [];
      const decoder = new Decoder({ protocolVersion: 4 });
      const stream = Buffer.concat([golden('pingreq v4').bytes!, golden('puback v4').bytes!, wire(0x36, 0)]);
      const err = thrownBy(() => decoder.feed(stream, (p) => packets.push(p)));
      assert.ok(err instanceof MalformedPacketError);
      assert.deepEqual(
        packets.map((p) => p.type),
        ['pingreq', 'puback'],
      );
    });

    it('lets an exception thrown by the packet callback through without failing the decoder', () => {
      const decoder = new Decoder({ protocolVersion: 4 });
      const boom = new Error('callback failed');
      assert.equal(
        thrownBy(() =>
          decoder.feed(golden('pingreq v4').bytes!, () => {
            throw boom;
          }),
        ),
        boom,
      );
      const packets: Packet[] = [];
      decoder.feed(golden('pingresp v4').bytes!, (p) => packets.push(p));
      assert.deepEqual(packets, [{ type: 'pingresp' }]);
    });
  });

  describe('the encoder refuses what cannot go on the wire', () => {
    const publish = (extra: Partial<PublishPacket>): Packet => ({
      type: 'publish',
      topic: 't',
      payload: Buffer.alloc(0),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
      ...extra,
    });
    const sub = { topicFilter: 'a', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 } as const;
    const cases: [name: string, packet: Packet, version: ProtocolVersion][] = [
      ['[MQTT-4.7.3-3] a topic name of 65,536 bytes', publish({ topic: 'a'.repeat(65_536) }), 4],
      [
        '[MQTT-4.7.3-3] a topic name of 32,768 two-byte characters (65,536 bytes)',
        publish({ topic: 'é'.repeat(32_768) }),
        5,
      ],
      [
        'a client identifier of 65,536 bytes',
        { ...(golden('connect v4 minimal').packet as Packet & { type: 'connect' }), clientId: 'c'.repeat(65_536) },
        4,
      ],
      [
        'a user property value of 65,536 bytes',
        publish({ properties: { userProperties: [['k', 'v'.repeat(65_536)]] } }),
        5,
      ],
      [
        'a SUBSCRIBE topic filter of 65,536 bytes',
        { type: 'subscribe', packetId: 1, subscriptions: [{ ...sub, topicFilter: 'f'.repeat(65_536) }] },
        4,
      ],
      [
        'an UNSUBSCRIBE topic filter of 65,536 bytes',
        { type: 'unsubscribe', packetId: 1, topicFilters: ['f'.repeat(65_536)] },
        4,
      ],
      [
        'a password of 65,536 bytes',
        {
          ...(golden('connect v4 minimal').packet as Packet & { type: 'connect' }),
          username: 'u',
          password: Buffer.alloc(65_536),
        },
        4,
      ],
      [
        'a will payload of 65,536 bytes',
        {
          ...(golden('connect v4 minimal').packet as Packet & { type: 'connect' }),
          will: { topic: 't', payload: Buffer.alloc(65_536), qos: 0, retain: false },
        },
        4,
      ],
      ['correlation data of 65,536 bytes', publish({ properties: { correlationData: Buffer.alloc(65_536) } }), 5],
      ['[MQTT-1.5.3-2] (3.1.1) U+0000 in a topic name', publish({ topic: 'a\u0000b' }), 4],
      [
        '[MQTT-1.5.4-2] (5.0) U+0000 in a user property name',
        publish({ properties: { userProperties: [['\u0000', 'v']] } }),
        5,
      ],
      ['[MQTT-1.5.4-1] (5.0) a lone surrogate in a topic name', publish({ topic: 'a\ud800' }), 5],
      [
        '[MQTT-1.5.3-1] (3.1.1) a lone low surrogate in a client identifier',
        { ...(golden('connect v4 minimal').packet as Packet & { type: 'connect' }), clientId: '\udc00' },
        4,
      ],
      ['[MQTT-2.3.1-1] a QoS 1 PUBLISH with packet identifier 0', publish({ packetId: 0 }), 4],
      ['a QoS 2 PUBLISH with packet identifier 65,536', publish({ qos: 2, packetId: 65_536 }), 5],
      ['a PUBACK with packet identifier 0', { type: 'puback', packetId: 0, reasonCode: 0 }, 4],
      ['a PUBREL with a fractional packet identifier', { type: 'pubrel', packetId: 1.5, reasonCode: 0 }, 5],
      ['a SUBSCRIBE with packet identifier 0', { type: 'subscribe', packetId: 0, subscriptions: [sub] }, 4],
      ['a SUBACK with packet identifier 0', { type: 'suback', packetId: 0, reasonCodes: [0] }, 4],
      ['an UNSUBSCRIBE with packet identifier 0', { type: 'unsubscribe', packetId: 0, topicFilters: ['a'] }, 4],
      ['an UNSUBACK with packet identifier 0', { type: 'unsuback', packetId: 0, reasonCodes: [] }, 4],
      ['[MQTT-3.3.1-4] a PUBLISH with QoS 3', publish({ qos: 3 as never }), 4],
      ['[MQTT-4.7.3-1] (3.1.1) a PUBLISH with an empty topic name', publish({ topic: '' }), 4],
      ['[MQTT-4.7.3-1] (5.0) a PUBLISH with an empty topic name and no topic alias', publish({ topic: '' }), 5],
      [
        'a keep alive of 65,536 s',
        { ...(golden('connect v4 minimal').packet as Packet & { type: 'connect' }), keepAlive: 65_536 },
        4,
      ],
      [
        'a negative keep alive',
        { ...(golden('connect v4 minimal').packet as Packet & { type: 'connect' }), keepAlive: -1 },
        4,
      ],
      [
        '[MQTT-3.1.2-22] (3.1.1) a password without a user name',
        { ...(golden('connect v4 minimal').packet as Packet & { type: 'connect' }), password: Buffer.from('p') },
        4,
      ],
      [
        '[MQTT-3.1.2-14] (3.1.1) Will QoS 3',
        {
          ...(golden('connect v4 minimal').packet as Packet & { type: 'connect' }),
          will: { topic: 't', payload: Buffer.alloc(0), qos: 3 as never, retain: false },
        },
        4,
      ],
      [
        'a CONNECT of protocol version 6',
        { ...(golden('connect v5 minimal').packet as Packet & { type: 'connect' }), protocolVersion: 6 as never },
        5,
      ],
      ['AUTH in 3.1.1', { type: 'auth', reasonCode: 0x18 }, 4],
      [
        '[MQTT-3.8.3-3] (3.1.1) a SUBSCRIBE without a topic filter',
        { type: 'subscribe', packetId: 1, subscriptions: [] },
        4,
      ],
      [
        '[MQTT-3.10.3-2] an UNSUBSCRIBE without a topic filter',
        { type: 'unsubscribe', packetId: 1, topicFilters: [] },
        5,
      ],
      [
        '[MQTT-3.8.3-4] (3.1.1) a subscription at QoS 3',
        { type: 'subscribe', packetId: 1, subscriptions: [{ ...sub, qos: 3 as never }] },
        4,
      ],
      [
        'a 5.0 subscription with Retain Handling 3',
        { type: 'subscribe', packetId: 1, subscriptions: [{ ...sub, retainHandling: 3 as never }] },
        5,
      ],
      ['a SUBACK without a reason code', { type: 'suback', packetId: 1, reasonCodes: [] }, 4],
      ['[MQTT-3.9.3-2] (3.1.1) SUBACK return code 0x8f', { type: 'suback', packetId: 1, reasonCodes: [0x8f] }, 4],
      ['[MQTT-3.9.3-2] (5.0) SUBACK reason code 3', { type: 'suback', packetId: 1, reasonCodes: [3] }, 5],
      ['a 5.0 UNSUBACK without a reason code', { type: 'unsuback', packetId: 1, reasonCodes: [] }, 5],
      ['[MQTT-3.11.3-2] (5.0) UNSUBACK reason code 0x01', { type: 'unsuback', packetId: 1, reasonCodes: [1] }, 5],
      ['a 3.1.1 CONNACK return code 0x87', { type: 'connack', sessionPresent: false, reasonCode: 0x87 }, 4],
      ['[MQTT-3.2.2-8] (5.0) CONNACK reason code 0x01', { type: 'connack', sessionPresent: false, reasonCode: 1 }, 5],
      ['[MQTT-3.4.2-1] (5.0) PUBACK reason code 0x92', { type: 'puback', packetId: 1, reasonCode: 0x92 }, 5],
      ['[MQTT-3.5.2-1] (5.0) PUBREC reason code 256', { type: 'pubrec', packetId: 1, reasonCode: 256 }, 5],
      ['[MQTT-3.6.2-1] (5.0) PUBREL reason code 0x10', { type: 'pubrel', packetId: 1, reasonCode: 0x10 }, 5],
      ['[MQTT-3.7.2-1] (5.0) PUBCOMP reason code 0x80', { type: 'pubcomp', packetId: 1, reasonCode: 0x80 }, 5],
      ['[MQTT-3.14.2-1] (5.0) DISCONNECT reason code 0x05', { type: 'disconnect', reasonCode: 5 }, 5],
      ['[MQTT-3.15.2-1] (5.0) AUTH reason code 0x01', { type: 'auth', reasonCode: 1 }, 5],
      ['a property PUBLISH may not carry', publish({ properties: { sessionExpiryInterval: 1 } as never }), 5],
      ['a Message Expiry Interval of 2^32 s', publish({ properties: { messageExpiryInterval: 2 ** 32 } }), 5],
      ['a negative Message Expiry Interval', publish({ properties: { messageExpiryInterval: -1 } }), 5],
      ['a fractional Message Expiry Interval', publish({ properties: { messageExpiryInterval: 1.5 } }), 5],
      [
        'a Subscription Identifier of 268,435,456',
        publish({ properties: { subscriptionIdentifiers: [268_435_456] } }),
        5,
      ],
      ['a Subscription Identifier of 0', publish({ properties: { subscriptionIdentifiers: [0] } }), 5],
      ['[MQTT-3.3.2-8] (5.0) a Topic Alias of 0', publish({ properties: { topicAlias: 0 } }), 5],
      [
        'a Receive Maximum of 0',
        { type: 'connack', sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 0 } },
        5,
      ],
      [
        'a Receive Maximum of 65,536',
        { type: 'connack', sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: 65_536 } },
        5,
      ],
      [
        'a Maximum Packet Size of 0',
        { type: 'connack', sessionPresent: false, reasonCode: 0, properties: { maximumPacketSize: 0 } },
        5,
      ],
      [
        'a Maximum QoS of 2',
        { type: 'connack', sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 2 as never } },
        5,
      ],
      [
        'a packet body over 268,435,455 bytes',
        publish({ qos: 0, payload: { length: 268_435_456 } as unknown as Buffer }),
        4,
      ],
    ];
    for (const [name, packet, version] of cases) {
      it(`refuses to encode ${name} with an EncodeError`, () => {
        const err = thrownBy(() => encode(packet, version));
        assert.ok(err instanceof EncodeError, `got ${String(err)}`);
        assert.equal(err.code, 'ERR_ENCODE');
      });
    }

    it('[MQTT-4.7.3-3] encodes a topic name of exactly 65,535 bytes', () => {
      const packet = publish({ topic: 'a'.repeat(65_535) });
      const [decoded] = decodeAll(encode(packet, 4), { protocolVersion: 4 });
      assert.deepEqual(normalize(decoded), normalize(packet));
    });
  });
});
