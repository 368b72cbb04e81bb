/**
 * The Redis store (src/cluster/redis-store.ts) against a real redis-server: the store conformance
 * suite every store passes, then what only a cluster needs: a node loads only the sessions it
 * owns, a claim moves a session to another node renumbered (its spooled rows with it, numbers
 * kept), and fencing keeps a node that lost a session from writing to it, its spool included.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { RedisStore, type Reserved } from '../../src/cluster/redis-store.js';
import { DONE_KEPT, DONE_TTL_MS } from '../../src/cluster/store-scripts.js';
import { DeliveryState, storeConformance, storeRecords, type StoreOp } from '../../src/store/index.js';
import { spooled } from '../../src/store/conformance-spool.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const { delivery, message, session, subscription } = storeRecords;

let redis: TestRedis | undefined;
const cleanups: (() => unknown)[] = [];
before(async () => {
  redis = await startRedis({
    after: (fn) => cleanups.push(fn),
    skip: (why) => {
      throw new Error(`the Redis store tests need redis-server: ${String(why)}`);
    },
  });
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

/** An empty Redis: every conformance test starts on its own data. */
async function flushed(): Promise<void> {
  const admin = new Redis(redis!.url);
  await admin.flushall();
  admin.disconnect();
}

const open = (nodeId: string): Promise<RedisStore> => RedisStore.open({ redis: redis!.url, nodeId });

storeConformance('RedisStore', async () => {
  await flushed();
  let store = await open('conformance');
  return {
    store,
    reopen: async () => {
      await store.close();
      store = await open('conformance');
      return store;
    },
  };
});

/** A reservation counter, as a broker's Persistence keeps one. */
function numbers(start: number): (count: number) => Reserved {
  let next = start;
  return (count) => {
    const reserved = { seq: next, messageId: next, count };
    next += count;
    return reserved;
  };
}

const sessionOps = (clientId: string): StoreOp[] => [
  { op: 'session', record: session(clientId) },
  { op: 'subscribe', record: subscription(clientId, 'a/#') },
  { op: 'message', message: message(1) },
  { op: 'message', message: message(2) },
  { op: 'enqueue', record: delivery(1, clientId, 1, { state: DeliveryState.Published, packetId: 7 }) },
  { op: 'enqueue', record: delivery(2, clientId, 2) },
  { op: 'qos2-received', clientId, packetId: 9 },
];

