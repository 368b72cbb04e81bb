/**
 * The SQLite store on a worker thread: the same file, schema, checks and guarantees as SqliteStore
 * (which runs inside the worker, sqlite-worker.ts), but the event loop of the caller never waits
 * for SQLite. A batch goes to the worker as one transferable buffer (sqlite-codec.ts); its promise
 * resolves once the worker's COMMIT returned, so "resolved" still means "committed".
 *
 *   const store = await SqliteWorkerStore.open('data', { durability: 'process' });
 *   const state = await store.load();
 *
 * A worker that dies (a crash, out of memory, terminated) is a store failure: every pending and
 * later request rejects with ERR_STORE_WRITE naming the file, so the broker withholds its
 * acknowledgements and logs it, as for a full disk; the broker must be restarted.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { join, resolve } from 'node:path';
import { FennecError } from '../errors/index.js';
import { encodeOps } from './sqlite-codec.js';
import { SQLITE_FILE_NAME, type SqliteStoreOptions } from './sqlite.js';
import {
  OPEN_ID,
  type SyncAnswer,
  type SyncRequest,
  type WorkerAnswer,
  type WorkerData,
  type WorkerRequest,
} from './sqlite-worker-protocol.js';
import type { SpoolRecord, Store, StoredState, StoreOp } from './types.js';

const WORKER_URL = new URL('./sqlite-worker.js', import.meta.url);

/** How long spoolSizes waits for the worker (behind at most the commit it is doing), in ms. */
const SYNC_TIMEOUT_MS = 30_000;

/** Distributes the Omit over the request union, so that each request keeps its own fields. */
type Request = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, 'id'> : never) : never;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: FennecError) => void;
}

export class SqliteWorkerStore implements Store {
  readonly description: string;
  /** The database file, absolute. */
  readonly file: string;
  /** The worker thread that owns the database. */
  readonly thread: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = OPEN_ID + 1;
  /** Set once the worker is gone: what every later request rejects with. */
  private failure: FennecError | undefined;
  private closing = false;
  /** The main thread's end of the synchronous requests' port, and the Int32 the worker signals on. */
  private readonly syncPort: MessagePort;
  private readonly signal: Int32Array;
  private nextSyncId = 1;

  private constructor(thread: Worker, file: string, syncPort: MessagePort, signal: SharedArrayBuffer) {
    this.thread = thread;
    this.file = file;
    this.syncPort = syncPort;
    this.signal = new Int32Array(signal);
    // Read only with receiveMessageOnPort; never holds the process open.
    syncPort.unref();
    this.description = `sqlite ${file} (worker thread)`;
    thread.on('message', (answer: WorkerAnswer) => this.answered(answer));
    thread.on('error', (error: Error) => this.fail(`failed: ${error.message}`, error));
    thread.on('exit', (code: number) => this.fail(`stopped (exit code ${code})`, undefined));
    // Holds the process open only while a request waits (see request()).
    thread.unref();
  }

  /**
   * Starts the worker, which opens (creating it if missing) the store of `dataDir` as SqliteStore.open
   * does: lock, integrity check, schema version, migrations. Rejects with the same FennecErrors.
   */
  static open(dataDir: string, options: SqliteStoreOptions = {}): Promise<SqliteWorkerStore> {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(4);
    const data: WorkerData = { dataDir, options, syncPort: port2, signal };
    const file = join(resolve(dataDir), options.fileName ?? SQLITE_FILE_NAME);
    return new Promise((resolveOpen, rejectOpen) => {
      const thread = new Worker(WORKER_URL, { workerData: data, transferList: [port2] });
      const opened = (answer: WorkerAnswer): void => {
        if (answer.id !== OPEN_ID) return;
        thread.off('message', opened).off('error', failed).off('exit', exited);
        if (answer.error === undefined) {
          resolveOpen(new SqliteWorkerStore(thread, file, port1, signal));
        } else {
          // The worker ends by itself after a refused open; its error is the store's answer.
          rejectOpen(new FennecError(answer.error.code, answer.error.message));
        }
      };
      const failed = (error: Error): void => {
        thread.off('message', opened).off('exit', exited);
        rejectOpen(
          new FennecError(
            'ERR_STORE_OPEN',
            `cannot start the SQLite store's worker thread for ${file}: ${error.message}`,
            {
              cause: error,
            },
          ),
        );
      };
      const exited = (code: number): void => {
        thread.off('message', opened).off('error', failed);
        rejectOpen(new FennecError('ERR_STORE_OPEN', `the SQLite store's worker thread for ${file} exited (${code})`));
      };
      thread.on('message', opened).once('error', failed).once('exit', exited);
    });
  }

  async load(): Promise<StoredState> {
    return reviveBuffers((await this.request({ t: 'load' }, 'read')) as StoredState);
  }

