/**
 * `fennec broker --memory` as a cluster node in a child process, configured by a file (node id,
 * lease), on port 0: it can be killed (SIGKILL), frozen (SIGSTOP / SIGCONT) and started again under
 * the same node id. Everything is killed and removed before the test's Redis stops.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { cliEnvironment, fennecBin } from './cli.js';
import { startRedis, type TestRedis } from './redis-server.js';

const START_TIMEOUT_MS = 20_000;

/** A node process of a test cluster. */
export class NodeProcess {
  private child: ChildProcess | undefined;
  private output = '';
  url = '';

  private constructor(
    readonly nodeId: string,
    private readonly dir: string,
    private readonly store: boolean,
  ) {}

  /**
   * Starts node `nodeId` on `redis` with a lease of `leaseMs`, in memory or, with `store`, with a
   * SQLite store in a directory it keeps across restarts; stopped before Redis is.
   */
  static async start(redis: TestRedis, nodeId: string, leaseMs: number, store = false): Promise<NodeProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'fennec-node-'));
    const file = join(dir, 'fennec.yaml');
    writeFileSync(file, `cluster:\n  redis: ${redis.url}\n  node_id: ${nodeId}\n  lease_ms: ${leaseMs}\n`);
    const node = new NodeProcess(nodeId, dir, store);
    redis.beforeStop(async () => {
      await node.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    await node.spawn();
    return node;
  }

  /** Starts the process again, under the same node id (on a new port). */
  spawn(): Promise<void> {
    const persistence = this.store ? ['--data-dir', this.dir] : ['--memory'];
    const file = join(this.dir, 'fennec.yaml');
    const args = [fennecBin, 'broker', ...persistence, '--port', '0', '--log-level', 'info', '--config', file];
    const { FENNEC_PERSISTENCE: _none, ...withStore } = cliEnvironment;
    const env = this.store ? withStore : cliEnvironment;
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** The lease of the test nodes, in ms: a death is declared 1 to 2.3 leases after it. */
export const LEASE_MS = 1000;
/** Longest wait for a death to be handled, in ms (several times what it takes, for a loaded machine). */
export const DEATH_MS = 15_000;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `condition()` holds, polling every 50 ms; fails with `what` after `timeoutMs`. */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = DEATH_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
    await sleep(50);
  }
}

/** Test fixture: Redis, a command connection to it, and the MQTT clients to end before it stops. */
export async function setUp(t: Parameters<typeof startRedis>[0]): Promise<
  | {
      redis: TestRedis;
      inspect: Redis;
      connect: (url: string, options: mqtt.IClientOptions) => Promise<mqtt.MqttClient>;
    }
  | undefined
> {
  const redis = await startRedis(t);
  if (redis === undefined) return undefined;
  const inspect = new Redis(redis.url, { lazyConnect: true });
  await inspect.connect();
  const clients: mqtt.MqttClient[] = [];
  redis.beforeStop(async () => {
    await Promise.all(clients.map((client) => client.endAsync(true)));
    inspect.disconnect();
  });
  const connect = async (url: string, options: mqtt.IClientOptions): Promise<mqtt.MqttClient> => {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
    clients.push(client);
    return client;
  };
  return { redis, inspect, connect };
}

/** A subscriber to `filter` that records each payload with the time it arrived. */
export async function subscriber(
  connect: (url: string, options: mqtt.IClientOptions) => Promise<mqtt.MqttClient>,
  url: string,
  clientId: string,
  filter: string,
): Promise<{ received: { payload: string; at: number }[] }> {
  const client = await connect(url, { clientId, protocolVersion: 5 });
  const received: { payload: string; at: number }[] = [];
  client.on('message', (_topic, payload) => received.push({ payload: payload.toString(), at: Date.now() }));
  await client.subscribeAsync(filter, { qos: 1 });
  return { received };
}

/** Waits until every node's view includes a route: each subscriber gets a probe published on `via`. */
export async function routesKnown(
  connect: (url: string, options: mqtt.IClientOptions) => Promise<mqtt.MqttClient>,
  url: string,
  topic: string,
  subscribers: { received: { payload: string }[] }[],
): Promise<void> {
  const probe = await connect(url, { clientId: `probe-${Math.random().toString(36).slice(2)}` });
  await until(async () => {
    await probe.publishAsync(topic, 'probe', { qos: 0 });
    await sleep(100);
    return subscribers.every(({ received }) => received.some(({ payload }) => payload === 'probe'));
  }, `${topic} routes known`);
  for (const { received } of subscribers) received.splice(0);
  await probe.endAsync();
}
