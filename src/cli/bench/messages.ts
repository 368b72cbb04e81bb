/** The messages between `fennec bench`'s main thread and its worker threads. */
import type { BenchOptions, ClientPlan } from './options.js';

/** What a worker is started with. */
export interface WorkerSetup {
  options: BenchOptions;
  clients: ClientPlan[];
  /** The run's time origin, process.hrtime.bigint() as a decimal string: every thread's clock counts from it. */
  baseNs: string;
  /** This worker's share of the connect concurrency. */
  connectConcurrency: number;
  /** Total publishers of the run, for the subscribers' per-publisher counters. */
  publishers: number;
}

/** Times of the run, in ns since the base. */
export interface StartMessage {
  type: 'start';
  startNs: number;
  /** End of the warm-up: the measured window begins. */
  windowStartNs: number;
  /** End of the measured window: publishers stop. */
  endNs: number;
}

export type ToWorker = StartMessage | { type: 'finish' };

/** Running totals of one worker. */
export interface Counters {
  /** PUBLISHes sent, warm-up included. */
  sentAll: number;
  /** PUBLISHes sent within the measured window. */
  sent: number;
  /** Deliveries read within the measured window. */
  received: number;
  /** Deliveries read since the start, for the progress line. */
  receivedAll: number;
  /** Distinct messages that reached the subscribers expecting them. */
  distinct: number;
  dup: number;
  reorder: number;
  errors: number;
  /** Connections open now. */
  connections: number;
  /** PUBLISHes waiting for their final ack. */
  inflight: number;
}

export type FromWorker =
  | { type: 'ready'; connectStartNs: number; connectEndNs: number; connections: number }
  | { type: 'failed'; message: string }
  | { type: 'progress'; counters: Counters }
  | { type: 'result'; counters: Counters; histogram: string; firstError: string | undefined };

/** Counters at zero. */
export function zeroCounters(): Counters {
  return {
    sentAll: 0,
    sent: 0,
    received: 0,
    receivedAll: 0,
    distinct: 0,
    dup: 0,
    reorder: 0,
    errors: 0,
    connections: 0,
    inflight: 0,
  };
}

/** Sums counters of several workers. */
export function sumCounters(all: Iterable<Counters>): Counters {
  const total = zeroCounters();
  for (const c of all) {
    for (const key of Object.keys(total) as (keyof Counters)[]) total[key] += c[key];
  }
  return total;
}
