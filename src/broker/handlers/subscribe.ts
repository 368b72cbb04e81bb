/**
 * SUBSCRIBE: filter validation, authorization, granted QoS, SUBACK, then the retained messages.
 * `$share/{ShareName}/{filter}` joins a shared subscription group (MQTT 5.0 section 4.8.2), from 3.1
 * and 3.1.1 clients too, as Mosquitto and EMQX allow.
 */
import { ProtocolError, ReasonCode, SUBACK_FAILURE, type QoS, type SubscribePacket } from '../../protocol/index.js';
import { MalformedPacketError } from '../../protocol/errors.js';
import { isValidTopicFilter, malformedTopicFilter, parseSharedSubscription } from '../../topic/index.js';
import { delivery, isExpired } from '../../session/message.js';
import type { SubscriptionOptions } from '../../session/session.js';
import { ConnectionState } from '../connection-state.js';
import type { BrokerConnection as Connection } from '../context.js';
import { countTopicLimit } from '../limits.js';
import { mayRead } from '../read.js';
import { authorization, decide, type Verdict } from '../decide.js';
import { channels } from '../diagnostics.js';

const SHARE_PREFIX = '$share/';

export function handleSubscribe(connection: Connection, packet: SubscribePacket): Promise<void> | undefined {
  // 5.0 section 3.2.2.3.12: a Subscription Identifier when CONNACK said none are supported gets DISCONNECT 0xA1
  if (
    packet.properties?.subscriptionIdentifier !== undefined &&
    !connection.broker.options.subscriptionIdentifiersAvailable
  ) {
    throw new ProtocolError('SUBSCRIBE with a Subscription Identifier, which this broker does not support', {
      reasonCode: ReasonCode.SubscriptionIdentifiersNotSupported,
    });
  }
  for (const sub of packet.subscriptions) {
    // A filter against the standard's rules is a Malformed Packet, not a refusal: close (5.0 DISCONNECT 0x81).
    // [MQTT-4.7.3-1] empty; 3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3] / 5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2] wildcards
    const malformed = malformedTopicFilter(sub.topicFilter, connection.version === 5);
    if (malformed !== undefined) throw new MalformedPacketError(`SUBSCRIBE: ${malformed}`);
    // [MQTT-3.8.3-4] (5.0): No Local on a Shared Subscription is a Protocol Error (DISCONNECT 0x82)
    if (sub.noLocal && sub.topicFilter.startsWith(SHARE_PREFIX)) {
      throw new ProtocolError(`No Local is set on the shared subscription ${JSON.stringify(sub.topicFilter)}`);
    }
  }
  const chain = connection.broker.hooks.authorizeSubscribe;
  if (chain.length === 0) {
    subscribe(connection, packet, undefined);
    return undefined;
  }
  const info = connection.info;
  const verdicts = packet.subscriptions.map((sub) =>
    decide(connection, 'authorizeSubscribe', chain, [info, sub.topicFilter, sub.qos], authorization),
  );
  const allowed = (outcomes: readonly Verdict[]): boolean[] => outcomes.map((outcome) => outcome.allowed);
  if (!verdicts.some((verdict) => verdict instanceof Promise)) {
    subscribe(connection, packet, allowed(verdicts as Verdict[]));
    return undefined;
  }
  const waiting = verdicts.map((verdict) => Promise.resolve(verdict));
  return Promise.all(waiting).then((outcomes) => subscribe(connection, packet, allowed(outcomes)));
}

