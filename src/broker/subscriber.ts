/**
 * What the topic index stores for each subscription: kept apart from the router and from shared
 * subscription groups, which both hold it, so that neither module imports the other for it.
 */
import type { Session, SubscriptionOptions } from '../session/session.js';

/** One session's subscription: the index entry of a non-shared one, and each member of a group. */
export interface Subscriber {
  session: Session;
  options: SubscriptionOptions;
}
