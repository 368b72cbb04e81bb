/**
 * The SQLite store's file holds the backlog only: pages freed by delivered messages are reused, and
 * once a backlog has drained the surplus goes back to the disk a step at a time while the broker runs.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore, type StoreOp } from '../../src/store/index.js';
import { COMMITS_PER_VACUUM_CHECK, FREE_PAGES_KEPT, PAGES_PER_VACUUM_STEP } from '../../src/store/sqlite.js';
import { emptyState, message, normalize, session } from '../../src/store/conformance-records.js';

describe('SqliteStore size', () => {
  it('a drained backlog is given back to the disk while the store stays open, keeping a reserve of free pages', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fennec-store-size-'));
    const store = await SqliteStore.open(dir);
    try {
      const backlog: StoreOp[] = [];
      for (let id = 1; id <= 3000; id++) {
        backlog.push({ op: 'message', message: message(id, { payload: Buffer.alloc(2000, id & 0xff) }) });
      }
      await store.commit(backlog);
      const full = store.size();
      assert.ok(full.bytes > 5_000_000, `3000 messages of 2000 bytes take over 5 MB (${full.bytes})`);
      await store.commit(backlog.map((_op, index): StoreOp => ({ op: 'forget-message', id: index + 1 })));
      const drained = store.size();
      const { pageSize } = full;
      assert.ok(drained.freeBytes > FREE_PAGES_KEPT * pageSize, `the drained pages are free (${drained.freeBytes})`);
      // Enough looks to give back the surplus, a step each.
      const surplusPages = drained.freeBytes / pageSize - FREE_PAGES_KEPT;
      const looks = Math.ceil(surplusPages / PAGES_PER_VACUUM_STEP);
      for (let i = 0; i < looks * COMMITS_PER_VACUUM_CHECK; i++) {
        await store.commit([{ op: 'session', record: session('c1', { expiryInterval: i }) }]);
      }
      const after = store.size();
      assert.equal(after.freeBytes, FREE_PAGES_KEPT * pageSize, 'the reserve of free pages is kept');
      assert.ok(after.bytes <= drained.bytes - surplusPages * pageSize, `the surplus went back (${after.bytes})`);
      assert.deepStrictEqual(normalize(await store.load()), {
        ...emptyState(),
        sessions: [session('c1', { expiryInterval: looks * COMMITS_PER_VACUUM_CHECK - 1 })],
      });
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
