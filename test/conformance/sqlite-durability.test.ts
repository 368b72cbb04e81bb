/**
 * What a committed batch survives: a child process commits batches to the SQLite store and is
 * killed with SIGKILL (no close, no checkpoint, no exit handler); the store reopened afterwards holds
 * every batch the child reported committed, and nothing half-applied. For SqliteStore and for
 * SqliteWorkerStore, whose commits resolve from its worker thread.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryStore, SqliteStore, SqliteWorkerStore, type StoredState } from '../../src/store/index.js';
import { FennecError } from '../../src/errors/index.js';
import { childBatch } from './sqlite-child.js';
import { normalize } from '../../src/store/conformance-records.js';

const childScript = fileURLToPath(new URL('./sqlite-child.js', import.meta.url));
/** How long the child may take to report, in ms. */
const WAIT_MS = 20_000;

/** Runs the child; resolves once it printed `committed <until>`, with the last number it printed. */
function startChild(dataDir: string, durability: string, batches: number, until: number, kind: string) {
  const child = spawn(process.execPath, [childScript, dataDir, durability, String(batches), kind], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let last = 0;
  const reached = new Promise<void>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => reject(new Error(`child did not commit batch ${until} in ${WAIT_MS} ms: ${stderr}`)),
      WAIT_MS,
    );
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        const match = /^committed (\d+)$/.exec(line);
        if (match === null) continue;
        last = Number(match[1]);
        if (last >= until) {
          clearTimeout(timer);
          resolve();
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited with ${code} before batch ${until}: ${stderr}`));
    });
  });
  return { child, reached, last: () => last };
}

function killHard(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** The state after batches 1..n of the child. */
async function stateAfter(n: number): Promise<StoredState> {
  const reference = new MemoryStore();
  for (let i = 1; i <= n; i++) await reference.commit(childBatch(i));
  return normalize(await reference.load());
}

for (const [kind, Sqlite] of Object.entries({ SqliteStore, SqliteWorkerStore })) {
  for (const durability of ['process', 'power'] as const) {
    describe(`${kind} durability ${durability}`, () => {
      it('a batch whose commit resolved is in the store after the process is killed with SIGKILL', async () => {
        const dir = await mkdtemp(join(tmpdir(), 'fennec-kill-'));
        const run = startChild(dir, durability, 3, 3, kind);
        try {
          await run.reached;
          // While the child lives, its lock refuses a second store on the same directory.
          await assert.rejects(Sqlite.open(dir), (error: unknown) => {
            assert.ok(error instanceof FennecError);
            assert.equal(error.code, 'ERR_STORE_LOCKED');
            return true;
          });
          await killHard(run.child);
          const store = await Sqlite.open(dir, { durability });
          try {
            assert.deepStrictEqual(normalize(await store.load()), await stateAfter(3));
          } finally {
            await store.close();
          }
        } finally {
          await killHard(run.child);
          await rm(dir, { recursive: true, force: true });
        }
      });

      it('a process killed while committing leaves exactly the batches up to one at or after the last it reported', async () => {
        const dir = await mkdtemp(join(tmpdir(), 'fennec-kill-'));
        // Killed while still committing: it has up to 100,000 batches to go.
        const run = startChild(dir, durability, 100_000, 200, kind);
        try {
          await run.reached;
          await killHard(run.child);
          const reported = run.last();
          const store = await Sqlite.open(dir, { durability });
          try {
            const state = normalize(await store.load());
            const survived = state.messages[0]?.id ?? 0;
            assert.ok(
              survived >= reported,
              `batch ${reported} was reported committed, but the store ends at ${survived}`,
            );
            assert.deepStrictEqual(state, await stateAfter(survived));
          } finally {
            await store.close();
          }
        } finally {
          await killHard(run.child);
          await rm(dir, { recursive: true, force: true });
        }
      });
    });
  }
}
