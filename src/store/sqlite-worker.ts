/**
 * The SQLite store's worker thread (started by SqliteWorkerStore, sqlite-thread.ts): owns the
 * database connection and does every read and commit of the store, so that the broker's event loop
 * never waits for SQLite. Requests arrive in order and are answered in order, one at a time; a
 * commit is answered only after its COMMIT returned, so the caller's promise still means committed.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { FennecError } from '../errors/index.js';
import { SqliteStore } from './sqlite.js';
import {
  OPEN_ID,
  type SyncAnswer,
  type SyncRequest,
  type WorkerAnswer,
  type WorkerData,
  type WorkerRequest,
} from './sqlite-worker-protocol.js';

function errorOf(error: unknown): { code: FennecError['code']; message: string } {
  if (error instanceof FennecError) return { code: error.code, message: error.message };
  return { code: 'ERR_STORE_WRITE', message: error instanceof Error ? error.message : String(error) };
}

function serve(store: SqliteStore, request: WorkerRequest): unknown {
  switch (request.t) {
    case 'commit':
      store.commitEncodedNow(Buffer.from(request.buffer, 0, request.length));
      return undefined;
    case 'load':
      return store.loadNow();
    case 'spool':
      return store.readSpoolNow(request.clientId, request.from, request.limit);
    case 'size':
      return store.size();
    case 'close':
      // Synchronous inside: the file is checkpointed and closed when this returns.
      void store.close();
      return undefined;
  }
}

/**
 * Answers the main thread's synchronous requests: the answer is posted, then `signal` is set and
 * notified, and the main thread, blocked in Atomics.wait, takes it with receiveMessageOnPort.
 */
function serveSync(store: SqliteStore, syncPort: MessagePort, signal: Int32Array): void {
  syncPort.on('message', (request: SyncRequest) => {
    let answer: SyncAnswer;
    try {
      answer = { id: request.id, value: store.spoolSizes(request.clientId, request.from, request.limit) };
    } catch (error) {
      answer = { id: request.id, error: errorOf(error) };
    }
    syncPort.postMessage(answer);
    Atomics.store(signal, 0, 1);
    Atomics.notify(signal, 0);
  });
}

function main(): void {
  const port = parentPort;
  if (port === null) throw new Error('sqlite-worker.js runs only as a worker thread of SqliteWorkerStore');
  const { dataDir, options, syncPort, signal } = workerData as WorkerData;
  let store: SqliteStore;
  try {
    store = SqliteStore.openNow(dataDir, options);
  } catch (error) {
    port.postMessage({ id: OPEN_ID, error: errorOf(error) } satisfies WorkerAnswer);
    port.close();
    return;
  }
  port.postMessage({ id: OPEN_ID, value: store.file } satisfies WorkerAnswer);
  serveSync(store, syncPort, new Int32Array(signal));
  port.on('message', (request: WorkerRequest) => {
    let answer: WorkerAnswer;
    try {
      answer = { id: request.id, value: serve(store, request) };
    } catch (error) {
      answer = { id: request.id, error: errorOf(error) };
    }
    // close() is synchronous inside; it settled before this answer goes out.
    port.postMessage(answer);
    if (request.t === 'close') {
      syncPort.close();
      port.close();
    }
  });
}

main();
