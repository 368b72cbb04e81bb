/**
 * PUBLISH from a client: topic validation, authorization, routing, and the QoS 1/2 receiver flows.
 */
import { isUtf8 } from 'node:buffer';
import { ProtocolError, ReasonCode, type PublishPacket } from '../../protocol/index.js';
import { isValidTopicName } from '../../topic/index.js';
import { expiresAt, type Message } from '../../session/message.js';
import type { Connection } from '../connection.js';
import { countTopicLimit, quoteTopic } from '../limits.js';
import { authorization, decide } from '../decide.js';

export function handlePublish(connection: Connection, received: PublishPacket): Promise<void> | undefined {
  const { maximumQoS, retainAvailable } = connection.broker.options;
  // [MQTT-3.2.2-11] (5.0): a PUBLISH above the Maximum QoS of CONNACK gets DISCONNECT 0x9B (3.1.1: a close)
  if (received.qos > maximumQoS) {
    throw new ProtocolError(`PUBLISH with QoS ${received.qos} above the maximum QoS ${maximumQoS}`, {
      reasonCode: ReasonCode.QoSNotSupported,
    });
  }
  // [MQTT-3.2.2-14] (5.0): a retained PUBLISH when Retain Available is 0 gets DISCONNECT 0x9A (3.1.1: a close)
  if (received.retain && !retainAvailable) {
    throw new ProtocolError('retained PUBLISH while retained messages are not supported', {
      reasonCode: ReasonCode.RetainNotSupported,
    });
  }
  const packet = connection.version === 5 ? checkV5Publish(connection, received) : received;
  // [MQTT-3.3.2-2] (both versions): no wildcards in a topic name; [MQTT-4.7.3-1] at least one character;
  // longer or deeper than maxTopicLength / maxTopicLevels: 0x90, the name is well formed but not accepted
  if (!isValidTopicName(packet.topic, connection.broker.topicLimits)) {
    countTopicLimit(connection.broker, packet.topic, false);
    throw new ProtocolError(`PUBLISH topic ${quoteTopic(packet.topic)} is not a valid topic name`, {
      reasonCode: ReasonCode.TopicNameInvalid,
    });
  }
  const session = connection.session!;
  // [MQTT-4.3.3-2] (3.1.1): a QoS 2 PUBLISH whose id awaits PUBREL is a re-send: PUBREC again, deliver nothing
  if (packet.qos === 2 && session.incomingQoS2.has(packet.packetId)) {
    connection.send({ type: 'pubrec', packetId: packet.packetId, reasonCode: 0 });
    return undefined;
  }
  const incomingQoS2 = connection.incomingQoS2;
  if (incomingQoS2 !== undefined && packet.qos > 0) {
    // [MQTT-3.3.4-7] (5.0): one more unacknowledged QoS 1/2 PUBLISH than the Receive Maximum in
    // CONNACK is answered with DISCONNECT 0x93. Packets are handled one at a time and QoS 1 is
    // acknowledged before the next, so the count is the QoS 2 flows awaiting PUBREL.
    if (incomingQoS2.size >= connection.broker.options.receiveMaximum) {
      throw new ProtocolError(`more than ${connection.broker.options.receiveMaximum} unacknowledged QoS 1/2 PUBLISH`, {
        reasonCode: ReasonCode.ReceiveMaximumExceeded,
      });
    }
    const properties = packet.properties;
    // Section 3.3.2.3.2 and 4.13: a payload that is not the UTF-8 its Payload Format
    // Indicator announces is refused; QoS 1/2 with PUBACK/PUBREC 0x99, and not routed
    if (properties?.payloadFormatIndicator === true && !isUtf8(packet.payload)) {
      acknowledge(connection, packet, ReasonCode.PayloadFormatInvalid);
      return undefined;
    }
  }
  const chain = connection.broker.hooks.authorizePublish;
  if (chain.length === 0) {
    route(connection, packet, true);
    return undefined;
  }
  const verdict = decide(
    connection,
    'authorizePublish',
    chain,
    [connection.info, packet.topic, packet.qos, packet.retain],
    authorization,
  );
  if (!(verdict instanceof Promise)) {
    route(connection, packet, verdict.allowed);
    return undefined;
  }
  return verdict.then((outcome) => route(connection, packet, outcome.allowed));
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
  acknowledge(connection, packet, reasonCode, reasonString);
}

