/**
 * Cluster sessions benchmark: what cluster-wide sessions cost a CONNECT (the claim script before
 * each CONNACK) and how long a takeover across nodes takes, on this machine. Figures only.
 *
 *   npm run build && node dist/bench/cluster-sessions.js [connects, default 300] [takeovers, default 20]
 *
 * Starts its own redis-server (appendonly yes, appendfsync everysec) on a free loopback port and
 * in-process nodes on free ports; stops them at the end.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { Broker } from '../src/broker/broker.js';
import { RedisBus } from '../src/cluster/redis-bus.js';
import { RedisStore } from '../src/cluster/redis-store.js';

const connects = Number(process.argv[2] ?? 300);
const takeovers = Number(process.argv[3] ?? 20);
const QUEUED = 100;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function node(redis: string, nodeId: string, sessions: boolean): Promise<{ broker: Broker; url: string }> {
  const store = sessions ? await RedisStore.open({ redis, nodeId, retained: false }) : undefined;
  const bus = new RedisBus({ redis, nodeId, ...(store === undefined ? {} : { store }) });
  const broker = new Broker({
    host: '127.0.0.1',
    port: 0,
    sysInterval: 0,
    bus,
    ...(store === undefined ? {} : { store }),
  });
  const { port } = await broker.listen();
  return { broker, url: `mqtt://127.0.0.1:${port}` };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0;
}

const ms = (list: number[]): string => {
  const sorted = [...list].sort((a, b) => a - b);
  return `p50 ${percentile(sorted, 50).toFixed(2)} ms, p99 ${percentile(sorted, 99).toFixed(2)} ms`;
};

/** Connects and disconnects `count` clean 5.0 clients one after the other; returns each CONNACK's wait. */
async function connectTimes(url: string, count: number, prefix: string): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const client = await mqtt.connectAsync(url, { clientId: `${prefix}-${i}`, protocolVersion: 5, reconnectPeriod: 0 });
    times.push(performance.now() - started);
    await client.endAsync();
  }
  return times;
}

const dir = mkdtempSync(join(tmpdir(), 'fennec-bench-sessions-'));
const redisPort = await freePort();
const redisServer = spawn(
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
  { stdio: 'ignore' },
);
await new Promise((resolve) => setTimeout(resolve, 500));
const redis = `redis://127.0.0.1:${redisPort}`;
try {
  const plain = await node(redis, 'plain', false);
  const a = await node(redis, 'node-a', true);
  const b = await node(redis, 'node-b', true);
  console.log(`CONNECT to CONNACK, ${connects} clean 5.0 clients one after the other:`);
  console.log(`  node with local sessions:        ${ms(await connectTimes(plain.url, connects, 'plain'))}`);
  console.log(`  node with cluster-wide sessions: ${ms(await connectTimes(a.url, connects, 'clustered'))}`);

  // Takeovers: a persistent session with QUEUED QoS 1 messages queued moves from node to node.
  const publisher = await mqtt.connectAsync(a.url, { clientId: 'bench-pub', protocolVersion: 5 });
  const options = {
    clientId: 'mover',
    protocolVersion: 5 as const,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 0,
  };
  let holder = await mqtt.connectAsync(a.url, options);
  await holder.subscribeAsync('move/#', { qos: 1 });
  holder.end(true);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const connack: number[] = [];
  const drained: number[] = [];
  const urls = [b.url, a.url];
  for (let i = 0; i < takeovers; i++) {
    for (let n = 0; n < QUEUED; n++) await publisher.publishAsync('move/x', `m${n}`, { qos: 1 });
    holder.end(true);
    let received = 0;
    const started = performance.now();
    let all!: () => void;
    const done = new Promise<void>((resolve) => (all = resolve));
    const client = mqtt.connect(urls[i % 2]!, options);
    client.on('message', () => {
      if (++received === QUEUED) all();
    });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    connack.push(performance.now() - started);
    await done;
    drained.push(performance.now() - started);
    holder = client;
    // Offline again before the next round's messages are queued.
    holder.end(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.log(
    `Takeover of a persistent session with ${QUEUED} queued QoS 1 messages, ${takeovers} times between two nodes:`,
  );
  console.log(`  CONNECT to CONNACK:              ${ms(connack)}`);
  console.log(`  CONNECT to the last message:     ${ms(drained)}`);
  await publisher.endAsync();
  for (const n of [plain, a, b]) await n.broker.close();
} finally {
  redisServer.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
