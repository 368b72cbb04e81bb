/**
 * Restore: reads the store's state back into memory when the broker opens: retained messages,
 * sessions and their subscriptions, queued and in-flight messages, incoming QoS 2 ids, and wills
 * owed. What expired while the broker was down ends now, in the order it would have.
 */
import type { Logger } from 'pino';
import type { RetainedIndex } from '../topic/index.js';
import { delivery, isExpired, type Message } from '../session/message.js';
import { NEVER_EXPIRES, type Session } from '../session/session.js';
import { DeliveryState, type StoredState } from '../store/types.js';
import { restoredMessage, type Persistence } from './persistence.js';
import type { SessionRegistry } from './session-registry.js';
import type { Spool } from './spool.js';
import type { Subscriptions } from './subscriptions.js';
import { willMessage, type Wills } from './wills.js';

/** The parts of the broker that restoring fills in. */
export interface RestoreTargets {
  registry: SessionRegistry;
  subscriptions: Subscriptions;
  wills: Wills;
  retained: RetainedIndex<Message>;
  log: Logger;
  /** Takes back the spools of the restored sessions; absent: the broker does not spool. */
  spool?: Spool | undefined;
}

/** Loads the store of `persistence` and restores it into `targets`; rejects, restoring nothing, when it cannot be read. */
export async function restore(persistence: Persistence, targets: RestoreTargets): Promise<void> {
  const state = await persistence.store.load();
  persistence.restoredStreamEntries = new Set(state.streamCommitted ?? []);
  const counts = restoreSessions(state, persistence, targets, Date.now());
  targets.spool?.restore(state.spools ?? [], targets.registry.sessions);
  targets.log.info({ store: persistence.store.description, ...counts }, 'restored from the store');
}

/**
 * Restores `state` into `targets` as of `now`: at start, the whole store; in a cluster, also the
 * sessions moved to this node (src/broker/session-handover.ts). Returns what it restored.
 */
export function restoreSessions(
  state: StoredState,
  persistence: Persistence,
  { registry, subscriptions, wills, retained, log }: RestoreTargets,
  now: number,
): { sessions: number; messages: number; retained: number; expired: number } {
  let expired = 0;
  for (const stored of state.retained) {
    const message = restoredMessage(stored, 0);
    // [MQTT-3.3.2-5] (5.0): a retained message whose expiry passed while the broker was down is gone
    if (isExpired(message, now)) {
      persistence.unretain(stored.topic);
      expired++;
    } else {
      retained.set(stored.topic, message);
    }
  }
  const messages = new Map<number, Message>();
  let lastMessageId = 0;
  for (const stored of state.messages) {
    messages.set(stored.id, restoredMessage(stored, stored.id));
    if (stored.id > lastMessageId) lastMessageId = stored.id;
  }
  const sessions = new Map<string, Session>();
  for (const record of state.sessions) {
    sessions.set(record.clientId, registry.create(record.clientId, record.expiryInterval));
  }
  // The journal is attached only once everything is back: restoring writes nothing.
  for (const sub of state.subscriptions) {
    const session = sessions.get(sub.clientId);
    if (session === undefined) continue;
    const { qos, noLocal, retainAsPublished, retainHandling, subscriptionIdentifier } = sub;
    const options = { qos, noLocal, retainAsPublished, retainHandling, subscriptionIdentifier };
    try {
      subscriptions.add(session, sub.topicFilter, options);
    } catch (err) {
      log.warn({ clientId: sub.clientId, topicFilter: sub.topicFilter, err }, 'stored subscription dropped');
      persistence.unsubscribed(sub.clientId, sub.topicFilter);
    }
  }
  let lastSeq = 0;
  for (const record of state.deliveries) {
    if (record.seq > lastSeq) lastSeq = record.seq;
    const session = sessions.get(record.clientId);
    const message = messages.get(record.messageId);
    if (session === undefined || message === undefined) {
      persistence.forgetDelivery(record.seq);
      continue;
    }
    const d = delivery(message, record.qos, record.retain, record.subscriptionIdentifiers, record.sharedFilter);
    d.seq = record.seq;
    message.storeRefs = (message.storeRefs ?? 0) + 1;
    session.restore(
      d,
      record.state === DeliveryState.Queued ? 0 : record.packetId,
      record.state === DeliveryState.Released,
    );
  }
  for (const { clientId, packetId } of state.incomingQoS2) sessions.get(clientId)?.restoreQoS2(packetId);
  // Oldest first, so that the memory forgets the oldest first.
  for (const { clientId, originIds } of state.completed ?? []) {
    if (!sessions.has(clientId)) continue;
    for (let i = originIds.length - 1; i >= 0; i--) registry.completed.add(clientId, originIds[i]!);
  }
  for (const [id, message] of messages) if (message.storeRefs === 0) persistence.forgetMessage(id);
  persistence.resumeSequences(lastSeq, lastMessageId);
  // Then time: what expired while the broker was down ends now, in the order it would have.
  const owed: Message[] = [];
  for (const record of state.sessions) {
    const session = sessions.get(record.clientId)!;
    session.journal = persistence;
    // A session whose connection died with the broker went offline now; the will of that
    // connection is owed as if the connection had just been lost [MQTT-3.1.2-8].
    const disconnectedAt = record.disconnectedAt ?? now;
    let will = record.will;
    let willDueAt = record.willDueAt;
    if (record.disconnectedAt === undefined && will !== undefined) {
      willDueAt = now + (will.properties?.willDelayInterval ?? 0) * 1000;
    }
    const expiresAt =
      record.expiryInterval === NEVER_EXPIRES ? Infinity : disconnectedAt + record.expiryInterval * 1000;
    if (will !== undefined && willDueAt !== undefined && (willDueAt <= now || expiresAt <= now)) {
      owed.push(willMessage(will, record.clientId));
      will = undefined;
      willDueAt = undefined;
    }
    if (expiresAt <= now) {
      registry.end(session);
      expired++;
      continue;
    }
    if (will !== undefined && willDueAt !== undefined) {
      wills.delay(session, willMessage(will, record.clientId), 0, { will, dueAt: willDueAt, disconnectedAt });
    } else {
      will = undefined;
      willDueAt = undefined;
    }
    if (expiresAt !== Infinity) registry.scheduleExpiry(session, expiresAt - now);
    registry.save(session, disconnectedAt, will, willDueAt);
  }
  for (const message of owed) wills.publish(message);
  return { sessions: registry.sessions.size, messages: messages.size, retained: retained.size, expired };
}
