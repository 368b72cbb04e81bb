/**
 * Cluster benchmark: fan-in and fan-out throughput and latency (p50/p99) of one Fennec node alone
 * against two nodes on one Redis, with publishers on node A and subscribers on node B (every
 * message crosses Redis), on this machine; `fennec bench` drives the load from its own process.
 *
 * Figures only, never assertions. Run with
 *   npm run build && node dist/bench/cluster.js [seconds per run, default 5] [qos, default 1]
 * It starts its own redis-server (Debian package redis-server, appendonly yes, appendfsync everysec)
 * on a free loopback port and `fennec broker --memory` processes on free ports, and stops them at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const seconds = Number(process.argv[2] ?? 5);
const qos = Number(process.argv[3] ?? 1);
const fennec = join(import.meta.dirname, '..', '..', 'bin', 'fennec.js');
const children: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** Starts a process and resolves once `ready` matches its stdout. */
function start(
  command: string,
  args: string[],
  ready: RegExp,
): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = ready.exec(out);
      if (match !== null) resolve({ child, match });
    });
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}: ${out}`)));
  });
}

async function node(redisUrl?: string): Promise<string> {
  const args = [fennec, 'broker', '--memory', '--port', '0', '--log-level', 'warn'];
  if (redisUrl !== undefined) args.push('--cluster-redis', redisUrl);
  const { match } = await start(process.execPath, args, /fennec listening (mqtt:\/\/\S+)/);
  return match[1]!;
}

interface Report {
  msgs_per_s: number;
  p50_us: number;
  p99_us: number;
  lost: number;
  dup: number;
}

function bench(scenario: string, url: string, subscriberUrl?: string): Promise<Report> {
  const args = [fennec, 'bench', scenario, '-L', url, '-q', String(qos), '-d', String(seconds), '--json'];
  if (subscriberUrl !== undefined) args.push('--subscriber-url', subscriberUrl);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as Report) : reject(new Error(`bench ${code}: ${out}`)),
    ),
  );
}

const dir = mkdtempSync(join(tmpdir(), 'fennec-bench-redis-'));
try {
  const redisPort = await freePort();
  await start(
    'redis-server',
    [
      '--port',
      String(redisPort),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
    ],
    /Ready to accept connections/,
  );
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const alone = await node();
  const a = await node(redisUrl);
  const b = await node(redisUrl);
  const rows: [string, string, Report][] = [];
  for (const scenario of ['fanin', 'fanout']) {
    rows.push([scenario, '1 node alone', await bench(scenario, alone)]);
    rows.push([scenario, '2 nodes, pub and sub on A', await bench(scenario, a)]);
    rows.push([scenario, '2 nodes, pub on A, sub on B', await bench(scenario, a, b)]);
  }
  console.log(
    `QoS ${qos}, ${seconds} s per run, fennec bench defaults (fanin 8 publishers -> 1 subscriber, fanout 1 -> 50)`,
  );
  console.log('| scenario | setup | msgs/s received | p50 µs | p99 µs | lost | dup |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [scenario, setup, r] of rows) {
    console.log(`| ${scenario} | ${setup} | ${r.msgs_per_s} | ${r.p50_us} | ${r.p99_us} | ${r.lost} | ${r.dup} |`);
  }
} finally {
  for (const child of children.reverse()) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
