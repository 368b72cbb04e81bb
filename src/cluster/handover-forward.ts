/**
 * Messages that reach a session while it moves between nodes (docs/cluster.md, "Sessions", step 4):
 * the route-change window of a hand-over, when the old owner has forgotten the session and the
 * publishing nodes have not yet learnt the new owner's routes.
 *
 * - The old owner (`HandoverForwarder`) keeps the routes the release withdrew until the new owner
 *   says it installed the session (`installed` on `fennec:handover`, which the new owner publishes
 *   after the session's route notices: every node learns the new owner's routes before the old
 *   owner's go, so a publishing node always sends to one of them). Meanwhile, and for `settleMs`
 *   after (a node slow to apply the withdrawal still sends here), the old owner appends what it
 *   receives for the session's filters (from its stream, or published here) to the new owner's
 *   stream, marked for that session (field `s`), under the message's own id.
 * - The new owner delivers such an entry to that session only (handover-arrivals.ts).
 */
import type { Message } from '../session/message.js';
import { TopicIndex } from '../topic/index.js';
import { streamKey } from './keys.js';
import type { Command } from './outbox.js';
import { pastCutoff } from './left-sessions.js';
import { compareEntryIds } from './stream-reader.js';

/** What the forwarder asks of the bus. */
export interface ForwarderLinks {
  /** Whether the session of `clientId` is on this node (not yet, or again, forgotten). */
  hasSession(clientId: string): boolean;
  /** Takes `filter` out of this node's routes in Redis and announces it (the withdrawal held back). */
  withdraw(filter: string): void;
  /** Resolves once this node has handled what its stream holds now (StreamReader.caughtUp). */
  caughtUp(): Promise<void>;
  /** Deletes the record the hand-over of `clientId` to `to` left in Redis (left-sessions.ts `forgetHandedOver`). */
  forgetRecord(clientId: string, to: string): void;
}

/** A session this node released to `to`. */
interface Leaving {
  clientId: string;
  to: string;
  filters: string[];
  /** Filters whose withdrawal waits for the new owner's routes. */
  held: Set<string>;
  /** When the held routes go even if the new owner never announced its own, in ms since the epoch. */
  deadline: number;
  settling: boolean;
  /** Registered by `forwardFor`: the session left while this node was down. */
  whileDown?: boolean;
  /** The hand-over recorded the session in this node's `left` hash: deleted when forwarding ends. */
  recorded?: boolean;
  /** The last entry of this node's stream the new owner read itself: only later ones are forwarded. */
  after?: string | undefined;
  /** The record's cut-off (left-sessions.ts `LeftSession.until`): later entries are not forwarded. */
  until?: number | undefined;
  /** The new owner's own messages it holds for the session itself: ids `ids` + a sequence above `above`. */
  ownIds?: string;
  above?: number;
}

/** Where a message goes besides its routes: the new owner `node` of session `clientId`. */
export interface MovedSession {
  node: string;
  clientId: string;
}

/** How often the forwarder looks for hand-overs whose new owner never said it installed the session, in ms. */
const POLL_MS = 100;

export class HandoverForwarder {
  private readonly byClient = new Map<string, Leaving>();
  private readonly index = new TopicIndex<Leaving>({ maxLevels: Number.MAX_SAFE_INTEGER });
  private timer: NodeJS.Timeout | undefined;
  private readonly matched = new Set<Leaving>();

  constructor(
    private readonly links: ForwarderLinks,
    /** How long the held routes may wait for the new owner's, in ms. */
    private readonly holdMs: number,
    /** How long forwarding goes on after the held routes were withdrawn, in ms. */
    private readonly settleMs: number,
  ) {}

