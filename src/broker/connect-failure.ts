/**
 * The CONNACK owed to a client whose CONNECT could not be accepted because of an error (the codec's
 * or a check's), before the connection closes; Connection.fail sends it.
 */
import type { FennecError } from '../errors/index.js';
import {
  ConnectReturnCode,
  encode,
  ReasonCode,
  UnsupportedProtocolError,
  type ProtocolVersion,
} from '../protocol/index.js';

/**
 * The encoded CONNACK telling why `err` refused the CONNECT, or undefined when none is owed.
 * `version` is what the decoder knows of the client's protocol version (undefined before CONNECT).
 */
export function failedConnectConnack(err: FennecError, version: ProtocolVersion | undefined): Buffer | undefined {
  if (err instanceof UnsupportedProtocolError) {
    // [MQTT-3.1.2-2] unsupported level: CONNACK 0x01 (3.1.1) or 0x84 (5.0), then close
    const v5 = err.protocolLevel === 5;
    const reasonCode = v5 ? ReasonCode.UnsupportedProtocolVersion : ConnectReturnCode.UnacceptableProtocolVersion;
    return encode({ type: 'connack', sessionPresent: false, reasonCode }, v5 ? 5 : 4);
  }
  // A CONNECT that failed validation in 5.0: CONNACK with the reason, then close [MQTT-3.1.4-1]
  if (version === 5 && err.reasonCode !== undefined && err.reasonCode >= 0x80) {
    return encode({ type: 'connack', sessionPresent: false, reasonCode: err.reasonCode }, 5);
  }
  return undefined;
}
