/**
 * Store benchmark: commits batches shaped like the broker's QoS 1 fan-in (many publishers, one
 * persistent subscriber) to the memory store and to the SQLite store in both durability modes, on
 * the calling thread and on a worker thread, and prints operations and messages per second. Figures
 * only, no assertions.
 *
 *   npm run bench:store            # or: npm run build && node dist/bench/store.js [--quick]
 *
 * Each turn of the broker's event loop commits one batch: for each message received in that turn a
 * 'message' and an 'enqueue', and for each message the subscriber acknowledged since (those of the
 * previous turn) a 'complete' and a 'forget-message'. A batch of B messages is thus 4B operations.
 * Last, 1,000,000 messages go through the SQLite store in batches of 1000 and the size of its files
 * is printed: delivered messages are deleted, so the file must stay small.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MemoryStore,
  SqliteStore,
  SqliteWorkerStore,
  storeRecords,
  type Store,
  type StoreOp,
} from '../src/store/index.js';

const quick = process.argv.includes('--quick');
/** Time spent on one (store, batch size) case, in ms; the case stops early at `maxMessages`. */
const caseMs = quick ? 400 : 2000;
const maxMessages = 1_000_000;
const batchSizes = [1, 10, 100, 1000];
/** Messages that go through the store for the size measurement. */
const sizeMessages = quick ? 100_000 : 1_000_000;
const payload = Buffer.alloc(64, 0x61);

interface Subject {
  name: string;
  open: () => Promise<{ store: Store; dir: string | undefined }>;
}

const subjects: Subject[] = [
  { name: 'memory', open: () => Promise.resolve({ store: new MemoryStore(), dir: undefined }) },
  ...(['process', 'power'] as const).map((durability): Subject => ({
    name: `sqlite ${durability}`,
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fennec-bench-store-'));
      return { store: await SqliteStore.open(dir, { durability }), dir };
    },
  })),
  // The broker's store: the same file on a worker thread, each batch encoded and handed over.
  ...(['process', 'power'] as const).map((durability): Subject => ({
    name: `worker ${durability}`,
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fennec-bench-store-'));
      return { store: await SqliteWorkerStore.open(dir, { durability }), dir };
    },
  })),
];

/** The batch of one turn: messages [first, first + count) arrive, those of the previous turn are done. */
function turn(first: number, count: number, previousFirst: number, previousCount: number): StoreOp[] {
  const ops: StoreOp[] = [];
  for (let id = first; id < first + count; id++) {
    ops.push(
      {
        op: 'message',
        message: storeRecords.message(id, {
          topic: `sensors/device-${id % 8}/temperature`,
          payload,
          publisherId: `publisher-${id % 8}`,
          receivedAt: 1_764_000_000_000 + id,
        }),
      },
      { op: 'enqueue', record: storeRecords.delivery(id, 'subscriber', id) },
    );
  }
  for (let id = previousFirst; id < previousFirst + previousCount; id++) {
    ops.push({ op: 'complete', seq: id }, { op: 'forget-message', id });
  }
  return ops;
}

/** Commits turns of `batch` messages until `deadline` or `limit` messages; returns messages and ops done. */
async function run(store: Store, batch: number, limit: number, deadline: number) {
  let ops = 0;
  let next = 1;
  let previous = 0;
  let previousCount = 0;
  while (next <= limit && performance.now() < deadline) {
    const batchOps = turn(next, batch, previous, previousCount);
    await store.commit(batchOps);
    ops += batchOps.length;
    previous = next;
    previousCount = batch;
    next += batch;
  }
  const closing = turn(next, 0, previous, previousCount);
  await store.commit(closing);
  return { messages: next - 1, ops: ops + closing.length };
}

function rate(count: number, ms: number): string {
  const perSecond = (count * 1000) / ms;
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)}M`;
  return perSecond >= 1e4 ? `${(perSecond / 1e3).toFixed(1)}k` : perSecond.toFixed(0);
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  console.log(`store benchmark: QoS 1 fan-in batches, ${payload.length}-byte payloads, ${caseMs} ms per case`);
  console.log('| store          | messages/batch | ops/batch | commits/s |    ops/s | messages/s |');
  console.log('| -------------- | -------------: | --------: | --------: | -------: | ---------: |');
  for (const subject of subjects) {
    for (const batch of batchSizes) {
      const { store, dir } = await subject.open();
      // Warm-up: prepared statements, JIT, the first pages of the file.
      await run(store, batch, 2000, performance.now() + caseMs / 10);
      const started = performance.now();
      const { messages, ops } = await run(store, batch, maxMessages, started + caseMs);
      const elapsed = performance.now() - started;
      await store.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
      const commits = Math.ceil(messages / batch) + 1;
      console.log(
        `| ${subject.name.padEnd(14)} | ${String(batch).padStart(14)} | ${String(4 * batch).padStart(9)} | ` +
          `${rate(commits, elapsed).padStart(9)} | ${rate(ops, elapsed).padStart(8)} | ${rate(messages, elapsed).padStart(10)} |`,
      );
    }
  }

  const dir = mkdtempSync(join(tmpdir(), 'fennec-bench-store-'));
  const store = await SqliteStore.open(dir, { durability: 'process' });
  const started = performance.now();
  const { messages } = await run(store, 1000, sizeMessages, Number.POSITIVE_INFINITY);
  const elapsed = performance.now() - started;
  const file = join(dir, 'fennec.db');
  const open = { db: sizeOf(file), wal: sizeOf(`${file}-wal`) };
  await store.close();
  const closed = { db: sizeOf(file), wal: sizeOf(`${file}-wal`) };
  rmSync(dir, { recursive: true, force: true });
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  console.log(
    `\nsqlite process, ${messages.toLocaleString('en')} messages in batches of 1000 (${rate(messages, elapsed)} messages/s): ` +
      `fennec.db ${kib(open.db)} + WAL ${kib(open.wal)} while open; ${kib(closed.db)} + WAL ${kib(closed.wal)} after close`,
  );
}

await main();
