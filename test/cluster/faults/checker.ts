/**
 * The checker of a fault-injection run: reads a History and says what the cluster got wrong.
 *
 * Definitions (docs/cluster.md, "Fault injection"):
 * - A message is acknowledged when its publisher got PUBACK (QoS 1) or PUBCOMP (QoS 2) with a
 *   success code. One not acknowledged (connection lost) has an unknown outcome: it may be
 *   delivered or not, but never twice at QoS 2.
 * - A subscriber's session lived when every CONNACK after its first said Session Present. A
 *   subscriber whose session was lost is left out of the delivery checks and counted.
 * - The effective QoS of a message for a subscriber is min(publish QoS, granted QoS).
 * - Loss: each acknowledged message sent after a subscriber's SUBACK is delivered to that
 *   subscriber at least once.
 * - Duplicate: at effective QoS 2, no message is delivered twice (acknowledged or not).
 * - Order: a first delivery is one whose (publisher, sequence) the subscriber had not been handed
 *   before. For two messages m1 < m2 of one publisher, the first delivery of m1 precedes that of
 *   m2 whenever (a) both were sent on the same publisher connection, or (b) m1 was acknowledged
 *   before m2 was sent. Later deliveries of a message (repeats, allowed at effective QoS 1 only)
 *   may come at any point. Two messages sent on different connections with the earlier one never
 *   acknowledged were in flight at once through different nodes: no order between them is promised.
 * - Integrity: every delivered message was published, with its payload intact, at its effective QoS.
 */
import type { FaultEvent, FaultQoS } from './history.js';

export type ViolationKind = 'lost' | 'duplicate' | 'order' | 'corrupt' | 'phantom' | 'qos';

export interface Violation {
  kind: ViolationKind;
  subscriber: string;
  publisher: string;
  seq: number;
  detail: string;
}

export interface CheckStats {
  sent: number;
  acknowledged: number;
  unknown: number;
  deliveries: number;
  /** Deliveries of a message the subscriber had been handed before (effective QoS 1). */
  repeats: number;
  /** Repeats flagged DUP by the broker (a resend after reconnection). */
  dupFlagged: number;
  /** Messages with an unknown outcome that reached at least one subscriber. */
  unknownDelivered: number;
  subscribersChecked: number;
  /** Subscribers whose session was not present on a reconnection. */
  lostSessions: string[];
}

export interface CheckResult {
  ok: boolean;
  violations: Violation[];
  stats: CheckStats;
}

interface Sent {
  qos: FaultQoS;
  conn: number;
  sentAt: number;
  ackedAt: number | undefined;
}

/** `publisher` → sequence → what was sent. */
type Sends = Map<string, Map<number, Sent>>;

function collectSends(events: readonly FaultEvent[]): Sends {
  const sends: Sends = new Map();
  for (const event of events) {
    if (event.type === 'send') {
      let byPublisher = sends.get(event.publisher);
      if (byPublisher === undefined) sends.set(event.publisher, (byPublisher = new Map<number, Sent>()));
      byPublisher.set(event.seq, { qos: event.qos, conn: event.conn, sentAt: event.t, ackedAt: undefined });
    } else if (event.type === 'ack') {
      const sent = sends.get(event.publisher)?.get(event.seq);
      if (sent !== undefined) sent.ackedAt = event.t;
    }
  }
  return sends;
}

/** Subscribers whose session lived, with their granted QoS and SUBACK time. */
function livingSubscribers(
  events: readonly FaultEvent[],
  lost: Set<string>,
): Map<string, { qos: FaultQoS; at: number }> {
  const connects = new Map<string, number>();
  const subscribed = new Map<string, { qos: FaultQoS; at: number }>();
  for (const event of events) {
    if (event.type === 'subscribed') subscribed.set(event.subscriber, { qos: event.qos, at: event.t });
    if (event.type !== 'connected') continue;
    const count = (connects.get(event.client) ?? 0) + 1;
    connects.set(event.client, count);
    if (count > 1 && !event.sessionPresent) lost.add(event.client);
  }
  // Only subscribers' sessions matter: publishers connect with a clean session each time.
  for (const name of lost) {
    if (subscribed.has(name)) subscribed.delete(name);
    else lost.delete(name);
  }
  return subscribed;
}

