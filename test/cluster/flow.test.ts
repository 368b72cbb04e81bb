// Cluster flow control (src/cluster/flow.ts) on a real Redis: acknowledgements wait while a target
// node's stream holds more than the limit and the node reads it, go once it has caught up, and do
// not wait for a node that reads nothing (down) once it has stalled.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { BacklogGate } from '../../src/cluster/flow.js';
import { consumerGroup, streamKey } from '../../src/cluster/keys.js';
import { startRedis } from '../helpers/redis-server.js';

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

void describe('cluster flow control', () => {
  void it('holds acknowledgements while a reading node lags, releases them in order once it catches up, and stops waiting for a stalled node', async (t) => {
    const server = await startRedis(t);
    if (server === undefined) return;
    const redis = new Redis(server.url);
    t.after(() => redis.disconnect());
    const stream = streamKey('slow');
    await redis.xgroup('CREATE', stream, consumerGroup, '0', 'MKSTREAM');
    const gate = new BacklogGate(redis, streamKey, 5, 20, 400);
    t.after(() => gate.close());
    const append = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        await redis.xadd(stream, '*', 'i', String(i));
        gate.appended(['slow']);
      }
    };
    /** The node reads `count` entries, acknowledges and deletes them. */
    const consume = async (count: number): Promise<void> => {
      const reply = (await redis.xreadgroup('GROUP', consumerGroup, 'slow', 'COUNT', count, 'STREAMS', stream, '>')) as
        [string, [string, string[]][]][] | null;
      const ids = (reply?.[0]?.[1] ?? []).map(([id]) => id);
      await redis.xack(stream, consumerGroup, ...ids);
      await redis.xdel(stream, ...ids);
    };
    await append(5);
    assert.equal(gate.open, true, 'at the limit: open');
    await append(5);
    assert.equal(gate.open, false, 'over the limit: closed');
    const released: number[] = [];
    gate.whenOpen(() => released.push(1));
    gate.whenOpen(() => released.push(2));
    await consume(3);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(released.length, 0, '7 still waiting: held');
    await consume(3);
    await until(() => released.length === 2, 'the held acknowledgements');
    assert.equal(released.join(), '1,2', 'released in order');
    assert.equal(gate.open, true);
    // The node stops reading: after the stall time its backlog no longer holds anyone.
    await append(10);
    gate.whenOpen(() => released.push(3));
    assert.equal(released.length, 2, 'held while the node may still be reading');
    await until(() => released.length === 3, 'the stalled node to be given up on', 5000);
  });
});