describe('RedisStore in a cluster', () => {
  it('a node loads only the sessions it owns', async () => {
    await flushed();
    const a = await open('a');
    const b = await open('b');
    await a.commit(sessionOps('on-a'));
    await b.commit([{ op: 'session', record: session('on-b') }]);
    assert.deepStrictEqual(
      (await a.load()).sessions.map((s) => s.clientId),
      ['on-a'],
    );
    assert.deepStrictEqual(
      (await b.load()).sessions.map((s) => s.clientId),
      ['on-b'],
    );
    await a.close();
    await b.close();
  });

  it("a claim of a dead node's session moves it, renumbered in queue order, with its state", async () => {
    await flushed();
    const b = await open('b');
    await b.commit(sessionOps('x'));
    const a = await open('a');
    // No lease `{fennec}:lease:b`: node b counts as dead, so the claim takes the session at once.
    const claimed = await a.claim('x', numbers(1000));
    assert.equal(claimed.kind, 'moved');
    if (claimed.kind !== 'moved') return;
    assert.equal(claimed.from, 'b');
    assert.deepStrictEqual(claimed.state.sessions, [session('x')]);
    assert.deepStrictEqual(claimed.state.subscriptions, [subscription('x', 'a/#')]);
    assert.deepStrictEqual(claimed.state.deliveries, [
      delivery(1001, 'x', 1001, { state: DeliveryState.Published, packetId: 7 }),
      delivery(1002, 'x', 1002),
    ]);
    assert.deepStrictEqual(
      claimed.state.messages,
      [message(1001, { id: 1001 }), message(1002, { id: 1002 })].map((m, i) => ({ ...message(i + 1), id: m.id })),
    );
    assert.deepStrictEqual(claimed.state.incomingQoS2, [{ clientId: 'x', packetId: 9 }]);
    assert.deepStrictEqual((await b.load()).sessions, []);
    assert.deepStrictEqual(
      (await a.load()).deliveries.map((d) => d.seq),
      [1001, 1002],
    );
    await a.close();
    await b.close();
  });

  it('fencing: a node that lost a session cannot write to it afterwards, and its other sessions still commit', async () => {
    await flushed();
    const b = await open('b');
    await b.commit([...sessionOps('x'), { op: 'session', record: session('y') }]);
    const a = await open('a');
    const claimed = await a.claim('x', numbers(1000), true);
    assert.equal(claimed.kind, 'moved');
    const before = await a.load();
    // The old owner, slow, writes late: every write to x is refused; y, still its own, is written.
    await b.commit([
      { op: 'subscribe', record: subscription('x', 'late/#') },
      { op: 'enqueue', record: delivery(3, 'x', 1) },
      { op: 'complete', seq: 1 },
      { op: 'qos2-released', clientId: 'x', packetId: 9 },
      { op: 'end-session', clientId: 'x' },
      { op: 'subscribe', record: subscription('y', 'still/mine') },
    ]);
    assert.equal(b.counters.fenced, 5);
    assert.deepStrictEqual(await a.load(), before);
    const bState = await b.load();
    assert.deepStrictEqual(bState.deliveries, []);
    assert.deepStrictEqual(bState.subscriptions, [subscription('y', 'still/mine')]);
    await a.close();
    await b.close();
  });

  it('keeps the last DONE_KEPT completions of a session, for DONE_TTL_MS, from its owner only: loaded, claimed with the session, ended with it', async () => {
    await flushed();
    const b = await open('b');
    await b.commit(sessionOps('x'));
    for (let i = 1; i <= DONE_KEPT + 2; i++) b.noteCompleted('x', `n/1/${i}`);
    await b.commit([]);
    const admin = new Redis(redis!.url);
    const ttl = await admin.pttl('{fennec}:done:x');
    assert.ok(ttl > 0 && ttl <= DONE_TTL_MS, `expires in ${ttl} ms`);
    const newest = Array.from({ length: DONE_KEPT }, (_, i) => `n/1/${DONE_KEPT + 2 - i}`);
    assert.deepStrictEqual((await b.load()).completed, [{ clientId: 'x', originIds: newest }]);
    const a = await open('a');
    const claimed = await a.claim('x', numbers(1000), true);
    assert.equal(claimed.kind, 'moved');
    if (claimed.kind !== 'moved') return;
    assert.deepStrictEqual(claimed.state.completed, [{ clientId: 'x', originIds: newest }]);
    // The old owner's note is fenced out; the new owner's is kept.
    b.noteCompleted('x', 'late/1/1');
    await b.commit([]);
    assert.equal(b.counters.fenced, 1);
    a.noteCompleted('x', 'n/2/1');
    await a.commit([]);
    assert.deepStrictEqual(await admin.lrange('{fennec}:done:x', 0, 1), ['n/2/1', newest[0]]);
    await a.commit([{ op: 'end-session', clientId: 'x' }]);
    assert.equal(await admin.exists('{fennec}:done:x'), 0);
    admin.disconnect();
    await a.close();
    await b.close();
  });

  it('a delivery fenced out while the node owns the session under a newer token (its own claim under way) goes to its own stream, marked for the session', async () => {
    await flushed();
    const a = await open('a');
    const admin = new Redis(redis!.url);
    try {
      await a.commit(sessionOps('x'));
      // Node a claimed x again meanwhile (after handing it over, or losing it): a newer token, a's still.
      await admin.hset('{fennec}:owner:x', 'token', '999999');
      await a.commit([
        { op: 'message', message: message(3, { originId: 'p/1/3' }) },
        { op: 'enqueue', record: delivery(3, 'x', 3) },
      ]);
      assert.equal(a.counters.fenced, 1);
      const entries = await admin.xrange('{fennec}:stream:a', '-', '+');
      assert.equal(entries.length, 1);
      const fields = entries[0]![1];
      assert.deepStrictEqual([fields[0], fields[1], fields[4], fields[5]], ['i', 'p/1/3', 's', 'x']);
    } finally {
      admin.disconnect();
      await a.close();
    }
  });

  it('a hand-over by the live owner moves the session for the new owner to load on its next claim', async () => {
    await flushed();
    const b = await open('b');
    await b.commit(sessionOps('x'));
    const lease = new Redis(redis!.url);
    await lease.set('{fennec}:lease:b', '1', 'PX', 10_000);
    const a = await open('a');
    const reserve = numbers(500);
    assert.deepStrictEqual(await a.claim('x', reserve), { kind: 'busy', owner: 'b' });
    // b forgets message 2 (no other session of b refers to it) and keeps message 1.
    assert.equal(await b.handOver('x', 'a', reserve(1024), [2]), 'ok');
    const claimed = await a.claim('x', reserve);
    assert.equal(claimed.kind, 'moved');
    if (claimed.kind === 'moved') assert.equal(claimed.state.deliveries.length, 2);
    assert.deepStrictEqual(
      (await b.load()).messages.map((m) => m.id),
      [1],
    );
    assert.equal(await b.handOver('x', 'a', reserve(10), []), 'lost');
    lease.disconnect();
    await a.close();
    await b.close();
  });
});

