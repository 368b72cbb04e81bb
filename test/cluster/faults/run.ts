/**
 * One fault-injection run in the spirit of Jepsen (docs/cluster.md, "Fault injection"): three
 * `fennec broker` nodes on one real Redis, persistent subscribers at QoS 1 and 2 (MQTT 3.1.1 and
 * 5.0), publishers of numbered QoS 1 and QoS 2 messages through random nodes, and a nemesis that
 * kills and restarts nodes and freezes Redis on a seeded schedule. After the faults everything is
 * healed, the publishers stop, the subscribers drain, and the checker reads the history.
 *
 * Subscribers reconnect to their own node (`subscriberNodes: 'own'`, the default, as in CI);
 * `'random'` sends each reconnection to a random running node, so that sessions move between nodes
 * while those nodes are killed (`npm run soak -- --subscribers random`).
 */
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { TestRedis } from '../../helpers/redis-server.js';
import { check, type CheckResult } from './checker.js';
import { Publisher, Subscriber, type NodePicker, type PublisherSpec } from './clients.js';
import { History } from './history.js';
import { faultSchedule, Nemesis, prng, type Fault } from './nemesis.js';
import { FaultNode } from './nodes.js';

export interface FaultRunOptions {
  seed: number;
  /** How long faults are made, in ms. */
  faultMs: number;
  /** Where subscribers reconnect: their own node, or a random running one. */
  subscriberNodes: 'own' | 'random';
  /** A directory for the nodes' data and the history file. */
  dir: string;
  /** How long the subscribers may take to receive every acknowledged message after healing, in ms. */
  drainMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface FaultRun {
  seed: number;
  faults: Fault[];
  history: History;
  result: CheckResult;
  /** The history as JSON lines. */
  historyFile: string;
  /** Exits a node made by itself. */
  crashes: string[];
  /** Acknowledged messages some living subscriber still lacked when the drain timed out. */
  undrained: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The seed: `FENNEC_FAULT_SEED` when set, else a random one. */
export function faultSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = env['FENNEC_FAULT_SEED'];
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`FENNEC_FAULT_SEED must be an integer from 0 to 4294967295, not ${given}`);
    }
    return seed;
  }
  return Math.floor(Math.random() * 0x100000000);
}

/** Publishes QoS 0 probes on every node until every subscriber got one from each: routes are in place. */
async function awaitRoutes(nodes: readonly FaultNode[], subscribers: readonly Subscriber[]): Promise<void> {
  const probes = await Promise.all(
    nodes.map((node) => mqtt.connectAsync(`mqtt://127.0.0.1:${node.port}`, { clientId: `probe-${node.id}` })),
  );
  try {
    const deadline = Date.now() + 30_000;
    while (!subscribers.every((sub) => nodes.every((node) => sub.probes.has(node.id)))) {
      if (Date.now() > deadline) throw new Error('the subscribers did not receive a probe from every node in 30 s');
      await Promise.all(probes.map((probe, i) => probe.publishAsync(`fault/probe/${nodes[i]!.id}`, 'probe')));
      await sleep(100);
    }
  } finally {
    await Promise.all(probes.map((probe) => probe.endAsync(true)));
  }
}

/** Acknowledged messages sent after a living subscriber's SUBACK that it has not received. */
function missing(history: History, subscribers: readonly Subscriber[]): number {
  const acked = new Set<string>();
  const sentAt = new Map<string, number>();
  const subscribedAt = new Map<string, number>();
  for (const event of history.events) {
    if (event.type === 'send') sentAt.set(`${event.publisher}/${event.seq}`, event.t);
    if (event.type === 'ack') acked.add(`${event.publisher}/${event.seq}`);
    if (event.type === 'subscribed') subscribedAt.set(event.subscriber, event.t);
  }
  const lost = new Set(
    check(history.events.filter((e) => e.type === 'connected' || e.type === 'subscribed')).stats.lostSessions,
  );
  let count = 0;
  for (const sub of subscribers) {
    if (lost.has(sub.spec.id)) continue;
    for (const key of acked) {
      if (sentAt.get(key)! >= (subscribedAt.get(sub.spec.id) ?? Infinity) && !sub.delivered.has(key)) count++;
    }
  }
  return count;
}

function publisherSpecs(): PublisherSpec[] {
  return [
    { id: 'pub-1', version: 4, qos: 1, window: 4, intervalMs: 10 },
    { id: 'pub-2', version: 5, qos: 2, window: 4, intervalMs: 10 },
    { id: 'pub-3', version: 5, qos: 1, window: 4, intervalMs: 10 },
    { id: 'pub-4', version: 4, qos: 2, window: 4, intervalMs: 10 },
  ];
}

export async function runFaults(redis: TestRedis, options: FaultRunOptions): Promise<FaultRun> {
  const log = options.log ?? (() => undefined);
  const random = prng(options.seed);
  const history = new History();
  const nodes = [1, 2, 3].map((i) => new FaultNode(`fault-${i}`, join(options.dir, `node-${i}`), redis.url));
  const running = (): FaultNode[] => nodes.filter((node) => node.running && node.port > 0);
  const anyNode: NodePicker = () => {
    const up = running();
    return up[Math.floor(random() * up.length)];
  };
  const faults = faultSchedule(
    random,
    options.faultMs,
    nodes.map((node) => node.id),
  );
  log(
    `fault run: seed ${options.seed} (FENNEC_FAULT_SEED), ${faults.length} faults in ${options.faultMs} ms, subscribers reconnect to ${options.subscriberNodes === 'own' ? 'their own node' : 'a random node'}`,
  );
  const subscribers: Subscriber[] = [];
  const publishers = publisherSpecs().map((spec) => new Publisher(spec, history, anyNode));
  const nemesis = new Nemesis(nodes, redis, history);
  try {
    for (const node of nodes) await node.start();
    nodes.forEach((home, i) => {
      const pick: NodePicker = options.subscriberNodes === 'own' ? () => home : () => anyNode() ?? home;
      const v = i % 2 === 0 ? 5 : 4;
      subscribers.push(new Subscriber({ id: `sub-${i + 1}-q2`, version: v, qos: 2 }, history, pick));
      subscribers.push(new Subscriber({ id: `sub-${i + 1}-q1`, version: v === 5 ? 4 : 5, qos: 1 }, history, pick));
    });
    for (const sub of subscribers) sub.start();
    await awaitRoutes(nodes, subscribers);
    for (const publisher of publishers) publisher.start();
    nemesis.run(faults);
    await sleep(options.faultMs);
    log('fault run: healing');
    await nemesis.heal();
    await Promise.all(publishers.map((publisher) => publisher.stop(20_000)));
    log('fault run: publishers stopped; draining');
    const deadline = Date.now() + (options.drainMs ?? 60_000);
    let undrained = missing(history, subscribers);
    while (undrained > 0 && Date.now() < deadline) {
      await sleep(250);
      undrained = missing(history, subscribers);
    }
    // Late copies, if any, get a moment to show.
    await sleep(1000);
    const result = check(history.events);
    const historyFile = join(options.dir, 'history.jsonl');
    history.write(historyFile);
    return {
      seed: options.seed,
      faults,
      history,
      result,
      historyFile,
      crashes: nodes.flatMap((node) => node.crashes),
      undrained,
    };
  } finally {
    await Promise.all(publishers.map((publisher) => publisher.stop(0)));
    await Promise.all(subscribers.map((sub) => sub.stop()));
    await nemesis.heal().catch(() => undefined);
    for (const node of nodes) await node.stop('SIGTERM');
  }
}
