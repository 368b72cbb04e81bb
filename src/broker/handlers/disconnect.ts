/**
 * DISCONNECT from a client: the will is discarded (unless 5.0 asks for it), a 5.0 client may change
 * its Session Expiry Interval, and the connection closes.
 */
import { ProtocolError, ReasonCode, type DisconnectPacket } from '../../protocol/index.js';
import type { BrokerConnection as Connection } from '../context.js';

export function handleDisconnect(connection: Connection, packet: DisconnectPacket): void {
  const expiry = packet.properties?.sessionExpiryInterval;
  const session = connection.session!;
  if (expiry !== undefined) {
    // 5.0 section 3.14.2.2.2: a non-zero interval after a CONNECT with 0 is a Protocol Error, and
    // the DISCONNECT is not valid: the will stays (unnumbered MUST; the broker answers 0x82)
    if (connection.connectSessionExpiryInterval === 0 && expiry !== 0) {
      throw new ProtocolError('DISCONNECT sets a Session Expiry Interval after CONNECT had 0');
    }
    session.expiryInterval = Math.min(expiry, connection.broker.options.maxSessionExpiryInterval);
  }
  // [MQTT-3.14.4-3] (3.1.1) [MQTT-3.1.2-10] (5.0): a DISCONNECT discards the will,
  // except 5.0's 0x04 Disconnect with Will Message
  if (packet.reasonCode !== ReasonCode.DisconnectWithWillMessage) connection.will = undefined;
  connection.endWith({ reason: 'client-disconnect', reasonCode: packet.reasonCode });
  connection.close('client disconnected');
}
