/**
 * Failover benchmark: how long after a node is killed (SIGKILL) the will of its client (no delay)
 * reaches a subscriber on the surviving node, for a few `cluster.lease_ms` values. The time is the
 * lease running out, the grace of one more lease, and the check interval (a third of a lease).
 *
 * Figures only, never assertions. Run with
 *   npm run build && node dist/bench/cluster-failover.js [rounds per lease, default 3] [lease ms...]
 * It starts its own redis-server (Debian package redis-server) on a free loopback port and
 * `fennec broker --memory` nodes on free ports, and stops them at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';

const rounds = Number(process.argv[2] ?? 3);
const leases = process.argv.length > 3 ? process.argv.slice(3).map(Number) : [1000, 3000];
const fennec = join(import.meta.dirname, '..', '..', 'bin', 'fennec.js');
const dir = mkdtempSync(join(tmpdir(), 'fennec-failover-'));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** Starts a process and resolves once `ready` matches its stdout. */
function start(command: string, args: string[], ready: RegExp): Promise<{ child: ChildProcess; match: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = ready.exec(out);
      if (match !== null) resolve({ child, match: match[1] ?? '' });
    });
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}: ${out}`)));
  });
}

async function node(redisUrl: string, nodeId: string, leaseMs: number): Promise<{ child: ChildProcess; url: string }> {
  const file = join(dir, `${nodeId}.yaml`);
  writeFileSync(file, `cluster:\n  redis: ${redisUrl}\n  node_id: ${nodeId}\n  lease_ms: ${leaseMs}\n`);
  const args = [fennec, 'broker', '--memory', '--port', '0', '--log-level', 'warn', '--config', file];
  const { child, match } = await start(process.execPath, args, /fennec listening (mqtt:\/\/\S+)/);
  return { child, url: match };
}

/** One round: returns the ms from SIGKILL to the will's arrival on the survivor. */
async function round(redisUrl: string, leaseMs: number, n: number): Promise<number> {
  const doomed = await node(redisUrl, `doomed-${leaseMs}-${n}`, leaseMs);
  const alive = await node(redisUrl, `alive-${leaseMs}-${n}`, leaseMs);
  const sub = await mqtt.connectAsync(alive.url, { clientId: 'sub', reconnectPeriod: 0 });
  const arrived = new Promise<number>((resolve) => sub.on('message', () => resolve(Date.now())));
  await sub.subscribeAsync('failover/#', { qos: 1 });
  const will = { topic: 'failover/will', payload: Buffer.from('gone'), qos: 1 as const, retain: false };
  const client = await mqtt.connectAsync(doomed.url, { clientId: 'doomed-client', reconnectPeriod: 0, will });
  client.on('error', () => undefined);
  // Routes and the will's record reach Redis within a few turns of the event loop.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const killedAt = Date.now();
  doomed.child.kill('SIGKILL');
  const ms = (await arrived) - killedAt;
  client.end(true);
  await sub.endAsync();
  alive.child.kill('SIGTERM');
  await new Promise((resolve) => alive.child.once('exit', resolve));
  return ms;
}

const redisPort = await freePort();
const redis = await start(
  'redis-server',
  ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
  /(Ready to accept connections)/,
);
try {
  console.log('| lease_ms | round | SIGKILL to will delivered on the survivor, ms |');
  console.log('| -------: | ----: | --------------------------------------------: |');
  for (const leaseMs of leases) {
    for (let n = 1; n <= rounds; n++) {
      console.log(`| ${leaseMs} | ${n} | ${await round(`redis://127.0.0.1:${redisPort}`, leaseMs, n)} |`);
    }
  }
} finally {
  redis.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
