/**
 * Cluster-wide sessions (docs/cluster.md, "Sessions"): a client id has one session in the
 * cluster, owned by one node at a time, kept in the Redis store.
 *
 * - Claim: before a CONNECT is accepted, the node claims the client id (claim script). Nobody's, or
 *   already its own: done. A dead node's (no lease): moved here at once. A live node's: that node is
 *   asked on `fennec:handover` to hand it over; it closes the connection (0x8E in 5.0), commits the
 *   session, forgets it and moves it into this node's namespace, then answers; this node claims
 *   again and gets the session. Without an answer within `handoverTimeoutMs`, the session is taken
 *   anyway: the old owner's later writes to it are fenced out.
 * - Adoption (`adopt`): the sessions of a dead node move here, are installed, and receive what
 *   waited in the dead node's stream; then its stream, routes and namespace are deleted.
 */
import { randomUUID } from 'node:crypto';
import { FennecError } from '../errors/index.js';
import type { RedisClient } from './connect.js';
import type { BusHost, SessionBus } from '../broker/bus.js';
import type { Message } from '../session/message.js';
import { emptyStoredState, type StoredState } from '../store/types.js';
import { AdoptionDrain, type StreamEntry } from './adoption-drain.js';
import { dropDeadNode, forgetDeadNode } from './dead-node.js';
import { HandoverArrivals, type InstalledAt } from './handover-arrivals.js';
import { leftKey, streamKey } from './keys.js';
import { isAlive } from './lease.js';
import { leftSessions, readUpTo } from './left-sessions.js';
import { readBacklog, readStream } from './stream-drain.js';
import type { ClaimResult, RedisStore } from './redis-store.js';

/** The pub/sub channel of hand-over requests and answers. */
export const handoverChannel = 'fennec:handover';

/** Numbers reserved for a session handed over: far more deliveries than any session holds. */
const HANDOVER_RESERVATION = 1_000_000;
/** Claims tried before a CONNECT is refused (a session that keeps moving under concurrent CONNECTs). */
const MAX_CLAIMS = 4;
/** How often a hand-over request without an answer is published again, in ms. */
const REQUEST_AGAIN_MS = 1000;
/** How long a new owner waits for the old one to pass on what its stream holds (`flush`), in ms. */
const FLUSH_TIMEOUT_MS = 1000;
/** The error of a claim given up because its client left (see ClusterSessions.claimSession). */
const abandoned = (): FennecError =>
  new FennecError('ERR_CLUSTER_HANDOVER', 'the client left while its session was being claimed; nothing was taken');

/** Whether a hand-over request is past the asking node's wait (see Request.until). */
const late = (request: Request): boolean => request.until !== undefined && Date.now() > request.until;

/** How many more times a claim reads the stream of the node it took a session from (`backlogOf`), at most. */
const BACKLOG_READS = 3;

interface Request {
  op: 'request';
  id: string;
  to: string;
  from: string;
  client: string;
  seq: number;
  messageId: number;
  count: number;
  /** When the asking node stops waiting (its clock, ms): a request heard later is not answered. */
  until?: number;
}

interface Answer {
  op: 'answer';
  id: string;
  to: string;
  result: 'ok' | 'lost' | 'error';
}

/**
 * The new owner of a session handed over asks its old owner to pass on what its stream holds, before
 * it installs the session (`flush`); the old owner answers once that is in the new owner's stream (`flushed`).
 */
/** The asking node stopped waiting for its request `id` (timed out, or found the owner dead): not to be handed over. */
interface Cancel {
  op: 'cancel';
  id: string;
  to: string;
}

interface Flush {
  op: 'flush' | 'flushed';
  id: string;
  to: string;
  from: string;
  /**
   * With `flush`: the session, and the messages the new owner publishes from now on, which it holds
   * for the session itself (ids `ids` + a sequence above `above`): not to be sent back to it.
   */
  client?: string;
  ids?: string;
  above?: number;
}

/** The new owner installed a session handed over to it (its routes announced before this). */
interface Installed {
  op: 'installed';
  to: string;
  from: string;
  client: string;
}

