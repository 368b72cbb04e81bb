/**
 * Read authorization at delivery: the one place that asks the `authorizeRead` hook, for the router,
 * shared subscription groups and retained messages alike.
 */
import type { Session } from '../session/session.js';
import type { BrokerHooks } from './hooks.js';

/** The read authorization hook, or the chain of them (see BrokerHooks.authorizeRead, HookRegistry.authorizeRead). */
export type AuthorizeRead = NonNullable<BrokerHooks['authorizeRead']>;

/**
 * Asks `read` whether `session` may receive a message published to `topic`: only an answer of false
 * refuses, since undefined means every hook abstained; a hook that throws refuses.
 */
export function mayRead(read: AuthorizeRead, session: Session, topic: string): boolean {
  try {
    return read(session, topic) !== false;
  } catch {
    return false;
  }
}
