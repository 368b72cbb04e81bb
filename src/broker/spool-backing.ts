/**
 * Where the spool writes and reads its rows: the broker's store when it can spool, or else a
 * temporary SQLite file of the spool's own, made here.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/types.js';
import { Persistence } from './persistence.js';

/** Where rows are written and read: a store that can spool and the Persistence that batches its writes. */
export interface Backing {
  store: Store & Required<Pick<Store, 'readSpool' | 'spoolSizes'>>;
  writer: Persistence;
  /** A directory on the spool's disk, for the free-space check; undefined: not on a disk (MemoryStore). */
  dir: string | undefined;
  /** Whether the store is the spool's own temporary file, closed with the spool. */
  temporary: boolean;
  /** A temporary directory that could not be unlinked at once, removed at close or exit; else undefined. */
  leftover: string | undefined;
}

/**
 * A SQLite file in a new directory of the temporary directory, both unlinked as soon as the file is
 * open: its space is held by the open handle alone and goes back to the disk when the process ends,
 * however it ends (SIGKILL included), so no temporary spool outlives its broker. Where the system
 * refuses to unlink an open file, `leftover` names the directory to remove at close or exit instead.
 */
export function openTemporaryBacking(log: Logger): Backing {
  const parent = tmpdir();
  const dir = mkdtempSync(join(parent, 'fennec-spool-'));
  let store: SqliteStore;
  try {
    store = SqliteStore.openNow(dir, { temporary: true });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let leftover: string | undefined;
  try {
    rmSync(dir, { recursive: true, force: true });
  } catch (err) {
    leftover = dir;
    log.warn({ dir, err }, 'cannot unlink the open temporary spool file; it is removed at exit');
  }
  log.info({ file: store.file }, 'spooling to a temporary file (unlinked: it ends with the process)');
  return { store, writer: new Persistence(store, log), dir: parent, temporary: true, leftover };
}
