/**
 * Sessions claimed away from a node that could not hand them over (docs/cluster.md, "Sessions"):
 * a node that a client connects to takes the session from a dead owner at once, and from a silent
 * one at the hand-over timeout. What was sent to the session meanwhile waits in the old owner's
 * stream, under the old owner's routes. The claim records the session in `{fennec}:left:NODE` (new
 * owner and plain filters, see keys.ts `leftKey`); whoever reads that stream next, the node
 * restarted under its id or the node adopting it, forwards what matches to the new owner, marked
 * for the session, and the new owner drops what the session already had (handover-forward.ts).
 */
import type { Message } from '../session/message.js';
import { TopicIndex } from '../topic/index.js';
import type { RedisClient } from './connect.js';
import { leftKey, ownerKey } from './keys.js';
import type { Command } from './outbox.js';
import { compareEntryIds } from './stream-reader.js';

/** A session that left a node: its new owner, where the node's stream ended then, and its plain topic filters. */
export interface LeftSession {
  clientId: string;
  to: string;
  /** The entry of the node's stream up to which the new owner has what it read in its store ('0-0': nothing yet). */
  after: string;
  /**
   * The new owner's own messages that reached the session there, held by its claim or once
   * installed: ids `ownIds` followed by a sequence above `above` (see HandoverForwarder.sendBackNot).
   * Recorded with `after`; absent before.
   */
  ownIds?: string | undefined;
  above?: string | undefined;
  /**
   * The Redis time (ms) after which what reaches the node's stream for the session reached its new
   * owner too (its routes were known by then): later entries are not forwarded (absent: all are).
   */
  until?: number | undefined;
  filters: string[];
  /**
   * Where the session is now, when read (`leftSessions`): `to`, or the node it moved to since (its
   * adopter, when `to` died too). What is forwarded goes there.
   */
  owner?: string;
}

/** Where a forwarded message goes: appended to `node`'s stream, marked for `clientId`. */
export interface ForwardLink {
  forwardTo(node: string, clientId: string, message: Message, messageId: string, raw: Buffer): void;
}

/** The sessions that left one node, matched against the messages of its stream. */
export class LeftSessions {
  private readonly index = new TopicIndex<LeftSession>({ maxLevels: Number.MAX_SAFE_INTEGER });
  private readonly byClient = new Map<string, LeftSession>();

  constructor(readonly sessions: readonly LeftSession[]) {
    for (const session of sessions) {
      this.byClient.set(session.clientId, session);
      for (const filter of session.filters) this.index.add(filter, session.clientId, session);
    }
  }

  /**
   * Forwards `message` (id `messageId`, encoded `raw`, in stream entry `entryId`) to the new owners
   * of the sessions it matches, or, marked for one session (`target`), to that session's new owner if
   * it left; only what came after the session left (the new owner read the rest itself). Returns how many.
   */
  forward(
    message: Message,
    messageId: string,
    raw: Buffer,
    entryId: string,
    target: string | undefined,
    link: ForwardLink | undefined,
  ): number {
    if (link === undefined || this.byClient.size === 0) return 0;
    const matched = new Set<LeftSession>();
    if (target !== undefined) {
      const session = this.byClient.get(target);
      if (session !== undefined) matched.add(session);
    } else {
      // A session with several matching filters gets one copy.
      this.index.match(message.topic, (session) => void matched.add(session));
    }
    let count = 0;
    for (const session of matched) {
      if (compareEntryIds(entryId, session.after) <= 0 || heldByNewOwner(session, messageId)) continue;
      if (pastCutoff(session.until, entryId)) continue;
      link.forwardTo(session.owner ?? session.to, session.clientId, message, messageId, raw);
      count++;
    }
    return count;
  }
}

/** Whether stream entry `entryId` came after the cut-off `until` of a hand-over's record (see `LeftSession.until`). */
export function pastCutoff(until: number | undefined, entryId: string): boolean {
  return until !== undefined && Number(entryId.slice(0, entryId.indexOf('-'))) > until;
}

/** Whether `messageId` is one of the new owner's own messages that reached the session there (see `LeftSession.ownIds`). */
export function heldByNewOwner(session: LeftSession, messageId: string): boolean {
  const { ownIds, above } = session;
  if (ownIds === undefined || !messageId.startsWith(ownIds)) return false;
  return Number(messageId.slice(ownIds.length)) > Number(above);
}

/**
 * Parses one record of `{fennec}:left:NODE`: the new owner; the last entry id read, with the new
 * owner's own ids and sequence once recorded, and `<MS` the cut-off (space-separated); the
 * filters; one per line.
 */