function subscribe(connection: Connection, packet: SubscribePacket, allowed: boolean[] | undefined): void {
  const { broker, version } = connection;
  const session = connection.session!;
  const v5 = version === 5;
  const subscriptionIdentifier = packet.properties?.subscriptionIdentifier;
  const reasonCodes: number[] = [];
  const retainedFor: [string, SubscriptionOptions][] = [];
  /** Why filters were refused, for the SUBACK's Reason String. */
  const refusals = new Set<string>();
  // [MQTT-3.8.4-4] (3.1.1) [MQTT-3.8.4-5] (5.0): several filters are handled as a sequence, one SUBACK answers
  packet.subscriptions.forEach((sub, i) => {
    const filter = sub.topicFilter;
    // Well formed (checked in handleSubscribe) but longer or deeper than maxTopicLength / maxTopicLevels:
    // a limit of this broker, not a broken rule, so refused in SUBACK and the connection stays
    if (!isValidTopicFilter(filter, broker.topicLimits)) {
      const limit = countTopicLimit(broker.options, broker.counters.limits, filter, true);
      if (limit !== undefined) connection.warnLimit(limit, 'topic filter refused in SUBACK');
      reasonCodes.push(v5 ? ReasonCode.TopicFilterInvalid : SUBACK_FAILURE);
      refusals.add('invalid topic filter');
      return;
    }
    const shared = filter.startsWith(SHARE_PREFIX);
    // Reached only in 3.1 / 3.1.1, where `$share//a` is a well-formed filter: refused, not malformed
    if (shared && !isValidSharedFilter(filter)) {
      reasonCodes.push(v5 ? ReasonCode.TopicFilterInvalid : SUBACK_FAILURE);
      refusals.add('invalid shared subscription filter');
      return;
    }
    if (!broker.options.wildcardSubscriptionAvailable && (filter.includes('+') || filter.includes('#'))) {
      // 5.0 section 3.2.2.3.11: wildcard filters refused with 0xA2 when the broker does not support them
      reasonCodes.push(v5 ? ReasonCode.WildcardSubscriptionsNotSupported : SUBACK_FAILURE);
      refusals.add('wildcard subscriptions are not supported');
      return;
    }
    if (allowed !== undefined && allowed[i] !== true) {
      reasonCodes.push(v5 ? ReasonCode.NotAuthorized : SUBACK_FAILURE);
      refusals.add('not authorized');
      return;
    }
    const maxSubscriptions = broker.options.maxSubscriptionsPerClient;
    if (maxSubscriptions > 0 && session.subscriptions.size >= maxSubscriptions && !session.subscriptions.has(filter)) {
      // 5.0 section 3.9.3: 0x97 Quota exceeded; a replaced subscription never counts as one more
      broker.counters.limits.maxSubscriptionsPerClient++;
      connection.warnLimit('maxSubscriptionsPerClient', 'subscription refused in SUBACK');
      reasonCodes.push(v5 ? ReasonCode.QuotaExceeded : SUBACK_FAILURE);
      refusals.add(`at most ${maxSubscriptions} subscriptions per client`);
      return;
    }
    // [MQTT-3.2.2-10] (5.0): any requested QoS is accepted, and granted at most the broker's maximum
    const qos: QoS = sub.qos > broker.options.maximumQoS ? broker.options.maximumQoS : sub.qos;
    const options: SubscriptionOptions = {
      qos,
      noLocal: v5 && sub.noLocal,
      retainAsPublished: v5 && sub.retainAsPublished,
      retainHandling: v5 ? sub.retainHandling : 0,
      subscriptionIdentifier,
    };
    // [MQTT-3.8.4-3] (both versions): an identical filter replaces the existing subscription
    const existed = broker.addSubscription(session, filter, options);
    // [MQTT-3.8.4-5] (3.1.1) [MQTT-3.8.4-7] (5.0): the granted QoS
    reasonCodes.push(qos);
    // MQTT 5.0 section 4.8.2: no retained messages are sent to a session joining a shared subscription
    if (shared) return;
    // [MQTT-3.3.1-6] (3.1.1) retained messages on every subscribe; 5.0 by Retain Handling:
    // [MQTT-3.3.1-9] 0 always, [MQTT-3.3.1-10] 1 only for a new subscription, [MQTT-3.3.1-11] 2 never
    const rh = options.retainHandling;
    if (rh === 0 || (rh === 1 && !existed)) retainedFor.push([filter, options]);
  });
  // [MQTT-3.8.4-1] [MQTT-3.8.4-2] a SUBACK with the same packet id; [MQTT-3.9.3-1] codes in order
  // [MQTT-3.1.2-29] (5.0): a Reason String on SUBACK only when the client allows it
  const properties =
    v5 && refusals.size > 0 && connection.link.problemInformation
      ? { reasonString: [...refusals].join('; ') }
      : undefined;
  // With a store, SUBACK and the retained messages wait until the subscriptions are committed;
  // messages routed to the new subscriptions meanwhile may go first (MQTT 5.0 section 3.8.4 allows it).
  const persistence = broker.persistence;
  const finish = (): void => {
    if (connection.session !== session || connection.state !== ConnectionState.Active) return;
    connection.send({ type: 'suback', packetId: packet.packetId, reasonCodes, properties });
    sendRetained(connection, retainedFor);
  };
  // With workers, also until every other worker knows the new routes (Bus.afterRoutes).
  const bus = broker.bus;
  const announced = bus?.afterRoutes === undefined ? finish : (): void => bus.afterRoutes!(finish);
  if (persistence === undefined) announced();
  else persistence.afterCommit(announced);
  broker.emit('subscribed', connection.info, packet.subscriptions);
  if (channels.subscribed.hasSubscribers) {
    channels.subscribed.publish({ broker, client: connection.info, subscriptions: packet.subscriptions });
  }
}

/** Sends the retained messages matching each new subscription, as its options ask. */
function sendRetained(connection: Connection, retainedFor: [string, SubscriptionOptions][]): void {
  const { broker } = connection;
  const session = connection.session!;
  const now = Date.now();
  const expired: string[] = [];
  const read = broker.hooks.authorizeRead;
  for (const [filter, options] of retainedFor) {
    const ids = options.subscriptionIdentifier === undefined ? undefined : [options.subscriptionIdentifier];
    broker.retained.match(filter, (topic, message) => {
      // [MQTT-3.3.2-5] (5.0): a retained message past its Message Expiry Interval is not sent, and goes
      if (isExpired(message, now)) {
        expired.push(topic);
        return;
      }
      // A retained message is a delivery like any other: only to a session that may read its topic
      if (read !== undefined && !mayRead(read, session, topic)) return;
      const qos = message.qos < options.qos ? message.qos : options.qos;
      // [MQTT-3.3.1-8] (3.1.1): messages sent because of a new subscription have RETAIN set
      session.deliver(delivery(message, qos, true, ids));
    });
  }
  for (const topic of expired) broker.forgetRetained(topic);
}

/** [MQTT-4.8.2-1] a ShareName of at least one character; [MQTT-4.8.2-2] no '+' or '#' in it, then '/' and a filter. */
function isValidSharedFilter(filter: string): boolean {
  try {
    parseSharedSubscription(filter);
    return true;
  } catch {
    return false;
  }
}
