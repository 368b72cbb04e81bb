/**
 * A Fennec cluster for one test: `count` in-process Brokers on ephemeral loopback ports, each a node
 * (`node-1`, `node-2`, ...) with a RedisBus to one real redis-server, each with an MQTT.js client
 * pool; everything closed after the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { encodeMessage } from '../../src/cluster/codec.js';
import { RedisBus, type RedisBusOptions } from '../../src/cluster/redis-bus.js';
import { RedisStore } from '../../src/cluster/redis-store.js';
import { ClientPool, WAIT_MS, type TestClient } from '../interop/support.js';
import type { PublishIn } from './parse.js';
import { RawClient } from './raw-client.js';
import type { TestRedis } from './redis-server.js';
import { cliEnvironment, fennecBin } from './cli.js';
import * as pkt from './packets.js';

/** One node of a test cluster. */
export interface TestNode {
  broker: Broker;
  bus: RedisBus;
  port: number;
  url: string;
  /** MQTT.js clients connected to this node. */
  clients: ClientPool;
}

/** Starts a node with id `nodeId` on `redis`; closed after the test, before Redis stops. */
export async function startNode(
  redis: Pick<TestRedis, 'url' | 'beforeStop'>,
  nodeId: string,
  options: BrokerOptions = {},
  busOptions: Partial<RedisBusOptions> = {},
): Promise<TestNode> {
  const bus = new RedisBus({ redis: redis.url, nodeId, ...busOptions });
  const broker = new Broker({ host: '127.0.0.1', port: 0, sysInterval: 0, bus, ...options });
  const { port } = await broker.listen();
  const url = `mqtt://127.0.0.1:${port}`;
  const clients = new ClientPool(() => url);
  redis.beforeStop(async () => {
    await clients.closeAll();
    await broker.close();
  });
  return { broker, bus, port, url, clients };
}

/**
 * Starts a node whose sessions are cluster-wide: its store is a RedisStore on `redis` (retained
 * messages left to the bus), given to its bus too.
 */
export async function startSessionNode(
  redis: TestRedis,
  nodeId: string,
  options: BrokerOptions = {},
  busOptions: Partial<RedisBusOptions> = {},
): Promise<TestNode & { store: RedisStore }> {
  const store = await RedisStore.open({ redis: redis.url, nodeId, retained: false });
  redis.beforeStop(() => store.close());
  const node = await startNode(redis, nodeId, { ...options, store }, { ...busOptions, store });
  return { ...node, store };
}

/** Starts `count` nodes, `node-1` to `node-COUNT`, on one Redis. */
export async function startCluster(redis: Pick<TestRedis, 'url' | 'beforeStop'>, count: number): Promise<TestNode[]> {
  const nodes: TestNode[] = [];
  for (let i = 1; i <= count; i++) nodes.push(await startNode(redis, `node-${i}`));
  return nodes;
}

/**
 * Waits until every node but `owner` knows that `owner` subscribes to `filter`: a route reaches the
 * other nodes through Redis pub/sub, a moment after the SUBACK.
 */
