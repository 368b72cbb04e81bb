/**
 * PUBACK, PUBREC, PUBREL and PUBCOMP from a client: the QoS 1/2 flows of messages the broker sent,
 * and the end of QoS 2 flows of messages the client sent.
 */
import {
  ReasonCode,
  type PubackPacket,
  type PubcompPacket,
  type PubrecPacket,
  type PubrelPacket,
} from '../../protocol/index.js';
import type { BrokerConnection as Connection } from '../context.js';

export function handlePuback(connection: Connection, packet: PubackPacket): void {
  connection.session!.onPuback(packet.packetId);
}

export function handlePubrec(connection: Connection, packet: PubrecPacket): void {
  connection.session!.onPubrec(packet.packetId, packet.reasonCode >= 0x80);
}

export function handlePubrel(connection: Connection, packet: PubrelPacket): void {
  // [MQTT-4.3.3-2] (3.1.1): PUBREL releases the id; PUBCOMP answers it, known or not
  const known = connection.session!.releaseQoS2(packet.packetId);
  // The PUBCOMP below ends the flow: it no longer counts against the broker's Receive Maximum
  connection.link.releaseQoS2(packet.packetId);
  // The message went to the bus with its PUBLISH: the PUBCOMP waits for the store (and this
  // connection's earlier acknowledgements), not for Redis.
  connection.sendAfterCommit(
    { type: 'pubcomp', packetId: packet.packetId, reasonCode: known ? 0 : ReasonCode.PacketIdentifierNotFound },
    false,
  );
}

export function handlePubcomp(connection: Connection, packet: PubcompPacket): void {
  connection.session!.onPubcomp(packet.packetId);
}