export function parseLeft(clientId: string, value: string): LeftSession {
  const [to = '', read = '0-0', ...filters] = value.split('\n');
  const tokens = read.split(' ');
  const cut = tokens.at(-1)?.startsWith('<') === true ? tokens.pop()!.slice(1) : undefined;
  const [after = '0-0', ownIds, above] = tokens;
  return { clientId, to, after, ownIds, above, until: cut === undefined ? undefined : Number(cut), filters };
}

/** Line 2 of the record of `session` (see `parseLeft`). */
function readLine({ after, ownIds, above, until }: LeftSession): string {
  const read = ownIds === undefined ? after : `${after} ${ownIds} ${above}`;
  return until === undefined ? read : `${read} <${until}`;
}

/** The sessions that left `node` (read from Redis), but for those of `except`, each with its owner now. */
export async function leftSessions(
  redis: RedisClient,
  node: string,
  except: ReadonlySet<string> = new Set(),
): Promise<LeftSessions> {
  const records = await redis.hgetall(leftKey(node));
  const sessions = Object.entries(records)
    .filter(([clientId]) => !except.has(clientId))
    .map(([clientId, value]) => parseLeft(clientId, value));
  // A new owner that died since had its sessions adopted, its stream drained and deleted: what is
  // appended there after that reaches nobody.
  const owners = await Promise.all(sessions.map(({ clientId }) => redis.hget(ownerKey(clientId), 'node')));
  sessions.forEach((session, i) => (session.owner = owners[i] ?? session.to));
  return new LeftSessions(sessions);
}

/**
 * Sets line 2 of record ARGV[1] of hash KEYS[1] (see \`parseLeft\`) to ARGV[3], if the record names
 * node ARGV[2] as the new owner and has read nothing yet ('0-0', then its cut-off if any, which is
 * kept).
 */
const readUpToScript = `local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return 0 end
local a = string.find(v, '\\n', 1, true)
if not a then return 0 end
local b = string.find(v, '\\n', a + 1, true)
local after = b and string.sub(v, a + 1, b - 1) or string.sub(v, a + 1)
if string.sub(v, 1, a - 1) ~= ARGV[2] or (after ~= '0-0' and string.sub(after, 1, 5) ~= '0-0 <') then return 0 end
local cut = string.match(after, ' (<%d+)$')
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '\\n' .. ARGV[3] .. (cut and (' ' .. cut) or '') .. (b and string.sub(v, b) or ''))
return 1`;

/**
 * Records, for the sessions of `clientIds` that left `node` for `to` (a claim or an adoption), that
 * `to` has what `node`'s stream held up to entry `entryId` in its store: the stream's next reader
 * forwards only what came after it, but for `to`'s own messages above `own` (see `LeftSession.ownIds`).
 */
export async function readUpTo(
  redis: RedisClient,
  node: string,
  to: string,
  clientIds: Iterable<string>,
  entryId: string,
  own?: { ids: string; above: number },
): Promise<void> {
  const read = own === undefined ? entryId : `${entryId} ${own.ids} ${own.above}`;
  await Promise.all([...clientIds].map((clientId) => redis.eval(readUpToScript, 1, leftKey(node), clientId, to, read)));
}

/**
 * Deletes record ARGV[1] of hash KEYS[1] if it names node ARGV[2] as the new owner and has read
 * nothing ('0-0'): the record of a hand-over (see the hand-over script).
 */
const forgetHandedOverScript = `local v = redis.call('HGET', KEYS[1], ARGV[1])
if v and string.sub(v, 1, #ARGV[2] + 6) == ARGV[2] .. '\\n0-0 <' then redis.call('HDEL', KEYS[1], ARGV[1]) end`;

/**
 * The command that deletes the record of the session of `clientId` that `node` handed over to `to`,
 * once `node` passed on what its stream held for it (handover-forward.ts).
 */
export function forgetHandedOver(node: string, clientId: string, to: string): Command {
  return ['EVAL', forgetHandedOverScript, 1, leftKey(node), clientId, to];
}

/** Deletes field ARGV[1] of hash KEYS[1] if it still holds ARGV[2]. */
const deleteIfScript = `if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[1], ARGV[1]) end`;

/** Commands that delete the records of `sessions` from `node`'s hash, each unless rewritten since. */
export function forgetLeft(node: string, sessions: readonly LeftSession[]): Command[] {
  return sessions.map((session) => [
    'EVAL',
    deleteIfScript,
    1,
    leftKey(node),
    session.clientId,
    [session.to, readLine(session), ...session.filters].join('\n'),
  ]);
}
