/**
 * Routing: match a message's topic once in the topic index, merge overlapping subscriptions of
 * one session into one delivery, and hand each session its delivery; each shared subscription
 * group that matches gets one more delivery, to one of its members.
 */
import type { TopicIndex } from '../topic/index.js';
import { mayRead, type AuthorizeRead } from './read.js';
import { delivery, type Message } from '../session/message.js';
import type { Session } from '../session/session.js';
import { SharedGroup } from './shared.js';
import type { Subscriber } from './subscriber.js';

/** An entry of the topic index: one session's subscription, or a shared subscription group. */
export type RouteEntry = Subscriber | SharedGroup;

// Routing state of the call in progress, kept at module level so that matching allocates no closure.
let stamp = 0;
let current: Message | undefined;
const matched: Session[] = [];
const matchedGroups: SharedGroup[] = [];

function visit(entry: RouteEntry): void {
  // Each group is one entry, visited at most once per message; its member is chosen after the match.
  if (entry instanceof SharedGroup) {
    matchedGroups.push(entry);
    return;
  }
  const message = current!;
  const { session, options } = entry;
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

/**
 * Delivers `message` to every session with a matching subscription, and to one member of every
 * matching shared subscription group; returns how many deliveries were made. With `read`, a
 * session it refuses gets nothing, and a group's message goes to a member it allows. With `groups`
 * (a cluster's choice), only the groups whose `$share/G/F` filter it holds deliver.
 */
export function route(
  index: TopicIndex<RouteEntry>,
  message: Message,
  read?: AuthorizeRead,
  groups?: ReadonlySet<string>,
): number {
  stamp = stamp === Number.MAX_SAFE_INTEGER ? 1 : stamp + 1;
  current = message;
  index.match(message.topic, visit);
  current = undefined;
  // Without a read hook, the loop is the one it was before read authorization existed.
  let count = read === undefined ? deliverMatched(message) : deliverMatchedReadable(message, read);
  const found = matchedGroups.length;
  if (found === 0) return count;
  for (let i = 0; i < found; i++) {
    const group = matchedGroups[i]!;
    matchedGroups[i] = undefined as unknown as SharedGroup;
    // Another node of the cluster serves this group for this message.
    if (groups !== undefined && !groups.has(group.filter)) continue;
    // A shared delivery is never merged with the member's own non-shared one: MQTT 5.0 section
    // 4.8.2 lets a client that has both get two copies.
    if (deliverToGroup(group, message, read)) count++;
  }
  matchedGroups.length = 0;
  return count;
}

/** Delivers `message` to every session matched; returns how many. */
function deliverMatched(message: Message): number {
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

/** Delivers `message` to every session matched that `read` allows; returns how many. */
function deliverMatchedReadable(message: Message, read: AuthorizeRead): number {
  const found = matched.length;
  let count = 0;
  for (let i = 0; i < found; i++) {
    const session = matched[i]!;
    matched[i] = undefined as unknown as Session;
    if (!mayRead(read, session, message.topic)) continue;
    // RETAIN as in deliverMatched
    const retain = session.matchRetainAsPublished && message.retain;
    session.deliver(delivery(message, session.matchQoS, retain, session.matchSubscriptionIdentifiers));
    count++;
  }
  matched.length = 0;
  return count;
}

/**
 * Delivers `message` to one member of `group` (see SharedGroup.pick), among those `read` allows
 * when given; returns false when the group has no such member.
 */
export function deliverToGroup(group: SharedGroup, message: Message, read?: AuthorizeRead): boolean {
  const member = group.pick(message.qos, read, message.topic);
  if (member === undefined) return false;
  const { session, options } = member;
  // [MQTT-4.8.2-3] the QoS granted to the chosen member's subscription: min(publish QoS, granted QoS)
  const qos = message.qos < options.qos ? message.qos : options.qos;
  const id = options.subscriptionIdentifier;
  const retain = options.retainAsPublished && message.retain;
  session.deliver(delivery(message, qos, retain, id === undefined ? undefined : [id], group.filter));
  return true;
}
