// The redis-server test helper: a real server on a free port, paused, restarted with its data kept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis } from '../helpers/redis-server.js';

void describe('redis-server test helper', () => {
  void it('starts a server that answers, keeps its data across a hard restart, and pauses', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const client = new Redis(redis.url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    t.after(() => client.disconnect());
    assert.equal(await client.ping(), 'PONG');
    await client.set('kept', 'yes');
    // appendfsync always: what Redis answered survives a SIGKILL
    await redis.restart(true);
    assert.equal(await client.get('kept'), 'yes');
    redis.pause();
    const answered = await Promise.race([
      client.ping().then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 300)),
    ]);
    assert.equal(answered, false, 'a paused server answers nothing');
    redis.resume();
    assert.equal(await client.ping(), 'PONG');
  });
});
