/**
 * A real `redis-server` (Debian package redis-server) for one test: on a free 127.0.0.1 port with its
 * data in a temporary directory, append-only file on, stopped and removed after the test. The test
 * may pause it (SIGSTOP / SIGCONT), or kill and restart it on the same port with the same data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireProgram } from '../interop/support.js';
import type { CleanupContext } from './broker.js';

/** A running redis-server of one test. */
export interface TestRedis {
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** The data directory (appendonly files). */
  readonly dir: string;
  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Thaws a paused server (SIGCONT). */
  resume(): void;
  /**
   * Stops the server (SIGKILL when `hard`, else SIGTERM, which writes its files first) and starts it
   * again on the same port with the same data directory (emptied first when `wipe`: a Redis that
   * lost everything); resolves once it answers PING.
   */
  restart(hard?: boolean, wipe?: boolean): Promise<void>;
  /** Stops the server; resolves once it exited. */
  stop(): Promise<void>;
  /**
   * Runs `fn` after the test before the server stops (latest registered first), so that its
   * clients leave while it still answers.
   */
  beforeStop(fn: () => Promise<void>): void;
}

/** Finds a free loopback TCP port (redis-server cannot take port 0 to mean "any"). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sends PING over a raw socket; resolves true on `+PONG`. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let answer = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      if (answer.includes('\r\n')) done(answer.startsWith('+PONG'));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}

/** Waits until the server on `port` answers PING, up to `timeoutMs`. */
export async function waitForPing(
  port: number,
  child: ChildProcess,
  log: () => string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${log()}`);
    if (await ping(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`redis-server did not answer PING on port ${port} within ${timeoutMs} ms: ${log()}`);
}

/** Options of startRedis. */
export interface RedisServerOptions {
  /** `appendfsync` (default `always`: a write Redis answered survives a SIGKILL). */
  appendfsync?: 'always' | 'everysec' | 'no';
  /** More redis-server arguments (`--cluster-enabled`, `--replicaof`...). */
  args?: string[];
}

/**
 * Starts redis-server for the test `t`, stopped after it. Returns undefined, the test skipped
 * loudly, when redis-server is not installed; under `CI=true` that throws instead.
 */
export async function startRedis(
  t: CleanupContext & { skip(message?: string): void },
  options: RedisServerOptions = {},
): Promise<TestRedis | undefined> {
  if (!requireProgram(t, 'redis-server', 'redis-server')) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fennec-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    options.appendfsync ?? 'always',
    ...(options.args ?? []),
  ];
  let output = '';
  let child: ChildProcess;
  const launch = async (): Promise<void> => {
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    await waitForPing(port, child, () => output);
  };
  const exited = (): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((resolve) => child.once('exit', () => resolve()));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    // A paused server does not act on SIGTERM until it runs again.
    child.kill('SIGCONT');
    child.kill(signal);
    await exited();
  };
  await launch();
  const closers: (() => Promise<void>)[] = [];
  const redis: TestRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    restart: async (hard = false, wipe = false) => {
      await stop(hard ? 'SIGKILL' : 'SIGTERM');
      if (wipe) {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir);
      }
      await launch();
    },
    stop: () => stop(),
    beforeStop: (fn) => closers.push(fn),
  };
  t.after(async () => {
    for (const close of closers.reverse()) await close();
    await stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return redis;
}