export async function waitForRoute(nodes: readonly TestNode[], owner: TestNode, filter: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  const others = nodes.filter((node) => node !== owner);
  while (!others.every((node) => node.bus.knowsRoute(owner.bus.nodeId, filter))) {
    if (Date.now() > deadline) throw new Error(`route ${filter} of ${owner.bus.nodeId} not known to every node`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Returns once the node reads the PUBLISH packets of each of `clients`: a client is not read from
 * until its node has read its own stream as it stood at the CONNECT (Bus.caughtUp), which needs
 * Redis. Each publishes a QoS 1 message to a topic nobody subscribes to and waits for its PUBACK.
 */
export async function untilReadFrom(...clients: TestClient[]): Promise<void> {
  for (const [i, { client }] of clients.entries()) {
    await client.publishAsync(`fennec-test/read-from/${i}`, 'ready', { qos: 1 });
  }
}

/**
 * Makes `bus` drop the XACK and XDEL commands it sends through its outbox (those apart from a Redis
 * store's commit): a node that dies between its store's commit and the acknowledgement of the entries.
 */
export function dropAcknowledgements(bus: RedisBus): void {
  const outbox = (bus as unknown as { outbox: { push(command: unknown[], durable?: boolean): void } }).outbox;
  const push = outbox.push.bind(outbox);
  outbox.push = (command, durable) => {
    if (command[0] === 'XACK' || command[0] === 'XDEL') return;
    push(command, durable);
  };
}

/** Reads PUBLISH packets on `client` until one carries `last`; acknowledges none; returns them. */
export async function publishesUntil(client: RawClient, last: string): Promise<PublishIn[]> {
  const got: PublishIn[] = [];
  for (;;) {
    const packet = await client.next(WAIT_MS);
    if (packet.type !== 'publish') continue;
    got.push(packet);
    if (packet.payload.toString() === last) return got;
  }
}

/**
 * Appends to `node`'s stream a copy of the first message of its first entry, marked for session
 * `clientId` (field `s`): the message then waits there twice, as when a node the session left
 * forwarded what it also received through its routes.
 */
export async function copyMarked(admin: Redis, node: string, clientId: string): Promise<void> {
  await appendMarked(admin, node, clientId, await firstEntry(admin, node));
}

/**
 * Appends to `node`'s stream one entry per payload (QoS `qos`, on `topic`), as a node that knew its
 * route would, with ids `slow/1/N` from N = `first`; resolves with the payloads.
 */
export async function appendPlain(
  admin: Redis,
  node: string,
  topic: string,
  payloads: string[],
  first = 0,
  qos: 1 | 2 = 1,
): Promise<string[]> {
  for (const [at, payload] of payloads.entries()) {
    const i = first + at;
    const message = { topic, payload: Buffer.from(payload), qos, retain: false };
    const fields = { properties: undefined, publisherId: 'slow', receivedAt: Date.now() };
    await admin.xadd(`{fennec}:stream:${node}`, '*', 'i', `slow/1/${i}`, 'm', encodeMessage({ ...message, ...fields }));
  }
  return payloads;
}

/** The fields of the first entry of `node`'s stream. */
export async function firstEntry(admin: Redis, node: string): Promise<Buffer[]> {
  return (await admin.xrangeBuffer(`{fennec}:stream:${node}`, '-', '+', 'COUNT', 1))[0]![1];
}

/** Appends to `node`'s stream the message of entry `fields`, marked for session `clientId` (see copyMarked). */
export async function appendMarked(admin: Redis, node: string, clientId: string, fields: Buffer[]): Promise<void> {
  const at = (name: string): Buffer => fields[fields.findIndex((f) => f.toString() === name) + 1]!;
  await admin.xadd(`{fennec}:stream:${node}`, '*', 'i', at('i'), 'm', at('m'), 's', clientId);
}

/** A plain Redis client for a test to read and change keys, disconnected before the server stops. */
export function adminClient(redis: Pick<TestRedis, 'url' | 'beforeStop'>): Redis {
  const admin = new Redis(redis.url);
  redis.beforeStop(() => {
    admin.disconnect();
    return Promise.resolve();
  });
  return admin;
}

/**
 * `fennec broker` as cluster node `nodeId` on `redis`, a child process (to be frozen with SIGSTOP or
 * killed with SIGKILL), with `extra` YAML lines in its file; killed after the test. Resolves with its child and port.
 */
export async function startProcessNode(
  t: TestContext,
  redis: TestRedis,
  nodeId: string,
  extra = '',
): Promise<{ child: ChildProcess; port: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'fennec-adopt-'));
  const file = join(dir, 'fennec.yaml');
  writeFileSync(file, `port: 0\nhost: 127.0.0.1\ncluster:\n  redis: ${redis.url}\n  node_id: ${nodeId}\n${extra}`);
  const child = spawn(process.execPath, [fennecBin, 'broker', '-c', file, '--log-level', 'warn'], {
    env: cliEnvironment,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fennec did not start: ${stderr}`)), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /fennec listening mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      if (url !== null) {
        clearTimeout(timer);
        resolve(Number(url[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`fennec exited with ${code}: ${stderr}`)));
  });
  return { child, port };
}

export function persistent(version: 4 | 5, clientId: string): pkt.ConnectOptions {
  return version === 5
    ? { version, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } }
    : { version, clientId, clean: false };
}

export async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS * 2;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * The QoS 2 crash set-up of test/cluster/qos2-once*.test.ts: `nodeB` drops the acknowledgements it
 * would send after its commits; a subscriber on it (CONNECT `options`) at QoS 2 on `q/#` gets the
 * message `once` published on `nodeA` and acknowledges nothing. Resolves with the publisher and the
 * PUBLISH the subscriber got.
 */
export async function unacknowledgedOnB(
  nodeA: TestNode,
  nodeB: TestNode,
  options: pkt.ConnectOptions,
): Promise<{ publisher: RawClient; first: PublishIn }> {
  dropAcknowledgements(nodeB.bus);
  const subscriber = await RawClient.connect(nodeB.port, options);
  await subscriber.subscribe('q/#', 2);
  await waitForRoute([nodeA, nodeB], nodeB, 'q/#');
  const publisher = await RawClient.connect(nodeA.port, {
    version: options.version ?? 4,
    clientId: `pub-${options.clientId}`,
  });
  await publisher.publish({ topic: 'q/1', qos: 2, payload: 'once' });
  const first = await publishesUntil(subscriber, 'once');
  if (first.length !== 1) throw new Error(`the subscriber got ${first.length} PUBLISH packets, not 1`);
  return { publisher, first: first[0]! };
}

/**
 * After `unacknowledgedOnB` and node-b's restart as `restarted`: the client connects again (`options`);
 * resolves with the copies of `once` it gets before `after`, published then.
 */
export async function copiesAfterRestart(
  nodeA: TestNode,
  restarted: TestNode,
  publisher: RawClient,
  options: pkt.ConnectOptions,
): Promise<PublishIn[]> {
  await waitForRoute([nodeA, restarted], restarted, 'q/#');
  const again = await RawClient.connect(restarted.port, options);
  await publisher.publish({ topic: 'q/1', qos: 2, payload: 'after' });
  const delivered = await publishesUntil(again, 'after');
  return delivered.filter((packet) => packet.payload.toString() === 'once');
}

/** Leaves an offline persistent session of `clientId` on the node at `port`, subscribed to `filter` at `qos`. */
export async function offlineSession(
  port: number,
  version: 4 | 5,
  clientId: string,
  filter: string,
  qos: 1 | 2,
): Promise<void> {
  const subscriber = await RawClient.connect(port, persistent(version, clientId));
  await subscriber.subscribe(filter, qos);
  subscriber.send(pkt.disconnect(version));
  await subscriber.closed();
}

/** Receives QoS 1 PUBLISH packets on `client`, acknowledging each, until every payload of `expected` came; returns them as they came. */
export async function receiveAcknowledged(
  client: RawClient,
  version: 4 | 5,
  expected: readonly string[],
): Promise<string[]> {
  const got: string[] = [];
  while (expected.some((payload) => !got.includes(payload))) {
    const packet = await client.next('publish', WAIT_MS);
    got.push(packet.payload.toString());
    if (packet.qos > 0) client.send(pkt.puback(version, packet.packetId));
  }
  return got;
}

/**
 * Receives QoS 2 PUBLISH packets on `client`, completing each exchange, until nothing comes for
 * `quietMs`; returns their payloads as they came (a copy too).
 */
export async function receiveUntilQuiet(client: RawClient, version: 4 | 5, quietMs: number): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    const packet = await client.next(quietMs).catch(() => undefined);
    if (packet === undefined) return got;
    if (packet.type === 'pubrel') {
      client.send(pkt.pubcomp(version, packet.packetId));
      continue;
    }
    if (packet.type !== 'publish') throw new Error(`a ${packet.type} packet instead of PUBLISH`);
    got.push(packet.payload.toString());
    client.send(pkt.pubrec(version, packet.packetId));
  }
}

/** Slows the stream reader of `bus`: each batch it read is acknowledged `ms` late, its next read waiting for that. */
export function slowReader(bus: RedisBus, ms: number): void {
  const reader = (bus as unknown as { stream: { options: { acknowledge: (ids: string[]) => Promise<void> } } }).stream
    .options;
  const acknowledge = reader.acknowledge;
  reader.acknowledge = async (ids) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    await acknowledge(ids);
  };
}

/**
 * Holds the claims of `clientId` by `store`'s node once the session moved there (handed over to it),
 * before it is installed, until `open()`; `reached` once one is held.
 */
export function gateInstall(store: RedisStore, clientId: string): { reached: boolean; open: () => void } {
  const claim = store.claim.bind(store);
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const gate = { reached: false, open };
  store.claim = async (...args) => {
    const result = await claim(...args);
    if (args[0] === clientId && result.kind === 'moved') {
      gate.reached = true;
      await opened;
    }
    return result;
  };
  return gate;
}