describe('RedisStore: the spool moves with its session', () => {
  const spoolOps = (clientId: string, from: number, to: number): StoreOp[] =>
    Array.from({ length: to - from + 1 }, (_, i) => ({ op: 'spool', record: spooled(clientId, from + i, 10 + i) }));

  it("a claim of a dead node's session brings its spooled rows, numbers kept, with their summary and sizes", async () => {
    await flushed();
    const b = await open('b');
    await b.commit([...sessionOps('x'), ...spoolOps('x', 1, 5), { op: 'unspool', clientId: 'x', through: 2 }]);
    const a = await open('a');
    const claimed = await a.claim('x', numbers(1000));
    assert.equal(claimed.kind, 'moved');
    if (claimed.kind !== 'moved') return;
    assert.deepStrictEqual(claimed.state.spools, [{ clientId: 'x', count: 3, bytes: 12 + 13 + 14, first: 3, last: 5 }]);
    assert.deepStrictEqual(
      await a.readSpool('x', 1, 10),
      [3, 4, 5].map((n) => spooled('x', n, 10 + n - 1)),
    );
    assert.deepStrictEqual(a.spoolSizes('x', 4, 10), [
      { n: 4, bytes: 13 },
      { n: 5, bytes: 14 },
    ]);
    assert.deepStrictEqual(await b.readSpool('x', 1, 10), []);
    assert.deepStrictEqual((await b.load()).spools, []);
    assert.deepStrictEqual((await a.load()).spools, claimed.state.spools);
    await a.close();
    await b.close();
  });

  it('a hand-over moves the rows; the old owner can then neither add, delete nor move any of them (fencing)', async () => {
    await flushed();
    const b = await open('b');
    await b.commit([...sessionOps('x'), ...spoolOps('x', 1, 3)]);
    const lease = new Redis(redis!.url);
    await lease.set('{fennec}:lease:b', '1', 'PX', 10_000);
    const a = await open('a');
    const reserve = numbers(500);
    assert.deepStrictEqual(await a.claim('x', reserve), { kind: 'busy', owner: 'b' });
    assert.equal(await b.handOver('x', 'a', reserve(1024), []), 'ok');
    assert.equal((await a.claim('x', reserve)).kind, 'moved');
    await b.commit([
      { op: 'spool', record: spooled('x', 4) },
      { op: 'unspool', clientId: 'x', through: 2 },
      { op: 'move-spool', clientId: 'x', to: '\u0000orphan/x/1' },
      { op: 'clear-spool', clientId: 'x' },
    ]);
    assert.equal(b.counters.fenced, 4);
    assert.deepStrictEqual(
      (await a.readSpool('x', 1, 10)).map((r) => r.n),
      [1, 2, 3],
    );
    assert.deepStrictEqual(await b.readSpool('\u0000orphan/x/1', 1, 10), []);
    lease.disconnect();
    await a.close();
    await b.close();
  });
});

void describe('Redis store: where it can run', () => {
  void it('refuses a Redis Cluster URL with ERR_CLUSTER_REDIS_URL naming cluster.sessions: local, before connecting', async () => {
    await assert.rejects(
      RedisStore.open({ redis: 'redis+cluster://127.0.0.1:1', nodeId: 'n' }),
      (err: Error & { code?: string }) =>
        err.code === 'ERR_CLUSTER_REDIS_URL' && /set cluster\.sessions: local/.test(err.message),
    );
  });
});
