/**
 * A Store in one SQLite file, `<dataDir>/fennec.db`, through better-sqlite3. The broker commits one
 * batch of operations per turn of the event loop; each batch is one transaction of prepared
 * statements, so a crash leaves either all of a batch or none of it. See docs/persistence.md.
 *
 *   const store = await SqliteStore.open('data', { durability: 'process' });
 *   const state = await store.load();
 *
 * `open` does everything that can refuse the file (lock, schema version, integrity check,
 * migrations); `load` only reads.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { FennecError } from '../errors/index.js';
import { migrations, readState, SQLITE_SCHEMA_VERSION } from './sqlite-schema.js';
import { applyEncoded } from './sqlite-apply.js';
import { apply, prepareStatements, type Statements } from './sqlite-ops.js';
import { readSpoolRows, readSpoolSizes } from './sqlite-spool.js';
import type { SpoolRecord, Store, StoredState, StoreOp } from './types.js';

export { SQLITE_SCHEMA_VERSION } from './sqlite-schema.js';

/** How much of a committed batch survives what. */
export type Durability = 'process' | 'power';

export interface SqliteStoreOptions {
  /**
   * `process` (default): a committed batch survives the broker process dying (SQLite
   * `synchronous = NORMAL` in WAL mode: the WAL is written, not flushed to the disk, at each commit).
   * `power`: it also survives power loss or an OS crash (`synchronous = FULL`: an fsync per commit).
   */
  durability?: Durability;
  /**
   * Largest size of the database file, in bytes (rounded down to whole pages); a commit that
   * would pass it fails with ERR_STORE_FULL like a full disk. Undefined: SQLite's limit only.
   */
  maxDatabaseBytes?: number | undefined;
  /** The file's name in the data directory; default `fennec.db` (workers 2 to N use `fennec-wK.db`). */
  fileName?: string | undefined;
  /**
   * A scratch file (the broker's temporary spool): no journal on disk (`journal_mode = MEMORY`,
   * `synchronous = OFF`), so that the file can be unlinked right after opening and the open handle
   * is all that holds its space; `durability` is ignored. A crash loses it whole.
   */
  temporary?: boolean;
}

/** The file a store keeps in its data directory. */
export const SQLITE_FILE_NAME = 'fennec.db';

/** Commits between two looks at the free pages of the file. */
export const COMMITS_PER_VACUUM_CHECK = 256;
/** Free pages kept for later commits to reuse (4 MiB of 4 KiB pages); the surplus goes back to the disk. */
export const FREE_PAGES_KEPT = 1024;
/** Most pages given back per look, so that one commit never pays for a whole drained backlog. */
export const PAGES_PER_VACUUM_STEP = 512;

