/**
 * A data directory remembers how many workers wrote it: sessions are kept per worker by client id
 * (hash.ts), so a broker started with another count would not find them. Until sessions can be
 * re-homed, such a start is refused (exit 78) with a message saying what to do.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FennecError } from '../errors/index.js';
import { SQLITE_FILE_NAME } from '../store/sqlite.js';

/** The file of the data directory that holds the worker count it was written with (when over 1). */
export const WORKERS_FILE = 'fennec-workers';

/** The worker count the stores of `dataDir` were written with; undefined: no store yet. */
export function writtenWith(dataDir: string): number | undefined {
  const dir = resolve(dataDir);
  const marker = join(dir, WORKERS_FILE);
  if (existsSync(marker)) {
    const count = Number(readFileSync(marker, 'utf8').trim());
    if (Number.isInteger(count) && count >= 1) return count;
    throw new FennecError(
      'ERR_WORKERS_DATA_DIR',
      `${marker} does not hold a worker count; it is Fennec's own file: restore it or move the data directory away`,
    );
  }
  return existsSync(join(dir, SQLITE_FILE_NAME)) ? 1 : undefined;
}

/**
 * Checks that `dataDir` was written by `count` workers (or by none) and records `count` when over 1.
 * Throws ERR_WORKERS_DATA_DIR otherwise.
 */
export function claimDataDir(dataDir: string, count: number): void {
  const previous = writtenWith(dataDir);
  if (previous !== undefined && previous !== count) {
    throw new FennecError(
      'ERR_WORKERS_DATA_DIR',
      `${resolve(dataDir)} was written with workers: ${previous}, not ${count}: each client's session is in the ` +
        `store of the worker its client id falls on, so start with workers: ${previous}, or move the data ` +
        `directory away to start with empty stores`,
    );
  }
  if (count > 1 && previous === undefined) {
    mkdirSync(resolve(dataDir), { recursive: true });
    writeFileSync(join(resolve(dataDir), WORKERS_FILE), `${count}\n`);
  }
}
