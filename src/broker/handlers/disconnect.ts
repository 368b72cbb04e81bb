/**
 * DISCONNECT from a client: the will is discarded (unless 5.0 asks for it) and the connection closes.
 */
import { ReasonCode, type DisconnectPacket } from '../../protocol/index.js';
import type { Connection } from '../connection.js';

export function handleDisconnect(connection: Connection, packet: DisconnectPacket): void {
  // [MQTT-3.14.4-3] (3.1.1) [MQTT-3.1.2-10] (5.0): a DISCONNECT discards the will,
  // except 5.0's 0x04 Disconnect with Will Message
  if (packet.reasonCode !== ReasonCode.DisconnectWithWillMessage) connection.will = undefined;
  connection.close('client disconnected');
}
