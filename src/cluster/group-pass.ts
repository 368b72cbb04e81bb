/**
 * A shared group's message that reached a node with no member of the group left (docs/cluster.md,
 * "Shared subscriptions"): the publishing node chose it before the route notice of its last member's
 * leaving arrived. The node passes the message on to another node with members, for that group
 * alone (field `h`: the hops so far), rather than drop it.
 */
import type { Logger } from 'pino';
import type { Message } from '../session/message.js';
import { streamKey } from './keys.js';
import type { Command } from './outbox.js';
import type { RouteTable } from './routes.js';

/** How many times a message for a shared group is passed on by nodes that no longer had a member. */
export const MAX_GROUP_HOPS = 3;

const NO_GROUPS: ReadonlySet<string> = new Set();

/** What passing on needs of the bus. */
export interface GroupPassLinks {
  routes: RouteTable;
  /** Queues a Redis write (`durable`: a QoS 1/2 message's). */
  push(command: Command, durable: boolean): void;
  /** The broker's log, once the bus started. */
  log(): Logger | undefined;
}

/**
 * The shared groups of `groups` this node has members of. Each of the others is passed on to another
 * node with members (`messageId`, `raw`: the message's id and encoding; `hops`: how many times it was
 * passed on already), up to MAX_GROUP_HOPS times, or dropped with a warning when no node has one.
 */
export function passOnGroups(
  links: GroupPassLinks,
  message: Message,
  raw: Buffer,
  groups: ReadonlySet<string>,
  messageId: string,
  hops: number,
): ReadonlySet<string> {
  let served: Set<string> | undefined;
  let passed: Map<string, string[]> | undefined;
  for (const group of groups) {
    if (links.routes.hasLocal(group)) {
      (served ??= new Set()).add(group);
      continue;
    }
    const node = hops < MAX_GROUP_HOPS ? links.routes.passOn(message.topic, group) : undefined;
    if (node === undefined) {
      links
        .log()
        ?.warn(
          { group, topic: message.topic, hops },
          'cluster: no node has a member of the shared group; message dropped for it',
        );
      continue;
    }
    passed ??= new Map();
    const list = passed.get(node);
    if (list === undefined) passed.set(node, [group]);
    else list.push(group);
  }
  for (const [node, list] of passed ?? []) {
    const entry: Command = ['XADD', streamKey(node), '*', 'i', messageId, 'm', raw, 'g', list.join('\u0000')];
    entry.push('h', String(hops + 1));
    links.push(entry, message.qos > 0);
  }
  return served ?? NO_GROUPS;
}
