/**
 * The new owner's side of a session that moves here (docs/cluster.md, "Sessions", step 4): what
 * reaches the session while it is claimed, and the copies that come twice.
 *
 * - A message marked for the session (forwarded by the node it left, handover-forward.ts) goes to
 *   that session only. While the claim is under way it is held, and delivered when the session is
 *   installed; once installed, it is dropped when the session had it from its routes already
 *   (through this node's stream after the install, or published here after it); in the other
 *   order, the copy through the routes skips the session (`markedFor`).
 * - A session handed over by its owner is held from the moment its records are here: from then on
 *   what this node publishes, and what its stream brings, for the session's filters is held with
 *   the forwarded messages, while the old owner passes on what its stream still holds (the flush,
 *   sessions.ts). At the install they are delivered together, each message once, and the messages
 *   of one publishing node in the order it numbered them: a message forwarded by the old owner
 *   took a longer way than a newer one sent here directly, and comes later.
 */
import type { Message } from '../session/message.js';
import { TopicIndex } from '../topic/index.js';
import type { BacklogMessage } from './stream-drain.js';

/** Where a node was when a session moved to it was installed. */
export interface InstalledAt {
  /** Entries of its stream handled (StreamReader.position). */
  stream: number;
  /** The sequence of the last message published on it (this run). */
  published: number;
}

/** How many installs the new owner remembers (the oldest forgotten first). */
const INSTALLED_KEPT = 100_000;
/** How many sessions' `readThere` ids are kept. */
const READ_THERE_KEPT = 10_000;
/** How many ids of messages marked for sessions here are kept (`markedFor`). */
const MARKED_KEPT = 65_536;
/** A session without a recorded install was here since this node started (loaded from its store). */
const SINCE_START: InstalledAt = { stream: 0, published: 0 };

/** A message held for a session being claimed, with its cluster-wide id (`node/epoch/sequence`). */
interface HeldMessage {
  message: Message;
  id: string;
}

/** A claim under way: what it holds, and since when it holds what reaches the session's filters. */
interface Claiming {
  held: HeldMessage[];
  /** Set once the session's records are here (a hand-over): see `holdFrom`. */
  from?: InstalledAt;
  filters?: string[];
}

export class HandoverArrivals {
  /** Sessions being claimed here. */
  private readonly claiming = new Map<string, Claiming>();
  /** The plain filters of the sessions whose claims hold what reaches them (`holdFrom`). */
  private readonly holding = new TopicIndex<Claiming>({ maxLevels: Number.MAX_SAFE_INTEGER });
  private holds = 0;
  private readonly matched = new Set<Claiming>();
  /**
   * Where this node's stream reading was when each session moved here was installed, and the
   * sequence of the last message published on this node then.
   */
  private readonly installedAt = new Map<string, InstalledAt>();
  /** The install recorded before a claim under way, kept if the session turns out to be here already. */
  private readonly before = new Map<string, InstalledAt | undefined>();
  /**
   * The ids of the messages a claim (or an adoption) read for each session in the stream of a node
   * that could not hand it over: that stream's next reader forwards some of them again. Kept until
   * the session is read for again, for READ_THERE_KEPT sessions at most (the oldest forgotten first).
   */
  private readonly readThere = new Map<string, Set<string>>();
  /**
   * The ids of the messages marked for sessions here, delivered or held for their claim, with those
   * sessions' client ids: a plain copy of one that comes later through the routes is not delivered
   * to them again. MARKED_KEPT ids at most (the oldest forgotten first).
   */
  private readonly marked = new Map<string, Set<string>>();

  /** The client ids of the sessions here that had the message `messageId` marked for them, if any. */
  markedFor(messageId: string): ReadonlySet<string> | undefined {
    return this.marked.size === 0 ? undefined : this.marked.get(messageId);
  }

  private noteMarked(messageId: string, clientId: string): void {
    const clientIds = this.marked.get(messageId);
    if (clientIds !== undefined) {
      clientIds.add(clientId);
      return;
    }
    this.marked.set(messageId, new Set([clientId]));
    if (this.marked.size > MARKED_KEPT) this.marked.delete(this.marked.keys().next().value!);
  }

  /** A claim of `clientId` starts: marked messages for it wait until it ends. */
  claimStarted(clientId: string): void {
    // Where an earlier install of the session was says nothing about this one (a session moving
    // back and forth): until it ends, marked messages are held, not compared with it.
    this.before.set(clientId, this.installedAt.get(clientId));
    this.installedAt.delete(clientId);
    if (!this.claiming.has(clientId)) this.claiming.set(clientId, { held: [] });
  }

  /**
   * The records of the session of `clientId` are here (handed over), with its plain `filters`; this
   * node is at `position`: from now on what it publishes and what its stream brings for those
   * filters is held for the session too (see `published`, `direct`), and the install counts from here.
   */
  holdFrom(clientId: string, filters: readonly string[], position: InstalledAt): void {
    const claiming = this.claiming.get(clientId);
    if (claiming === undefined || claiming.from !== undefined) return;
    claiming.from = position;
    claiming.filters = [...filters];
    for (const filter of filters) this.holding.add(filter, clientId, claiming);
    this.holds++;
  }

  /**
   * What waited for the session of `clientId` in the stream of the node it was taken from (read
   * after `holdFrom`): held before what the claim holds already, which came later.
   */
  backlog(clientId: string, messages: readonly BacklogMessage[]): void {
    const claiming = this.claiming.get(clientId);
    if (claiming === undefined || messages.length === 0) return;
    claiming.held.unshift(...messages.map(({ message, id }) => ({ message, id })));
    this.keepReadThere(clientId, new Set(messages.map(({ id }) => id)));
  }

