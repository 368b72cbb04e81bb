/**
 * Idle connection benchmark: what one idle MQTT connection costs Fennec, next to a bare Node `net`
 * server that only answers CONNECT with CONNACK (the floor of a Node broker).
 *
 * 1. Memory: a fresh server (`fennec broker --memory`, or the bare server) runs as a child process
 *    with `--expose-gc`; after a warm-up of 500 connections opened and closed, its memory is read
 *    after GC, then N idle clients connect (raw sockets sending CONNECT, from child processes of
 *    at most 15,000 sockets each, over several loopback source addresses 127.0.0.x so the
 *    ephemeral port range is not the limit), and its memory is read again after GC. Printed: RSS,
 *    V8 heap and external (Buffers) bytes per connection.
 * 2. With `--snapshot DIR`: heap snapshots of the broker before and with the N connections, and the
 *    kinds of objects that grew, per connection (bench/heap-diff.ts).
 * 3. With `--control`: while the N clients are held, an mqload QoS 1 publisher/subscriber pair at
 *    1,000 msg/s for 5 s; its p99 latency.
 * 4. Connects per second: mqload's `conn` scenario (10,000 clients, 100 handshakes at a time)
 *    against a fresh Fennec and a fresh bare server, alternating, `--rounds` times (time figures
 *    are noisy on a shared machine: read them side by side).
 *
 * Every child gets `ulimit -n` raised to the hard limit. Figures only, never assertions. Run with
 *   npm run build && node dist/bench/idle-connections.js [--conns N] [--rounds R] [--servers fennec,bare]
 *     [--snapshot DIR] [--control] [--no-rate] [--no-memory]
 * A server `fennec@DIR` is Fennec as built in another checkout, e.g. --servers fennec,fennec@/tmp/before,bare.
 * A server `fennec-wN` is `fennec broker --workers N`: its memory is the RSS of all its processes (the
 * primary and the N workers, read from /proc without forcing a GC), so that more connections than one
 * process may open (`ulimit -Hn`) can be held, e.g. --conns 100000 --servers fennec-w7 --control.
 * mqload is /tmp/mqload (built from ../shared/tools/mqload/mqload.c when missing, as bench/brokers.sh does).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { diff } from './heap-diff.js';

const { values: args } = parseArgs({
  options: {
    conns: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    servers: { type: 'string', default: 'fennec,bare' },
    snapshot: { type: 'string' },
    control: { type: 'boolean', default: false },
    'no-rate': { type: 'boolean', default: false },
    'no-memory': { type: 'boolean', default: false },
  },
});
const CONNS = Number(args.conns);
const PER_CLIENT_PROCESS = 15_000;
/** Sockets per loopback source address: well under the 28,000 ports of the default ephemeral range, which TIME_WAIT sockets of earlier runs also hold. */
const PER_ADDRESS = 10_000;
const root = join(import.meta.dirname, '..', '..');
const fennec = join(root, 'bin', 'fennec.js');
const clientScript = join(import.meta.dirname, 'idle-clients.js');
const MQLOAD = process.env['MQLOAD'] ?? '/tmp/mqload';
const work = join(tmpdir(), `fennec-idle-${process.pid}`);
mkdirSync(work, { recursive: true });

/** Loaded into each server: on a message from the bench, GC then report memory, or write a heap snapshot. */
const probe = join(work, 'probe.cjs');
writeFileSync(
  probe,
  `const v8 = require('node:v8');
process.on('message', (m) => {
  for (let i = 0; i < 4; i++) global.gc();
  if (m.cmd === 'measure') process.send({ memory: process.memoryUsage() });
  else if (m.cmd === 'snapshot') process.send({ snapshot: v8.writeHeapSnapshot(m.path) });
});
`,
);
/** The bare floor: a Node server that answers the first bytes (a CONNECT) with CONNACK and keeps the socket. */
const bare = join(work, 'bare.cjs');
writeFileSync(
  bare,
  `const net = require('node:net');
const CONNACK = Buffer.from([0x20, 2, 0, 0]);
function onData() { if (!this.acked) { this.acked = true; this.write(CONNACK); } }
function onError() {}
const server = net.createServer({ noDelay: true }, (s) => { s.on('data', onData); s.on('error', onError); });
server.listen(0, '127.0.0.1', () => console.log('bare listening mqtt://127.0.0.1:' + server.address().port));
`,
);

