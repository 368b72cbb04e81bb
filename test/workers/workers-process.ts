/**
 * `fennec broker --workers N` as a child process for one test: in its own process group (so that a
 * test can SIGKILL the primary and every worker at once, as a crash of the machine's broker would),
 * on a free loopback port over a temporary data directory, killed and removed when the test ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { CleanupContext } from '../helpers/broker.js';
import { ClientPool } from '../interop/support.js';
import { fennecBin } from '../helpers/cli.js';
import { workerFor } from '../../src/workers/hash.js';

const START_TIMEOUT_MS = 20_000;
/** The test's FENNEC_* settings are not the child's. */
const environment = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FENNEC_')));

/** How the process ended. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export class WorkersProcess {
  private child: ChildProcess | undefined;
  private ended: Promise<Ended> | undefined;
  stderr = '';
  stdout = '';
  port = 0;

  private constructor(
    readonly dataDir: string,
    readonly workers: number,
    private readonly extra: readonly string[],
  ) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts `fennec broker --workers N` over a new data directory; killed and removed after the test. */
  static async start(t: CleanupContext, workers = 2, extra: readonly string[] = []): Promise<WorkersProcess> {
    const dir = await mkdtemp(join(tmpdir(), 'fennec-workers-'));
    const broker = new WorkersProcess(dir, workers, extra);
    t.after(async () => {
      await broker.killGroup('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });
    await broker.spawn();
    return broker;
  }

  /** The arguments of the command, after `fennec`. */
  args(): string[] {
    return [
      'broker',
      '--port',
      String(this.port),
      '--data-dir',
      this.dataDir,
      '--log-level',
      'warn',
      '--workers',
      String(this.workers),
      ...this.extra,
    ];
  }

  /** Starts the command (on its port once it has one); resolves once it prints its listening line. */
  spawn(): Promise<void> {
    const child = spawn(process.execPath, [fennecBin, ...this.args()], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: environment,
      detached: true,
    });
    this.child = child;
    this.stderr = '';
    this.stdout = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (this.stderr += chunk));
    child.stdout.setEncoding('utf8');
    this.ended = new Promise((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal, stderr: this.stderr })),
    );
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        void this.killGroup('SIGKILL');
        reject(new Error(`fennec broker --workers did not start within ${START_TIMEOUT_MS} ms: ${this.stderr}`));
      }, START_TIMEOUT_MS);
      void this.ended!.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`fennec broker --workers exited (${code ?? signal}) on start: ${this.stderr}`));
      });
      child.stdout.on('data', (chunk: string) => {
        this.stdout += chunk;
        const match = /mqtt:\/\/127\.0\.0\.1:(\d+)\s*$/m.exec(this.stdout);
        if (match === null) return;
        clearTimeout(timer);
        this.port = Number(match[1]);
        resolve();
      });
    });
  }

  /** The primary's process id. */
  get pid(): number {
    return this.child!.pid!;
  }

  /** Sends `signal` to the primary alone; resolves with how it ended. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Ended> {
    this.child?.kill(signal);
    return this.ended!;
  }

  /** Resolves with how the primary ended. */
  whenEnded(): Promise<Ended> {
    return this.ended!;
  }

  /** Sends `signal` to the whole process group (primary and workers) and waits until the primary is gone. */
  async killGroup(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid!, signal);
    } catch {
      return; // already gone
    }
    await this.ended;
  }
}

/** A client id `tag-N` that falls on worker `index` (from 0) of `workers`. */
export function idOn(index: number, tag: string, workers = 2): string {
  for (let n = 0; ; n++) {
    const id = `${tag}-${n}`;
    if (workerFor(id, workers) === index) return id;
  }
}

/**
 * A `fennec broker --workers 2` for the tests of the enclosing `describe`: started before them,
 * stopped after them with every client of the returned pool.
 */
export function workersForSuite(): ClientPool {
  let broker: WorkersProcess | undefined;
  const pool = new ClientPool(() => broker!.url);
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    broker = await WorkersProcess.start({ after: (fn) => void cleanups.push(fn) });
  });
  after(async () => {
    await pool.closeAll();
    for (const fn of cleanups) await fn();
  });
  return pool;
}