  /** The session of `clientId` is about to leave for node `to`, with its plain `filters`. */
  leave(clientId: string, to: string, filters: readonly string[]): void {
    this.end(clientId);
    if (filters.length === 0) return;
    const leaving: Leaving = {
      clientId,
      to,
      filters: [...filters],
      held: new Set(),
      deadline: Date.now() + this.holdMs,
      settling: false,
    };
    this.byClient.set(clientId, leaving);
    for (const filter of filters) this.index.add(filter, clientId, leaving);
    this.timer ??= setInterval(() => this.poll(), POLL_MS).unref();
  }

  /**
   * The session of `clientId` left this node for `to` while this node was down (claimed from it):
   * what reaches this node for its plain `filters` goes there until `stopForwarding`. No route is held.
   */
  forwardFor(clientId: string, to: string, filters: readonly string[], after?: string, until?: number): void {
    this.leave(clientId, to, filters);
    const leaving = this.byClient.get(clientId);
    if (leaving === undefined) return;
    leaving.settling = true;
    leaving.deadline = Infinity;
    leaving.whileDown = true;
    leaving.after = after;
    leaving.until = until;
  }

  /** Ends what `forwardFor` started for `clientId` (not a hand-over made since). */
  stopForwarding(clientId: string): void {
    if (this.byClient.get(clientId)?.whileDown === true) this.end(clientId);
  }

  /**
   * The new owner `to` of the session of `clientId` holds for it the messages it publishes itself
   * from now on (ids `ids` followed by a sequence above `above`): those are not sent back to it.
   */
  sendBackNot(clientId: string, to: string, ids: string, above: number): void {
    const leaving = this.byClient.get(clientId);
    if (leaving === undefined || leaving.to !== to) return;
    leaving.ownIds = ids;
    leaving.above = above;
  }

  /** Node `from` installed the session of `clientId` (its routes announced): the held routes go. */
  installed(clientId: string, from: string): void {
    const leaving = this.byClient.get(clientId);
    if (leaving !== undefined && leaving.to === from) this.settle(leaving);
  }

  /**
   * The hand-over of `clientId` happened, recorded in Redis: should this node die before forwarding
   * ends, its next run (or its adopter) forwards what its stream still holds for the session.
   */
  handedOver(clientId: string): void {
    const leaving = this.byClient.get(clientId);
    if (leaving !== undefined && !leaving.whileDown) leaving.recorded = true;
  }

  /** The hand-over of `clientId` did not happen: its held routes go now, nothing is forwarded. */
  stay(clientId: string): void {
    this.end(clientId);
  }

  /** Whether the withdrawal of `filter` (its last subscription here gone) is held back. */
  holds(filter: string): boolean {
    let held = false;
    for (const leaving of this.byClient.values()) {
      if (leaving.settling || !leaving.filters.includes(filter)) continue;
      leaving.held.add(filter);
      held = true;
    }
    return held;
  }

  /** A subscription here holds `filter` again: its route stays, nothing to withdraw. */
  taken(filter: string): void {
    for (const leaving of this.byClient.values()) leaving.held.delete(filter);
  }

  /**
   * The sessions that left this node whose filters match `topic`: where a message on it goes too
   * (`entryId`: the entry of this node's stream it came in; undefined: published here).
   */
  targets(topic: string, entryId?: string, messageId?: string): MovedSession[] | undefined {
    if (this.byClient.size === 0) return undefined;
    this.index.match(topic, (leaving) => this.matched.add(leaving));
    if (this.matched.size === 0) return undefined;
    const out: MovedSession[] = [];
    for (const leaving of this.matched) {
      // Not before the session is forgotten here: until then it gets the message itself.
      if (
        this.links.hasSession(leaving.clientId) ||
        readAlready(leaving, entryId) ||
        (entryId !== undefined && pastCutoff(leaving.until, entryId)) ||
        itsOwn(leaving, messageId)
      ) {
        continue;
      }
      out.push({ node: leaving.to, clientId: leaving.clientId });
    }
    this.matched.clear();
    return out.length === 0 ? undefined : out;
  }

