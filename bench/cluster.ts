/**
 * Cluster benchmark: fan-in and fan-out throughput and latency (p50/p99) with 1, 2 and 3 Fennec
 * nodes on one Redis on this machine, and the latency a cross-node hop adds at a fixed low rate.
 * `fennec bench` drives the load from its own processes.
 *
 * - fanin, N nodes: 8 publishers spread over nodes 1..N-1, each group with its own subscriber on node
 *   N (one `fennec bench fanin` per publishing node, run at once; msgs/s summed, p99 the worst);
 *   1 node: publishers and subscriber on node 1.
 * - fanout, N nodes: 50 subscribers spread over nodes 2..N, one publisher on node 1 per subscribing
 *   node (one `fennec bench fanout` per subscribing node, at once); 1 node: all on node 1.
 * - hop: one publisher at 200 msgs/s to one subscriber, on one node and across two.
 *
 * Figures only, never assertions. Run with
 *   npm run build && node dist/bench/cluster.js [seconds per run, default 5] [qos, default 1]
 *     [--compare DIR]   also run the 2-node rows on the build in DIR (another checkout, built),
 *                       alternating DIR and this one twice, to compare two versions in one run
 * It starts its own redis-server (Debian package redis-server, appendonly yes, appendfsync everysec)
 * on a free loopback port and `fennec broker --memory` processes on free ports, and stops them at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const positional = process.argv.slice(2).filter((arg, i, all) => !arg.startsWith('--') && all[i - 1] !== '--compare');
const seconds = Number(positional[0] ?? 5);
const qos = Number(positional[1] ?? 1);
const compareAt = process.argv.indexOf('--compare');
const compareDir = compareAt < 0 ? undefined : process.argv[compareAt + 1];
const here = join(import.meta.dirname, '..', '..');
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

interface Node {
  url: string;
  child: ChildProcess;
}

async function node(root: string, redisUrl?: string): Promise<Node> {
  const args = [join(root, 'bin', 'fennec.js'), 'broker', '--memory', '--port', '0', '--log-level', 'error'];
  if (redisUrl !== undefined) args.push('--cluster-redis', redisUrl);
  const { child, match } = await start(process.execPath, args, /fennec listening (mqtt:\/\/\S+)/);
  return { url: match[1]!, child };
}

async function stopNodes(nodes: Node[]): Promise<void> {
  await Promise.all(
    nodes.map(
      ({ child }) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
}

interface Report {
  msgs_per_s: number;
  p50_us: number;
  p99_us: number;
  lost: number;
  dup: number;
}

/** One `fennec bench` process. */
function bench(scenario: string, url: string, subscriberUrl: string | undefined, extra: string[]): Promise<Report> {
  const args = [join(here, 'bin', 'fennec.js'), 'bench', scenario, '-L', url, '-q', String(qos), '-d', String(seconds)];
  args.push('--json', '--threads', '1', ...extra);
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

/** Several bench processes at once: throughput summed, p50 the mean, p99 and losses the worst / summed. */
async function together(runs: Promise<Report>[]): Promise<Report> {
  const reports = await Promise.all(runs);
  return {
    msgs_per_s: reports.reduce((sum, r) => sum + r.msgs_per_s, 0),
    p50_us: Math.round(reports.reduce((sum, r) => sum + r.p50_us, 0) / reports.length),
    p99_us: Math.max(...reports.map((r) => r.p99_us)),
    lost: reports.reduce((sum, r) => sum + r.lost, 0),
    dup: reports.reduce((sum, r) => sum + r.dup, 0),
  };
}

/** fanin over `nodes`: 8 publishers over all but the last node, each group to a subscriber on the last. */
function fanin(nodes: Node[]): Promise<Report> {
  if (nodes.length === 1) return bench('fanin', nodes[0]!.url, undefined, ['-P', '8']);
  const publishing = nodes.slice(0, -1);
  const sink = nodes.at(-1)!.url;
  return together(publishing.map((n) => bench('fanin', n.url, sink, ['-P', String(8 / publishing.length)])));
}

/** fanout over `nodes`: 50 subscribers over all but the first node, each group fed by a publisher on the first. */
function fanout(nodes: Node[]): Promise<Report> {
  if (nodes.length === 1) return bench('fanout', nodes[0]!.url, undefined, ['-S', '50']);
  const subscribing = nodes.slice(1);
  const source = nodes[0]!.url;
  return together(subscribing.map((n) => bench('fanout', source, n.url, ['-S', String(50 / subscribing.length)])));
}

/** One publisher at 200 msgs/s to one subscriber: the latency of the path, not its capacity. */
function hop(nodes: Node[]): Promise<Report> {
  return bench('fanin', nodes[0]!.url, nodes.length > 1 ? nodes[1]!.url : undefined, ['-P', '1', '-r', '200']);
}

const rows: [string, string, Report][] = [];
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
  const alone = [await node(here)];
  for (const [name, run] of [
    ['fanin', fanin],
    ['fanout', fanout],
    ['hop', hop],
  ] as const) {
    rows.push([name, '1 node alone', await run(alone)]);
    for (const count of name === 'hop' ? [2] : [2, 3]) {
      const nodes: Node[] = [];
      for (let i = 0; i < count; i++) nodes.push(await node(here, redisUrl));
      rows.push([name, `${count} nodes`, await run(nodes)]);
      await stopNodes(nodes);
    }
  }
  if (compareDir !== undefined) {
    // The same 2-node rows on both builds, alternating, each on fresh nodes.
    for (let round = 1; round <= 2; round++) {
      for (const [label, root] of [
        ['before', compareDir],
        ['after', here],
      ] as const) {
        for (const [name, run] of [
          ['fanin', fanin],
          ['fanout', fanout],
        ] as const) {
          const nodes = [await node(root, redisUrl), await node(root, redisUrl)];
          rows.push([name, `2 nodes, ${label} (round ${round})`, await run(nodes)]);
          await stopNodes(nodes);
        }
      }
    }
  }
  console.log(
    `QoS ${qos}, ${seconds} s per run; fanin: 8 publishers; fanout: 50 subscribers; hop: 1 publisher at 200 msgs/s`,
  );
  console.log('| scenario | setup | msgs/s received | p50 µs | p99 µs | not received | dup |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [scenario, setup, r] of rows) {
    console.log(`| ${scenario} | ${setup} | ${r.msgs_per_s} | ${r.p50_us} | ${r.p99_us} | ${r.lost} | ${r.dup} |`);
  }
} finally {
  for (const child of children.reverse()) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}
