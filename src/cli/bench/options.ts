/**
 * The options of `fennec bench`, their defaults and checks, and the plan that spreads a scenario's
 * clients over worker threads.
 */
import { availableParallelism } from 'node:os';
import type { QoS } from '../../protocol/index.js';

/** The load patterns, as mqload names them. */
export const scenarios = ['conn', 'pub', 'sub', 'fanin', 'fanout', 'pairs'] as const;
export type Scenario = (typeof scenarios)[number];

/**
 * Bytes at the start of every payload: the send time (8 bytes, ns of the monotonic clock that all
 * threads of the process share), the publisher's index (4 bytes) and its sequence number (4 bytes).
 */
export const PAYLOAD_HEADER_BYTES = 16;

/** Everything a run needs, resolved from the flags. */
export interface BenchOptions {
  scenario: Scenario;
  host: string;
  port: number;
  /** Where subscribers connect instead (another node of a cluster); undefined: `host` and `port`. */
  subscriberAt?: { host: string; port: number } | undefined;
  /** Publishing clients (pub, fanin, pairs: one per pair; fanout: always 1). */
  publishers: number;
  /** Subscribing clients (sub, fanout; fanin: always 1; pairs: one per pair). */
  subscribers: number;
  /** Connections of the conn scenario. */
  connections: number;
  /** Messages per second per publisher; 0: as fast as the window (QoS 1/2) or the socket (QoS 0) allows. */
  rate: number;
  /** PUBLISHes per publisher without their final ack (PUBACK, PUBCOMP), QoS 1 and 2. */
  window: number;
  qos: QoS;
  /** Payload size in bytes, at least PAYLOAD_HEADER_BYTES. */
  payloadBytes: number;
  /** Measured window in seconds (conn: how long the connections are held). */
  durationSeconds: number;
  /** Seconds of publishing before the measured window, not counted. */
  warmupSeconds: number;
  /** Longest wait, in seconds, for messages still on their way once publishing stops. */
  drainSeconds: number;
  protocolVersion: 4 | 5;
  /** CONNECT/CONNACK handshakes outstanding at a time, over all threads. */
  connectConcurrency: number;
  topicPrefix: string;
  /** Keep-alive sent in CONNECT, seconds; a PINGREQ goes out every half of it. */
  keepAliveSeconds: number;
  threads: number;
  json: boolean;
}

/**
 * Default worker threads: one per core but one, so that a broker on the same machine keeps a core
 * of its own; at least one. A broker on another machine may use them all with `--threads`.
 */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** What one load client does. */
export interface ClientPlan {
  clientId: string;
  /** Global publisher index, or -1 for a subscriber or a conn client. */
  publisherIndex: number;
  /** The topic a publisher sends to. */
  topic: string;
  /** The filter a subscriber subscribes to; empty for none. */
  filter: string;
  /** Publishers whose messages this subscriber expects: 0 for none (pub, sub, conn). */
  expectedPublishers: number;
}

/** The clients of a scenario; nothing is published before every one of them has connected and subscribed. */
export function planClients(options: BenchOptions, runId: string): ClientPlan[] {
  const prefix = `${options.topicPrefix}/${options.scenario}`;
  const plans: ClientPlan[] = [];
  const subscriber = (index: number, filter: string, expected: number): void => {
    plans.push({ clientId: `${runId}-s${index}`, publisherIndex: -1, topic: '', filter, expectedPublishers: expected });
  };
  const publisher = (index: number, topic: string): void => {
    plans.push({ clientId: `${runId}-p${index}`, publisherIndex: index, topic, filter: '', expectedPublishers: 0 });
  };
  switch (options.scenario) {
    case 'conn':
      for (let i = 0; i < options.connections; i++) {
        plans.push({ clientId: `${runId}-c${i}`, publisherIndex: -1, topic: '', filter: '', expectedPublishers: 0 });
      }
      break;
    case 'pub':
      for (let i = 0; i < options.publishers; i++) publisher(i, `${prefix}/${i}`);
      break;
    case 'sub':
      // Subscribers of the whole prefix, receiving whatever others publish under it: a `fennec bench
      // pub` in another process with the same --topic-prefix splits publishers and subscribers.
      for (let i = 0; i < options.subscribers; i++) subscriber(i, `${options.topicPrefix}/#`, 0);
      break;
    case 'fanin':
      subscriber(0, `${prefix}/+`, options.publishers);
      for (let i = 0; i < options.publishers; i++) publisher(i, `${prefix}/${i}`);
      break;
    case 'fanout':
      for (let i = 0; i < options.subscribers; i++) subscriber(i, prefix, 1);
      publisher(0, prefix);
      break;
    case 'pairs':
      for (let i = 0; i < options.publishers; i++) subscriber(i, `${prefix}/${i}`, 1);
      for (let i = 0; i < options.publishers; i++) publisher(i, `${prefix}/${i}`);
      break;
    default: {
      const never: never = options.scenario;
      throw new Error(`unknown scenario ${String(never)}`);
    }
  }
  return plans;
}

/** Publishers of a scenario once fixed counts are applied (fanout has one). */
export function publisherCount(options: BenchOptions): number {
  if (options.scenario === 'fanout') return 1;
  if (options.scenario === 'pub' || options.scenario === 'fanin' || options.scenario === 'pairs') {
    return options.publishers;
  }
  return 0;
}

/** How many subscribers receive each publisher's messages. */
export function subscribersPerPublisher(options: BenchOptions): number {
  if (options.scenario === 'fanout') return options.subscribers;
  if (options.scenario === 'fanin' || options.scenario === 'pairs') return 1;
  return 0;
}

/** Splits `plans` over `threads` workers, round robin, so that each gets a share of every role. */
export function spreadOverThreads<T>(plans: readonly T[], threads: number): T[][] {
  const count = Math.max(1, Math.min(threads, plans.length));
  const shares: T[][] = Array.from({ length: count }, () => []);
  plans.forEach((plan, i) => shares[i % count]!.push(plan));
  return shares;
}
