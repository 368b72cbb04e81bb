/**
 * Dispatch of inbound packets: one place that first checks the connection's state, then hands
 * the packet to the handler of its type.
 */
import { ProtocolError, type Packet } from '../../protocol/index.js';
import { ConnectionState } from '../connection-state.js';
import type { BrokerConnection as Connection } from '../context.js';
import { handleConnect } from './connect.js';
import { handlePublish } from './publish.js';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './acks.js';
import { handleSubscribe } from './subscribe.js';
import { handleUnsubscribe } from './unsubscribe.js';
import { handleDisconnect } from './disconnect.js';
import { handleAuth } from './auth.js';

/** Handles one packet; returns a promise when the handler waits on a hook, so later packets wait too. */
export function dispatch(connection: Connection, packet: Packet): Promise<void> | undefined {
  if (connection.state === ConnectionState.AwaitingConnect) {
    if (packet.type === 'connect') return handleConnect(connection, packet);
    // [MQTT-3.1.0-1]: the first packet from a client must be CONNECT
    throw new ProtocolError(`expected CONNECT, got ${packet.type.toUpperCase()}`);
  }
  if (connection.state === ConnectionState.Authenticating && connection.authInProgress !== undefined) {
    if (packet.type === 'auth') return handleAuth(connection, packet);
    if (packet.type === 'disconnect') {
      connection.endWith({ reason: 'client-disconnect', reasonCode: packet.reasonCode });
      connection.close('disconnected during authentication');
      return undefined;
    }
    // [MQTT-3.1.2-30]: until CONNACK, a client authenticating sends only AUTH or DISCONNECT
    throw new ProtocolError(`${packet.type.toUpperCase()} during enhanced authentication`);
  }
  if (connection.state !== ConnectionState.Active) return undefined;
  switch (packet.type) {
    case 'publish':
      return handlePublish(connection, packet);
    case 'puback':
      handlePuback(connection, packet);
      return undefined;
    case 'pubrec':
      handlePubrec(connection, packet);
      return undefined;
    case 'pubrel':
      handlePubrel(connection, packet);
      return undefined;
    case 'pubcomp':
      handlePubcomp(connection, packet);
      return undefined;
    case 'subscribe':
      return handleSubscribe(connection, packet);
    case 'unsubscribe':
      handleUnsubscribe(connection, packet);
      return undefined;
    case 'pingreq':
      // [MQTT-3.12.4-1] answer PINGREQ with PINGRESP
      connection.send({ type: 'pingresp' });
      return undefined;
    case 'disconnect':
      handleDisconnect(connection, packet);
      return undefined;
    case 'connect':
      // [MQTT-3.1.0-2] a second CONNECT is a protocol error
      throw new ProtocolError('a second CONNECT on one connection');
    case 'auth':
      return handleAuth(connection, packet);
    case 'connack':
    case 'suback':
    case 'unsuback':
    case 'pingresp':
      throw new ProtocolError(`a client may not send ${packet.type.toUpperCase()}`);
    default: {
      const never: never = packet;
      throw new ProtocolError(`unexpected packet ${String((never as { type: unknown }).type)}`);
    }
  }
}