/** Index of the first element of sorted `values` greater than `value`. */
function upperBound(values: number[], value: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (values[mid]! <= value) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Checks the order of first deliveries of one publisher's messages to one subscriber. */
class OrderCheck {
  /** Sequences first-delivered so far, sorted. */
  private readonly delivered: number[] = [];
  private max = -1;
  /** Sequences of this publisher in send order, for "the first one sent after time T". */
  private readonly bySendTime: [number, number][];

  constructor(private readonly sends: Map<number, Sent>) {
    this.bySendTime = [...sends.entries()].map(([seq, sent]) => [sent.sentAt, seq]);
    this.bySendTime.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  }

  /** Records the first delivery of `seq`; returns why it is out of order, or undefined. */
  first(seq: number): string | undefined {
    const sent = this.sends.get(seq)!;
    const at = upperBound(this.delivered, seq);
    const next = this.delivered[at];
    this.delivered.splice(at, 0, seq);
    const previousMax = this.max;
    this.max = Math.max(this.max, seq);
    if (next !== undefined && this.sends.get(next)!.conn === sent.conn) {
      return `delivered after ${next}, sent after it on the same publisher connection ${sent.conn}`;
    }
    if (sent.ackedAt !== undefined && previousMax > seq) {
      const later = this.bySendTime.find(([sentAt]) => sentAt > sent.ackedAt!);
      if (later !== undefined && previousMax >= later[1]) {
        return `acknowledged at ${sent.ackedAt} ms, before ${later[1]} was sent, yet ${previousMax} was delivered first`;
      }
    }
    return undefined;
  }
}

/** Checks the history of a run against the definitions above. */
export function check(events: readonly FaultEvent[]): CheckResult {
  const sends = collectSends(events);
  const lost = new Set<string>();
  const subscribers = livingSubscribers(events, lost);
  const violations: Violation[] = [];
  const stats: CheckStats = {
    sent: 0,
    acknowledged: 0,
    unknown: 0,
    deliveries: 0,
    repeats: 0,
    dupFlagged: 0,
    unknownDelivered: 0,
    subscribersChecked: subscribers.size,
    lostSessions: [...lost].sort(),
  };
  for (const byPublisher of sends.values()) {
    for (const sent of byPublisher.values()) {
      stats.sent++;
      if (sent.ackedAt !== undefined) stats.acknowledged++;
      else stats.unknown++;
    }
  }
  /** subscriber → publisher → sequence → deliveries. */
  const counts = new Map<string, Map<string, Map<number, number>>>();
  const orders = new Map<string, OrderCheck>();
  const unknownDelivered = new Set<string>();
  for (const event of events) {
    if (event.type !== 'deliver') continue;
    stats.deliveries++;
    const subscription = subscribers.get(event.subscriber);
    if (subscription === undefined) continue;
    const where = { subscriber: event.subscriber, publisher: event.publisher, seq: event.seq };
    const sent = sends.get(event.publisher)?.get(event.seq);
    if (sent === undefined) {
      violations.push({ kind: 'phantom', ...where, detail: 'delivered but never published' });
      continue;
    }
    if (!event.intact) violations.push({ kind: 'corrupt', ...where, detail: 'payload differs from the one published' });
    const effective = Math.min(sent.qos, subscription.qos);
    if (event.qos !== effective) {
      violations.push({ kind: 'qos', ...where, detail: `delivered at QoS ${event.qos}, expected ${effective}` });
    }
    if (sent.ackedAt === undefined) unknownDelivered.add(`${event.publisher}/${event.seq}`);
    let bySubscriber = counts.get(event.subscriber);
    if (bySubscriber === undefined)
      counts.set(event.subscriber, (bySubscriber = new Map<string, Map<number, number>>()));
    let byPublisher = bySubscriber.get(event.publisher);
    if (byPublisher === undefined) bySubscriber.set(event.publisher, (byPublisher = new Map<number, number>()));
    const count = (byPublisher.get(event.seq) ?? 0) + 1;
    byPublisher.set(event.seq, count);
    if (count > 1) {
      stats.repeats++;
      if (event.dup) stats.dupFlagged++;
      if (effective === 2) {
        violations.push({ kind: 'duplicate', ...where, detail: `QoS 2 message delivered ${count} times` });
      }
      continue;
    }
    const key = `${event.subscriber}\0${event.publisher}`;
    let order = orders.get(key);
    if (order === undefined) orders.set(key, (order = new OrderCheck(sends.get(event.publisher)!)));
    const wrong = order.first(event.seq);
    if (wrong !== undefined) violations.push({ kind: 'order', ...where, detail: wrong });
  }
  stats.unknownDelivered = unknownDelivered.size;
  for (const [subscriber, subscription] of subscribers) {
    for (const [publisher, byPublisher] of sends) {
      for (const [seq, sent] of byPublisher) {
        if (sent.ackedAt === undefined || sent.sentAt < subscription.at) continue;
        if ((counts.get(subscriber)?.get(publisher)?.get(seq) ?? 0) > 0) continue;
        violations.push({
          kind: 'lost',
          subscriber,
          publisher,
          seq,
          detail: `acknowledged QoS ${sent.qos} message never delivered (sent at ${sent.sentAt} ms on connection ${sent.conn}, acknowledged at ${sent.ackedAt} ms)`,
        });
      }
    }
  }
  return { ok: violations.length === 0, violations, stats };
}

/** A short account of a result: the stats, then up to `limit` violations of each kind. */
export function describeResult(result: CheckResult, limit = 5): string {
  const lines = [`stats: ${JSON.stringify(result.stats)}`];
  const byKind = new Map<ViolationKind, Violation[]>();
  for (const violation of result.violations) {
    const list = byKind.get(violation.kind) ?? [];
    list.push(violation);
    byKind.set(violation.kind, list);
  }
  for (const [kind, list] of byKind) {
    lines.push(`${kind}: ${list.length}`);
    for (const v of list.slice(0, limit)) lines.push(`  ${v.subscriber} <- ${v.publisher} #${v.seq}: ${v.detail}`);
  }
  return lines.join('\n');
}