  private keepReadThere(clientId: string, ids: Set<string>): void {
    this.readThere.delete(clientId);
    this.readThere.set(clientId, ids);
    if (this.readThere.size > READ_THERE_KEPT) this.readThere.delete(this.readThere.keys().next().value!);
  }

  /** The sessions of `clientIds` (adopted) had the messages of `ids`: a copy forwarded later is dropped. */
  readElsewhere(clientIds: Iterable<string>, ids: ReadonlySet<string>): void {
    if (ids.size === 0) return;
    const shared = new Set(ids);
    for (const clientId of clientIds) this.keepReadThere(clientId, shared);
  }

  /** Whether a claim holds what reaches `topic` (see `holdFrom`): a cheap test first. */
  holdsTopic(topic: string): boolean {
    if (this.holds === 0) return false;
    let found = false;
    this.holding.match(topic, () => void (found = true));
    return found;
  }

  /**
   * A message published here (`id`), or brought by this node's stream: held for the claims that hold
   * its topic. Returns the client ids of those claims.
   */
  hold(message: Message, id: string): string[] {
    if (this.holds === 0) return [];
    const holders: string[] = [];
    this.holding.match(message.topic, (claiming, clientId) => {
      if (this.matched.has(claiming)) return;
      this.matched.add(claiming);
      holders.push(clientId);
    });
    for (const claiming of this.matched) claiming.held.push({ message, id });
    this.matched.clear();
    return holders;
  }

  /**
   * The claim of `clientId` ended (its session installed here, or not): the messages held for it are
   * given to `deliver`, each once, in order (see the file's comment). `position`: where this node was,
   * when the session moved here from another node (undefined otherwise: it was here already, or it is
   * new); a hold's own position takes its place.
   */
  claimEnded(clientId: string, position: InstalledAt | undefined, deliver: (messages: Message[]) => void): void {
    const claiming = this.claiming.get(clientId);
    this.claiming.delete(clientId);
    if (claiming?.filters !== undefined) {
      for (const filter of claiming.filters) this.holding.remove(filter, clientId);
      this.holds--;
    }
    const before = this.before.get(clientId);
    this.before.delete(clientId);
    const installed = claiming?.from ?? position ?? before;
    if (installed !== undefined) this.installedHere(clientId, installed);
    if (claiming !== undefined && claiming.held.length > 0) deliver(inOrder(claiming.held));
  }

  /** The session of `clientId` was installed here (moved here, or adopted) when this node was at `position`. */
  installedHere(clientId: string, position: InstalledAt): void {
    this.installedAt.delete(clientId);
    this.installedAt.set(clientId, position);
    if (this.installedAt.size > INSTALLED_KEPT) this.installedAt.delete(this.installedAt.keys().next().value!);
  }

  /**
   * A message marked for `clientId` arrived (id `messageId`); `directAt`: the stream position at which
   * the same message came through this node's routes, if it did; `publishedAt`: its sequence if it
   * was published on this node in this run. Delivers it (`deliver`), holds it until the claim ends, or
   * drops it when the session had it from its routes already (through the stream, or published here
   * once it was installed: the old owner sent back what this node had also sent its held route).
   * Returns 'held' when it waits for the claim to end, false, having done nothing, when the session
   * is neither here (`here`) nor being claimed here (it moved on), else true.
   */
  arrived(
    message: Message,
    clientId: string,
    messageId: string,
    directAt: number | undefined,
    publishedAt: number | undefined,
    here: () => boolean,
    deliver: (messages: Message[]) => void,
  ): boolean | 'held' {
    // Forwarded by the next reader of a stream the claim read itself.
    if (this.readThere.get(clientId)?.has(messageId) === true) return true;
    // A session here with no install recorded (or one being claimed again while it is here) was
    // loaded at the start, or moved here earlier: it had what its routes brought since then.
    const installed =
      this.installedAt.get(clientId) ?? (here() ? (this.before.get(clientId) ?? SINCE_START) : undefined);
    if (installed !== undefined) {
      if (directAt !== undefined && directAt >= installed.stream) return true;
      if (publishedAt !== undefined && publishedAt > installed.published) return true;
    }
    // Held, even when a claim's hold has its own copy already: one of them is delivered at the
    // install, and the entry that brought this one stays in the stream until then (redis-bus.ts).
    const claiming = this.claiming.get(clientId);
    if (claiming !== undefined) {
      claiming.held.push({ message, id: messageId });
      this.noteMarked(messageId, clientId);
      return 'held';
    }
    if (!here()) return false;
    deliver([message]);
    this.noteMarked(messageId, clientId);
    return true;
  }
}

/**
 * The messages of `held`, each once (its first place), the messages of each publishing node (the
 * `node/epoch` of their ids) in the order of their sequences, in the places they took.
 */
function inOrder(held: readonly HeldMessage[]): Message[] {
  const seen = new Set<string>();
  const once = held.filter(({ id }) => !seen.has(id) && seen.add(id) !== undefined);
  const byOrigin = new Map<string, number[]>();
  once.forEach(({ id }, at) => {
    const origin = id.slice(0, id.lastIndexOf('/'));
    const places = byOrigin.get(origin);
    if (places === undefined) byOrigin.set(origin, [at]);
    else places.push(at);
  });
  const out: Message[] = new Array<Message>(once.length);
  for (const places of byOrigin.values()) {
    const sorted = places.map((at) => once[at]!).sort((a, b) => sequenceOf(a.id) - sequenceOf(b.id));
    places.forEach((at, i) => (out[at] = sorted[i]!.message));
  }
  return out;
}

function sequenceOf(id: string): number {
  return Number(id.slice(id.lastIndexOf('/') + 1));
}
