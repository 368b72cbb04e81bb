/**
 * PUBLISH from a client: topic validation, authorization, routing, and the QoS 1/2 receiver flows.
 */
import { isUtf8 } from 'node:buffer';
import { ProtocolError, ReasonCode, type PublishPacket } from '../../protocol/index.js';
import { isValidTopicName } from '../../topic/index.js';
import { expiresAt, type Message } from '../../session/message.js';
import { forwardAsReceived } from '../../session/verbatim.js';
import type { DropReason } from '../../session/types.js';
import type { BrokerConnection as Connection } from '../context.js';
import { countTopicLimit, quoteTopic } from '../limits.js';
import { authorization, decide } from '../decide.js';
import { ConnectionState } from '../connection-state.js';

export function handlePublish(connection: Connection, received: PublishPacket): Promise<void> | undefined {
  // In a cluster, not before this node delivered what the client published through other nodes
  // before it connected here (the connection's later packets wait unread meanwhile).
  const caughtUp = connection.publishesAfter;
  if (caughtUp !== undefined) {
    return caughtUp.then(() => {
      connection.publishesAfter = undefined;
      if (connection.state !== ConnectionState.Active) return undefined;
      return handlePublish(connection, received);
    });
  }
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
  // [MQTT-3.3.4-6] (5.0): a Subscription Identifier is the server's to add; from a client it is a
  // Protocol Error (DISCONNECT 0x82). Checked here, not in the Link, which also serves the client role.
  if (received.properties?.subscriptionIdentifiers !== undefined) {
    throw new ProtocolError('PUBLISH from a client carries a Subscription Identifier', {
      reasonCode: ReasonCode.ProtocolError,
    });
  }
  // The protocol core checks the 5.0 rules, resolves the topic alias and tells a re-sent QoS 2 PUBLISH
  const session = connection.session!;
  const packet = connection.link.receivePublish(received, session);
  if (packet === 'duplicate') {
    // [MQTT-4.3.3-2] (3.1.1) [MQTT-4.3.3-9] (5.0): a re-sent QoS 2 PUBLISH gets PUBREC again and is not routed
    // After commit, as the first PUBREC: a re-send that overtakes the commit of its id must not be
    // told it was accepted before the acceptance is durable.
    connection.sendAfterCommit({ type: 'pubrec', packetId: received.packetId, reasonCode: 0 });
    return undefined;
  }
  // [MQTT-3.3.2-2] (both versions): no wildcards in a topic name; [MQTT-4.7.3-1] at least one character;
  // longer or deeper than maxTopicLength / maxTopicLevels: 0x90, the name is well formed but not accepted
  if (!isValidTopicName(packet.topic, connection.broker.topicLimits)) {
    const limit = countTopicLimit(connection.broker.options, connection.broker.counters.limits, packet.topic, false);
    if (limit !== undefined) connection.warnLimit(limit, 'PUBLISH topic refused, connection closed');
    throw new ProtocolError(`PUBLISH topic ${quoteTopic(packet.topic)} is not a valid topic name`, {
      reasonCode: ReasonCode.TopicNameInvalid,
    });
  }
  // Section 3.3.2.3.2 and 4.13 (5.0): a QoS 1/2 payload that is not the UTF-8 its Payload Format
  // Indicator announces is refused with PUBACK/PUBREC 0x99, and not routed
  if (packet.qos > 0 && packet.properties?.payloadFormatIndicator === true && !isUtf8(packet.payload)) {
    acknowledge(connection, packet, ReasonCode.PayloadFormatInvalid);
    return undefined;
  }
  // The broker alone publishes under $SYS/broker/: a client's PUBLISH there is refused as not authorized.
  if (packet.topic.charCodeAt(0) === 0x24 && packet.topic.startsWith('$SYS/broker/')) {
    return route(connection, packet, false);
  }
  const chain = connection.broker.hooks.authorizePublish;
  if (chain.length === 0) return route(connection, packet, true);
  const verdict = decide(
    connection,
    'authorizePublish',
    chain,
    [connection.info, packet.topic, packet.qos, packet.retain],
    authorization,
  );
  if (!(verdict instanceof Promise)) return route(connection, packet, verdict.allowed);
  return verdict.then((outcome) => route(connection, packet, outcome.allowed));
}

