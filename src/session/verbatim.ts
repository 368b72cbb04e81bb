/**
 * Forwarding a PUBLISH as received: when a QoS 0 delivery's wire form is byte for byte the PUBLISH
 * the publisher sent, the bytes received are written as they are, with no encoding and no copy; a
 * QoS 1/2 delivery of a QoS 1/2 PUBLISH is a copy of its bytes with the first byte and the packet id
 * set. Both are faster than encoding the message again (bench/outbound.ts).
 */
import { receivedBytes, type ProtocolVersion, type PublishPacket } from '../protocol/index.js';
import { receivedFormSlot, wireFormSlot, type Message } from './message.js';

/**
 * Puts the bytes `received` came in among `message`'s cached QoS 0 wire forms (see
 * Link.encodeDelivery), in the slot of the publisher's protocol version and RETAIN flag, when they are
 * that form: a QoS 0 PUBLISH (so no packet id and no DUP [MQTT-3.3.1-2]), decoded from the wire, and
 * in 5.0 without a Topic Alias (it names the topic on the publisher's connection only [MQTT-3.3.2-10])
 * and without a Message Expiry Interval (forwarded as what is left of it [MQTT-3.3.2-6]). Every other
 * property is forwarded unchanged, User Properties in their order [MQTT-3.3.2-17] [MQTT-3.3.2-18],
 * so the bytes received carry the same set. A delivery with subscription identifiers, a topic alias of
 * the subscriber's connection, another QoS, version or RETAIN flag never reads this slot. A QoS 1/2
 * PUBLISH goes to `receivedFormSlot(version)` instead: a template for `withPacketId`.
 */
export function forwardAsReceived(message: Message, received: PublishPacket, version: ProtocolVersion): void {
  if (received.wireStart === undefined) return;
  if (version === 5 && (received.properties?.topicAlias !== undefined || message.expiresAt !== undefined)) return;
  const bytes = receivedBytes(received);
  if (bytes === undefined) return;
  const cache = (message.encoded ??= []);
  if (received.qos === 0) cache[wireFormSlot(version, received.retain)] = bytes;
  else cache[receivedFormSlot(version)] = bytes;
}

/**
 * A QoS 1/2 PUBLISH made from `template` (a QoS 1/2 PUBLISH as received, see `forwardAsReceived`):
 * a copy with its own first byte (QoS, RETAIN, and DUP, which says only whether this packet is a
 * retransmission [MQTT-3.3.1-1] [MQTT-3.3.1-3]) and packet id.
 */
export function withPacketId(template: Buffer, qos: 1 | 2, retain: boolean, dup: boolean, packetId: number): Buffer {
  const out = Buffer.allocUnsafe(template.length);
  template.copy(out);
  out[0] = 0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0);
  // The packet id follows the topic name, which follows the Remaining Length (1 to 4 bytes).
  let i = 1;
  while ((template[i++]! & 0x80) !== 0);
  const at = i + 2 + ((template[i]! << 8) | template[i + 1]!);
  out[at] = packetId >> 8;
  out[at + 1] = packetId & 0xff;
  return out;
}
