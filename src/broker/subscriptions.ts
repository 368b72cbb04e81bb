/**
 * The subscription manager: the topic index of every subscription, one entry per session and
 * filter and one per shared subscription group, kept in step with each session's own list of
 * subscriptions and with the store. The router reads the index; nothing else writes it.
 */
import { parseSharedSubscription, TopicIndex } from '../topic/index.js';
import type { Delivery } from '../session/message.js';
import type { Session, SubscriptionOptions } from '../session/session.js';
import type { BrokerHooks } from './hooks.js';
import type { Persistence } from './persistence.js';
import { deliverToGroup, type RouteEntry } from './router.js';
import { SharedGroup, sharedGroupKey, type SharedSubscriptionStrategy } from './shared.js';
import type { Subscriber } from './subscriber.js';

/** Told of each subscription the index gains or loses, by the filter it is indexed under (a cluster's routes). */
export interface RouteListener {
  routeAdded(filter: string): void;
  routeRemoved(filter: string): void;
}

export class Subscriptions {
  /** Every subscription: one entry per session and filter, and one per shared subscription group. */
  readonly index: TopicIndex<RouteEntry>;

  constructor(
    private readonly options: { maxTopicLevels: number; sharedSubscriptionStrategy: SharedSubscriptionStrategy },
    /** Read at each redelivery, for `authorizeRead`. */
    private readonly hooks: { readonly authorizeRead: BrokerHooks['authorizeRead'] | undefined },
    private readonly persistence: Persistence | undefined,
    /** A cluster's bus, told of every filter indexed and unindexed; undefined for a broker alone. */
    private readonly routes?: RouteListener,
  ) {
    // The index holds filters as deep as the validators let through.
    this.index = new TopicIndex<RouteEntry>({ maxLevels: options.maxTopicLevels });
  }

  /**
   * Adds or replaces a subscription [MQTT-3.8.4-3]; returns whether it existed before. A valid
   * `$share/{ShareName}/{filter}` makes the session a member of that group, created on first use;
   * an invalid one throws `ERR_INVALID_TOPIC_FILTER`.
   */
  add(session: Session, topicFilter: string, options: SubscriptionOptions): boolean {
    // Parsed before anything changes: an invalid shared filter throws and leaves no half-made subscription.
    const shared = parseSharedSubscription(topicFilter);
    const existed = session.subscriptions.has(topicFilter);
    session.subscribe(topicFilter, options);
    if (session.journal !== undefined) this.persistence?.subscribed(session.clientId, topicFilter, options);
    const subscriber: Subscriber = { session, options };
    if (shared === undefined) {
      this.index.add(topicFilter, session.clientId, subscriber);
      if (!existed) this.routes?.routeAdded(topicFilter);
      return existed;
    }
    const key = sharedGroupKey(shared.shareName);
    let group = this.index.get(shared.topicFilter, key);
    if (!(group instanceof SharedGroup)) {
      group = new SharedGroup(shared.shareName, shared.topicFilter, this.options.sharedSubscriptionStrategy);
      this.index.add(shared.topicFilter, key, group);
      // A group is routed by its full filter: the publishing node picks one node of the cluster per group.
      this.routes?.routeAdded(group.filter);
    }
    group.add(subscriber);
    return existed;
  }

  /** Removes a subscription; returns whether it existed. */
  remove(session: Session, topicFilter: string): boolean {
    if (!session.unsubscribe(topicFilter)) return false;
    if (session.journal !== undefined) this.persistence?.unsubscribed(session.clientId, topicFilter);
    this.unindex(session.clientId, topicFilter);
    return true;
  }

  /**
   * Takes every subscription of an ending session out of the index, leaving the store to the end of
   * the session; it leaves its shared subscription groups too (an empty group leaves the index).
   */
  removeAll(session: Session): void {
    for (const filter of session.subscriptions.keys()) this.unindex(session.clientId, filter);
    session.clearSubscriptions();
  }

  /** Gives a delivery released by an ending session to another member of its group, if one is left. */
  redeliverShared(orphan: Delivery): void {
    const shared = orphan.sharedFilter === undefined ? undefined : parseSharedSubscription(orphan.sharedFilter);
    if (shared === undefined) return;
    const group = this.index.get(shared.topicFilter, sharedGroupKey(shared.shareName));
    if (group instanceof SharedGroup) deliverToGroup(group, orphan.message, this.hooks.authorizeRead);
  }

  /** Takes the subscription of `clientId` to `topicFilter` (one the session holds) out of the index. */
  private unindex(clientId: string, topicFilter: string): void {
    const shared = parseSharedSubscription(topicFilter);
    if (shared === undefined) {
      if (this.index.remove(topicFilter, clientId)) this.routes?.routeRemoved(topicFilter);
      return;
    }
    const key = sharedGroupKey(shared.shareName);
    const group = this.index.get(shared.topicFilter, key);
    if (!(group instanceof SharedGroup)) return;
    group.remove(clientId);
    // A shared subscription lasts while it has at least one session (MQTT 5.0 section 4.8.2).
    if (group.size === 0 && this.index.remove(shared.topicFilter, key)) this.routes?.routeRemoved(group.filter);
  }
}
