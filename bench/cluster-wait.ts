/**
 * What `cluster.wait_replicas: 1` costs: fan-in across two nodes (publishers on node A, the
 * subscriber on node B, every message through Redis) with and without `WAIT 1` after each pipeline
 * carrying QoS 1/2 messages, against a Redis master with one replica on this machine.
 *
 * Figures only, never assertions. Run with
 *   npm run build && node dist/bench/cluster-wait.js [seconds per run, default 5] [qos, default 1]
 * It starts its own redis-server master and replica (appendonly yes, appendfsync everysec) and
 * `fennec broker --memory` processes on free loopback ports, and stops them at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
function start(command: string, args: string[], ready: RegExp): Promise<RegExpExecArray> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = ready.exec(out);
      if (match !== null) resolve(match);
    });
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}: ${out}`)));
  });
}

/** A Redis server on a free port with its data in `dir`; `replicaOf`: the master's port. */
async function redis(dir: string, replicaOf?: number): Promise<number> {
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes'];
  if (replicaOf !== undefined) args.push('--replicaof', '127.0.0.1', String(replicaOf));
  const ready = replicaOf === undefined ? /Ready to accept connections/ : /MASTER <-> REPLICA sync: Finished/;
  await start('redis-server', args, ready);
  return port;
}

/** A cluster node configured by `file`. */
async function node(file: string): Promise<string> {
  const args = [fennec, 'broker', '--memory', '--port', '0', '--log-level', 'warn', '--config', file];
  return (await start(process.execPath, args, /fennec listening (mqtt:\/\/\S+)/))[1]!;
}

interface Report {
  msgs_per_s: number;
  p50_us: number;
  p99_us: number;
  lost: number;
  dup: number;
}

function bench(url: string, subscriberUrl: string): Promise<Report> {
  const args = [fennec, 'bench', 'fanin', '-L', url, '-q', String(qos), '-d', String(seconds), '--json'];
  args.push('--subscriber-url', subscriberUrl);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as Report) : reject(new Error(`bench ${code}: ${out}`)),
    ),
  );
}

const dirs = [0, 1, 2].map(() => mkdtempSync(join(tmpdir(), 'fennec-bench-wait-')));
try {
  const master = await redis(dirs[0]!);
  await redis(dirs[1]!, master);
  const rows: [string, Report][] = [];
  for (const [label, waitReplicas] of [
    ['no WAIT', 0],
    ['wait_replicas: 1', 1],
  ] as const) {
    const file = join(dirs[2]!, `wait-${waitReplicas}.yaml`);
    writeFileSync(file, `cluster:\n  redis: redis://127.0.0.1:${master}\n  wait_replicas: ${waitReplicas}\n`);
    const a = await node(file);
    const b = await node(file);
    rows.push([label, await bench(a, b)]);
  }
  console.log(`fanin (8 publishers on node A -> 1 subscriber on node B), QoS ${qos}, ${seconds} s per run`);
  console.log('| setup | msgs/s received | p50 µs | p99 µs | lost | dup |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [setup, r] of rows) {
    console.log(`| ${setup} | ${r.msgs_per_s} | ${r.p50_us} | ${r.p99_us} | ${r.lost} | ${r.dup} |`);
  }
} finally {
  for (const child of children.reverse()) child.kill('SIGTERM');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
