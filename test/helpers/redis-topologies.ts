/**
 * Redis topologies beyond one server, for the cluster tests, each of real redis-server processes on
 * free loopback ports with their data in temporary directories, stopped after the test: a replica of
 * a server (`--replicaof`), a Sentinel watching a master (`redis-server sentinel.conf --sentinel`),
 * and a Redis Cluster of masters (`--cluster-enabled yes` and `redis-cli --cluster create`).
 */
import { execFile } from 'node:child_process';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireProgram } from '../interop/support.js';
import type { CleanupContext } from './broker.js';
import { freePort, startRedis, waitForPing, type TestRedis } from './redis-server.js';

type TestContext = CleanupContext & { skip(message?: string): void };

const run = promisify(execFile);

/** Runs `redis-cli -p PORT ...args`; resolves with its output. */
export async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 30_000 });
  return stdout;
}

/** Polls `check` every 100 ms until it is true, up to `timeoutMs`; throws `what` when it never is. */
export async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A replica of `master` (a TestRedis), caught up before this resolves. */
export async function startReplica(t: TestContext, master: TestRedis): Promise<TestRedis | undefined> {
  const replica = await startRedis(t, { args: ['--replicaof', '127.0.0.1', String(master.port)] });
  if (replica === undefined) return undefined;
  await waitUntil(
    async () => /master_link_status:up/.test(await redisCli(replica.port, 'INFO', 'replication')),
    'the replica to sync with its master',
  );
  return replica;
}

/** A Sentinel process watching one master under a name. */
export interface TestSentinel {
  port: number;
  /** The master group name (`mymaster`). */
  name: string;
}

/** Spawns `args` as a redis-server process that stops (SIGKILL) after the test. */
function spawnRedis(t: TestContext, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  t.after(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
  });
  return { child, output: () => output };
}

/** A Sentinel (`redis-server sentinel.conf --sentinel`) monitoring `master` as `mymaster`. */
export async function startSentinel(t: TestContext, master: TestRedis): Promise<TestSentinel | undefined> {
  if (!requireProgram(t, 'redis-server', 'redis-server')) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fennec-sentinel-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'sentinel.conf');
  // The Sentinel rewrites its configuration file, so it lives in the temporary directory.
  writeFileSync(
    config,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
      'sentinel down-after-milliseconds mymaster 1000',
      'sentinel failover-timeout mymaster 5000',
      '',
    ].join('\n'),
  );
  const { child, output } = spawnRedis(t, [config, '--sentinel']);
  await waitForPing(port, child, output);
  await waitUntil(
    async () => (await redisCli(port, 'SENTINEL', 'get-master-addr-by-name', 'mymaster')).includes(String(master.port)),
    'the Sentinel to know its master',
  );
  return { port, name: 'mymaster' };
}

/**
 * A free port for a Redis Cluster node: at most 55535, as its cluster bus listens 10000 above it,
 * which must be free too.
 */
async function freeClusterPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port <= 55_535 && (await isFree(port + 10_000))) return port;
  }
}

/** Whether a loopback TCP port can be listened on now. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A Redis Cluster of masters on loopback, every slot covered. */
export interface TestRedisCluster {
  ports: number[];
  /** `redis+cluster://127.0.0.1:P1,127.0.0.1:P2`: two of the nodes, from which the client learns the rest. */
  url: string;
  /** Runs `fn` after the test before the servers stop (latest registered first). */
  beforeStop(fn: () => Promise<void>): void;
}

/** A Redis Cluster of `masters` masters and no replicas, ready (cluster_state:ok) on every node. */
export async function startRedisCluster(t: TestContext, masters = 3): Promise<TestRedisCluster | undefined> {
  if (!requireProgram(t, 'redis-server', 'redis-server')) return undefined;
  if (!requireProgram(t, 'redis-cli', 'redis-tools')) return undefined;
  // Registered before the servers' own cleanup, so that their clients leave while they still answer.
  const closers: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const close of closers.reverse()) await close();
  });
  const ports: number[] = [];
  for (let i = 0; i < masters; i++) {
    const port = await freeClusterPort();
    const dir = mkdtempSync(join(tmpdir(), 'fennec-redis-cluster-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const { child, output } = spawnRedis(t, [
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
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      join(dir, 'nodes.conf'),
      '--cluster-node-timeout',
      '2000',
    ]);
    await waitForPing(port, child, output);
    ports.push(port);
  }
  await run(
    'redis-cli',
    ['--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`), '--cluster-replicas', '0', '--cluster-yes'],
    { timeout: 30_000 },
  );
  for (const port of ports) {
    await waitUntil(
      async () => /cluster_state:ok/.test(await redisCli(port, 'CLUSTER', 'INFO')),
      `Redis Cluster node ${port} to be ready`,
    );
  }
  return {
    ports,
    url: `redis+cluster://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}`,
    beforeStop: (fn) => closers.push(fn),
  };
}