/**
 * Routes an authorized message and acknowledges it; an unauthorized one is acknowledged, not routed.
 * A QoS 1/2 message the cluster's bus cannot take (Redis unreachable too long) is refused with 0x97
 * (5.0), or waits, the client's socket unread, until the bus is back (3.1.1 has no way to refuse).
 */
function route(connection: Connection, packet: PublishPacket, allowed: boolean): Promise<void> | undefined {
  let reasonCode = 0;
  let viaBus = true;
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
    // Subscribers whose wire form is the publisher's PUBLISH get the bytes received.
    forwardAsReceived(message, packet, connection.version);
    const { counters, spool, bus } = connection.broker;
    if (packet.qos > 0 && bus?.available !== undefined && bus.unavailableFor?.(message) === true) {
      if (connection.version !== 5) {
        // Routed once the bus is back, unless the client left meanwhile (it sends the message again).
        return bus.available().then(() => {
          if (connection.state === ConnectionState.Active) return route(connection, packet, allowed);
          return undefined;
        });
      }
      // 5.0 section 3.4.2.1: 0x97 Quota exceeded; a promise of delivery Redis cannot back is not made.
      // Sent at once unless earlier acknowledgements of this client still wait for Redis.
      const type = packet.qos === 1 ? 'puback' : 'pubrec';
      connection.sendInOrder({ type, packetId: packet.packetId, reasonCode: ReasonCode.QuotaExceeded });
      return undefined;
    }
    const refusedBefore = totalDrops(counters.dropped) - spool.droppedOldest;
    // Whether the acknowledgement waits for the bus: only when it carries the message (checked only
    // when the bus has something pending, so that a quiet cluster matches the topic once).
    viaBus = bus === undefined || bus.idle || bus.carries === undefined || bus.carries(message);
    const count = connection.broker.publish(message);
    if (count === 0 && connection.version === 5) reasonCode = ReasonCode.NoMatchingSubscribers;
    // Every matching subscriber's queue and spool were full: the 5.0 publisher is told.
    else if (connection.version === 5 && totalDrops(counters.dropped) - spool.droppedOldest - refusedBefore >= count) {
      reasonCode = ReasonCode.QuotaExceeded;
    }
  } else {
    // [MQTT-3.3.5-2] (3.1.1): an unauthorized PUBLISH is still acknowledged; 5.0 says why
    reasonCode = ReasonCode.NotAuthorized;
    // [MQTT-3.1.2-29] (5.0): a Reason String on PUBACK / PUBREC only when the client allows it
    if (connection.version === 5 && connection.link.problemInformation) {
      reasonString = `not authorized to publish to ${packet.topic}`;
    }
  }
  acknowledge(connection, packet, reasonCode, reasonString, viaBus);
  return undefined;
}

/**
 * [MQTT-3.3.4-1] (both versions): QoS 1 gets PUBACK, QoS 2 PUBREC, QoS 0 nothing; each only once
 * the store has committed the message's deliveries (`sendAfterCommit`).
 */
function acknowledge(
  connection: Connection,
  packet: PublishPacket,
  reasonCode: number,
  reasonString?: string,
  viaBus = true,
): void {
  const properties = reasonString === undefined ? undefined : { reasonString };
  if (packet.qos === 1) {
    connection.sendAfterCommit({ type: 'puback', packetId: packet.packetId, reasonCode, properties }, viaBus);
  } else if (packet.qos === 2) {
    // A PUBREC with a failure code ends the flow; otherwise it stays open until PUBREL, in the session
    // (journaled, so that a re-sent PUBLISH after a restart is not routed twice) and on this connection
    if (reasonCode < 0x80) {
      connection.session!.holdQoS2(packet.packetId);
      connection.link.holdQoS2(packet.packetId);
    }
    connection.sendAfterCommit({ type: 'pubrec', packetId: packet.packetId, reasonCode, properties }, viaBus);
  }
}

/** Deliveries refused so far because a session's queue (and spool) had no room. */
function totalDrops(dropped: Readonly<Record<DropReason, number>>): number {
  return dropped['queue-full'] + dropped['queue-bytes-full'] + dropped['spool-session-full'] + dropped['spool-full'];
}