type Server = { name: string; child: ChildProcess; port: number };
type Reply = { memory?: NodeJS.MemoryUsage; snapshot?: string };

/** Runs `node ARGS` under bash with `ulimit -n` raised to the hard limit, with an IPC channel. */
function nodeChild(nodeArgs: string[], stdout: 'pipe' | 'ignore' = 'pipe'): ChildProcess {
  const script = 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"';
  return spawn('bash', ['-c', script, process.execPath, ...nodeArgs], { stdio: ['ignore', stdout, 'inherit', 'ipc'] });
}

/** N of a server `fennec-wN` (`--workers N`); undefined for any other. */
function workersOf(name: string): number | undefined {
  const match = /^fennec-w(\d+)$/.exec(name);
  return match === null ? undefined : Number(match[1]);
}

/** The pids of `pid` and of all its descendants, from /proc. */
function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  for (const next = [pid]; next.length > 0;) {
    const current = next.pop()!;
    out.push(current);
    next.push(...(parents.get(current) ?? []));
  }
  return out;
}

/** The RSS of `pid` and its descendants, in bytes. */
function treeRss(pid: number): number {
  let total = 0;
  for (const p of processTree(pid)) {
    try {
      const line = readFileSync(`/proc/${p}/status`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith('VmRSS:'));
      total += Number(line?.split(/\s+/)[1] ?? 0) * 1024;
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

async function startServer(name: string): Promise<Server> {
  const flags = ['--expose-gc', '--require', probe];
  const workers = workersOf(name);
  // fennec@DIR: Fennec as built in another checkout (before and after a change side by side)
  const cli = name.startsWith('fennec@') ? join(name.slice('fennec@'.length), 'bin', 'fennec.js') : fennec;
  const child = name.startsWith('fennec')
    ? nodeChild([
        ...flags,
        cli,
        'broker',
        '--memory',
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--log-level',
        'warn',
        ...(workers === undefined ? [] : ['--workers', String(workers)]),
      ])
    : nodeChild([...flags, bare]);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match !== null) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${out}`)));
  });
  return { name, child, port };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

function ask(child: ChildProcess, message: object): Promise<Reply> {
  return new Promise((resolve) => {
    child.once('message', (reply: Reply) => resolve(reply));
    child.send(message);
  });
}

interface Clients {
  children: ChildProcess[];
  connected: number;
  failed: number;
  errors: Record<string, number>;
  seconds: number;
}

/** Opens `count` idle clients to `port` from child processes; resolves once each has its CONNACK or failed. */
async function openClients(port: number, count: number, prefix: string): Promise<Clients> {
  const children: ChildProcess[] = [];
  const replies: Promise<Omit<Clients, 'children'>>[] = [];
  const addresses = Math.max(1, Math.ceil(count / PER_ADDRESS));
  for (let first = 0, n = 0; first < count; first += PER_CLIENT_PROCESS, n++) {
    const share = Math.min(PER_CLIENT_PROCESS, count - first);
    // Each process spreads its sockets over all the source addresses, starting at 127.0.0.1.
    const child = nodeChild([clientScript, String(port), String(share), String(addresses), '1', `${prefix}-${n}`]);
    children.push(child);
    replies.push(new Promise((resolve) => child.once('message', resolve)));
  }
  const results = await Promise.all(replies);
  const errors: Record<string, number> = {};
  for (const r of results) for (const [code, n] of Object.entries(r.errors)) errors[code] = (errors[code] ?? 0) + n;
  return {
    children,
    connected: results.reduce((s, r) => s + r.connected, 0),
    failed: results.reduce((s, r) => s + r.failed, 0),
    errors,
    seconds: Math.max(...results.map((r) => r.seconds)),
  };
}

async function closeClients(clients: Clients): Promise<void> {
  await Promise.all(
    clients.children.map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.send({ cmd: 'close' });
        }),
    ),
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const perConn = (after: number, before: number, n: number): string => ((after - before) / n).toFixed(0);

/** mqload's one-line RESULT, as key=value pairs. */
function mqload(mqloadArgs: string[]): Record<string, string> {
  let out = '';
  try {
    out = execFileSync('bash', ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"', MQLOAD, ...mqloadArgs], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  } catch (err) {
    out = String((err as { stdout?: string }).stdout ?? '');
  }
  const line = out.split('\n').find((l) => l.startsWith('RESULT')) ?? '';
  return Object.fromEntries(line.split(' ').map((pair) => pair.split('=') as [string, string]));
}

async function memory(name: string): Promise<void> {
  if (workersOf(name) !== undefined) return treeMemory(name);
  const server = await startServer(name);
  const warm = await openClients(server.port, 500, 'warm');
  await closeClients(warm);
  await sleep(1500);
  const before = (await ask(server.child, { cmd: 'measure' })).memory!;
  if (args.snapshot !== undefined && name.startsWith('fennec')) {
    await ask(server.child, { cmd: 'snapshot', path: join(args.snapshot, 'before.heapsnapshot') });
  }
  const clients = await openClients(server.port, CONNS, 'idle');
  await sleep(2000);
  const after = (await ask(server.child, { cmd: 'measure' })).memory!;
  const n = Math.max(1, clients.connected);
  // A heap snapshot taken before the clients leaves its memory in the RSS read after them.
  const polluted = args.snapshot !== undefined && name.startsWith('fennec') ? ' (RSS includes the first snapshot)' : '';
  const errs = clients.failed > 0 ? ` (${clients.failed} failed: ${JSON.stringify(clients.errors)})` : '';
  console.log(
    `${name.padEnd(7)} ${String(clients.connected).padStart(7)} held${errs} in ${clients.seconds.toFixed(1)} s;` +
      ` per connection: RSS ${perConn(after.rss, before.rss, n)} B, heap used ${perConn(after.heapUsed, before.heapUsed, n)} B,` +
      ` heap total ${perConn(after.heapTotal, before.heapTotal, n)} B, external ${perConn(after.external, before.external, n)} B;` +
      ` RSS ${(after.rss / 2 ** 20).toFixed(1)} MiB${polluted}`,
  );
  if (args.control && name.startsWith('fennec')) {
    const r = mqload(['-p', String(server.port), '-s', 'pairs', '-q', '1', '-P', '1', '-r', '1000', '-d', '5']);
    console.log(
      `        control pair (QoS 1, 1,000 msg/s, 5 s) while holding: p50 ${r['p50_us']} us, p99 ${r['p99_us']} us,` +
        ` max ${r['max_us']} us, lost ${r['lost']}`,
    );
  }
  if (args.snapshot !== undefined && name.startsWith('fennec')) {
    await ask(server.child, { cmd: 'snapshot', path: join(args.snapshot, 'after.heapsnapshot') });
  }
  await closeClients(clients);
  await stop(server.child);
  if (args.snapshot !== undefined && name.startsWith('fennec')) {
    console.log(`fennec heap grown per connection (${args.snapshot}/{before,after}.heapsnapshot):`);
    const lines = diff(join(args.snapshot, 'before.heapsnapshot'), join(args.snapshot, 'after.heapsnapshot'), n);
    for (const line of lines) console.log(line);
  }
}

/** `memory` for a server of several processes: the RSS of them all, before and with the clients, and the control pair. */
async function treeMemory(name: string): Promise<void> {
  const server = await startServer(name);
  const pid = server.child.pid!;
  await sleep(1000);
  const warm = await openClients(server.port, 500, 'warm');
  await closeClients(warm);
  await sleep(1500);
  const before = treeRss(pid);
  const clients = await openClients(server.port, CONNS, 'idle');
  await sleep(2000);
  const after = treeRss(pid);
  const n = Math.max(1, clients.connected);
  const errs = clients.failed > 0 ? ` (${clients.failed} failed: ${JSON.stringify(clients.errors)})` : '';
  console.log(
    `${name.padEnd(7)} ${String(clients.connected).padStart(7)} held${errs} in ${clients.seconds.toFixed(1)} s` +
      ` by ${processTree(pid).length} processes; RSS of them all per connection ${perConn(after, before, n)} B` +
      ` (no GC forced); RSS ${(before / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB with them`,
  );
  if (args.control) {
    const r = mqload(['-p', String(server.port), '-s', 'pairs', '-q', '1', '-P', '1', '-r', '1000', '-d', '5']);
    console.log(
      `        control pair (QoS 1, 1,000 msg/s, 5 s) while holding: p50 ${r['p50_us']} us, p99 ${r['p99_us']} us,` +
        ` max ${r['max_us']} us, lost ${r['lost']}`,
    );
  }
  await closeClients(clients);
  await stop(server.child);
}

/** CPU time (user + system) of process `pid` so far, in ms. */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second here)
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** CPU time of `pid` and its descendants (a server of several processes), in ms. */
function treeCpuMs(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    try {
      return sum + processCpuMs(p);
    } catch {
      return sum;
    }
  }, 0);
}

async function rate(name: string): Promise<string> {
  const server = await startServer(name);
  const pid = server.child.pid!;
  const cpuMs = workersOf(name) === undefined ? processCpuMs : treeCpuMs;
  if (workersOf(name) !== undefined) await sleep(1000);
  const cpu = cpuMs(pid);
  const r = mqload(['-p', String(server.port), '-s', 'conn', '-C', '10000', '-c', '100', '-H', '1', '-B', String(pid)]);
  // CPU per connect is steadier than the rate on a shared machine (it includes the hold and the closes).
  const cpuPerConnect = ((cpuMs(pid) - cpu) * 1000) / 10_000;
  await stop(server.child);
  const perSecond = Number(r['connects_per_s'] ?? 0).toFixed(0);
  return `${name} ${perSecond}/s, ${cpuPerConnect.toFixed(0)} us CPU/conn (mqload RSS/conn ${r['broker_rss_per_conn_bytes']} B)`;
}

async function main(): Promise<void> {
  if (args.snapshot !== undefined) mkdirSync(args.snapshot, { recursive: true });
  if (!existsSync(MQLOAD)) {
    execFileSync('cc', ['-O2', '-o', MQLOAD, join(root, '..', 'shared', 'tools', 'mqload', 'mqload.c')]);
  }
  const servers = args.servers.split(',');
  // Node raises its soft limit of open files to the hard one; the hard one caps the connections of one process.
  const hard = execFileSync('bash', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
  if (hard !== 'unlimited' && CONNS + 50 > Number(hard)) {
    console.log(
      `note: the hard limit of open files is ${hard} (ulimit -Hn), so one server process holds at most about` +
        ` ${Number(hard) - 50} connections; raising it needs CAP_SYS_RESOURCE (or the container's nofile limit).`,
    );
  }
  if (!args['no-memory']) {
    console.log(`memory of ${CONNS} idle MQTT 3.1.1 clients (Keep Alive 300 s), after GC:`);
    for (const name of servers) await memory(name);
  }
  if (!args['no-rate']) {
    console.log('connects per second, mqload -s conn -C 10000 -c 100 (fresh server each, alternating):');
    for (let round = 1; round <= Number(args.rounds); round++) {
      const figures: string[] = [];
      for (const name of servers) figures.push(await rate(name));
      console.log(`  round ${round}: ${figures.join('; ')}`);
    }
  }
}

try {
  await main();
} finally {
  rmSync(work, { recursive: true, force: true });
}
