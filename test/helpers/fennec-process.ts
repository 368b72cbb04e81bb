/**
 * `fennec broker` as a child process for one test, on a free loopback port over a temporary data
 * directory (its SQLite store), killed when the test ends. Like MosquittoBroker it can be killed with
 * SIGKILL and started again on the same port and data directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CleanupContext } from './broker.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const FENNEC = join(root, 'bin', 'fennec.js');
const START_TIMEOUT_MS = 15_000;
/** The test's FENNEC_* settings (test store, ...) are not the child's. */
const environment = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FENNEC_')));

export class FennecProcess {
  private child: ChildProcess | undefined;
  private stderr = '';
  port = 0;

  private constructor(readonly dataDir: string) {}

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Starts `fennec broker` on port 0 over a new data directory; killed and removed after the test. */
  static async start(t: CleanupContext): Promise<FennecProcess> {
    const dir = await mkdtemp(join(tmpdir(), 'fennec-process-'));
    const broker = new FennecProcess(dir);
    t.after(async () => {
      await broker.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });
    await broker.spawn();
    return broker;
  }

  /** Starts the process (on its port once it has one, else port 0); resolves once it listens. */
  spawn(): Promise<void> {
    const args = [FENNEC, 'broker', '--port', String(this.port), '--data-dir', this.dataDir, '--log-level', 'warn'];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: environment });
    this.child = child;
    this.stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (this.stderr += chunk));
    child.stdout.setEncoding('utf8');
    return new Promise<void>((resolvePromise, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`fennec broker did not start within ${START_TIMEOUT_MS} ms: ${this.stderr}`));
      }, START_TIMEOUT_MS);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`fennec broker exited (${code ?? signal}) on start: ${this.stderr}`));
      });
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        const match = /mqtt:\/\/127\.0\.0\.1:(\d+)\s*$/m.exec(out);
        if (match === null) return;
        clearTimeout(timer);
        this.port = Number(match[1]);
        resolvePromise();
      });
    });
  }

  /** Kills the process with `signal` (SIGKILL: a crash) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
    child.kill(signal);
    await gone;
  }

  log(): string {
    return this.stderr;
  }
}
