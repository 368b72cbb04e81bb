/**
 * Debian's Mosquitto broker (/usr/sbin/mosquitto) as a child process for one test: a generated
 * config (`listener PORT 127.0.0.1`, `allow_anonymous true`, persistence in a temporary directory
 * when asked) on a free loopback port, waited for until it accepts, and killed when the test ends.
 * It can be killed with SIGKILL and started again on the same port, over the same persistence file.
 * Missing binary: the test fails under CI=true and is skipped loudly elsewhere.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CleanupContext } from './broker.js';

/** Where Debian installs the broker; MOSQUITTO overrides it. */
export const MOSQUITTO = process.env['MOSQUITTO'] ?? '/usr/sbin/mosquitto';
/** How long a start may take before it counts as failed, in ms. */
const START_TIMEOUT_MS = 10_000;
/** Ports tried before giving up when another process takes the free one first. */
const PORT_TRIES = 5;

export interface MosquittoOptions {
  /** Keep sessions, subscriptions, queued and retained messages in a file, saved at every change. */
  persistence?: boolean;
}

/** A test's Mosquitto broker process. */
export class MosquittoBroker {
  private child: ChildProcess | undefined;
  private stderr = '';

  private constructor(
    readonly port: number,
    private readonly config: string,
  ) {}

  /** `mqtt://127.0.0.1:PORT`. */
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /**
   * Starts Mosquitto on a free loopback port; stopped (and its directory removed) after the test.
   * Resolves undefined when the binary is missing outside CI (the test is skipped, loudly).
   */
  static async start(t: CleanupContext & { skip(message?: string): void }, options: MosquittoOptions = {}) {
    if (!mosquittoInstalled(t)) return undefined;
    const dir = await mkdtemp(join(tmpdir(), 'fennec-mosquitto-'));
    let lastError: Error | undefined;
    for (let i = 0; i < PORT_TRIES; i++) {
      const port = await freePort();
      const config = join(dir, 'mosquitto.conf');
      await writeFile(config, mosquittoConfig(port, dir, options));
      const broker = new MosquittoBroker(port, config);
      try {
        await broker.spawn();
        t.after(async () => {
          await broker.kill('SIGKILL');
          await rm(dir, { recursive: true, force: true });
        });
        return broker;
      } catch (err) {
        lastError = err as Error;
        // Another process took the port between our probe and Mosquitto's bind: try another
        if (!/address already in use/i.test(lastError.message)) break;
      }
    }
    await rm(dir, { recursive: true, force: true });
    throw lastError ?? new Error('mosquitto did not start');
  }

  /** Starts the process on this broker's port and config; resolves once it accepts connections. */
  async spawn(): Promise<void> {
    this.stderr = '';
    const child = spawn(MOSQUITTO, ['-c', this.config], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (this.stderr += chunk));
    const exited = new Promise<never>((_, reject) => {
      child.once('exit', (code, signal) =>
        reject(new Error(`mosquitto exited (${code ?? signal}) on start: ${this.stderr.trim()}`)),
      );
      child.once('error', reject);
    });
    exited.catch(() => undefined);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const accepted = await Promise.race([accepts(this.port), exited]);
      if (accepted) return;
      if (Date.now() > deadline) {
        await this.kill('SIGKILL');
        throw new Error(`mosquitto did not accept on ${this.port} within ${START_TIMEOUT_MS} ms: ${this.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Kills the process with `signal` (SIGKILL: a crash, nothing saved) and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await gone;
  }

  /** The broker's log so far (errors, warnings, notices). */
  log(): string {
    return this.stderr;
  }
}

/**
 * Undefined when the binary is there; otherwise the reason to skip, said loudly on the console.
 * Under CI=true a missing binary throws instead: CI must run the tests against Mosquitto.
 */
export function mosquittoMissing(): string | undefined {
  try {
    accessSync(MOSQUITTO, constants.X_OK);
    return undefined;
  } catch {
    const message = `${MOSQUITTO} is not installed: install the Debian package mosquitto (apt-get install mosquitto)`;
    if (process.env['CI'] === 'true') throw new Error(`${message}; CI must run the tests against Mosquitto`);
    console.warn(`\n!!! SKIPPED: ${message} !!!\n`);
    return message;
  }
}

/** Whether the binary is there; fails under CI and skips the test loudly otherwise when it is not. */
function mosquittoInstalled(t: { skip(message?: string): void }): boolean {
  const missing = mosquittoMissing();
  if (missing !== undefined) t.skip(missing);
  return missing === undefined;
}

/**
 * The config: one listener on loopback; anonymous clients; as root, Mosquitto would drop to the
 * user `mosquitto`, which cannot write the test's directory, so it stays the user it is. With
 * persistence, every change is saved at once (autosave_on_changes with an interval of 1), so that
 * a SIGKILL loses as little as Mosquitto allows.
 */
function mosquittoConfig(port: number, dir: string, options: MosquittoOptions): string {
  const lines = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
  ];
  if (process.getuid?.() === 0) lines.push('user root');
  if (options.persistence === true) {
    lines.push('persistence true', `persistence_location ${dir}/`, 'autosave_on_changes true', 'autosave_interval 1');
  }
  return `${lines.join('\n')}\n`;
}

/** A port free on 127.0.0.1 now: listened on (port 0) and closed. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether a TCP connection to 127.0.0.1:`port` is accepted now. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
