/**
 * A 5.0 CONNECT whose own limits leave the broker no answer it may send. A client that announces a
 * Maximum Packet Size smaller than its CONNACK can never be told it is connected [MQTT-3.1.2-24], so
 * the connection is closed at once, and logged, rather than left open until a timeout.
 * (A Receive Maximum or Maximum Packet Size of 0 is refused by the codec: a Protocol Error that closes the connection.)
 */
import { encode, ReasonCode, type ConnackPacket } from '../../protocol/index.js';
import type { BrokerConnection as Connection } from '../context.js';

/**
 * Closes `connection` when `connack`, even without the Reason String and User Properties it may drop,
 * is larger than the client's Maximum Packet Size; returns whether it did. The client was never told
 * it is connected, so its will is not published and no `clientDisconnected` is emitted.
 */
export function closeIfConnackTooLarge(connection: Connection, connack: ConnackPacket): boolean {
  // Link.encode trims what it may and gives nothing when even that does not fit
  if (connection.link.encode(connack) !== undefined) return false;
  const maximum = connection.link.peerMaximumPacketSize;
  connection.will = undefined;
  connection.wasActive = false;
  const size = encode(connack, 5).length;
  const why = `the client's Maximum Packet Size of ${maximum} bytes leaves no room for the ${size}-byte CONNACK`;
  connection.log.warn({ maximumPacketSize: maximum }, `closing connection: ${why}`);
  // No DISCONNECT either: [MQTT-3.1.2-24] nothing larger than the client's maximum is sent, and nothing fits
  connection.endWith({ reason: 'connect-refused', reasonCode: ReasonCode.PacketTooLarge, message: why });
  connection.close(why);
  return true;
}
