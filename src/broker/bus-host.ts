/**
 * The broker as its Bus sees it (BusHost): messages from other nodes enter at the router, never to
 * be forwarded again; retained changes from other nodes update the retained index; sessions move
 * in and out through src/broker/session-handover.ts.
 */
import { parseSharedSubscription, type RetainedIndex, type TopicIndex } from '../topic/index.js';
import { expiresAt, type Message } from '../session/message.js';
import type { BusHost } from './bus.js';
import type { BrokerCounters } from './context.js';
import type { HookRegistry } from './hook-registry.js';
import type { Persistence } from './persistence.js';
import { deliverToGroup, route, type RouteEntry } from './router.js';
import { SharedGroup, sharedGroupKey } from './shared.js';
import { deliverToSessions, installSessions, releaseSession, type HandoverParts } from './session-handover.js';
import type { Logger } from 'pino';

/** What busHost needs of the Broker. */
export interface BusHostParts {
  readonly log: Logger;
  readonly counters: BrokerCounters;
  readonly hooks: HookRegistry;
  readonly retained: RetainedIndex<Message>;
  /** Routes a message published on this node (locally, retained, to the other nodes). */
  publish(message: Message): number;
  readonly connectedCount: number;
}

/** The BusHost of a broker: `parts`, its subscription index, its store's persistence and its sessions. */
export function busHost(
  parts: BusHostParts,
  subscriptions: TopicIndex<RouteEntry>,
  persistence: Persistence | undefined,
  sessions: HandoverParts,
): BusHost {
  return {
    log: parts.log,
    deliverFromBus(message: Message, groups: ReadonlySet<string>, except?: ReadonlySet<string>): number {
      const count = route(subscriptions, message, parts.hooks.authorizeRead, groups, except);
      parts.counters.messagesRouted += count;
      return count;
    },
    retainFromBus(topic: string, message: Message | undefined, store = false): void {
      // In a cluster, kept in memory: the copy in Redis is the one that lasts. A worker keeps its own.
      if (message === undefined) {
        if (parts.retained.delete(topic) && store) persistence?.unretain(topic);
        return;
      }
      parts.retained.set(topic, message);
      if (store) persistence?.retain(message);
    },
    publishWill(message: Message): void {
      // The will's Message Expiry Interval starts when it goes out.
      const now = Date.now();
      message.receivedAt = now;
      message.expiresAt = expiresAt(message.properties, now);
      parts.publish(message);
    },
    clientCount: () => parts.connectedCount,
    retainedMessages(): Message[] {
      const messages: Message[] = [];
      // '#' matches no topic that starts with '$' [MQTT-4.7.2-1]: $SYS stays out.
      parts.retained.match('#', (_topic, message) => messages.push(message));
      return messages;
    },
    committed(): Promise<void> {
      if (persistence === undefined || persistence.idle) return Promise.resolve();
      return new Promise((resolve) => persistence.afterCommit(resolve));
    },
    streamCommitted(ids: string[]): void {
      persistence?.streamCommitted(ids);
    },
    committedStreamEntries: () => persistence?.restoredStreamEntries ?? new Set(),
    reserve(count: number) {
      return persistence?.reserve(count) ?? { seq: 0, messageId: 0, count };
    },
    releaseSession: (clientId) => releaseSession(sessions, clientId),
    subscriptionsOf(clientId) {
      const session = sessions.registry.sessions.get(clientId);
      return session === undefined ? undefined : [...session.subscriptions.keys()];
    },
    installSessions: (state) => installSessions(sessions, state),
    deliverToGroups(message, groups): number {
      let count = 0;
      for (const filter of groups) {
        const shared = parseSharedSubscription(filter);
        if (shared === undefined) continue;
        const group = subscriptions.get(shared.topicFilter, sharedGroupKey(shared.shareName));
        if (group instanceof SharedGroup && deliverToGroup(group, message, parts.hooks.authorizeRead)) count++;
      }
      parts.counters.messagesRouted += count;
      return count;
    },
    deliverToSessions(messages, clientIds, copies): number {
      const count = deliverToSessions(sessions, messages, clientIds, copies);
      parts.counters.messagesRouted += count;
      return count;
    },
  };
}
