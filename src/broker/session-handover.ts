/**
 * Sessions that move between the nodes of a cluster (docs/cluster.md, "Sessions"): a session this
 * node releases to another node that takes it over, sessions moved here (taken over or adopted
 * from a dead node) installed from the store's records, and the messages of a dead node's stream
 * delivered to the sessions adopted from it.
 */
import type { AuthorizeRead } from './read.js';
import { publishedAfter, type Delivery, type Message } from '../session/message.js';
import type { JournaledSession, SessionJournal } from '../session/types.js';
import type { Session } from '../session/session.js';
import { TopicIndex } from '../topic/index.js';
import type { StoredState } from '../store/types.js';
import type { BrokerConnection } from './context.js';
import type { Persistence } from './persistence.js';
import { restoreSessions, type RestoreTargets } from './restore.js';
import { route, type RouteEntry } from './router.js';
import type { Subscriptions } from './subscriptions.js';
import type { Spool } from './spool.js';
import type { Wills } from './wills.js';

/** The parts of the broker that moving sessions touches. */
export interface HandoverParts extends RestoreTargets {
  clients: ReadonlyMap<string, BrokerConnection>;
  persistence: Persistence | undefined;
  subscriptions: Subscriptions;
  wills: Wills;
  authorizeRead: () => AuthorizeRead | undefined;
}

/**
 * Releases the session of `clientId` to the node taking it over: its connection here is taken over
 * ([MQTT-3.1.4-3] DISCONNECT 0x8E in 5.0; [MQTT-3.1.4-2] a plain close in 3.1.1), a stored session
 * is written offline with everything it holds (in-flight and queued deliveries, incoming QoS 2 ids,
 * subscriptions), then forgotten here without a write: the store's copy is the new node's now.
 * Resolves with the ids of stored messages no session here refers to any more.
 */
export async function releaseSession(parts: HandoverParts, clientId: string): Promise<number[]> {
  const session = parts.registry.sessions.get(clientId);
  const persistence = parts.persistence;
  const moves = session?.journal !== undefined && persistence !== undefined;
  parts.clients.get(clientId)?.takeOver(moves ? 'moved' : 'ended');
  if (session === undefined) return [];
  if (session.journal === undefined || persistence === undefined) {
    // A session that ends with its connection has nothing to hand over.
    if (session.clean) parts.registry.end(session);
    return [];
  }
  parts.registry.savedOffline(session, undefined);
  const spool = parts.spool;
  if (spool?.rowsInStore === true) {
    // Its spooled rows are in the store already, and move with the session's keys: nothing is
    // read back meanwhile, and what is spilled meanwhile joins them before the move.
    await spool.pause(session);
    while (!persistence.idle) await persistence.drain();
    spool.forget(session);
    if (parts.registry.sessions.get(clientId) !== session) return [];
    return forget(parts, session);
  }
  const spooled: number[] = [];
  do {
    // Its backlog spooled here beyond its memory queue goes too: written to the store as its queue,
    // a batch at a time, after what the memory queue holds (the new node spools what it cannot hold).
    await parts.spool?.handOver(session, async (deliveries) => {
      for (const d of deliveries) {
        persistence.added(session, d, 0);
        spooled.push(d.message.storeId!);
      }
      while (!persistence.idle) await persistence.drain();
    });
    // Until nothing of the session waits for the store; it is forgotten in the same turn, so no
    // later write of it can be gathered in between.
    while (!persistence.idle) await persistence.drain();
  } while (parts.spool?.holds(session) === true);
  if (parts.registry.sessions.get(clientId) !== session) return [];
  // The spooled messages are the session's alone (a spool row holds its own copy): gone from here with it.
  return [...forget(parts, session), ...spooled];
}

/** Takes `session` out of this node (index, routes, timers, memory) without a store write. */
function forget(parts: HandoverParts, session: Session): number[] {
  parts.registry.forget(session);
  parts.wills.handOver(session);
  parts.subscriptions.removeAll(session);
  const unreferenced: number[] = [];
  // The deliveries leave with the session: the messages they held are released here, and those
  // no other session refers to are deleted by the hand-over, after the new node has its copy.
  session.journal = messageReleaser(unreferenced);
  session.clearMessages();
  session.journal = undefined;
  return unreferenced;
}