  commit(ops: readonly StoreOp[]): Promise<void> {
    if (ops.length === 0 && this.failure === undefined) return Promise.resolve();
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const { buffer, length } = encodeOps(ops);
    return this.request({ t: 'commit', buffer, length }, 'write', [buffer]) as Promise<void>;
  }

  async readSpool(clientId: string, from: number, limit: number): Promise<SpoolRecord[]> {
    return reviveBuffers((await this.request({ t: 'spool', clientId, from, limit }, 'read')) as SpoolRecord[]);
  }

  /**
   * See Store.spoolSizes: synchronous, as `drop_oldest` needs it. The worker answers between two of
   * its requests, and this thread blocks (Atomics.wait) until it has: a rare, small read of an index.
   */
  spoolSizes(clientId: string, from: number, limit: number): { n: number; bytes: number }[] {
    if (this.failure !== undefined) throw this.failure;
    if (this.closing) throw new FennecError('ERR_STORE_WRITE', `cannot read ${this.file}: the store is closed`);
    const id = this.nextSyncId++;
    Atomics.store(this.signal, 0, 0);
    this.syncPort.postMessage({ id, clientId, from, limit } satisfies SyncRequest);
    const deadline = Date.now() + SYNC_TIMEOUT_MS;
    for (;;) {
      // An answer to an earlier request that timed out is skipped.
      const received = receiveMessageOnPort(this.syncPort);
      if (received !== undefined) {
        const answer = received.message as SyncAnswer;
        if (answer.id !== id) continue;
        if (answer.error !== undefined) throw new FennecError(answer.error.code, answer.error.message);
        return answer.value;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      Atomics.wait(this.signal, 0, 0, left);
      Atomics.store(this.signal, 0, 0);
    }
    throw new FennecError('ERR_STORE_WRITE', `the SQLite store's worker thread for ${this.file} did not answer a read`);
  }

  /** The size of the database (the WAL aside), how much of it is free pages, and its page size, in bytes. */
  size(): Promise<{ bytes: number; freeBytes: number; pageSize: number }> {
    return this.request({ t: 'size' }, 'read') as Promise<{ bytes: number; freeBytes: number; pageSize: number }>;
  }

  /** Checkpoints the WAL, returns freed pages to the disk, closes the file and ends the worker. */
  async close(): Promise<void> {
    if (this.closing || this.failure !== undefined) return;
    const exited = new Promise<void>((done) => this.thread.once('exit', () => done()));
    // Requests already sent are answered first: the worker serves them in order.
    const closed = this.request({ t: 'close' }, 'write');
    this.closing = true;
    // Held until the thread has ended, so that the process waits for the close.
    this.thread.ref();
    await closed;
    await exited;
  }

  private request(request: Request, during: 'read' | 'write', transfer?: ArrayBuffer[]): Promise<unknown> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.closing) {
      return Promise.reject(new FennecError('ERR_STORE_WRITE', `cannot ${during} ${this.file}: the store is closed`));
    }
    const id = this.nextId++;
    return new Promise((resolveRequest, rejectRequest) => {
      if (this.pending.size === 0) this.thread.ref();
      this.pending.set(id, { resolve: resolveRequest, reject: rejectRequest });
      this.thread.postMessage({ ...request, id }, transfer);
    });
  }

  private answered(answer: WorkerAnswer): void {
    const pending = this.pending.get(answer.id);
    if (pending === undefined) return;
    this.pending.delete(answer.id);
    if (this.pending.size === 0 && !this.closing) this.thread.unref();
    if (answer.error === undefined) pending.resolve(answer.value);
    else pending.reject(new FennecError(answer.error.code, answer.error.message));
  }

  /** The worker is gone: every waiting and later request fails with one clear error. */
  private fail(how: string, cause: Error | undefined): void {
    if (this.closing && this.pending.size === 0) return;
    this.failure ??= new FennecError(
      'ERR_STORE_WRITE',
      `the SQLite store's worker thread for ${this.file} ${how}; nothing more is written, and acknowledgements ` +
        `that wait for a commit are withheld: restart the broker`,
      cause === undefined ? {} : { cause },
    );
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const pending of waiting) pending.reject(this.failure);
  }
}

/**
 * A Buffer crosses threads as a plain Uint8Array (structured clone): make Buffers of them again, in
 * place, for every payload and correlation data of a loaded state or spool batch.
 */
function reviveBuffers<T>(value: T): T {
  if (Array.isArray(value)) {
    const items = value as unknown[];
    for (let i = 0; i < items.length; i++) items[i] = reviveBuffers(items[i]);
    return value;
  }
  if (value instanceof Uint8Array) {
    return (Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)) as T;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = reviveBuffers(record[key]);
  }
  return value;
}
