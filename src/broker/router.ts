/**
 * Routing: match a message's topic once in the topic index, merge overlapping subscriptions of
 * one session into one delivery, and hand each session its delivery; each shared subscription
 * group that matches gets one more delivery, to one of its members.
 */
import type { TopicIndex } from '../topic/index.js';
import { mayRead, type AuthorizeRead } from './read.js';
import type { QoS } from '../protocol/index.js';
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

/**
 * The last match, what a message of the same topic, QoS and publisher gets while the index is
 * unchanged (its `version`): a publisher's PUBLISHes of one read mostly share their topic, so one
 * lookup serves the run of them (bench/fanin-instructions.sh). It holds one match, no more.
 */
const last = newMatch();
/** Routes under way: a route started by a delivery (none does today) matches into its own arrays, not `last`. */
let depth = 0;

/** What one match found: the sessions with their delivery options, and the shared groups. */
interface RouteMatch {
  index: TopicIndex<RouteEntry> | undefined;
  version: number;
  topic: string;
  qos: number;
  publisherId: string;
  sessions: Session[];
  /** min(message QoS, granted QoS) of each session's delivery. */
  qosOf: QoS[];
  retainAsPublished: boolean[];
  subscriptionIdentifiers: (number[] | undefined)[];
  groups: SharedGroup[];
}

function newMatch(): RouteMatch {
  return {
    index: undefined,
    version: -1,
    topic: '',
    qos: -1,
    publisherId: '',
    sessions: [],
    qosOf: [],
    retainAsPublished: [],
    subscriptionIdentifiers: [],
    groups: [],
  };
}

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
 * (a cluster's choice), only the groups whose `$share/G/F` filter it holds deliver. With `except`,
 * the sessions of those client ids get nothing through their plain subscriptions.
 */
export function route(
  index: TopicIndex<RouteEntry>,
  message: Message,
  read?: AuthorizeRead,
  groups?: ReadonlySet<string>,
  except?: ReadonlySet<string>,
): number {
  const { topic, qos, publisherId } = message;
  const found = depth === 0 ? last : newMatch();
  if (
    index !== found.index ||
    index.version !== found.version ||
    topic !== found.topic ||
    qos !== found.qos ||
    publisherId !== found.publisherId
  ) {
    match(index, message, found);
  }
  depth++;
  try {
    return deliverAll(found, message, read, groups, except);
  } finally {
    depth--;
  }
}

/**
 * Delivers `message` to the sessions and groups of `found`, but for the sessions of the client ids
 * in `except`; returns how many deliveries were made.
 */
function deliverAll(
  found: RouteMatch,
  message: Message,
  read?: AuthorizeRead,
  groups?: ReadonlySet<string>,
  except?: ReadonlySet<string>,
): number {
  // Without a read hook, the loop is the one it was before read authorization existed.
  let count =
    except !== undefined
      ? deliverMatchedExcept(found, message, read, except)
      : read === undefined
        ? deliverMatched(found, message)
        : deliverMatchedReadable(found, message, read);
  const groupCount = found.groups.length;
  for (let i = 0; i < groupCount; i++) {
    const group = found.groups[i]!;
    // Another node of the cluster serves this group for this message.
    if (groups !== undefined && !groups.has(group.filter)) continue;
    // A shared delivery is never merged with the member's own non-shared one: MQTT 5.0 section
    // 4.8.2 lets a client that has both get two copies.
    if (deliverToGroup(group, message, read)) count++;
  }
  return count;
}

/** Matches `message`'s topic in `index` and keeps what it found in `last`. */
function match(index: TopicIndex<RouteEntry>, message: Message, last: RouteMatch): void {
  stamp = stamp === Number.MAX_SAFE_INTEGER ? 1 : stamp + 1;
  current = message;
  index.match(message.topic, visit);
  current = undefined;
  const found = matched.length;
  last.sessions.length = found;
  last.qosOf.length = found;
  last.retainAsPublished.length = found;
  last.subscriptionIdentifiers.length = found;
  for (let i = 0; i < found; i++) {
    const session = matched[i]!;
    matched[i] = undefined as unknown as Session;
    last.sessions[i] = session;
    last.qosOf[i] = session.matchQoS;
    last.retainAsPublished[i] = session.matchRetainAsPublished;
    last.subscriptionIdentifiers[i] = session.matchSubscriptionIdentifiers;
  }
  matched.length = 0;
  last.groups.length = matchedGroups.length;
  for (let i = 0; i < matchedGroups.length; i++) last.groups[i] = matchedGroups[i]!;
  matchedGroups.length = 0;
  last.index = index;
  last.version = index.version;
  last.topic = message.topic;
  last.qos = message.qos;
  last.publisherId = message.publisherId;
}

/** Delivers `message` to every session of `last`; returns how many. */
function deliverMatched(last: RouteMatch, message: Message): number {
  const { sessions, qosOf, retainAsPublished, subscriptionIdentifiers } = last;
  const count = sessions.length;
  for (let i = 0; i < count; i++) {
    // [MQTT-3.3.1-9] (3.1.1) [MQTT-3.3.1-12] (5.0): RETAIN is 0 on normal forwarding,
    // unless Retain As Published [MQTT-3.3.1-13]
    const retain = retainAsPublished[i]! && message.retain;
    sessions[i]!.deliver(delivery(message, qosOf[i]!, retain, subscriptionIdentifiers[i]));
  }
  return count;
}

/** Delivers `message` to every session of `last` that `read` allows; returns how many. */
function deliverMatchedReadable(last: RouteMatch, message: Message, read: AuthorizeRead): number {
  const { sessions, qosOf, retainAsPublished, subscriptionIdentifiers } = last;
  const found = sessions.length;
  let count = 0;
  for (let i = 0; i < found; i++) {
    const session = sessions[i]!;
    if (!mayRead(read, session, message.topic)) continue;
    // RETAIN as in deliverMatched
    const retain = retainAsPublished[i]! && message.retain;
    session.deliver(delivery(message, qosOf[i]!, retain, subscriptionIdentifiers[i]));
    count++;
  }
  return count;
}

/** Delivers `message` to every session of `last` not in `except` that `read` (if any) allows; returns how many. */
function deliverMatchedExcept(
  last: RouteMatch,
  message: Message,
  read: AuthorizeRead | undefined,
  except: ReadonlySet<string>,
): number {
  const { sessions, qosOf, retainAsPublished, subscriptionIdentifiers } = last;
  const found = sessions.length;
  let count = 0;
  for (let i = 0; i < found; i++) {
    const session = sessions[i]!;
    if (except.has(session.clientId)) continue;
    if (read !== undefined && !mayRead(read, session, message.topic)) continue;
    // RETAIN as in deliverMatched
    const retain = retainAsPublished[i]! && message.retain;
    session.deliver(delivery(message, qosOf[i]!, retain, subscriptionIdentifiers[i]));
    count++;
  }
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
