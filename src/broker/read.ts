/**
 * Read authorization at delivery: the one place that asks the `authorizeRead` hook, for the router,
 * shared subscription groups and retained messages alike.
 */
import type { Session } from '../session/session.js';
import type { BrokerHooks } from './hooks.js';

/** The read authorization hook (see BrokerHooks.authorizeRead). */
export type AuthorizeRead = NonNullable<BrokerHooks['authorizeRead']>;

/** Asks `read` whether `session` may receive a message published to `topic`; a hook that throws refuses. */
export function mayRead(read: AuthorizeRead, session: Session, topic: string): boolean {
  try {
    return read(session, topic) === true;
  } catch {
    return false;
  }
}
