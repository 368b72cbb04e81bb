/**
 * Forwarding a PUBLISH as received: when a QoS 0 delivery's wire form is byte for byte the PUBLISH
 * the publisher sent, the bytes received are written as they are, with no encoding and no copy.
 */
import { receivedBytes, type ProtocolVersion, type PublishPacket } from '../protocol/index.js';
import { wireFormSlot, type Message } from './message.js';

/**
 * Puts the bytes `received` came in among `message`'s cached QoS 0 wire forms (see
 * Link.encodeDelivery), in the slot of the publisher's protocol version and RETAIN flag, when they are
 * that form: a QoS 0 PUBLISH (so no packet id and no DUP [MQTT-3.3.1-2]), decoded from the wire, and
 * in 5.0 without a Topic Alias (it names the topic on the publisher's connection only [MQTT-3.3.2-10])
 * and without a Message Expiry Interval (forwarded as what is left of it [MQTT-3.3.2-6]). Every other
 * property is forwarded unchanged, User Properties in their order [MQTT-3.3.2-17] [MQTT-3.3.2-18],
 * so the bytes received carry the same set. A delivery with subscription identifiers, a topic alias of
 * the subscriber's connection, another QoS, version or RETAIN flag never reads this slot.
 */
export function forwardAsReceived(message: Message, received: PublishPacket, version: ProtocolVersion): void {
  if (received.qos !== 0 || received.wireStart === undefined) return;
  if (version === 5 && (received.properties?.topicAlias !== undefined || message.expiresAt !== undefined)) return;
  const bytes = receivedBytes(received);
  if (bytes === undefined) return;
  const cache = (message.encoded ??= []);
  cache[wireFormSlot(version, received.retain)] = bytes;
}