  /**
   * Appends `message` (id `messageId`, encoded `raw`) to the streams of the nodes the sessions it
   * matches moved to (`moved`, default: looked up), marked for those sessions, through `push`.
   */
  forward(
    message: Message,
    messageId: string,
    raw: Buffer,
    push: (command: Command, durable: boolean) => void,
    moved = this.targets(message.topic),
  ): void {
    if (moved === undefined) return;
    for (const { node, clientId } of moved) {
      push(['XADD', streamKey(node), '*', 'i', messageId, 'm', raw, 's', clientId], message.qos > 0);
    }
  }

  /**
   * A message marked for `clientId` came here after the session left again (a session moving back
   * and forth): appends it, still marked, to the stream of the node it left for, if it left from
   * here. Returns whether it did. A copy that comes back here is dropped as such (same id and mark).
   */
  forwardAgain(
    clientId: string,
    message: Message,
    messageId: string,
    raw: Buffer,
    push: (command: Command, durable: boolean) => void,
    entryId?: string,
  ): boolean {
    const leaving = this.byClient.get(clientId);
    if (leaving === undefined || this.links.hasSession(clientId)) return false;
    if (readAlready(leaving, entryId) || itsOwn(leaving, messageId)) return true;
    this.forward(message, messageId, raw, push, [{ node: leaving.to, clientId }]);
    return true;
  }

  /** Stops: the held routes go now. */
  close(): void {
    for (const clientId of [...this.byClient.keys()]) this.end(clientId);
  }

  /** The new owner never said it installed the session (it failed, or its notice was lost): the held routes go. */
  private poll(): void {
    const now = Date.now();
    for (const leaving of this.byClient.values()) if (now >= leaving.deadline) this.settle(leaving);
  }

  /**
   * The held routes go; forwarding goes on for `settleMs`, for the nodes that apply the withdrawal
   * late, and until this node has handled what its stream holds then (a reader behind would find
   * messages for the session after forwarding ended).
   */
  private settle(leaving: Leaving): void {
    if (leaving.settling) return;
    leaving.settling = true;
    this.release(leaving);
    setTimeout(() => {
      void this.links
        .caughtUp()
        .catch(() => undefined)
        .then(() => {
          if (this.byClient.get(leaving.clientId) === leaving) this.end(leaving.clientId);
        });
    }, this.settleMs).unref();
  }

  private release(leaving: Leaving): void {
    for (const filter of leaving.held) {
      // Another session that left with the same filter may not be installed yet: the route waits for it too.
      if (!this.heldByOther(filter, leaving)) this.links.withdraw(filter);
    }
    leaving.held.clear();
  }

  /** Whether a session other than `leaving` still holds back the withdrawal of `filter`. */
  private heldByOther(filter: string, leaving: Leaving): boolean {
    for (const other of this.byClient.values()) if (other !== leaving && other.held.has(filter)) return true;
    return false;
  }

  private end(clientId: string): void {
    const leaving = this.byClient.get(clientId);
    if (leaving === undefined) return;
    this.byClient.delete(clientId);
    for (const filter of leaving.filters) this.index.remove(filter, clientId);
    this.release(leaving);
    if (leaving.recorded === true) this.links.forgetRecord(clientId, leaving.to);
    if (this.byClient.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** Whether message `messageId` is one the new owner of `leaving` published and holds itself (see `sendBackNot`). */
function itsOwn(leaving: Leaving, messageId: string | undefined): boolean {
  const ids = leaving.ownIds;
  if (ids === undefined || messageId === undefined || !messageId.startsWith(ids)) return false;
  return Number(messageId.slice(ids.length)) > leaving.above!;
}

/** Whether the new owner of `leaving` read stream entry `entryId` of this node itself (see `forwardFor`). */
function readAlready(leaving: Leaving, entryId: string | undefined): boolean {
  return leaving.after !== undefined && entryId !== undefined && compareEntryIds(entryId, leaving.after) <= 0;
}
