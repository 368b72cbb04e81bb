/**
 * Child process of sqlite-durability.test.ts (not a test itself): opens the SQLite store of a data
 * directory and commits batches, printing `committed <n>` after the commit of batch n resolved,
 * then waits to be killed.
 *
 *   node dist/test/conformance/sqlite-child.js <dataDir> <process|power> <batches> [SqliteStore|SqliteWorkerStore]
 *
 * Batch n enqueues message n for client `c` and, from n = 2 on, completes and forgets message n - 1,
 * as the broker's QoS 1 flow does: after batch n the store holds exactly message n and its delivery.
 */
import { SqliteStore, SqliteWorkerStore, type Durability, type StoreOp } from '../../src/store/index.js';
import { delivery, message, session } from '../../src/store/conformance-records.js';

/** The operations of batch `n` (from 1). */
export function childBatch(n: number): StoreOp[] {
  const ops: StoreOp[] = [];
  if (n === 1) ops.push({ op: 'session', record: session('c') });
  ops.push({ op: 'message', message: message(n) }, { op: 'enqueue', record: delivery(n, 'c', n) });
  if (n > 1) ops.push({ op: 'complete', seq: n - 1 }, { op: 'forget-message', id: n - 1 });
  return ops;
}

async function main(): Promise<void> {
  const [dataDir, durability, batches, kind = 'SqliteStore'] = process.argv.slice(2);
  if (dataDir === undefined || (durability !== 'process' && durability !== 'power') || batches === undefined) {
    throw new Error('usage: sqlite-child.js <dataDir> <process|power> <batches> [SqliteStore|SqliteWorkerStore]');
  }
  const Sqlite = kind === 'SqliteWorkerStore' ? SqliteWorkerStore : SqliteStore;
  const store = await Sqlite.open(dataDir, { durability: durability satisfies Durability });
  await store.load();
  for (let n = 1; n <= Number(batches); n++) {
    await store.commit(childBatch(n));
    process.stdout.write(`committed ${n}\n`);
  }
  // Keeps the store (and its lock) open until the parent kills the process.
  setInterval(() => undefined, 60_000);
}

if (process.argv[1]?.endsWith('sqlite-child.js')) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