/** [MQTT-3.3.4-1] (both versions): QoS 1 gets PUBACK, QoS 2 PUBREC, QoS 0 nothing. */
function acknowledge(connection: Connection, packet: PublishPacket, reasonCode: number, reasonString?: string): void {
  const properties = reasonString === undefined ? undefined : { reasonString };
  if (packet.qos === 1) {
    connection.sendAfterCommit({ type: 'puback', packetId: packet.packetId, reasonCode, properties });
  } else if (packet.qos === 2) {
    // A PUBREC with a failure code ends the flow; otherwise it stays open until PUBREL
    if (reasonCode < 0x80) {
      const session = connection.session!;
      session.incomingQoS2.add(packet.packetId);
      // Stored with a persistent session, so that a re-sent PUBLISH after a restart is not routed twice
      if (session.journal !== undefined) connection.broker.persistence?.qos2Received(session.clientId, packet.packetId);
      connection.incomingQoS2?.add(packet.packetId);
    }
    connection.sendAfterCommit({ type: 'pubrec', packetId: packet.packetId, reasonCode, properties });
  }
}

/**
 * The 5.0 checks of an incoming PUBLISH that 3.1.1 does not have: the topic alias is resolved
 * (and removed from the properties forwarded), the Response Topic checked, and a QoS 0 payload
 * that is not the UTF-8 it claims to be refused. Returns the packet with its topic name.
 */
function checkV5Publish(connection: Connection, packet: PublishPacket): PublishPacket {
  const properties = packet.properties;
  if (properties === undefined) return packet;
  const responseTopic = properties.responseTopic;
  // [MQTT-3.3.2-14]: a Response Topic with wildcards is a protocol error
  if (responseTopic !== undefined && (responseTopic.includes('+') || responseTopic.includes('#'))) {
    throw new ProtocolError('PUBLISH Response Topic has wildcard characters');
  }
  // Section 3.3.2.3.2 and 4.13: for QoS 0 the only answer to a payload that is not UTF-8 is DISCONNECT 0x99
  if (packet.qos === 0 && properties.payloadFormatIndicator === true && !isUtf8(packet.payload)) {
    throw new ProtocolError('PUBLISH payload is not the UTF-8 its Payload Format Indicator announces', {
      reasonCode: ReasonCode.PayloadFormatInvalid,
    });
  }
  const alias = properties.topicAlias;
  if (alias === undefined) return packet;
  const aliases = connection.incomingTopicAliases;
  // [MQTT-3.3.2-9]: an alias above the Topic Alias Maximum of CONNACK is DISCONNECT 0x94
  // (an alias of 0 [MQTT-3.3.2-8] never gets here: the codec refuses it with 0x82);
  // [MQTT-3.3.2-12] every alias from 1 to that maximum is accepted
  if (aliases === undefined || alias === 0 || alias > connection.broker.options.topicAliasMaximum) {
    throw new ProtocolError(
      `PUBLISH topic alias ${alias} is outside 1..${connection.broker.options.topicAliasMaximum}`,
      {
        reasonCode: ReasonCode.TopicAliasInvalid,
      },
    );
  }
  let topic = packet.topic;
  if (topic.length === 0) {
    const known = aliases.get(alias);
    // Section 3.3.2.3.4: an empty topic with an alias the client has not set is a protocol error
    if (known === undefined) throw new ProtocolError(`PUBLISH uses topic alias ${alias} before setting it`);
    topic = known;
  } else {
    if (!isValidTopicName(topic)) {
      throw new ProtocolError(`PUBLISH topic ${quoteTopic(topic)} is not a valid topic name`, {
        reasonCode: ReasonCode.TopicNameInvalid,
      });
    }
    aliases.set(alias, topic);
  }
  // The alias means nothing to subscribers: it is not forwarded
  const { topicAlias: _alias, ...forwarded } = properties;
  return { ...packet, topic, properties: forwarded };
}
