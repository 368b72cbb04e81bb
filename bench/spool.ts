/**
 * Spool benchmark: a QoS 1 subscriber that stops reading while a publisher sends 1 KiB messages,
 * then reads the backlog. Prints messages per second into the broker (publisher's PUBACKs) and out
 * of it (the subscriber draining the backlog), and the broker process's peak RSS, for:
 *
 * - memory, live: the subscriber reads all along (no backlog): the in-memory figure;
 * - memory, backlog: the backlog held in the memory queue (spool off, queue limits raised);
 * - spool, persistence none: the backlog in the temporary spool file;
 * - spool, SQLite store: the backlog of a persistent session in the store's spool table.
 *
 *   npm run bench:spool                  # or: npm run build && node dist/bench/spool.js [--mib=N] [--quick]
 *
 * The backlog is 1 GiB (--mib=1024, 1,048,576 messages) for the spool cases and at most 256 MiB in
 * memory; --quick makes it 64 MiB. The broker runs in this process with the clients (3.1.1, raw
 * sockets): figures are for the whole loop on one machine. The peak is the process's RSS, which does
 * not shrink, so the cases run from the least memory to the most. Figures only, no assertions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker } from '../src/broker/broker.js';
import type { BrokerOptions } from '../src/broker/options.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { FloodPublisher, FloodSubscriber } from '../test/helpers/flood.js';

const quick = process.argv.includes('--quick');
const mibArg = process.argv.find((arg) => arg.startsWith('--mib='));
const spoolMiB = mibArg !== undefined ? Number(mibArg.slice(6)) : quick ? 64 : 1024;
const memoryMiB = Math.min(spoolMiB, 256);
const SIZE = 1024;

function payload(i: number): Buffer {
  const buf = Buffer.alloc(SIZE, i & 0xff);
  buf.writeUInt32BE(i, 0);
  return buf;
}

interface Result {
  name: string;
  messages: number;
  inRate: number;
  outRate: number;
  peakMiB: number;
}

let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 100);

/** Publishes `count` messages to a subscriber that reads (live) or reads only afterwards (backlog). */
async function run(name: string, options: BrokerOptions, count: number, live: boolean, clean = true): Promise<Result> {
  const broker = new Broker({ host: '127.0.0.1', port: 0, sysInterval: 0, ...options });
  const { port } = await broker.listen();
  const sub = await FloodSubscriber.connect(port, 'bench-sub', clean, 'bench');
  if (!live) sub.stopReading();
  let received = 0;
  let order = 0;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  sub.onMessage = (p) => {
    if (p.readUInt32BE(0) !== order) throw new Error(`out of order: ${p.readUInt32BE(0)} where ${order} was due`);
    order++;
    if (++received === count) finish();
  };
  peak = process.memoryUsage.rss();
  const pub = await FloodPublisher.connect(port, 'bench-pub');
  const started = performance.now();
  await pub.publish('bench', 0, count, payload, 1000);
  const published = performance.now();
  sub.resume();
  await done;
  const drained = performance.now();
  const inRate = count / ((published - started) / 1000);
  // Live, the subscriber's rate is the whole run's; with a backlog, that of the drain alone.
  const outRate = count / ((drained - (live ? started : published)) / 1000);
  sub.destroy();
  pub.destroy();
  await broker.close();
  const result = { name, messages: count, inRate, outRate, peakMiB: peak / 2 ** 20 };
  console.log(
    `${name.padEnd(28)} ${String(count).padStart(9)} ${fmt(inRate).padStart(9)} ${fmt(outRate).padStart(9)} ${result.peakMiB.toFixed(0).padStart(8)}`,
  );
  return result;
}

function fmt(rate: number): string {
  return rate >= 10_000 ? `${(rate / 1000).toFixed(1)}k` : rate.toFixed(0);
}

const spoolCount = spoolMiB * 1024;
const memoryCount = memoryMiB * 1024;
const spoolLimits = { maxSpooledBytesPerSession: 2 * spoolCount * SIZE, maxSpoolBytes: 2 * spoolCount * SIZE };
console.log(`1 KiB QoS 1 messages; spool backlog ${spoolMiB} MiB, memory backlog ${memoryMiB} MiB`);
console.log(
  `${'case'.padEnd(28)} ${'messages'.padStart(9)} ${'in/s'.padStart(9)} ${'out/s'.padStart(9)} ${'peak MiB'.padStart(8)}`,
);
await run('memory, live', { maxSpoolBytes: 0 }, memoryCount, true);
await run('spool, persistence none', spoolLimits, spoolCount, false);
const dir = mkdtempSync(join(tmpdir(), 'fennec-bench-spool-'));
const store = await SqliteStore.open(dir);
try {
  await run('spool, SQLite store', { ...spoolLimits, store }, spoolCount, false, false);
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
// Last: the memory it takes stays in the process (RSS does not shrink), and would hide the others' peaks.
await run(
  'memory, backlog',
  { maxSpoolBytes: 0, maxQueuedMessages: memoryCount, maxQueuedBytes: 0 },
  memoryCount,
  false,
);
clearInterval(sampler);
