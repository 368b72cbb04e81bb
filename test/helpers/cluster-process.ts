/**
 * `fennec broker --memory` as a cluster node in a child process, configured by a file (node id,
 * lease), on port 0: it can be killed (SIGKILL), frozen (SIGSTOP / SIGCONT) and started again under
 * the same node id. Everything is killed and removed before the test's Redis stops.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliEnvironment, fennecBin } from './cli.js';
import type { TestRedis } from './redis-server.js';

const START_TIMEOUT_MS = 20_000;

/** A node process of a test cluster. */
export class NodeProcess {
  private child: ChildProcess | undefined;
  private output = '';
  url = '';

  private constructor(
    readonly nodeId: string,
    private readonly file: string,
  ) {}

  /** Starts node `nodeId` on `redis` with a lease of `leaseMs`; stopped before Redis is. */
  static async start(redis: TestRedis, nodeId: string, leaseMs: number): Promise<NodeProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'fennec-node-'));
    const file = join(dir, 'fennec.yaml');
    writeFileSync(file, `cluster:\n  redis: ${redis.url}\n  node_id: ${nodeId}\n  lease_ms: ${leaseMs}\n`);
    const node = new NodeProcess(nodeId, file);
    redis.beforeStop(async () => {
      await node.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    await node.spawn();
    return node;
  }

  /** Starts the process again, under the same node id (on a new port). */
  spawn(): Promise<void> {
    const args = [fennecBin, 'broker', '--memory', '--port', '0', '--log-level', 'info', '--config', this.file];
    const child = spawn(process.execPath, args, { env: cliEnvironment, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.output = '';
    const keep = (chunk: Buffer): void => {
      this.output += chunk.toString();
    };
    child.stderr.on('data', keep);
    child.stdout.on('data', keep);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`node ${this.nodeId} did not start: ${this.output}`)),
        START_TIMEOUT_MS,
      );
      const onExit = (code: number | null): void => {
        clearTimeout(timer);
        reject(new Error(`node ${this.nodeId} exited with ${code}: ${this.output}`));
      };
      child.once('exit', onExit);
      const check = (): void => {
        const url = /fennec listening (mqtt:\/\/\S+)/.exec(this.output);
        if (url === null) return;
        clearTimeout(timer);
        child.off('exit', onExit);
        child.stdout.off('data', check);
        this.url = url[1]!;
        resolve();
      };
      child.stdout.on('data', check);
    });
  }

  /** Sends `signal` (SIGKILL: a crash; SIGTERM: a clean close) and waits until the process is gone. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGCONT');
    child.kill(signal);
    await gone;
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the process. */
  signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.child?.kill(signal);
  }

  /** What the process wrote (stdout and its log), since it last started. */
  log(): string {
    return this.output;
  }

  /** Lines of its log that say it declared `node` dead. */
  declared(node: string): number {
    return this.output.split('\n').filter((line) => line.includes(`cluster: node ${node} declared dead`)).length;
  }
}
