/**
 * `npm run soak`: the fault-injection run of test/cluster/faults.test.ts, longer, outside the test
 * runner. Faults for `--seconds N` (or FENNEC_SOAK_SECONDS; default 600); FENNEC_FAULT_SEED replays a
 * schedule; `--subscribers random` (or FENNEC_FAULT_SUBSCRIBERS=random) sends subscribers to a random
 * node on each reconnection, so that sessions move between nodes while nodes die.
 * Prints the checker's account; exits 0 when it found nothing, 1 when it found a fault, 2 on a bad flag.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis } from '../../helpers/redis-server.js';
import { describeResult } from './checker.js';
import { faultSeed, runFaults } from './run.js';

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at < 0 ? undefined : process.argv[at + 1];
}

const seconds = Number(flag('seconds') ?? process.env['FENNEC_SOAK_SECONDS'] ?? 600);
const mode = flag('subscribers') ?? process.env['FENNEC_FAULT_SUBSCRIBERS'] ?? 'own';
if (!Number.isFinite(seconds) || seconds <= 0 || (mode !== 'own' && mode !== 'random')) {
  console.error('fennec soak: --seconds takes a positive number and --subscribers own or random');
  process.exit(2);
}

const cleanups: (() => unknown)[] = [];
const context = {
  after: (fn: () => unknown) => cleanups.push(fn),
  skip: (message?: string) => {
    console.error(`fennec soak: ${message ?? 'skipped'}`);
    process.exit(1);
  },
};
const dir = mkdtempSync(join(tmpdir(), 'fennec-soak-'));
let code = 1;
try {
  const redis = await startRedis(context, { appendfsync: 'always' });
  if (redis !== undefined) {
    const seed = faultSeed();
    const run = await runFaults(redis, {
      seed,
      faultMs: seconds * 1000,
      subscriberNodes: mode,
      dir,
      drainMs: 120_000,
      log: console.log,
    });
    console.log(describeResult(run.result, 20));
    for (const crash of run.crashes) console.log(`node crash: ${crash}`);
    if (run.undrained > 0) console.log(`${run.undrained} acknowledged deliveries still missing after the drain`);
    // A persistent session must outlive its node, wherever its client reconnects.
    const sessionsOk = run.result.stats.lostSessions.length === 0;
    code = run.result.ok && run.crashes.length === 0 && sessionsOk ? 0 : 1;
    console.log(`seed ${seed}; history kept in ${run.historyFile}; ${code === 0 ? 'no fault found' : 'FAULTS FOUND'}`);
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup();
  if (code === 0) rmSync(dir, { recursive: true, force: true });
}
process.exit(code);
