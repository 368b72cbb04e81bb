/**
 * Shared subscriptions (MQTT 5.0 section 4.8.2): the sessions subscribed to one
 * `$share/{ShareName}/{filter}` form a group, and each message matching the filter goes to one
 * member of the group only. A group is one entry of the topic index, stored under its inner filter
 * with the key `sharedGroupKey(ShareName)`, so matching costs nothing more for the groups a topic
 * does not reach, and one visit per group it does.
 */
import type { QoS } from '../protocol/index.js';
import { Readiness } from '../session/session.js';
import { mayRead, type AuthorizeRead } from './read.js';
import type { Subscriber } from './subscriber.js';

// The strategies are option values, so they live with the option table; re-exported for their old importers.
import type { SharedSubscriptionStrategy } from '../config/fields.js';
export { sharedSubscriptionStrategies, type SharedSubscriptionStrategy } from '../config/fields.js';

/**
 * Key of a group's entry in the topic index. It starts with U+0000, which no client id can hold
 * [MQTT-1.5.4-2], so a group never collides with the subscription of a client named `$share/...`.
 */
export function sharedGroupKey(shareName: string): string {
  return `\u0000$share/${shareName}`;
}

/** The members of one shared subscription, identified by ShareName and inner Topic Filter. */
export class SharedGroup {
  /** The full `$share/{ShareName}/{filter}` Topic Filter. */
  readonly filter: string;
  /** The members, in the order they joined; a session is a member at most once. */
  readonly members: Subscriber[] = [];
  /** Index of the member whose turn is next. */
  private next = 0;

  constructor(
    readonly shareName: string,
    readonly topicFilter: string,
    private readonly strategy: SharedSubscriptionStrategy,
  ) {
    this.filter = `$share/${shareName}/${topicFilter}`;
  }

  /** Number of members. */
  get size(): number {
    return this.members.length;
  }

  /**
   * Adds a member, or replaces its options when its session is already one: subscribing again
   * does not make a session a member twice (MQTT 5.0 section 4.8.2).
   */
  add(subscriber: Subscriber): void {
    const index = this.indexOf(subscriber.session.clientId);
    if (index === -1) this.members.push(subscriber);
    else this.members[index] = subscriber;
  }

  /** Removes the member of `clientId`; returns whether it was one. */
  remove(clientId: string): boolean {
    const index = this.indexOf(clientId);
    if (index === -1) return false;
    this.members.splice(index, 1);
    if (index < this.next) this.next--;
    if (this.next >= this.members.length) this.next = 0;
    return true;
  }

  /**
   * The member that gets the next message published at `qos`. Members that would send it at once
   * come first; then online members with room in their queue; then offline ones with room (their
   * session keeps it); then, every queue being full, the member with the least spooled on disk (the
   * most room left there; its spool keeps the member's order); failing all, the member whose turn it
   * is (its session drops and counts it).
   * Undefined only when the group is empty, or when `read` (read authorization of `topic`) allows
   * no member: a member it refuses is never picked.
   */
  pick(qos: QoS, read?: AuthorizeRead, topic = ''): Subscriber | undefined {
    const members = this.members;
    const count = members.length;
    if (count === 0) return undefined;
    const leastInflight = this.strategy === 'least-inflight';
    let best = this.next;
    let bestReadiness = -1;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let i = 0; i < count; i++) {
      let index = this.next + i;
      if (index >= count) index -= count;
      const { session, options } = members[index]!;
      if (read !== undefined && !mayRead(read, session, topic)) continue;
      const readiness = session.readiness(qos < options.qos ? qos : options.qos);
      // Round robin within a tier, except among members that would spool: the smallest backlog.
      const byLoad = leastInflight || readiness === Readiness.Spilled;
      if (readiness > bestReadiness) {
        best = index;
        bestReadiness = readiness;
        bestLoad = byLoad ? load(session, readiness) : 0;
        if (!leastInflight && readiness === Readiness.Now) break;
        continue;
      }
      if (readiness === bestReadiness && byLoad) {
        const current = load(session, readiness);
        if (current < bestLoad) {
          best = index;
          bestLoad = current;
        }
      }
    }
    if (bestReadiness === -1) return undefined;
    this.next = best + 1 === count ? 0 : best + 1;
    return members[best];
  }

  private indexOf(clientId: string): number {
    const members = this.members;
    for (let i = 0; i < members.length; i++) if (members[i]!.session.clientId === clientId) return i;
    return -1;
  }
}

/** What a member has waiting: spooled bytes for one that would spool, else its queue and in-flight messages. */
function load(session: Subscriber['session'], readiness: Readiness): number {
  return readiness === Readiness.Spilled ? session.spilledBytes : session.inflightCount + session.queuedCount;
}
