/**
 * The codec's typed errors. Each carries the MQTT 5 reason code that describes it on the wire,
 * so the connection can answer with the right CONNACK or DISCONNECT without inspecting messages.
 */
import { FennecError } from '../errors/index.js';
import { ReasonCode } from './constants.js';

/** The bytes do not form a valid packet (reason code 0x81). */
export class MalformedPacketError extends FennecError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_MALFORMED_PACKET', message, { reasonCode: ReasonCode.MalformedPacket, ...options });
  }
}

/** The packet is well-formed but breaks a protocol rule (reason code 0x82). */
export class ProtocolError extends FennecError {
  constructor(message: string, options: { reasonCode?: number; cause?: unknown } = {}) {
    super('ERR_PROTOCOL_ERROR', message, { reasonCode: ReasonCode.ProtocolError, ...options });
  }
}

/** The packet's announced size exceeds the configured maximum (reason code 0x95). */
export class PacketTooLargeError extends FennecError {
  /** Size the packet announced, in bytes (fixed header included). */
  readonly packetSize: number;
  /** The limit it broke, in bytes. */
  readonly maximumPacketSize: number;

  constructor(packetSize: number, maximumPacketSize: number) {
    super(
      'ERR_PACKET_TOO_LARGE',
      `packet of ${packetSize} bytes exceeds the maximum packet size of ${maximumPacketSize} bytes`,
      { reasonCode: ReasonCode.PacketTooLarge },
    );
    this.packetSize = packetSize;
    this.maximumPacketSize = maximumPacketSize;
  }
}

/**
 * A CONNECT names a protocol or level this codec does not speak. The server answers with
 * CONNACK return code 1 (3.1.1) or reason code 0x84 (5.0) and closes [MQTT-3.1.2-2].
 */
export class UnsupportedProtocolError extends FennecError {
  /** The protocol name the client sent. */
  readonly protocolName: string;
  /** The protocol level byte the client sent. */
  readonly protocolLevel: number;

  constructor(protocolName: string, protocolLevel: number) {
    super(
      'ERR_UNSUPPORTED_PROTOCOL',
      `unsupported protocol ${JSON.stringify(protocolName)} level ${protocolLevel} (supported: MQIsdp 3, MQTT 4, MQTT 5)`,
      { reasonCode: ReasonCode.UnsupportedProtocolVersion },
    );
    this.protocolName = protocolName;
    this.protocolLevel = protocolLevel;
  }
}

/** A packet given to the encoder cannot be expressed on the wire (a field too long, a bad value). */
export class EncodeError extends FennecError {
  constructor(message: string) {
    super('ERR_ENCODE', message);
  }
}
