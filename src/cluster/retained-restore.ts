/**
 * A Redis that comes back without its data (restarted without persistence, or replaced) has lost
 * the cluster's retained messages while every node still holds them in memory. A node tells this
 * from the marker key every node sets when it joins: when the marker is missing, it writes each of
 * its retained messages back unless Redis has one for the topic already (HSETNX), announcing those
 * it wrote, so that the nodes that re-read the empty hash get them again. A message cleared on
 * another node while Redis was away may come back this way (docs/cluster.md says so).
 */
import type { Message } from '../session/message.js';
import { encodeMessage } from './codec.js';
import type { RedisClient } from './connect.js';
import { keyPrefix, retainedChannel, retainedKey } from './keys.js';
import type { Outbox } from './outbox.js';

/** Set by every node that joins: its absence says Redis lost its data (or the cluster is new). */
export const markerKey = `${keyPrefix}marker`;

/** Writes a retained message unless the topic has one, and announces it when written. */
const restoreScript = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then redis.call('PUBLISH', ARGV[4], ARGV[3]) end
return 1`;

/**
 * Sets the marker; when it was missing, queues on `outbox` the restoring of `messages` (this node's
 * retained messages). Resolves with how many were queued.
 */
export async function restoreRetainedIfLost(
  redis: RedisClient,
  outbox: Outbox,
  nodeId: string,
  messages: readonly Message[],
): Promise<number> {
  const wasSet = await redis.set(markerKey, '1', 'NX');
  // 'OK': the marker was missing, so is whatever Redis had.
  if (wasSet !== 'OK') return 0;
  for (const message of messages) {
    const value = encodeMessage(message);
    const notice = Buffer.concat([Buffer.from(`${nodeId}\0${message.topic}\0`), value]);
    outbox.push(['EVAL', restoreScript, 1, retainedKey, message.topic, value, notice, retainedChannel]);
  }
  return messages.length;
}
