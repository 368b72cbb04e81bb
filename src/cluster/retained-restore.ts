/**
 * A Redis that comes back without its data (restarted without persistence, or replaced) has lost
 * the cluster's retained messages while every node still holds them in memory. A node tells this
 * from the marker key (RetainedRestorer): after a loss it writes each of its retained messages back
 * unless Redis has one for the topic already (HSETNX), announcing those it wrote, so that the nodes
 * that re-read the empty hash get them again. A message cleared on
 * another node while Redis was away may come back this way (docs/cluster.md says so).
 */
import { randomUUID } from 'node:crypto';
import type { Message } from '../session/message.js';
import { encodeMessage } from './codec.js';
import type { RedisClient } from './connect.js';
import { keyPrefix, retainedChannel, retainedKey } from './keys.js';
import type { Outbox } from './outbox.js';

/** A random value set by the first node to join: its absence or change says Redis lost its data. */
export const markerKey = `${keyPrefix}marker`;

/** Writes a retained message unless the topic has one, and announces it when written. */
const restoreScript = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then redis.call('PUBLISH', ARGV[4], ARGV[3]) end
return 1`;

/**
 * Tells whether Redis lost its data since this node last looked, by the marker's value: a node that
 * finds no marker sets one (a new random value) and restores; a node that finds a value other than
 * the one it saw before knows another node set it after a loss, and restores too (HSETNX keeps the
 * first copy written), so that a notice one node missed before the loss is made good by another.
 */
export class RetainedRestorer {
  /** The marker's value this node last saw; undefined before its first join. */
  private seen: string | undefined;

  /** Queues on `outbox` the restoring of `messages` (this node's retained messages) after a loss; resolves with how many. */
  async restoreIfLost(
    redis: RedisClient,
    outbox: Outbox,
    nodeId: string,
    messages: readonly Message[],
  ): Promise<number> {
    const mine = randomUUID();
    let lost: boolean;
    if ((await redis.set(markerKey, mine, 'NX')) === 'OK') {
      lost = true;
      this.seen = mine;
    } else {
      const current = (await redis.get(markerKey)) ?? undefined;
      lost = this.seen !== undefined && current !== this.seen;
      this.seen = current;
    }
    if (!lost) return 0;
    for (const message of messages) {
      const value = encodeMessage(message);
      const notice = Buffer.concat([Buffer.from(`${nodeId}\0${message.topic}\0`), value]);
      outbox.push(['EVAL', restoreScript, 1, retainedKey, message.topic, value, notice, retainedChannel]);
    }
    return messages.length;
  }
}
