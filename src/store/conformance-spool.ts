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

/** Registers the spool tests in the current node:test suite; each skips (and says so) for a store without readSpool. */
export function spoolTests(withFreshStore: WithFreshStore): void {
  it('spool: rows read back in n order, in batches, with every field exact, after reopen too', async (t) => {
    await withFreshStore(async (_opened, current, reopen) => {
      if (current().readSpool === undefined) return t.skip('the store has no readSpool: the broker spools elsewhere');
      const special = spooled('c1', 3, 1024 * 64, {
        qos: 2,
        retain: true,
        subscriptionIdentifiers: [7, 268_435_455],
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
}
