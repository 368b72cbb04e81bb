/**
 * Conformance of the spool (Store.readSpool and the spool operations), registered for stores that
 * have `readSpool`: order, exact round trips, deletion from the front, `end-session`, and what `load`
 * says of each spool (a summary, never the rows), also after a reopen.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fullProperties, retained, session } from './conformance-records.js';
import type { OpenedStore } from './conformance-types.js';
import type { SpoolRecord, SpoolSummary, Store, StoreOp } from './types.js';

/** A spooled delivery of `clientId` numbered `n`, with a payload of `size` bytes. */
export function spooled(clientId: string, n: number, size = 8, fields: Partial<SpoolRecord> = {}): SpoolRecord {
  const payload = Buffer.alloc(size, n & 0xff);
  return {
    clientId,
    n,
    message: retained(`spool/${clientId}/${n}`, { payload, qos: 1 }),
    qos: 1,
    retain: false,
    subscriptionIdentifiers: undefined,
    sharedFilter: undefined,
    ...fields,
  };
}

type WithFreshStore = (
  body: (opened: OpenedStore, current: () => Store, reopen: () => Promise<Store>) => Promise<void>,
) => Promise<void>;

async function read(store: Store, clientId: string, from = 1, limit = 1000): Promise<SpoolRecord[]> {
  assert.ok(store.readSpool !== undefined);
  return store.readSpool(clientId, from, limit);
}

async function summaries(store: Store): Promise<SpoolSummary[] | undefined> {
  return (await store.load()).spools;
}

/** Sizes from Store.spoolSizes, which a store that spools has. */
function sizes(store: Store, clientId: string, from = 1, limit = 1000): { n: number; bytes: number }[] {
  assert.ok(store.spoolSizes !== undefined, 'a store with readSpool has spoolSizes too');
  return store.spoolSizes(clientId, from, limit);
}

/** Registers the spool tests in the current node:test suite; each skips (and says so) for a store without readSpool. */
export function spoolTests(withFreshStore: WithFreshStore): void {
  it('spool: rows read back in n order, in batches, with every field exact, after reopen too', async (t) => {
    await withFreshStore(async (_opened, current, reopen) => {
      if (current().readSpool === undefined) return t.skip('the store has no readSpool: the broker spools elsewhere');
      const special = spooled('c1', 3, 1024 * 64, {
        qos: 2,
        retain: true,
        subscriptionIdentifiers: [7, 268_435_455],
        sharedFilter: '$share/g/капля/#',
        message: retained('капля/🦊', { payload: Buffer.from('ΣΩ'), properties: fullProperties, expiresAt: 9e12 }),
      });
      const ops: StoreOp[] = [1, 2].map((n) => ({ op: 'spool', record: spooled('c1', n) }));
      ops.push({ op: 'spool', record: special });
      for (let n = 4; n <= 10; n++) ops.push({ op: 'spool', record: spooled('c1', n) });
      ops.push({ op: 'spool', record: spooled('c2', 1, 100) });
      await current().commit([{ op: 'session', record: session('c1') }, ...ops]);
      for (const next of [current, reopen]) {
        const store = await next();
        const all = await read(store, 'c1');
        assert.deepStrictEqual(
          all.map((r) => r.n),
          [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        );
        assert.deepStrictEqual(all[2], special);
        assert.deepStrictEqual(
          (await read(store, 'c1', 4, 3)).map((r) => r.n),
          [4, 5, 6],
        );
        assert.deepStrictEqual(await read(store, 'c3'), []);
        assert.deepStrictEqual(await summaries(store), [
          { clientId: 'c1', count: 10, bytes: 8 * 9 + 4, first: 1, last: 10 },
          { clientId: 'c2', count: 1, bytes: 100, first: 1, last: 1 },
        ]);
      }
    });
  });

  it('spool: unspool deletes from the front, clear-spool and end-session delete all of a session', async (t) => {
    await withFreshStore(async (_opened, current, reopen) => {
      if (current().readSpool === undefined) return t.skip('the store has no readSpool: the broker spools elsewhere');
      const ops: StoreOp[] = [];
      for (let n = 1; n <= 5; n++)
        ops.push({ op: 'spool', record: spooled('a', n) }, { op: 'spool', record: spooled('b', n) });
      ops.push({ op: 'spool', record: spooled('c', 1) });
      await current().commit([
        { op: 'session', record: session('a') },
        { op: 'session', record: session('c') },
        ...ops,
      ]);
      await current().commit([
        { op: 'unspool', clientId: 'a', through: 3 },
        { op: 'clear-spool', clientId: 'b' },
        { op: 'end-session', clientId: 'c' },
        { op: 'spool', record: spooled('a', 6) },
      ]);
      for (const next of [current, reopen]) {
        const store = await next();
        assert.deepStrictEqual(
          (await read(store, 'a')).map((r) => r.n),
          [4, 5, 6],
        );
        assert.deepStrictEqual(await read(store, 'b'), []);
        assert.deepStrictEqual(await read(store, 'c'), []);
        assert.deepStrictEqual(await summaries(store), [{ clientId: 'a', count: 3, bytes: 24, first: 4, last: 6 }]);
      }
    });
  });

  it("spool: spoolSizes gives the exact payload size of each committed row from n on; move-spool gives a session's rows to another key, numbers kept", async (t) => {
    await withFreshStore(async (_opened, current, reopen) => {
      if (current().readSpool === undefined) return t.skip('the store has no readSpool: the broker spools elsewhere');
      const ops: StoreOp[] = [];
      for (let n = 1; n <= 6; n++) ops.push({ op: 'spool', record: spooled('m', n, n * 10) });
      ops.push({ op: 'spool', record: spooled('m', 7, 0, { sharedFilter: '$share/g/t' }) });
      await current().commit(ops);
      assert.deepStrictEqual(sizes(current(), 'm', 3, 3), [
        { n: 3, bytes: 30 },
        { n: 4, bytes: 40 },
        { n: 5, bytes: 50 },
      ]);
      assert.deepStrictEqual(sizes(current(), 'm', 6), [
        { n: 6, bytes: 60 },
        { n: 7, bytes: 0 },
      ]);
      assert.deepStrictEqual(sizes(current(), 'nobody'), []);
      await current().commit([
        { op: 'unspool', clientId: 'm', through: 2 },
        { op: 'move-spool', clientId: 'm', to: '\u0000orphan/m/1' },
        { op: 'spool', record: spooled('m', 1, 5) },
      ]);
      for (const next of [current, reopen]) {
        const store = await next();
        const moved = await read(store, '\u0000orphan/m/1');
        assert.deepStrictEqual(
          moved.map((r) => [r.clientId, r.n, r.message.payload.length, r.sharedFilter]),
          [
            ['\u0000orphan/m/1', 3, 30, undefined],
            ['\u0000orphan/m/1', 4, 40, undefined],
            ['\u0000orphan/m/1', 5, 50, undefined],
            ['\u0000orphan/m/1', 6, 60, undefined],
            ['\u0000orphan/m/1', 7, 0, '$share/g/t'],
          ],
        );
        assert.deepStrictEqual(
          (await read(store, 'm')).map((r) => [r.n, r.message.payload.length]),
          [[1, 5]],
        );
        assert.deepStrictEqual(sizes(store, '\u0000orphan/m/1', 6), [
          { n: 6, bytes: 60 },
          { n: 7, bytes: 0 },
        ]);
      }
    });
  });
}
