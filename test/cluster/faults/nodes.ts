/**
 * The nodes of a fault-injection run: `fennec broker` child processes, each with a fixed node id and
 * its own data directory (its SQLite store), so that a node killed with SIGKILL and started again is
 * the same node with the same sessions. Each start takes a free port (port 0): the port a node had
 * may meanwhile be some client's ephemeral port. `port` is 0 while the node does not listen.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fennecBin } from '../../helpers/cli.js';

/** The test's FENNEC_* settings are not the node's. */
const environment = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FENNEC_')));

const START_TIMEOUT_MS = 30_000;

export class FaultNode {
  port = 0;
  /** Exits the node made by itself (not by stop()): code or signal, and its last log lines. */
  readonly crashes: string[] = [];
  private child: ChildProcess | undefined;
  private stderr = '';
  private readonly config: string;

  constructor(
    readonly id: string,
    readonly dir: string,
    redisUrl: string,
  ) {
    mkdirSync(join(dir, 'data'), { recursive: true });
    this.config = join(dir, 'fennec.yaml');
    writeFileSync(
      this.config,
      `host: 127.0.0.1\ndata_dir: ${join(dir, 'data')}\nlog_level: warn\ncluster:\n  redis: ${redisUrl}\n  node_id: ${id}\n`,
    );
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The last lines the node wrote to stderr (its warnings), for a failure message. */
  get log(): string {
    return this.stderr.slice(-4000);
  }

  /** Starts the node on a free port; resolves once it listens. */
  start(): Promise<void> {
    // Two processes on one data directory: the second would be refused its store.
    if (this.child !== undefined) return Promise.reject(new Error(`node ${this.id} is already running`));
    const child = spawn(process.execPath, [fennecBin, 'broker', '--config', this.config, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: environment,
    });
    this.child = child;
    this.port = 0;
    let listening = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (this.stderr = (this.stderr + chunk).slice(-20_000)));
    child.stdout.setEncoding('utf8');
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.port = 0;
      if (listening) this.crashes.push(`exited by itself (${code ?? signal}): ${this.log}`);
    });
    return new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`node ${this.id} did not start within ${START_TIMEOUT_MS} ms: ${this.log}`));
      }, START_TIMEOUT_MS);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`node ${this.id} exited (${code ?? signal}) on start: ${this.log}`));
      });
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        const match = /fennec listening mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (match === null) return;
        clearTimeout(timer);
        listening = true;
        this.port = Number(match[1]);
        resolve();
      });
    });
  }

  /** Sends `signal` (SIGKILL: a crash; SIGTERM: a clean stop) and waits until the process is gone. */
  async stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.child = undefined;
    this.port = 0;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await gone;
  }
}