/** What an adoption needs of the bus: set by the RedisBus once its parts exist. */
export interface AdoptionLinks {
  /** Resolves once the route changes queued so far are published (the adopted sessions' routes). */
  flushRoutes(): Promise<void>;
  /** Forgets the routes of `node` in this node's table: its traffic is this node's own now. */
  forgetRoutes(node: string): void;
  /** The position at which the message `messageId` came through this node's own stream, if it did (StreamReader.seenAt). */
  seenAt(messageId: string): number | undefined;
  /** Re-reads every node's routes (a node this one forgot came back). */
  reloadRoutes(): Promise<void>;
  /** Finds the will records of sessions that moved here, before they are installed (ClusterWills.lookUpMoved). */
  willsMoved(clientIds: readonly string[]): Promise<void>;
  /** Appends `message` (id `messageId`, encoded `raw`) to `node`'s stream, marked for session `clientId`. */
  forwardTo(node: string, clientId: string, message: Message, messageId: string, raw: Buffer): void;
  /** Resolves once this node has delivered what its stream held when called (StreamReader.caughtUp). */
  caughtUp(): Promise<void>;
  /** Where this node is: entries of its own stream handled, and the last message published here. */
  position(): InstalledAt;
  /** The sequence of `messageId` if it was published on this node in this run; else undefined. */
  publishedHere(messageId: string): number | undefined;
  /** The session of `clientId` is about to be handed over to `to`, with its plain `filters` (handover-forward.ts). */
  leave(clientId: string, to: string, filters: string[]): void;
  /** The hand-over of `clientId` did not happen. */
  stay(clientId: string): void;
  /** The hand-over of `clientId` happened (recorded in this node's `left` hash until forwarding ends). */
  handedOver(clientId: string): void;
  /** Node `from` installed the session of `clientId` this node handed it. */
  installed(clientId: string, from: string): void;
  /** What reaches this node for `clientId`'s plain `filters` goes to node `to`, until `stopForwarding`. */
  forwardFor(clientId: string, to: string, filters: readonly string[]): void;
  stopForwarding(clientId: string): void;
  /** Publishes `notice` on the hand-over channel after the route notices queued so far. */
  announce(notice: string): void;
  /** The claim of `clientId` delivered what it held: the stream entries that brought it may go once committed. */
  claimEnded(clientId: string): void;
  /** The prefix of the ids of the messages this node publishes in this run (`node/epoch/`). */
  ownIds(): string;
  /** See HandoverForwarder.sendBackNot. */
  sendBackNot(clientId: string, to: string, ids: string, above: number): void;
}

/**
 * How long an adopter waits, after announcing that the dead node's routes are gone, before it
 * drains the dead node's stream, in ms: for the other nodes to stop sending there (a message sent
 * there and to this node both, while a node knew both routes, is then found in this node's own
 * stream and not delivered twice).
 */
const ADOPT_SETTLE_MS = 300;

/** The plain topic filters of the session in `state` (shared groups are served apart). */
function plainFilters(state: StoredState): string[] {
  return state.subscriptions.map((s) => s.topicFilter).filter((filter) => !filter.startsWith('$share/'));
}

/** Where a claim read the stream of the node it took a session from, and from where it held the session. */
interface BacklogRead {
  node: string;
  /** The last entry it read ('0-0': none). */
  entryId: string;
  /** This node's own messages above this sequence reached the session here (held, or once installed). */
  own: { ids: string; above: number } | undefined;
}

/** What an adoption moved here. */
export interface Adopted {
  sessions: number;
  /** Messages of the dead node's stream delivered to the adopted sessions (deliveries made). */
  deliveries: number;
}

export class ClusterSessions implements SessionBus {
  /** Hand-overs this node asked for that were answered, timed out, and made for others. */
  readonly counters = { handedOver: 0, takenOver: 0, timedOut: 0, adopted: 0 };
  private host: BusHost | undefined;
  private readonly waiting = new Map<string, (result: Answer['result']) => void>();
  private linksSet: AdoptionLinks | undefined;
  /**
   * Notices heard before the bus set the links (it subscribes before it reads its stream): a session
   * handed over then would leave without what waits for it in that stream (nothing forwarded).
   */
  private early: string[] | undefined = [];
  /** The adoption under way: a hand-over waits for it, so that a session leaves with all it was owed. */
  private adopting: Promise<unknown> = Promise.resolve();
  /** Messages forwarded for sessions moving here (handover-forward.ts). */
  private readonly arrivals = new HandoverArrivals();
  /** Client ids whose sessions this node is handing over. */
  private readonly handingOver = new Set<string>();
  /** The hand-overs under way by client id, each resolved once its store script has answered. */
  private readonly handOvers = new Map<string, Promise<void>>();
  /** Hand-over requests this node has handled, by id: a request asked again is answered once. */
  private readonly requests = new Set<string>();
  /** Hand-over requests their asking nodes stopped waiting for (`Cancel`), kept a while. */
  private readonly cancelled = new Set<string>();
  /** The claim under way for each client id (settled, never rejected), for the next one to wait. */
  private readonly claims = new Map<string, Promise<void>>();
  /** For each claim under way: settled once it ended and the store has what it delivered. */
  private readonly stored = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  /** Where the claim under way of each client id read the stream of the node it took the session from. */
  private readonly backlogRead = new Map<string, BacklogRead>();

