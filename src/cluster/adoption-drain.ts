/**
 * What an adopter does with a dead node's stream (docs/cluster.md, "Sessions"): the messages that
 * waited there for the sessions it adopted, delivered to them; the dead node's share of shared
 * groups, served here; and what matches the sessions claimed away from the dead node before,
 * forwarded to their new owners.
 *
 * The stream is read twice. First, up to where it ends, just before the sessions are installed:
 * those messages are delivered in the install's turn, before anything newer reaches the sessions
 * here (they came first). Then, once the other nodes stopped sending there, from the start again:
 * the later entries are delivered, and the sessions that left get what came after they left.
 */
import type { BusHost } from '../broker/bus.js';
import { entryMessages, groupsOf } from './entry.js';
import type { LeftSessions, ForwardLink } from './left-sessions.js';
import { decodeOrWarn } from './stream-drain.js';
import { compareEntryIds } from './stream-reader.js';

/** One entry of a stream as read: its id and fields. */
export type StreamEntry = [entryId: string, fields: Buffer[]];

export class AdoptionDrain {
  /** Deliveries made. */
  deliveries = 0;
  /**
   * A message may be there twice: for the routes, and marked for a session by a node it left. Each
   * adopted session gets it once: `plain` holds the ids delivered to every adopted session,
   * `marked` the ids delivered to one of them.
   */
  private readonly plain = new Set<string>();
  private readonly marked = new Map<string, Set<string>>();
  /** The last entry delivered by `deliverBacklog`: the second reading delivers only later ones. */
  private through = '0-0';
  /** The ids of the messages `deliverBacklog` had. */
  readonly backlogIds = new Set<string>();

  constructor(
    private readonly host: BusHost,
    private readonly deadNode: string,
    private readonly adopted: ReadonlySet<string>,
    /** Where this node's own stream reading is, by message id (StreamReader.seenAt). */
    private readonly seenAt: (messageId: string) => number | undefined,
  ) {}

  /** Delivers the entries read before the install (in its turn): the sessions were not here to get any of them. */
  deliverBacklog(entries: readonly StreamEntry[]): void {
    for (const [entryId, fields] of entries) {
      for (const entry of entryMessages(fields)) this.backlogIds.add(entry.id.toString('latin1'));
      this.deliver(fields, undefined);
      if (compareEntryIds(entryId, this.through) > 0) this.through = entryId;
    }
  }

  /**
   * One entry of the second reading: forwarded to the sessions that left (`left`, through `link`);
   * delivered if the first reading did not have it, unless this node's own stream brought the same
   * message after the install (`installedAt`: the position of its reading then).
   */
  drain(
    entryId: string,
    fields: Buffer[],
    left: LeftSessions,
    link: ForwardLink | undefined,
    installedAt: number,
  ): void {
    for (const entry of entryMessages(fields)) {
      const target = entry.target?.toString('utf8');
      // Sessions claimed away from the dead node before: to their new owner, which drops a copy it had.
      if (entry.hops === undefined && (target === undefined || !this.adopted.has(target))) {
        const message = decodeOrWarn(entry.bytes, (err) => this.unreadable(err));
        if (message !== undefined)
          left.forward(message, entry.id.toString('latin1'), entry.bytes, entryId, target, link);
      }
    }
    if (compareEntryIds(entryId, this.through) > 0) this.deliver(fields, installedAt);
  }

  /** Delivers the messages of one entry (`installedAt`: see `drain`; undefined: read before the install). */
  private deliver(fields: Buffer[], installedAt: number | undefined): void {
    for (const entry of entryMessages(fields)) {
      const messageId = entry.id.toString('latin1');
      // Sent here too, while its sender knew both routes: delivered from this node's stream already,
      // if it came after the sessions were installed (before, they were not here to get it).
      const seenAt = installedAt === undefined ? undefined : this.seenAt(messageId);
      if (seenAt !== undefined && seenAt >= installedAt!) continue;
      const message = decodeOrWarn(entry.bytes, (err) => this.unreadable(err), messageId);
      if (message === undefined) continue;
      // Forwarded for one session during a hand-over: for that session alone.
      const target = entry.target?.toString('utf8');
      if (target !== undefined) {
        if (!this.adopted.has(target) || this.plain.has(messageId)) continue;
        const to = this.marked.get(messageId) ?? new Set<string>();
        if (to.has(target)) continue;
        to.add(target);
        this.marked.set(messageId, to);
        this.deliveries += this.host.deliverToSessions([message], new Set([target]), true);
        continue;
      }
      // Passed on for shared groups (`h`): for those groups alone.
      if (entry.hops === undefined && !this.plain.has(messageId)) {
        this.plain.add(messageId);
        const had = this.marked.get(messageId);
        const sessions = had === undefined ? this.adopted : new Set([...this.adopted].filter((c) => !had.has(c)));
        if (sessions.size > 0) this.deliveries += this.host.deliverToSessions([message], sessions);
      }
      // The dead node's share of shared groups: served by this node's members of those groups.
      const groups = groupsOf(entry.groups);
      if (groups !== undefined) this.deliveries += this.host.deliverToGroups?.(message, groups) ?? 0;
    }
  }

  private unreadable(err: unknown): void {
    this.host.log.warn(
      { deadNode: this.deadNode, err: String(err) },
      'cluster: unreadable stream entry of a dead node skipped',
    );
  }
}
