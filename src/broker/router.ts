/**
 * Routing: match a message's topic once in the topic index, merge overlapping subscriptions of
 * one session into one delivery, and hand each session its delivery.
 */
import type { TopicIndex } from '../topic/index.js';
import { delivery, type Message } from '../session/message.js';
import type { Session, SubscriptionOptions } from '../session/session.js';

/** What the topic index stores for each subscription. */
export interface Subscriber {
  session: Session;
  options: SubscriptionOptions;
}

// Routing state of the call in progress, kept at module level so that matching allocates no closure.
let stamp = 0;
let current: Message | undefined;
const matched: Session[] = [];

function visit(subscriber: Subscriber): void {
  const message = current!;
  const { session, options } = subscriber;
  // [MQTT-3.8.3-3] (5.0) No Local: not back to the publisher's own client id
  if (options.noLocal && session.clientId === message.publisherId) return;
  // [MQTT-3.8.4-6] (3.1.1) [MQTT-3.8.4-8] (5.0): min(publish QoS, granted QoS)
  const qos = message.qos < options.qos ? message.qos : options.qos;
  const id = options.subscriptionIdentifier;
  if (session.matchStamp !== stamp) {
    session.matchStamp = stamp;
    session.matchQoS = qos;
    session.matchRetainAsPublished = options.retainAsPublished;
    session.matchSubscriptionIdentifiers = id === undefined ? undefined : [id];
    matched.push(session);
    return;
  }
  // Overlapping subscriptions of one session: one delivery at the highest QoS [MQTT-3.3.5-1] (3.1.1)
  // [MQTT-3.3.4-2] (5.0), carrying every matching subscription identifier [MQTT-3.3.4-3].
  if (qos > session.matchQoS) session.matchQoS = qos;
  if (options.retainAsPublished) session.matchRetainAsPublished = true;
  if (id !== undefined) (session.matchSubscriptionIdentifiers ??= []).push(id);
}

/** Delivers `message` to every session with a matching subscription; returns how many. */
export function route(index: TopicIndex<Subscriber>, message: Message): number {
  stamp = stamp === Number.MAX_SAFE_INTEGER ? 1 : stamp + 1;
  current = message;
  index.match(message.topic, visit);
  current = undefined;
  const count = matched.length;
  for (let i = 0; i < count; i++) {
    const session = matched[i]!;
    matched[i] = undefined as unknown as Session;
    // [MQTT-3.3.1-9] (3.1.1) [MQTT-3.3.1-12] (5.0): RETAIN is 0 on normal forwarding,
    // unless Retain As Published [MQTT-3.3.1-13]
    const retain = session.matchRetainAsPublished && message.retain;
    session.deliver(delivery(message, session.matchQoS, retain, session.matchSubscriptionIdentifiers));
  }
  matched.length = 0;
  return count;
}