  constructor(
    private readonly store: RedisStore,
    /** Connection for PUBLISH and stream reads (the bus's command connection). */
    private readonly command: RedisClient,
    private readonly handoverTimeoutMs: number,
  ) {}

  get nodeId(): string {
    return this.store.nodeId;
  }

  /** Set by the RedisBus once its stream reader runs (see AdoptionLinks); the notices heard before are handled then. */
  get links(): AdoptionLinks | undefined {
    return this.linksSet;
  }

  set links(links: AdoptionLinks | undefined) {
    this.linksSet = links;
    const early = this.early;
    if (links === undefined || early === undefined) return;
    this.early = undefined;
    for (const text of early) this.notice(text);
  }

  start(host: BusHost): void {
    this.host = host;
  }

  /**
   * Claims `clientId` (see `claim`) and installs what moved here itself, so that the messages the old
   * owner forwarded for the session meanwhile are delivered to it right after; resolves with nothing
   * to install.
   */
  claimSession(clientId: string, gone?: () => boolean): Promise<StoredState | undefined> {
    // One claim of a client id at a time on this node: a second CONNECT arriving while the first
    // one's claim is still moving the session here (a client that gave up waiting and came back)
    // would otherwise be told 'own' before the session is installed, and start an empty one.
    const before = this.claims.get(clientId);
    // Nor while this node hands the session over: it found the client id still its own, and its
    // copy already forgotten, and started an empty session (Session Present 0).
    const handing = this.handOvers.get(clientId);
    const claim = Promise.all([before, handing]).then(() => this.claimNow(clientId, gone));
    const settled = claim.then(
      () => undefined,
      () => undefined,
    );
    this.claims.set(clientId, settled);
    void settled.then(() => {
      if (this.claims.get(clientId) === settled) this.claims.delete(clientId);
    });
    return claim;
  }

  private async claimNow(clientId: string, gone?: () => boolean): Promise<StoredState | undefined> {
    const host = this.requireHost();
    const from: string[] = [];
    this.arrivals.claimStarted(clientId);
    let resolve: () => void = () => undefined;
    const stored = { promise: new Promise<void>((done) => (resolve = done)), resolve };
    this.stored.set(clientId, stored);
    this.backlogRead.delete(clientId);
    let isInstalled = false;
    try {
      const moved = await this.claim(clientId, from, gone);
      if (moved !== undefined) host.installSessions(moved);
      isInstalled = moved !== undefined;
    } finally {
      // In the same turn: what the claim held (what waited where the session was, and what reached
      // it here since its records came) before anything that reaches it through its new routes.
      const position = from.length > 0 ? (this.links?.position() ?? { stream: 0, published: 0 }) : undefined;
      this.arrivals.claimEnded(clientId, position, (messages) =>
        host.deliverToSessions(messages, new Set([clientId]), true),
      );
      this.links?.claimEnded(clientId);
      this.stored.delete(clientId);
      // A message published here that the claim held is acknowledged once the store has it (see `hold`).
      void host.committed().then(stored.resolve, stored.resolve);
    }
    // The old owner holds the session's routes until it hears this, after the new ones.
    for (const owner of new Set(from)) {
      const installed: Installed = { op: 'installed', to: owner, from: this.nodeId, client: clientId };
      this.links?.announce(JSON.stringify(installed));
    }
    const read = this.backlogRead.get(clientId);
    this.backlogRead.delete(clientId);
    if (read !== undefined && isInstalled) void this.markRead(clientId, read);
    return undefined;
  }

  /** The client ids of the sessions here that had the message `messageId` marked for them (HandoverArrivals.markedFor). */
  markedFor(messageId: string): ReadonlySet<string> | undefined {
    return this.arrivals.markedFor(messageId);
  }

  /**
   * A message the old owner of `clientId` forwarded for it (see HandoverArrivals.arrived); 'held'
   * while the claim under way holds it (delivered when the claim ends: see `AdoptionLinks.claimEnded`),
   * false when the session is neither here nor being claimed here.
   */
  arrived(message: Message, clientId: string, directAt: number | undefined, messageId: string): boolean | 'held' {
    const host = this.requireHost();
    return this.arrivals.arrived(
      message,
      clientId,
      messageId,
      directAt,
      this.links?.publishedHere(messageId),
      () => host.subscriptionsOf?.(clientId) !== undefined,
      (messages) => host.deliverToSessions(messages, new Set([clientId]), true),
    );
  }

