/**
 * The main thread of `fennec bench`: starts the workers, sets the run's times, decides when the
 * drain is over, and merges what the workers report.
 */
import { Worker } from 'node:worker_threads';
import { build, decodeFromCompressedBase64 } from 'hdr-histogram-js';
import {
  sumCounters,
  zeroCounters,
  type Counters,
  type FromWorker,
  type ToWorker,
  type WorkerSetup,
} from './messages.js';
import {
  planClients,
  publisherCount,
  spreadOverThreads,
  subscribersPerPublisher,
  type BenchOptions,
} from './options.js';

/** Time between the workers' go and the first PUBLISH, so that every worker starts together, ms. */
const START_DELAY_MS = 50;
/** How often the workers report their counters, ms (worker.ts). */
const PROGRESS_MS = 200;
/** At QoS 0 the drain ends once nothing has arrived for this long, ms. */
const QOS0_QUIET_MS = 1000;

/** What a run measured, merged over the workers. */
export interface BenchResult {
  counters: Counters;
  /** Seconds of the measured window. */
  windowSeconds: number;
  /** Connections opened in setup, and the seconds from the first CONNECT to the last CONNACK. */
  connections: number;
  connectSeconds: number;
  /** Messages the subscribers should have got: what each publisher sent, times its subscribers. */
  expected: number;
  latencyUs: { p50: number; p90: number; p99: number; max: number; count: number };
  /** The first connection lost during the run, if any. */
  firstError: string | undefined;
}

/** Live counters, called about every 200 ms while the run goes. */
export type ProgressListener = (counters: Counters, elapsedSeconds: number) => void;

/** Setup failed: a client could not connect or subscribe. */
export class BenchSetupError extends Error {}

/** Runs the scenario of `options` and resolves with its merged result. */
export async function runBench(options: BenchOptions, onProgress: ProgressListener): Promise<BenchResult> {
  const runId = `fennec-bench-${process.pid.toString(36)}-${Date.now().toString(36)}`;
  const shares = spreadOverThreads(planClients(options, runId), options.threads);
  const base = process.hrtime.bigint();
  const clock = (): number => Number(process.hrtime.bigint() - base);
  const publishers = publisherCount(options);
  const workers = shares.map((clients) => {
    const setup: WorkerSetup = {
      options,
      clients,
      baseNs: base.toString(),
      connectConcurrency: Math.max(1, Math.ceil(options.connectConcurrency / shares.length)),
      publishers,
    };
    return new Worker(new URL('./worker.js', import.meta.url), { workerData: setup });
  });
  const latest: Counters[] = workers.map(() => zeroCounters());
  /** When each worker last reported, ns: a worker busy reading may report late, which is not silence. */
  const reportedAt: number[] = workers.map(() => 0);
  const waiting = new Map<number, (message: FromWorker) => void>();
  let failure: ((err: Error) => void) | undefined;
  const failed = new Promise<never>((_, reject) => {
    failure = reject;
  });
  failed.catch(() => undefined);
  workers.forEach((worker, i) => {
    worker.on('message', (message: FromWorker) => {
      if (message.type === 'progress') {
        latest[i] = message.counters;
        reportedAt[i] = clock();
      } else if (message.type === 'failed') failure?.(new BenchSetupError(message.message));
      else waiting.get(i)?.(message);
    });
    worker.on('error', (err) => failure?.(err));
  });
  const next = (): Promise<FromWorker[]> =>
    Promise.race([
      failed,
      Promise.all(workers.map((_, i) => new Promise<FromWorker>((resolve) => waiting.set(i, resolve)))),
    ]);
  const send = (message: ToWorker): void => workers.forEach((w) => w.postMessage(message));
  try {
    const ready = await next();
    let connectStart = Infinity;
    let connectEnd = 0;
    let connections = 0;
    for (const message of ready) {
      if (message.type !== 'ready') continue;
      connectStart = Math.min(connectStart, message.connectStartNs);
      connectEnd = Math.max(connectEnd, message.connectEndNs);
      connections += message.connections;
    }
    const startNs = clock() + START_DELAY_MS * 1e6;
    const publishing = options.scenario !== 'conn' && options.scenario !== 'sub';
    const windowStartNs = startNs + (publishing ? options.warmupSeconds * 1e9 : 0);
    const endNs = windowStartNs + options.durationSeconds * 1e9;
    send({ type: 'start', startNs, windowStartNs, endNs });
    const totals = (): Counters => sumCounters(latest);
    const oldestReport = (): number => Math.min(...reportedAt);
    await waitForEnd(options, clock, { startNs, endNs }, totals, oldestReport, onProgress, publishers);
    const finishing = next();
    send({ type: 'finish' });
    const results = await finishing;
    const histogram = build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 3_600_000_000,
      numberOfSignificantValueDigits: 3,
    });
    const counters: Counters[] = [];
    let firstError: string | undefined;
    for (const message of results) {
      if (message.type !== 'result') continue;
      counters.push(message.counters);
      firstError ??= message.firstError;
      const part = decodeFromCompressedBase64(message.histogram);
      histogram.add(part);
      part.destroy();
    }
    const total = sumCounters(counters);
    const latencyUs = {
      p50: histogram.getValueAtPercentile(50),
      p90: histogram.getValueAtPercentile(90),
      p99: histogram.getValueAtPercentile(99),
      max: histogram.maxValue,
      count: histogram.totalCount,
    };
    histogram.destroy();
    return {
      counters: total,
      windowSeconds: options.durationSeconds,
      connections,
      connectSeconds: Math.max(0, connectEnd - connectStart) / 1e9,
      expected: total.sentAll * subscribersPerPublisher(options),
      latencyUs,
      firstError,
    };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/**
 * Waits out the run: the measured window, then the drain, which ends when every message sent has
 * reached every subscriber expecting it and every PUBLISH has its ack, at QoS 0 when nothing more
 * arrives for a second, and in any case after `drainSeconds`.
 */
async function waitForEnd(
  options: BenchOptions,
  clock: () => number,
  times: { startNs: number; endNs: number },
  totals: () => Counters,
  oldestReport: () => number,
  onProgress: ProgressListener,
  publishers: number,
): Promise<void> {
  const perPublisher = subscribersPerPublisher(options);
  const drainEndNs = times.endNs + options.drainSeconds * 1e9;
  let lastReceived = -1;
  let lastChangeNs = times.endNs;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = clock();
    const counters = totals();
    onProgress(counters, Math.max(0, now - times.startNs) / 1e9);
    if (now < times.endNs + 250e6) continue; // a last progress report from every worker after the end
    if (publishers === 0 || now >= drainEndNs) return;
    // Silence counts only while every worker reports on time.
    if (counters.receivedAll !== lastReceived || now - oldestReport() > 2 * PROGRESS_MS * 1e6) {
      lastReceived = counters.receivedAll;
      lastChangeNs = now;
    }
    const allDelivered = counters.distinct >= counters.sentAll * perPublisher && counters.inflight === 0;
    if (allDelivered) return;
    if (options.qos === 0 && now - lastChangeNs >= QOS0_QUIET_MS * 1e6) return;
  }
}
