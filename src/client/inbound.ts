/**
 * What the client does with each packet the broker sends after CONNACK: acknowledgements settle
 * the pending publishes and requests, PUBLISHes go to the application (QoS 2 once), AUTH goes to
 * the enhanced-authentication exchange, and a packet only a client may send closes the link.
 */
import { ReasonCode, type AuthPacket, type Packet, type PublishPacket } from '../protocol/index.js';
import type { Session } from '../session/session.js';
import { hex, MqttClientError } from './errors.js';
import type { ClientMessage } from './messages.js';
import type { PendingPublishes, PendingRequests } from './pending.js';
import type { Wire } from './wire.js';

/** What the packet handlers reach of the client. */
export interface InboundContext {
  readonly session: Session;
  readonly publishes: PendingPublishes;
  readonly requests: PendingRequests;
  /** Hands a message to the application. */
  deliver(message: ClientMessage): void;
  /** An AUTH packet came (5.0 enhanced authentication); false when none is going on. */
  auth(wire: Wire, packet: AuthPacket): boolean;
}

export function handlePacket(ctx: InboundContext, wire: Wire, packet: Packet): void {
  const session = ctx.session;
  switch (packet.type) {
    case 'publish':
      onPublish(ctx, wire, packet);
      return;
    case 'pubrel': {
      const known = session.releaseQoS2(packet.packetId);
      wire.link.releaseQoS2(packet.packetId);
      wire.send({
        type: 'pubcomp',
        packetId: packet.packetId,
        reasonCode: known ? 0 : ReasonCode.PacketIdentifierNotFound,
      });
      return;
    }
    case 'puback':
      ctx.publishes.acknowledged(session.onPuback(packet.packetId), packet);
      return;
    case 'pubrec': {
      const failed = packet.reasonCode >= 0x80;
      const d = session.onPubrec(packet.packetId, failed);
      if (d === undefined && !failed) {
        // 5.0 section 4.3.3: a PUBREC for no flow is still answered, PUBREL 0x92
        wire.send({ type: 'pubrel', packetId: packet.packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
      } else if (failed) ctx.publishes.acknowledged(d, packet);
      return;
    }
    case 'pubcomp':
      ctx.publishes.acknowledged(session.onPubcomp(packet.packetId), packet);
      return;
    case 'suback':
    case 'unsuback':
      ctx.requests.acknowledged(packet.packetId, packet.reasonCodes);
      return;
    case 'pingresp':
      wire.pingAnswered();
      return;
    case 'disconnect': {
      const reasonString = packet.properties?.reasonString;
      wire.close(
        new MqttClientError('ERR_CLIENT_DISCONNECTED', `the broker sent DISCONNECT ${hex(packet.reasonCode)}`, {
          reasonCode: packet.reasonCode,
          reasonString,
        }),
      );
      return;
    }
    case 'auth':
      if (ctx.auth(wire, packet)) return;
      protocolError(wire, 'the broker sent AUTH with no authentication going on');
      return;
    case 'connect':
    case 'connack':
    case 'subscribe':
    case 'unsubscribe':
    case 'pingreq':
      // What only a client sends
      protocolError(wire, `the broker sent ${packet.type}`);
      return;
    default: {
      const never: never = packet;
      throw new Error(`unknown packet ${String(never)}`);
    }
  }
}

/** Closes the link for a protocol error: DISCONNECT 0x82 first in 5.0 (section 4.13). */
export function protocolError(wire: Wire, message: string): void {
  if (wire.link.version === 5) wire.send({ type: 'disconnect', reasonCode: ReasonCode.ProtocolError });
  wire.close(new MqttClientError('ERR_CLIENT_DISCONNECTED', message, { reasonCode: ReasonCode.ProtocolError }));
}

function onPublish(ctx: InboundContext, wire: Wire, packet: PublishPacket): void {
  let received;
  try {
    received = wire.link.receivePublish(packet, ctx.session);
  } catch (err) {
    const reasonCode = (err as { reasonCode?: number }).reasonCode ?? ReasonCode.ProtocolError;
    if (wire.link.version === 5) wire.send({ type: 'disconnect', reasonCode });
    wire.close(new MqttClientError('ERR_CLIENT_DISCONNECTED', (err as Error).message, { reasonCode, cause: err }));
    return;
  }
  const packetId = packet.packetId;
  if (received === 'duplicate') {
    // [MQTT-4.3.3-9] (5.0) [MQTT-4.3.3-2] (3.1.1): a re-send of a held QoS 2 id is answered, not delivered again
    wire.send({ type: 'pubrec', packetId, reasonCode: 0 });
    return;
  }
  ctx.deliver({
    topic: received.topic,
    payload: received.payload,
    qos: received.qos,
    retain: received.retain,
    dup: received.dup,
    packetId,
    properties: received.properties,
  });
  if (received.qos === 1) {
    wire.send({ type: 'puback', packetId, reasonCode: 0 });
  } else if (received.qos === 2) {
    ctx.session.holdQoS2(packetId);
    wire.link.holdQoS2(packetId);
    wire.send({ type: 'pubrec', packetId, reasonCode: 0 });
  }
}