/** A journal that only counts message references down, collecting messages left with none. */
function messageReleaser(unreferenced: number[]): SessionJournal {
  const nothing = (): void => undefined;
  return {
    added: nothing,
    published: nothing,
    released: nothing,
    qos2Received: nothing,
    qos2Released: nothing,
    removed(_session: JournaledSession, d: Delivery): void {
      const message = d.message;
      d.seq = 0;
      const refs = (message.storeRefs ?? 1) - 1;
      message.storeRefs = refs;
      if (refs > 0 || (message.storeId ?? 0) === 0) return;
      unreferenced.push(message.storeId!);
      message.storeId = 0;
    },
  };
}

/** Installs sessions moved here from the store's records (see restoreSessions). */
export function installSessions(parts: HandoverParts, state: StoredState): void {
  const persistence = parts.persistence;
  if (persistence === undefined) return;
  for (const record of state.sessions) {
    // A copy here is stale: the store's, moved now, is the session.
    const stale = parts.registry.sessions.get(record.clientId);
    if (stale !== undefined) {
      parts.spool?.forget(stale);
      forget(parts, stale);
    }
  }
  restoreSessions(state, persistence, parts, Date.now());
  if (parts.spool !== undefined) {
    // Their spools in the store came with them (a Redis store): read back here as they drain.
    const moved = new Map<string, Session>();
    for (const record of state.sessions) {
      const session = parts.registry.sessions.get(record.clientId);
      if (session !== undefined) moved.set(record.clientId, session);
    }
    if (state.spools !== undefined) parts.spool.restore(state.spools, moved);
    spillExcess(parts.spool, parts, state);
  }
  // The wills their last connections left on their old nodes are this node's to decide on now.
  for (const record of state.sessions) parts.wills.moved(record.clientId, parts.registry.sessions.get(record.clientId));
}

/**
 * Sessions moved here with more queued than their memory queue holds (the old node's spool came
 * with them): the excess leaves the store's queue for this node's spool, in order.
 */
function spillExcess(spool: Spool, parts: HandoverParts, state: StoredState): void {
  for (const record of state.sessions) {
    const session = parts.registry.sessions.get(record.clientId);
    // Spilled after spooled rows that came with it, the excess would overtake them: it stays queued.
    if (session === undefined || spool.holds(session)) continue;
    for (const d of session.takeExcess()) {
      session.journal?.removed(session, d);
      const refused = spool.spill(session, d);
      if (refused !== undefined) session.countDrop(refused);
    }
  }
}

/**
 * Delivers `messages` to the subscriptions of the sessions `clientIds` only; returns the deliveries
 * made. `copies`: but for the messages a session holds already (see Session.holdsOrigin), and each
 * queued before newer messages of its publishing node still waiting there (Session.placeLast).
 */
export function deliverToSessions(
  parts: HandoverParts,
  messages: readonly Message[],
  clientIds: ReadonlySet<string>,
  copies = false,
): number {
  const read = parts.authorizeRead();
  if (copies) {
    let count = 0;
    for (const clientId of clientIds) {
      const session = parts.registry.sessions.get(clientId);
      if (session === undefined) continue;
      const index = indexOf([session]);
      for (const message of messages) {
        const { originId } = message;
        if (originId !== undefined && session.holdsOrigin(originId)) continue;
        const made = route(index, message, read);
        count += made;
        if (made > 0 && originId !== undefined) {
          session.placeLast(message, (queued) => publishedAfter(queued.message.originId, originId));
        }
      }
    }
    return count;
  }
  // An index of their subscriptions alone: the other sessions here had their copies from their own streams.
  const sessions = [...clientIds].map((clientId) => parts.registry.sessions.get(clientId));
  const index = indexOf(sessions.filter((session) => session !== undefined));
  let count = 0;
  for (const message of messages) count += route(index, message, read);
  return count;
}

/** An index of the plain subscriptions of `sessions`. */
function indexOf(sessions: readonly Session[]): TopicIndex<RouteEntry> {
  const index = new TopicIndex<RouteEntry>({ maxLevels: Number.MAX_SAFE_INTEGER });
  for (const session of sessions) {
    for (const [filter, options] of session.subscriptions) {
      if (!filter.startsWith('$share/')) index.add(filter, session.clientId, { session, options });
    }
  }
  return index;
}
