/**
 * The messages between SqliteWorkerStore (sqlite-thread.ts) and its worker thread (sqlite-worker.ts),
 * in a module of their own so that importing them never starts a worker's main().
 */
import type { FennecError } from '../errors/index.js';
import type { MessagePort } from 'node:worker_threads';
import type { SqliteStoreOptions } from './sqlite.js';

/** What the main thread asks; `id` comes back with the answer. */
export type WorkerRequest =
  | { t: 'commit'; id: number; buffer: ArrayBuffer; length: number }
  | { t: 'load'; id: number }
  | { t: 'spool'; id: number; clientId: string; from: number; limit: number }
  | { t: 'size'; id: number }
  | { t: 'close'; id: number };

/** An answer: `value` on success, `error` (a FennecError's code and message) on failure. */
export type WorkerAnswer =
  | { id: number; value?: unknown; error?: undefined }
  | { id: number; error: { code: FennecError['code']; message: string } };

export interface WorkerData {
  dataDir: string;
  options: SqliteStoreOptions;
  /** The port of synchronous requests (spoolSizes): the main thread waits on `signal` for each answer. */
  syncPort: MessagePort;
  /** One Int32: set to 1 by the worker when an answer on `syncPort` is ready. */
  signal: SharedArrayBuffer;
}

/** A synchronous request (see SqliteWorkerStore.spoolSizes). */
export interface SyncRequest {
  id: number;
  clientId: string;
  from: number;
  limit: number;
}

/** The answer to a SyncRequest. */
export type SyncAnswer =
  | { id: number; value: { n: number; bytes: number }[]; error?: undefined }
  | { id: number; error: { code: FennecError['code']; message: string } };

/** The answer to the open: id 0. */
export const OPEN_ID = 0;
