/**
 * PUBLISH from a client: topic validation, authorization, routing, and the QoS 1/2 receiver flows.
 */
import { ProtocolError, ReasonCode, type PublishPacket } from '../../protocol/index.js';
import { isValidTopicName } from '../../topic/index.js';
import { toFennecError } from '../../errors/index.js';
import { expiresAt, type Message } from '../../session/message.js';
import type { Connection } from '../connection.js';

export function handlePublish(connection: Connection, packet: PublishPacket): Promise<void> | undefined {
  // [MQTT-3.3.2-2] (both versions): no wildcards in a topic name; [MQTT-4.7.3-1] at least one character
  if (!isValidTopicName(packet.topic)) {
    throw new ProtocolError(`PUBLISH topic ${JSON.stringify(packet.topic)} is not a valid topic name`, {
      reasonCode: ReasonCode.TopicNameInvalid,
    });
  }
  const session = connection.session!;
  // [MQTT-4.3.3-2] (3.1.1): a QoS 2 PUBLISH whose id awaits PUBREL is a re-send: PUBREC again, deliver nothing
  if (packet.qos === 2 && session.incomingQoS2.has(packet.packetId)) {
    connection.send({ type: 'pubrec', packetId: packet.packetId, reasonCode: 0 });
    return undefined;
  }
  const authorize = connection.broker.hooks.authorizePublish;
  if (authorize === undefined) {
    route(connection, packet, true);
    return undefined;
  }
  let allowed: boolean | Promise<boolean>;
  try {
    allowed = authorize(connection.info, packet.topic, packet.qos, packet.retain);
  } catch (err) {
    allowed = Promise.reject(toFennecError(err, 'ERR_HOOK_FAILED'));
  }
  if (!(allowed instanceof Promise)) {
    route(connection, packet, allowed);
    return undefined;
  }
  return allowed.then(
    (ok) => route(connection, packet, ok),
    (err: unknown) => {
      connection.broker.log.warn({ clientId: connection.clientId, err: toFennecError(err).message }, 'hook failed');
      route(connection, packet, false);
    },
  );
}

/** Routes an authorized message and acknowledges it; an unauthorized one is acknowledged, not routed. */
function route(connection: Connection, packet: PublishPacket, allowed: boolean): void {
  let reasonCode = 0;
  let reasonString: string | undefined;
  if (allowed) {
    const receivedAt = Date.now();
    const message: Message = {
      topic: packet.topic,
      payload: packet.payload,
      qos: packet.qos,
      retain: packet.retain,
      properties: packet.properties,
      publisherId: connection.clientId,
      receivedAt,
      // [MQTT-3.3.2-5] (5.0): checked where the message is dequeued or delivered, never by a timer
      expiresAt: expiresAt(packet.properties, receivedAt),
    };
    const count = connection.broker.publish(message);
    if (count === 0 && connection.version === 5) reasonCode = ReasonCode.NoMatchingSubscribers;
  } else {
    // [MQTT-3.3.5-2] (3.1.1): an unauthorized PUBLISH is still acknowledged; 5.0 says why
    reasonCode = ReasonCode.NotAuthorized;
    // [MQTT-3.1.2-29] (5.0): a Reason String on PUBACK / PUBREC only when the client allows it
    if (connection.version === 5 && connection.problemInformation) {
      reasonString = `not authorized to publish to ${packet.topic}`;
    }
  }
  const properties = reasonString === undefined ? undefined : { reasonString };
  // [MQTT-3.3.4-1] (both versions): QoS 1 gets PUBACK, QoS 2 PUBREC, QoS 0 nothing
  if (packet.qos === 1) {
    connection.send({ type: 'puback', packetId: packet.packetId, reasonCode, properties });
  } else if (packet.qos === 2) {
    if (reasonCode < 0x80) connection.session!.incomingQoS2.add(packet.packetId);
    connection.send({ type: 'pubrec', packetId: packet.packetId, reasonCode, properties });
  }
}