export class SqliteStore implements Store {
  readonly description: string;
  /** The database file, absolute. */
  readonly file: string;
  private readonly db: Database.Database;
  private readonly statements: Statements;
  private readonly applyBatch: (ops: readonly StoreOp[]) => void;
  private readonly applyEncodedBatch: (batch: Buffer) => void;
  private readonly pageCount: Database.Statement;
  private readonly freePageCount: Database.Statement;
  private readonly pageSize: number;
  private commitsSinceVacuumCheck = 0;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.description = `sqlite ${file}`;
    this.db = db;
    this.statements = prepareStatements(db);
    const statements = this.statements;
    this.applyBatch = db.transaction((ops: readonly StoreOp[]) => {
      for (const op of ops) apply(statements, op);
    });
    this.applyEncodedBatch = db.transaction((batch: Buffer) => applyEncoded(statements, batch));
    this.pageCount = db.prepare('PRAGMA page_count').pluck();
    this.freePageCount = db.prepare('PRAGMA freelist_count').pluck();
    this.pageSize = db.pragma('page_size', { simple: true }) as number;
  }

  /**
   * Opens (creating it if missing) the store of `dataDir`, takes its lock, checks its integrity and
   * schema version and migrates an older file forward. Throws a FennecError: ERR_STORE_OPEN,
   * ERR_STORE_LOCKED, ERR_STORE_CORRUPT or ERR_STORE_SCHEMA_NEWER.
   */
  static open(dataDir: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    try {
      return Promise.resolve(SqliteStore.openNow(dataDir, options));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** `open`, returning the store itself (opening is synchronous inside); throws what `open` rejects with. */
  static openNow(dataDir: string, options: SqliteStoreOptions = {}): SqliteStore {
    const dir = resolve(dataDir);
    const file = join(dir, options.fileName ?? SQLITE_FILE_NAME);
    try {
      mkdirSync(dir, { recursive: true });
      if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
    } catch (error) {
      throw openError(dir, error);
    }
    let db: Database.Database;
    try {
      // No busy wait: a lock held by another process is refused at once, not after a timeout.
      db = new Database(file, { timeout: 0 });
    } catch (error) {
      throw classify(file, error, 'open');
    }
    try {
      // Held from the first read to close: a second broker on this data directory gets SQLITE_BUSY.
      db.pragma('locking_mode = EXCLUSIVE');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SQLITE_SCHEMA_VERSION) {
        throw new FennecError(
          'ERR_STORE_SCHEMA_NEWER',
          `${file} has schema version ${version}, but this Fennec reads versions up to ${SQLITE_SCHEMA_VERSION}: ` +
            `upgrade Fennec, or move the data directory away to start with an empty store`,
        );
      }
      // Checked before anything is written, so that a refused file is left as it was.
      const check = db.pragma('quick_check', { simple: true }) as string;
      if (check !== 'ok') {
        throw new FennecError(
          'ERR_STORE_CORRUPT',
          `${file} failed its integrity check (${check}): restore it from a backup, or move it away to start ` +
            `with an empty store; the broker does not start on a store it cannot read in full`,
        );
      }
      if (version === 0) {
        const tables = db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number;
        if (tables > 0) {
          throw new FennecError(
            'ERR_STORE_CORRUPT',
            `${file} is an SQLite database but not a Fennec store (it has tables and no schema version): ` +
              `move it away, or give Fennec another data directory`,
          );
        }
        // Must precede the first table; lets close() give pages freed by deliveries back to the disk.
        db.pragma('auto_vacuum = INCREMENTAL');
      }
      if (options.temporary === true) {
        // No file besides the database: nothing but the open handle is left to unlink.
        db.pragma('journal_mode = MEMORY');
        db.pragma('synchronous = OFF');
      } else {
        db.pragma('journal_mode = WAL');
        db.pragma(options.durability === 'power' ? 'synchronous = FULL' : 'synchronous = NORMAL');
      }
      // After a checkpoint the WAL file is cut back to this size, so it does not stay at its peak.
      db.pragma('journal_size_limit = 4194304');
      if (options.maxDatabaseBytes !== undefined) {
        const pageSize = db.pragma('page_size', { simple: true }) as number;
        db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxDatabaseBytes / pageSize))}`);
      }
      if (version < SQLITE_SCHEMA_VERSION) {
        db.transaction(() => {
          for (let next = version; next < SQLITE_SCHEMA_VERSION; next++) db.exec(migrations[next]!);
          db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
        }).immediate();
      }
      return new SqliteStore(file, db);
    } catch (error) {
      db.close();
      throw error instanceof FennecError ? error : classify(file, error, 'open');
    }
  }

  load(): Promise<StoredState> {
    try {
      return Promise.resolve(this.loadNow());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /**
   * Applies the batch in one transaction; the promise settles after COMMIT returned (for
   * durability `power`, after the WAL was flushed). A failed batch was rolled back whole.
   */
  commit(ops: readonly StoreOp[]): Promise<void> {
    if (ops.length === 0 && this.db.open) return Promise.resolve();
    try {
      this.applyBatch(ops);
    } catch (error) {
      return Promise.reject(classify(this.file, error, 'write'));
    }
    this.afterCommit();
    return Promise.resolve();
  }

  /**
   * Applies a batch in the binary form of sqlite-codec.ts in one transaction, synchronously: the
   * SQLite worker thread's commit. Throws a FennecError (ERR_STORE_FULL, ERR_STORE_WRITE...) after
   * rolling the batch back whole.
   */
  commitEncodedNow(batch: Buffer): void {
    try {
      this.applyEncodedBatch(batch);
    } catch (error) {
      throw classify(this.file, error, 'write');
    }
    this.afterCommit();
  }

  private afterCommit(): void {
    if (++this.commitsSinceVacuumCheck >= COMMITS_PER_VACUUM_CHECK) {
      this.commitsSinceVacuumCheck = 0;
      this.giveBackFreePages();
    }
  }

  /** `load`, synchronously (the worker thread's load); throws what `load` rejects with. */
  loadNow(): StoredState {
    try {
      return readState(this.db);
    } catch (error) {
      throw classify(this.file, error, 'read');
    }
  }

  /** `readSpool`, synchronously; throws what `readSpool` rejects with. */
  readSpoolNow(clientId: string, from: number, limit: number): SpoolRecord[] {
    try {
      return readSpoolRows(this.statements.spool, clientId, from, limit);
    } catch (error) {
      throw classify(this.file, error, 'read');
    }
  }

  /** A batch of committed spooled deliveries of `clientId` (see Store.readSpool); small, so it is read at once. */
  readSpool(clientId: string, from: number, limit: number): Promise<SpoolRecord[]> {
    try {
      return Promise.resolve(this.readSpoolNow(clientId, from, limit));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** See Store.spoolSizes: sizes of committed spooled deliveries, read at once from the spool's index. */
  spoolSizes(clientId: string, from: number, limit: number): { n: number; bytes: number }[] {
    return readSpoolSizes(this.statements.spool, clientId, from, limit);
  }

  /** The size of the database (the WAL aside), how much of it is free pages, and its page size, in bytes. */
  size(): { bytes: number; freeBytes: number; pageSize: number } {
    return {
      pageSize: this.pageSize,
      bytes: (this.pageCount.get() as number) * this.pageSize,
      freeBytes: (this.freePageCount.get() as number) * this.pageSize,
    };
  }

  /** Checkpoints the WAL into the database, returns freed pages to the disk, and closes the file. */
  close(): Promise<void> {
    if (!this.db.open) return Promise.resolve();
    try {
      this.db.pragma('incremental_vacuum');
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Closing still releases the file and its lock; the WAL is checkpointed at the next open.
    }
    this.db.close();
    return Promise.resolve();
  }

  /**
   * Once a backlog has drained, its pages are free but still in the file: give the surplus back a
   * step at a time. This changes no record, so a failure is left for the next commit to meet.
   */
  private giveBackFreePages(): void {
    try {
      const surplus = (this.freePageCount.get() as number) - FREE_PAGES_KEPT;
      if (surplus > 0) this.db.pragma(`incremental_vacuum(${Math.min(surplus, PAGES_PER_VACUUM_STEP)})`);
    } catch {
      // Nothing was lost: the batch is committed, and the free pages stay for reuse.
    }
  }
}

/** The SQLite result code of an error (e.g. `SQLITE_FULL`), or undefined. */
function sqliteCode(error: unknown): string | undefined {
  if (error instanceof Database.SqliteError) return error.code;
  return undefined;
}

function openError(dir: string, error: unknown): FennecError {
  const reason = error instanceof Error ? error.message : String(error);
  return new FennecError(
    'ERR_STORE_OPEN',
    `cannot open the store in ${dir}: ${reason}; check that it is a directory this user can read and write`,
    { cause: error },
  );
}

/** Maps an SQLite failure to the FennecError that tells the operator what to do. */
function classify(file: string, error: unknown, during: 'open' | 'read' | 'write'): FennecError {
  if (error instanceof FennecError) return error;
  const code = sqliteCode(error) ?? '';
  const reason = error instanceof Error ? error.message : String(error);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new FennecError(
      'ERR_STORE_LOCKED',
      `${file} is locked by another process (is another broker running on this data directory?): ` +
        `stop it, or give this broker another data directory`,
      { cause: error },
    );
  }
  if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT')) {
    return new FennecError(
      'ERR_STORE_CORRUPT',
      `${file} is not a readable Fennec database (${reason}): restore it from a backup, or move it away to ` +
        `start with an empty store; the broker does not start on a store it cannot read in full`,
      { cause: error },
    );
  }
  if (code.startsWith('SQLITE_FULL')) {
    return new FennecError(
      'ERR_STORE_FULL',
      `disk full writing ${file}: free space; acknowledgements are withheld until a write succeeds`,
      { cause: error },
    );
  }
  if (during === 'write') {
    return new FennecError('ERR_STORE_WRITE', `cannot write ${file}: ${reason}`, { cause: error });
  }
  return new FennecError(
    'ERR_STORE_OPEN',
    `cannot ${during} ${file}: ${reason}; check that this user can read and write it`,
    { cause: error },
  );
}