  /**
   * Claims `clientId` for this node, asking the live node that owns it to hand it over (each such
   * node added to `from`); resolves with the session's records when it moved here, and what waited
   * for it in the stream of an owner that could not hand it over.
   */
  private async claim(clientId: string, from: string[], gone?: () => boolean): Promise<StoredState | undefined> {
    const host = this.requireHost();
    let handedBy: string | undefined;
    for (let attempt = 1; attempt <= MAX_CLAIMS; attempt++) {
      const claimed = await this.store.claim(clientId, (count) => host.reserve(count), attempt === MAX_CLAIMS);
      if (claimed.kind === 'own' || claimed.kind === 'skip') return undefined;
      if (claimed.kind === 'moved') {
        this.counters.takenOver++;
        return this.movedHere(clientId, claimed, handedBy, from);
      }
      // A client that left while its CONNECT waited may be connected to that node again by now:
      // neither asked to hand over (it would close that connection) nor forced.
      if (gone?.() === true) throw abandoned();
      from.push(claimed.owner);
      const result = await this.askHandOver(clientId, claimed.owner);
      if (result === 'timeout') {
        if (gone?.() === true) throw abandoned();
        this.counters.timedOut++;
        host.log.warn(
          { clientId, owner: claimed.owner, timeoutMs: this.handoverTimeoutMs },
          'cluster: the owner of the session did not hand it over in time; taken over, the owner fenced out',
        );
        // Forced from that owner only: a node that took the session meanwhile was never asked, and
        // its client would stay connected to a copy fenced out. That one is asked in turn.
        const forced = await this.store.claim(clientId, (count) => host.reserve(count), true, '', claimed.owner);
        if (forced.kind === 'busy') {
          handedBy = undefined;
          continue;
        }
        if (forced.kind !== 'moved') return undefined;
        return this.movedHere(clientId, forced, undefined, from);
      }
      // Handed over (or lost meanwhile): the next claim finds where it is now.
      handedBy = result === 'ok' ? claimed.owner : undefined;
    }
    return undefined;
  }

  /**
   * The session of `clientId` moved here (`claimed`): handed over by `handedBy`, which answered (what
   * its stream holds for it is passed on: `settleHandOver`), or taken from a node that could not hand
   * it over (what waits for it in that node's stream is read here: `backlogOf`). A session handed over
   * by a node whose answer never came (it died right after its hand-over script, or the answer was
   * lost) counts as the latter: that node may never pass its stream on; so does one whose answer came
   * but not its flush. Each node it came from is added to `from`.
   */
  private async movedHere(
    clientId: string,
    claimed: Extract<ClaimResult, { kind: 'moved' }>,
    handedBy: string | undefined,
    from: string[],
  ): Promise<StoredState> {
    const unflushed =
      claimed.from === '' && handedBy !== undefined
        ? await this.settleHandOver(clientId, handedBy, claimed.state)
        : undefined;
    const unanswered = claimed.from === '' && handedBy === undefined ? claimed.handedBy : '';
    const previous = unanswered !== '' ? unanswered : claimed.from;
    // It may still send what it held back (see `left`).
    if (previous !== '' && previous !== this.nodeId) from.push(previous);
    const taken = { from: previous, streamEnd: claimed.streamEnd, state: claimed.state };
    // Held from the claim's answer on, before any wait: what this node publishes meanwhile for the
    // session goes to that node's stream, whose next reader (the node back) may forward it only
    // after the install, behind newer messages.
    const position = this.holdBacklog(clientId, taken);
    await this.links?.willsMoved([clientId]);
    if (position !== undefined) {
      await this.backlogOf(clientId, taken, position);
    } else if (unflushed !== undefined && handedBy !== undefined) {
      // The owner that handed it over did not pass its stream on: read here, as from a silent node.
      await this.backlogOf(clientId, { from: handedBy, state: claimed.state }, unflushed);
    }
    return claimed.state;
  }

