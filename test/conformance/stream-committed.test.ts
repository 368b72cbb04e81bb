/**
 * The stream entries a cluster node records in the commits of their deliveries ('stream-committed',
 * `cluster.sessions: local`; see test/cluster/qos2-once-local.test.ts): each store that a node with
 * its own store uses (memory, SQLite on the event loop's thread and in a worker) gives them back
 * from `load`, oldest first, after a reopen for SQLite, keeping the last STREAM_ENTRIES_KEPT.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MemoryStore, SqliteStore, SqliteWorkerStore, STREAM_ENTRIES_KEPT, type Store } from '../../src/store/index.js';

const ids = (from: number, count: number): string[] => Array.from({ length: count }, (_, i) => `${from + i}-0`);

const opens: [string, (dir: string) => Promise<Store>][] = [
  ['SqliteStore', (dir) => SqliteStore.open(dir)],
  ['SqliteWorkerStore', (dir) => SqliteWorkerStore.open(dir)],
];

void describe("a store's committed stream entries", () => {
  void it('MemoryStore gives them back oldest first, keeping the last STREAM_ENTRIES_KEPT', async () => {
    const store = new MemoryStore();
    await store.commit([{ op: 'stream-committed', ids: ids(1, 3) }]);
    assert.deepEqual((await store.load()).streamCommitted, ids(1, 3));
    await store.commit([{ op: 'stream-committed', ids: ids(4, STREAM_ENTRIES_KEPT) }]);
    const kept = (await store.load()).streamCommitted ?? [];
    assert.equal(kept.length, STREAM_ENTRIES_KEPT);
    assert.equal(kept[0], '4-0');
    assert.equal(kept.at(-1), `${3 + STREAM_ENTRIES_KEPT}-0`);
  });

  for (const [name, open] of opens) {
    void it(`${name} gives them back after a reopen, oldest first, keeping the last STREAM_ENTRIES_KEPT`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'fennec-stream-committed-'));
      try {
        let store = await open(dir);
        await store.commit([{ op: 'stream-committed', ids: ids(1, 3) }]);
        await store.commit([{ op: 'stream-committed', ids: ids(4, STREAM_ENTRIES_KEPT) }]);
        await store.close();
        store = await open(dir);
        const kept = (await store.load()).streamCommitted ?? [];
        await store.close();
        assert.equal(kept.length, STREAM_ENTRIES_KEPT);
        assert.equal(kept[0], '4-0', 'the oldest beyond the limit are gone');
        assert.equal(kept.at(-1), `${3 + STREAM_ENTRIES_KEPT}-0`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
