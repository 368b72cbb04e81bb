/**
 * Reading another node's stream outside its consumer group (docs/cluster.md, "Sessions"): an
 * adopter drains a dead node's stream, and a node that took a session from an owner that could not
 * hand it over reads what waited there for that session.
 */
import type { Message } from '../session/message.js';
import { decodeMessage } from './codec.js';
import type { RedisClient } from './connect.js';
import { entryMessages } from './entry.js';
import { streamKey } from './keys.js';

/** Stream entries read at once. */
const BATCH = 500;

/**
 * Hands `each` the entries of `node`'s stream from the first (or the first after entry `after`) up
 * to `end` (an entry id, or '+'), a batch at a time.
 */
export async function readStream(
  command: RedisClient,
  node: string,
  end: string,
  each: (entries: [entryId: string, fields: Buffer[]][]) => void,
  after?: string,
): Promise<void> {
  let start = after === undefined ? '-' : `(${after}`;
  for (;;) {
    const entries = (await command.xrangeBuffer(streamKey(node), start, end, 'COUNT', BATCH)) as [Buffer, Buffer[]][];
    each(entries.map(([id, fields]) => [id.toString(), fields]));
    if (entries.length < BATCH) return;
    start = `(${entries[entries.length - 1]![0].toString()}`;
  }
}

/** A message of a stream read for one session: with its cluster-wide id and the entry it came in. */
export interface BacklogMessage {
  message: Message;
  id: string;
  entryId: string;
}

/** What `readBacklog` found: the messages, and the id of the last entry read (undefined: none). */
export interface Backlog {
  messages: BacklogMessage[];
  last: string | undefined;
}

/**
 * The messages for session `clientId` in `node`'s stream up to entry `end` (or '+'): those for its
 * routes (not passed on for shared groups) and those marked for it, in order, each once. The
 * session's subscriptions decide which of the former it gets. With `after` (what an earlier read
 * returned), only the entries past its `last`, added to it.
 */
export async function readBacklog(
  command: RedisClient,
  node: string,
  clientId: string,
  end: string,
  unreadable: (err: unknown) => void,
  after?: Backlog,
): Promise<Backlog> {
  const backlog: BacklogMessage[] = after?.messages ?? [];
  let last = after?.last;
  // A message may be there twice: for the routes, and marked for the session by a node it left.
  const ids = new Set<string>(backlog.map(({ id }) => id));
  const from = last;
  await readStream(
    command,
    node,
    end,
    (entries) => {
      for (const [entryId, fields] of entries) {
        last = entryId;
        for (const entry of entryMessages(fields)) {
          const target = entry.target?.toString('utf8');
          if (entry.hops !== undefined || (target !== undefined && target !== clientId)) continue;
          const id = entry.id.toString('latin1');
          if (ids.has(id)) continue;
          ids.add(id);
          const message = decodeOrWarn(entry.bytes, unreadable, id);
          if (message !== undefined) backlog.push({ message, id, entryId });
        }
      }
    },
    from,
  );
  return { messages: backlog, last };
}

/** The message encoded in `bytes` (cluster id `originId`); undefined (after `unreadable`) when it cannot be decoded. */
export function decodeOrWarn(
  bytes: Buffer,
  unreadable: (err: unknown) => void,
  originId?: string,
): Message | undefined {
  try {
    return decodeMessage(bytes, originId);
  } catch (err) {
    unreadable(err);
    return undefined;
  }
}