  /**
   * The session of `clientId` (records `state`) was handed over by `owner`: what reaches it here is
   * held from now on, and what `owner`'s stream still holds for it is passed on (`flush`) and read
   * here, before the install delivers all of it in order (handover-arrivals.ts). Resolves with where
   * the hold began when `owner` did not answer the flush (it died, or froze, right after its
   * hand-over): its stream is then read here as a claim from a silent node reads it.
   */
  private async settleHandOver(clientId: string, owner: string, state: StoredState): Promise<InstalledAt | undefined> {
    const links = this.links;
    if (links === undefined) return undefined;
    // What this node's stream held before is older than the session's records: the old owner
    // delivered it to the session, or passes it on. Held from here on, a copy would come twice.
    await links.caughtUp();
    const position = links.position();
    this.arrivals.holdFrom(clientId, plainFilters(state), position);
    const id = randomUUID();
    const flushed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve(false);
      }, FLUSH_TIMEOUT_MS);
      this.waiting.set(id, () => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(true);
      });
    });
    // After this node's own appends to the old owner's stream: its caught-up point covers them.
    const flush: Flush = {
      op: 'flush',
      id,
      to: owner,
      from: this.nodeId,
      client: clientId,
      ids: links.ownIds(),
      above: position.published,
    };
    links.announce(JSON.stringify(flush));
    const answered = await flushed;
    await links.caughtUp();
    return answered ? undefined : position;
  }

  /** Passes on what this node's stream holds now (forwarded to the sessions that left), then answers. */
  private async flush(request: Flush): Promise<void> {
    // A copy sent back would reach the session twice should the new owner restart before it reads it.
    if (request.client !== undefined && request.ids !== undefined && request.above !== undefined) {
      this.links?.sendBackNot(request.client, request.from, request.ids, request.above);
    }
    try {
      await this.links?.caughtUp();
      await this.links?.flushRoutes();
    } catch {
      return;
    }
    const answer: Flush = { op: 'flushed', id: request.id, to: request.from, from: this.nodeId };
    await this.command.publish(handoverChannel, JSON.stringify(answer)).catch(() => undefined);
  }

  /** Whether a claim under way holds what reaches `topic` (see HandoverArrivals.holdFrom). */
  holdsTopic(topic: string): boolean {
    return this.arrivals.holdsTopic(topic);
  }

  /**
   * Holds `message` (id `id`, published here or brought by this node's stream) for the claims that
   * hold its topic; resolves once those claims ended and the store has what they delivered
   * (undefined: no claim holds it).
   */
  hold(message: Message, id: string): Promise<void> | undefined {
    const holders = this.arrivals.hold(message, id);
    if (holders.length === 0) return undefined;
    const waits = holders.map((clientId) => this.stored.get(clientId)?.promise ?? Promise.resolve());
    return Promise.all(waits).then(() => undefined);
  }

  /**
   * The session of `clientId` (records `state`) was taken from `from`, which could not hand it over:
   * what reaches it here is held from now on (returns where this node is; undefined when it did not
   * come that way). Unlike a hand-over's hold (`settleHandOver`), it starts before this node's
   * stream is caught up: what that stream brings for the session meanwhile was sent for the routes
   * the claim announced (or is in `from`'s stream too), and a copy of what the session holds
   * already, queued or completed, is dropped at the install (Session.holdsOrigin).
   */
  private holdBacklog(
    clientId: string,
    claimed: { from: string; streamEnd: string; state: StoredState },
  ): InstalledAt | undefined {
    if (claimed.streamEnd === '' || claimed.from === '' || claimed.from === this.nodeId) return undefined;
    const position = this.links?.position() ?? { stream: 0, published: 0 };
    if (this.links !== undefined) this.arrivals.holdFrom(clientId, plainFilters(claimed.state), position);
    return position;
  }

  /**
   * What waits for the session of `clientId` in the stream of `from` (see `holdBacklog`), to its
   * end, is held before what the claim holds (see `readBacklog`); those messages are not taken again
   * when the stream's next reader forwards them (HandoverArrivals.backlog).
   */
  private async backlogOf(
    clientId: string,
    claimed: { from: string; state: StoredState },
    position: InstalledAt,
  ): Promise<void> {
    const host = this.requireHost();
    const links = this.links;
    let own: BacklogRead['own'];
    if (links !== undefined) {
      own = { ids: links.ownIds(), above: position.published };
      // What this node sent there itself is in that stream before it is read.
      await links.flushRoutes();
    }
    const unreadable = (err: unknown): void =>
      host.log.warn({ node: claimed.from, err: String(err) }, 'cluster: unreadable stream entry skipped');
    let backlog = await readBacklog(this.command, claimed.from, clientId, '+', unreadable);
    // What that node's next reader (the node back) forwarded here meanwhile, having taken it from its
    // stream before this read, is held too: read before the install.
    await links?.caughtUp();
    // Read again until nothing more came, right before the install: a publishing node that had not
    // yet learnt this node's route appended there meanwhile, and the stream's next reader would
    // forward that only after newer messages reached the session here (a long stream takes a while).
    for (let again = 0; again < BACKLOG_READS; again++) {
      const last = backlog.last;
      backlog = await readBacklog(this.command, claimed.from, clientId, '+', unreadable, backlog);
      if (backlog.last === last) break;
    }
    this.arrivals.backlog(clientId, backlog.messages);
    this.backlogRead.set(clientId, { node: claimed.from, entryId: backlog.last ?? '0-0', own });
  }

  /**
   * Once what the claim of `clientId` read in `node`'s stream up to entry `entryId` is in this node's
   * store, the stream's next reader forwards only what came after it (see the claim script), but for
   * this node's own messages that reached the session here: before, it forwards all it holds for the
   * session, so that nothing is skipped should this node die first.
   */
  private async markRead(clientId: string, { node, entryId, own }: BacklogRead): Promise<void> {
    const host = this.requireHost();
    try {
      await host.committed();
      await readUpTo(this.command, node, this.nodeId, [clientId], entryId, own);
    } catch (err) {
      host.log.warn({ clientId, node, err: String(err) }, 'cluster: marking a claimed backlog read failed');
    }
  }

  sessionEnded(clientId: string): void {
    this.store.release(clientId).catch((err: unknown) => {
      this.host?.log.warn({ clientId, err: String(err) }, 'cluster: giving up a client id failed');
    });
  }

  /** Handles a notice of `fennec:handover`. */
  notice(text: string): void {
    if (this.early !== undefined) {
      this.early.push(text);
      return;
    }
    let notice: Request | Answer | Installed | Flush | Cancel;
    try {
      notice = JSON.parse(text) as Request | Answer | Installed | Flush | Cancel;
    } catch {
      return;
    }
    if (notice.to !== this.nodeId) return;
    if (notice.op === 'answer') this.waiting.get(notice.id)?.(notice.result);
    else if (notice.op === 'flushed') this.waiting.get(notice.id)?.('ok');
    else if (notice.op === 'flush') void this.flush(notice);
    else if (notice.op === 'request') {
      // Heard after the asking node stopped waiting (Redis held it back): that node gave up, or took
      // the session by force; handed over now, the session would leave this node's client for nothing.
      if (late(notice) || this.cancelled.has(notice.id)) return;
      void this.handOver(notice);
    } else if (notice.op === 'cancel') {
      this.cancelled.add(notice.id);
      setTimeout(() => this.cancelled.delete(notice.id), this.handoverTimeoutMs * 2).unref();
    } else if (notice.op === 'installed') {
      this.links?.installed(notice.client, notice.from);
      void this.dropTaken(notice.client, notice.from);
    }
  }

  /**
   * Node `to` installed the session of `clientId`, which it took from this node by force (this node
   * did not answer its hand-over in time, or came back with the session after it asked): this
   * node's copy is stale, its writes fenced out. It is forgotten here (its connection, if any,
   * closed as taken over), and what still reaches this node for it meanwhile goes to `to`.
   */
  private async dropTaken(clientId: string, to: string): Promise<void> {
    const host = this.requireHost();
    if (this.handingOver.has(clientId) || this.claims.has(clientId)) return;
    const filters = host.subscriptionsOf?.(clientId);
    if (filters === undefined) return;
    if ((await this.store.ownerOf(clientId)) === this.nodeId) return;
    if (this.handingOver.has(clientId) || this.claims.has(clientId)) return;
    host.log.warn({ clientId, owner: to }, 'cluster: a session this node held was taken over by force; forgotten here');
    this.links?.forwardFor(
      clientId,
      to,
      filters.filter((filter) => !filter.startsWith('$share/')),
    );
    try {
      await host.releaseSession(clientId);
    } finally {
      setTimeout(() => this.links?.stopForwarding(clientId), ADOPT_SETTLE_MS).unref();
    }
  }

  /** Asks node `owner` to hand `clientId` over; resolves with its answer, or 'timeout'. */
  private askHandOver(clientId: string, owner: string): Promise<Answer['result'] | 'timeout'> {
    const host = this.requireHost();
    const id = randomUUID();
    const numbers = host.reserve(HANDOVER_RESERVATION);
    const until = Date.now() + this.handoverTimeoutMs;
    const request: Request = { op: 'request', id, to: owner, from: this.nodeId, client: clientId, ...numbers, until };
    const ask = (): void => void this.command.publish(handoverChannel, JSON.stringify(request)).catch(() => undefined);
    return new Promise((resolve) => {
      // Asked again while no answer comes: a request published while the owner was down (or
      // between its restart and its subscription) is lost, and the owner that came back with the
      // session would otherwise be fenced out at the timeout instead of handing it over. An owner
      // whose lease is gone meanwhile is dead: the next claim takes the session at once.
      // Not waited for any more: the owner, should it hear the request only now, hands nothing over.
      const cancel = (): void => {
        const notice: Cancel = { op: 'cancel', id, to: owner };
        void this.command.publish(handoverChannel, JSON.stringify(notice)).catch(() => undefined);
      };
      const again = setInterval(() => {
        isAlive(this.command, owner).then(
          (alive) => {
            if (alive) return ask();
            cancel();
            this.waiting.get(id)?.('lost');
          },
          () => ask(),
        );
      }, REQUEST_AGAIN_MS);
      const timer = setTimeout(() => {
        clearInterval(again);
        this.waiting.delete(id);
        cancel();
        resolve('timeout');
      }, this.handoverTimeoutMs);
      this.waiting.set(id, (result) => {
        clearTimeout(timer);
        clearInterval(again);
        this.waiting.delete(id);
        resolve(result);
      });
      ask();
    });
  }

  /** Hands a session over to the node that asked, then answers it (once per request, however often asked). */
  private async handOver(request: Request): Promise<void> {
    const host = this.requireHost();
    if (this.requests.has(request.id)) return;
    this.requests.add(request.id);
    this.handingOver.add(request.client);
    let handed: () => void = () => undefined;
    const handing = new Promise<void>((resolve) => (handed = resolve));
    this.handOvers.set(request.client, handing);
    setTimeout(() => this.requests.delete(request.id), this.handoverTimeoutMs * 2).unref();
    let result: Answer['result'] = 'error';
    let taken = false;
    try {
      await this.adopting.catch(() => undefined);
      // What waits in this node's stream is older than anything the new owner will receive: the
      // session takes it with it (forwarded after the hand-over, it would come after newer messages).
      await this.links?.caughtUp();
      // The waits above can outlast the asking node's (Redis held back): past it, that node gave up
      // or took the session by force, and nothing is handed over.
      if (late(request) || this.cancelled.has(request.id)) {
        throw new FennecError('ERR_CLUSTER_HANDOVER', 'the asking node stopped waiting');
      }
      // Shared groups are left out: a node chosen for a group it no longer serves passes the message on.
      const filters = host.subscriptionsOf?.(request.client)?.filter((filter) => !filter.startsWith('$share/'));
      this.links?.leave(request.client, request.from, filters ?? []);
      const unreferenced = await host.releaseSession(request.client);
      const numbers = { seq: request.seq, messageId: request.messageId, count: request.count };
      result = await this.store.handOver(request.client, request.from, numbers, unreferenced);
      if (result === 'ok') this.counters.handedOver++;
      host.log.info({ clientId: request.client, to: request.from, result }, 'cluster: session handed over');
      // Lost to the node that asked, which took it by force meanwhile (this answer came late): the
      // session is forgotten here all the same, so what still reaches this node for it goes there
      // too, as after a hand-over (it was dropped, the claim having read this node's stream before).
      if (result === 'lost' && (await this.store.ownerOf(request.client)) === request.from) taken = true;
    } catch (err) {
      host.log.warn({ clientId: request.client, to: request.from, err: String(err) }, 'cluster: hand-over failed');
    }
    this.handingOver.delete(request.client);
    if (result === 'ok') this.links?.handedOver(request.client);
    else if (!taken) this.links?.stay(request.client);
    if (this.handOvers.get(request.client) === handing) this.handOvers.delete(request.client);
    handed();
    const answer: Answer = { op: 'answer', id: request.id, to: request.from, result };
    await this.command.publish(handoverChannel, JSON.stringify(answer)).catch(() => undefined);
  }

  /**
   * Adopts the persistent sessions of dead node `deadNode`: each moves to this node with a new
   * fencing token, is installed (subscriptions, routes), then gets the messages that waited in
   * the dead node's stream; the dead node's stream, routes and store namespace are deleted last.
   * Safe to call from several nodes at once: each session moves to one of them.
   */
  adopt(deadNode: string): Promise<Adopted> {
    const adoption = this.adopting.catch(() => undefined).then(() => this.adoptNow(deadNode));
    this.adopting = adoption;
    return adoption;
  }

  /**
   * The steps of `adopt`. The dead node's routes, kept by the reaper, go only once the adopted
   * sessions' routes are published (one connection: every node learns those first), so that no
   * message published meanwhile finds neither; what went to the dead node's stream is drained.
   */
  private async adoptNow(deadNode: string): Promise<Adopted> {
    const host = this.requireHost();
    const clientIds = await this.store.sessionsOf(deadNode);
    const claims = await Promise.all(
      clientIds.map((clientId) => this.store.claim(clientId, (count) => host.reserve(count), true, deadNode)),
    );
    const adopted = new Set<string>();
    const state = emptyStoredState();
    for (const claimed of claims) {
      if (claimed.kind !== 'moved') continue;
      for (const key of ['sessions', 'subscriptions', 'messages', 'deliveries', 'incomingQoS2'] as const) {
        (state[key] as unknown[]).push(...claimed.state[key]);
      }
      (state.completed ??= []).push(...(claimed.state.completed ?? []));
      for (const record of claimed.state.sessions) adopted.add(record.clientId);
      (state.spools ??= []).push(...(claimed.state.spools ?? []));
    }
    state.messages.sort((a, b) => a.id - b.id);
    await this.links?.willsMoved([...adopted]);
    const drain = new AdoptionDrain(host, deadNode, adopted, (messageId) => this.links?.seenAt(messageId));
    // What waits in the dead node's stream now came before anything that reaches the sessions here
    // once installed: delivered in the install's turn. This node's own stream is read up to its end
    // first, so that a message sent to both streams is not delivered again from it after the install.
    const backlog: StreamEntry[] = [];
    await readStream(this.command, deadNode, '+', (entries) => void backlog.push(...entries));
    await this.links?.caughtUp();
    host.installSessions(state);
    drain.deliverBacklog(backlog);
    // Should the dead node come back now, it forwards what its stream holds for them (their claims
    // recorded them as left, see `left-sessions.ts`): what they had here already is not taken again.
    this.arrivals.readElsewhere(adopted, drain.backlogIds);
    const position = this.links?.position();
    if (position !== undefined) for (const clientId of adopted) this.arrivals.installedHere(clientId, position);
    this.counters.adopted += adopted.size;
    // This node's own publishes reach the adopted sessions here now, no more through the dead node's stream.
    this.links?.forgetRoutes(deadNode);
    await this.links?.flushRoutes();
    // What it delivered from that stream is in its store: were the dead node to come back, it forwards
    // only what came after (before, everything: should this node die first, nothing is lost).
    const read = backlog[backlog.length - 1]?.[0];
    if (read !== undefined) {
      await host.committed();
      await readUpTo(this.command, deadNode, this.nodeId, adopted, read);
    }
    const forgotten = await forgetDeadNode(this.command, deadNode);
    if (!forgotten) return this.cameBack(deadNode, adopted.size);
    if (this.links !== undefined) await new Promise((resolve) => setTimeout(resolve, ADOPT_SETTLE_MS));
    // The sessions adopted here are recorded as left too (for the dead node's return): not forwarded.
    const left = await leftSessions(this.command, deadNode, adopted);
    // What this node's own stream holds is handled first: a message it brings is not delivered twice.
    await this.links?.caughtUp();
    await readStream(this.command, deadNode, '+', (entries) => {
      for (const [entryId, fields] of entries) drain.drain(entryId, fields, left, this.links, position?.stream ?? 0);
    });
    const deliveries = drain.deliveries;
    await host.committed();
    // What was forwarded to the sessions that left the dead node is in Redis before its stream goes.
    await this.links?.flushRoutes();
    await dropDeadNode(this.command, deadNode, [
      streamKey(deadNode),
      leftKey(deadNode),
      ...this.store.namespaceKeys(deadNode),
    ]);
    host.log.info({ deadNode, sessions: adopted.size, deliveries }, 'cluster: sessions of a dead node adopted');
    return { sessions: adopted.size, deliveries };
  }

  /**
   * The dead node restarted under its id during its adoption: what it has (routes, stream, the
   * sessions not moved yet) stays with it; this node re-reads the routes it had forgotten.
   */
  private async cameBack(deadNode: string, sessions: number): Promise<Adopted> {
    await this.links?.reloadRoutes();
    this.requireHost().log.info(
      { deadNode, sessions },
      'cluster: a dead node came back during its adoption; the rest is left to it',
    );
    return { sessions, deliveries: 0 };
  }

  private requireHost(): BusHost {
    if (this.host === undefined) throw new Error('the cluster sessions are not started');
    return this.host;
  }
}
