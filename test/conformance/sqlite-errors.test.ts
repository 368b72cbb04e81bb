/**
 * The SQLite store refuses what it cannot trust, with an error that names the file and says what
 * to do: a file that is not a database, a damaged one, one from a newer Fennec, one in use by another
 * broker, a data directory it cannot use; and a full disk fails a commit without applying any of it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { FennecError } from '../../src/errors/index.js';
import { SQLITE_FILE_NAME, SQLITE_SCHEMA_VERSION, SqliteStore, type StoreOp } from '../../src/store/index.js';
import { emptyState, message, normalize, session } from '../../src/store/conformance-records.js';

/** Runs `body` with a new temporary directory, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fennec-store-errors-'));
  try {
    await body(dir);
  } finally {
    await chmod(dir, 0o700).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Asserts that `promise` rejects with a FennecError of `code` whose message contains every `parts`. */
async function rejectsWith(promise: Promise<unknown>, code: string, ...parts: string[]): Promise<FennecError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof FennecError, `a FennecError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  for (const part of parts) assert.ok(caught.message.includes(part), `"${caught.message}" mentions "${part}"`);
  return caught;
}

/** Writes a database file directly, bypassing SqliteStore. */
function writeDatabase(file: string, sql: string): void {
  const db = new Database(file);
  db.exec(sql);
  db.close();
}

describe('SqliteStore open errors', () => {
  it('a fennec.db of random bytes is refused with ERR_STORE_CORRUPT naming the file and what to do', async () => {
    await inTempDir(async (dir) => {
      const file = join(dir, SQLITE_FILE_NAME);
      await writeFile(file, randomBytes(64 * 1024));
      const before = await readFile(file);
      await rejectsWith(SqliteStore.open(dir), 'ERR_STORE_CORRUPT', file, 'backup', 'move it away');
      assert.deepEqual(await readFile(file), before, 'the refused file is left as it was');
    });
  });

  it('a store whose pages were damaged fails its integrity check with ERR_STORE_CORRUPT', async () => {
    await inTempDir(async (dir) => {
      const file = join(dir, SQLITE_FILE_NAME);
      const store = await SqliteStore.open(dir);
      const ops: StoreOp[] = [];
      for (let id = 1; id <= 200; id++)
        ops.push({ op: 'message', message: message(id, { payload: randomBytes(600) }) });
      await store.commit(ops);
      await store.close();
      const bytes = await readFile(file);
      const pageSize = bytes.readUInt16BE(16);
      assert.ok(bytes.length >= pageSize * 8, `the database has at least 8 pages (${bytes.length} bytes)`);
      // Overwrite pages 3 to 6 (b-tree pages of the tables), keeping the header page intact.
      bytes.fill(0x5a, pageSize * 2, pageSize * 6);
      await writeFile(file, bytes);
      await rejectsWith(SqliteStore.open(dir), 'ERR_STORE_CORRUPT', file, 'backup');
      assert.deepEqual(await readFile(file), bytes, 'the refused file is left as it was');
    });
  });

  it('a database written by a newer schema version is refused with ERR_STORE_SCHEMA_NEWER', async () => {
    await inTempDir(async (dir) => {
      const file = join(dir, SQLITE_FILE_NAME);
      writeDatabase(file, `PRAGMA user_version = ${SQLITE_SCHEMA_VERSION + 1}; CREATE TABLE future (x);`);
      await rejectsWith(
        SqliteStore.open(dir),
        'ERR_STORE_SCHEMA_NEWER',
        file,
        `version ${SQLITE_SCHEMA_VERSION + 1}`,
        `up to ${SQLITE_SCHEMA_VERSION}`,
        'upgrade Fennec',
        'move the data directory away',
      );
    });
  });

  it('an empty file and an empty version 0 database are migrated to the current schema', async () => {
    for (const prepare of [
      (file: string) => writeFile(file, Buffer.alloc(0)),
      (file: string) => Promise.resolve(writeDatabase(file, 'PRAGMA user_version = 0;')),
    ]) {
      await inTempDir(async (dir) => {
        const file = join(dir, SQLITE_FILE_NAME);
        await prepare(file);
        const store = await SqliteStore.open(dir);
        await store.commit([{ op: 'session', record: session('c1') }]);
        await store.close();
        const db = new Database(file, { readonly: true });
        try {
          assert.equal(db.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION);
        } finally {
          db.close();
        }
        const reopened = await SqliteStore.open(dir);
        try {
          assert.deepStrictEqual(normalize(await reopened.load()), { ...emptyState(), sessions: [session('c1')] });
        } finally {
          await reopened.close();
        }
      });
    }
  });

  it('an SQLite database of another application is refused with ERR_STORE_CORRUPT and left unchanged', async () => {
    await inTempDir(async (dir) => {
      const file = join(dir, SQLITE_FILE_NAME);
      writeDatabase(file, "CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me');");
      const before = await readFile(file);
      await rejectsWith(SqliteStore.open(dir), 'ERR_STORE_CORRUPT', file, 'not a Fennec store');
      assert.deepEqual(await readFile(file), before);
    });
  });

  it('a second store on the same data directory is refused with ERR_STORE_LOCKED until the first closes', async () => {
    await inTempDir(async (dir) => {
      const first = await SqliteStore.open(dir);
      try {
        await first.commit([{ op: 'session', record: session('c1') }]);
        await rejectsWith(SqliteStore.open(dir), 'ERR_STORE_LOCKED', join(dir, SQLITE_FILE_NAME), 'another');
        // The refused open did not disturb the first store.
        await first.commit([{ op: 'session', record: session('c2') }]);
      } finally {
        await first.close();
      }
      const second = await SqliteStore.open(dir);
      try {
        assert.deepStrictEqual(normalize(await second.load()), {
          ...emptyState(),
          sessions: [session('c1'), session('c2')],
        });
      } finally {
        await second.close();
      }
    });
  });

  it('a data directory path that is a regular file is refused with ERR_STORE_OPEN naming it', async () => {
    await inTempDir(async (dir) => {
      const path = join(dir, 'not-a-directory');
      await writeFile(path, 'x');
      await rejectsWith(SqliteStore.open(path), 'ERR_STORE_OPEN', path);
      await rejectsWith(SqliteStore.open(join(path, 'below')), 'ERR_STORE_OPEN', path);
    });
  });

  it('a fennec.db that is a directory is refused with ERR_STORE_OPEN naming it', async () => {
    await inTempDir(async (dir) => {
      await mkdir(join(dir, SQLITE_FILE_NAME));
      await rejectsWith(SqliteStore.open(dir), 'ERR_STORE_OPEN', join(dir, SQLITE_FILE_NAME));
    });
  });

  // Permissions do not bind root (CI runs as root), so this case only runs for other users.
  const isRoot = process.getuid?.() === 0;
  it(
    'a data directory this user cannot read or write is refused with ERR_STORE_OPEN',
    { skip: isRoot && 'runs as root: permissions do not apply' },
    async () => {
      await inTempDir(async (dir) => {
        const locked = join(dir, 'locked');
        await mkdir(locked);
        await chmod(locked, 0o000);
        try {
          await rejectsWith(SqliteStore.open(locked), 'ERR_STORE_OPEN', locked);
        } finally {
          await chmod(locked, 0o700);
        }
      });
    },
  );
});

describe('SqliteStore write errors', () => {
  it('a full disk fails the commit with ERR_STORE_FULL, applies none of the batch, and the store works again once space is freed', async () => {
    await inTempDir(async (dir) => {
      const file = join(dir, SQLITE_FILE_NAME);
      // A 256 KiB cap on the file stands in for a full disk: SQLite reports SQLITE_FULL for both.
      const store = await SqliteStore.open(dir, { maxDatabaseBytes: 256 * 1024 });
      try {
        const fill: StoreOp[] = [1, 2, 3].map((id) => ({
          op: 'message',
          message: message(id, { payload: Buffer.alloc(50 * 1024, id) }),
        }));
        await store.commit(fill);
        const batch: StoreOp[] = [
          { op: 'session', record: session('c1') },
          { op: 'message', message: message(4, { payload: Buffer.alloc(150 * 1024, 4) }) },
        ];
        await rejectsWith(store.commit(batch), 'ERR_STORE_FULL', file, 'free space', 'acknowledgements are withheld');
        const filled = {
          ...emptyState(),
          messages: [1, 2, 3].map((id) => message(id, { payload: Buffer.alloc(50 * 1024, id) })),
        };
        assert.deepStrictEqual(normalize(await store.load()), filled, 'nothing of the failed batch was applied');
        // Free space, then retry the same batch, as the broker does.
        await store.commit([1, 2, 3].map((id): StoreOp => ({ op: 'forget-message', id })));
        await store.commit(batch);
        assert.deepStrictEqual(normalize(await store.load()), {
          ...emptyState(),
          sessions: [session('c1')],
          messages: [message(4, { payload: Buffer.alloc(150 * 1024, 4) })],
        });
      } finally {
        await store.close();
      }
    });
  });

  it('a commit after close is refused with ERR_STORE_WRITE naming the file', async () => {
    await inTempDir(async (dir) => {
      const store = await SqliteStore.open(dir);
      await store.close();
      await rejectsWith(
        store.commit([{ op: 'session', record: session('c1') }]),
        'ERR_STORE_WRITE',
        join(dir, SQLITE_FILE_NAME),
      );
    });
  });

  it('a record breaking a constraint fails the commit with ERR_STORE_WRITE and applies none of the batch', async () => {
    await inTempDir(async (dir) => {
      const store = await SqliteStore.open(dir);
      try {
        await rejectsWith(
          store.commit([
            { op: 'session', record: session('c1') },
            { op: 'qos2-received', clientId: 'c1', packetId: 0 },
          ]),
          'ERR_STORE_WRITE',
          join(dir, SQLITE_FILE_NAME),
        );
        assert.deepStrictEqual(normalize(await store.load()), emptyState());
      } finally {
        await store.close();
      }
    });
  });
});
