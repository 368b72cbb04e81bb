/**
 * A worker thread of `fennec bench`: connects its share of the clients, publishes and receives on
 * the main thread's schedule, and reports counters and a latency histogram.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { build, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js';
import { LoadClient, type ClientEvents } from './client.js';
import { zeroCounters, type FromWorker, type StartMessage, type ToWorker, type WorkerSetup } from './messages.js';
import { PAYLOAD_HEADER_BYTES, type ClientPlan } from './options.js';

/** Bytes a QoS 0 publisher may leave in its socket's buffer before it waits for 'drain'. */
const QOS0_BUFFER_BYTES = 64 * 1024;
/** How often rate-limited publishers are topped up, ms. */
const TICK_MS = 5;
/** How often counters go to the main thread, ms. */
const PROGRESS_MS = 200;

/** What one subscriber has seen of each publisher: highest sequence and a bitmap of sequences. */
class Received {
  private readonly highest: Int32Array;
  private readonly seen: (Uint8Array | undefined)[];

  constructor(publishers: number) {
    this.highest = new Int32Array(publishers).fill(-1);
    this.seen = new Array<Uint8Array | undefined>(publishers);
  }

  /** Records `sequence` of `publisher`: 'new', 'dup', or 'reorder' (new but below one seen). */
  record(publisher: number, sequence: number): 'new' | 'dup' | 'reorder' | 'foreign' {
    if (publisher >= this.highest.length) return 'foreign';
    let bits = this.seen[publisher];
    const byte = sequence >>> 3;
    if (bits === undefined || byte >= bits.length) {
      const grown = new Uint8Array(Math.max(1024, (byte + 1) * 2));
      if (bits !== undefined) grown.set(bits);
      bits = grown;
      this.seen[publisher] = bits;
    }
    const mask = 1 << (sequence & 7);
    if ((bits[byte]! & mask) !== 0) return 'dup';
    bits[byte]! |= mask;
    const highest = this.highest[publisher]!;
    if (sequence < highest) return 'reorder';
    this.highest[publisher] = sequence;
    return 'new';
  }
}

class WorkerRun implements ClientEvents {
  readonly counters = zeroCounters();
  readonly histogram: Histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 3,
  });
  firstError: string | undefined;
  private readonly base: bigint;
  private readonly clients: LoadClient[] = [];
  private readonly publishers: LoadClient[] = [];
  private readonly received = new Map<LoadClient, Received>();
  private times: StartMessage = { type: 'start', startNs: Infinity, windowStartNs: Infinity, endNs: Infinity };
  private publishing = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly setup: WorkerSetup) {
    this.base = BigInt(setup.baseNs);
  }

  readonly clock = (): number => Number(process.hrtime.bigint() - this.base);

  /** Connects and subscribes every client, `connectConcurrency` handshakes at a time. */
  async connectAll(): Promise<FromWorker> {
    const { options } = this.setup;
    const plans = this.setup.clients;
    let next = 0;
    const connectStartNs = this.clock();
    const lane = async (): Promise<void> => {
      while (next < plans.length) {
        const plan = plans[next++]!;
        await this.connectOne(plan);
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(this.setup.connectConcurrency, plans.length) }, lane));
    } catch (err) {
      return { type: 'failed', message: err instanceof Error ? err.message : String(err) };
    }
    const connectEndNs = this.clock();
    this.timers.push(setInterval(() => this.post({ type: 'progress', counters: this.snapshot() }), PROGRESS_MS));
    // A PINGREQ from every client each half keep-alive keeps long runs connected.
    this.timers.push(setInterval(() => this.clients.forEach((c) => c.ping()), (options.keepAliveSeconds * 1000) / 2));
    return { type: 'ready', connectStartNs, connectEndNs, connections: this.counters.connections };
  }

  private async connectOne(plan: ClientPlan): Promise<void> {
    const { options } = this.setup;
    const client = new LoadClient(
      plan.clientId,
      plan.publisherIndex,
      options.protocolVersion,
      options.window,
      this,
      this.clock,
    );
    // Subscribers (publisherIndex -1) may be on another node of a cluster than the publishers.
    const at =
      plan.publisherIndex < 0 && plan.filter !== '' && options.subscriberAt !== undefined
        ? options.subscriberAt
        : options;
    const where = `${at.host}:${at.port}`;
    try {
      await client.connect(at.host, at.port, options.keepAliveSeconds);
    } catch (err) {
      client.closing = true;
      throw new Error(
        `cannot connect ${plan.clientId} to ${where}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    this.clients.push(client);
    this.counters.connections++;
    if (plan.filter !== '') {
      try {
        await client.subscribe(plan.filter, options.qos);
      } catch (err) {
        throw new Error(
          `cannot subscribe ${plan.clientId} at ${where}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      if (plan.expectedPublishers > 0) this.received.set(client, new Received(this.setup.publishers));
      else this.received.set(client, new Received(0));
    }
    if (plan.publisherIndex >= 0) {
      client.preparePublish(plan.topic, options.qos, options.payloadBytes);
      client.onDrain(() => this.pump(client));
      this.publishers.push(client);
    }
  }

  start(times: StartMessage): void {
    this.times = times;
    // Rounded up: a timer may fire up to a ms early against the clock, and no PUBLISH may precede startNs.
    const delay = Math.max(0, Math.ceil((times.startNs - this.clock()) / 1e6) + 1);
    setTimeout(() => {
      this.publishing = this.publishers.length > 0;
      for (const client of this.publishers) this.pump(client);
      if (this.publishing) this.timers.push(setInterval(() => this.tick(), TICK_MS));
    }, delay);
  }

  private tick(): void {
    if (this.clock() >= this.times.endNs) {
      this.publishing = false;
      return;
    }
    for (const client of this.publishers) this.pump(client);
  }

  /** Sends what the rate, the window and the socket allow. */
  private pump(client: LoadClient): void {
    if (!this.publishing || client.closing) return;
    const now = this.clock();
    const { times } = this;
    if (now >= times.endNs) return;
    const { rate, qos, payloadBytes } = this.setup.options;
    let count = 64;
    if (rate > 0) count = Math.min(count, Math.floor(((now - times.startNs) / 1e9) * rate) + 1 - client.sent);
    if (qos > 0) count = Math.min(count, client.window - client.inflight);
    else count = Math.min(count, Math.ceil((QOS0_BUFFER_BYTES - client.writableLength) / (payloadBytes + 32)));
    if (count <= 0) return;
    const written = client.publish(count, now, qos);
    this.counters.sentAll += written;
    if (now >= times.windowStartNs) this.counters.sent += written;
    // QoS 0 without a rate: keep writing until the socket's buffer is full, then wait for 'drain'.
    if (qos === 0 && rate === 0 && client.writableLength < QOS0_BUFFER_BYTES) setImmediate(() => this.pump(client));
  }

  onMessage(client: LoadClient, payload: Buffer, nowNs: number): void {
    const { times, counters } = this;
    counters.receivedAll++;
    if (nowNs >= times.windowStartNs && nowNs < times.endNs) counters.received++;
    const seen = this.received.get(client);
    if (seen === undefined || payload.length < PAYLOAD_HEADER_BYTES) return;
    const sentNs = payload.readDoubleLE(0);
    const outcome = seen.record(payload.readUInt32LE(8), payload.readUInt32LE(12));
    if (outcome === 'foreign') return;
    if (outcome === 'dup') {
      counters.dup++;
      return;
    }
    counters.distinct++;
    if (outcome === 'reorder') counters.reorder++;
    if (sentNs >= times.windowStartNs && sentNs < times.endNs) {
      this.histogram.recordValue(Math.max(1, Math.round((nowNs - sentNs) / 1000)));
    }
  }

  onAcked(client: LoadClient): void {
    this.pump(client);
  }

  onLost(client: LoadClient, reason: string): void {
    this.counters.errors++;
    this.counters.connections--;
    this.firstError ??= `${client.clientId}: ${reason}`;
  }

  snapshot(): typeof this.counters {
    let inflight = 0;
    for (const client of this.publishers) inflight += client.inflight;
    this.counters.inflight = inflight;
    return { ...this.counters };
  }

  async finish(): Promise<FromWorker> {
    this.publishing = false;
    for (const timer of this.timers) clearInterval(timer);
    const counters = this.snapshot();
    await Promise.all(this.clients.map((c) => c.close()));
    return {
      type: 'result',
      counters,
      histogram: encodeIntoCompressedBase64(this.histogram),
      firstError: this.firstError,
    };
  }

  post(message: FromWorker): void {
    parentPort?.postMessage(message);
  }
}

if (parentPort !== null) {
  const run = new WorkerRun(workerData as WorkerSetup);
  parentPort.on('message', (message: ToWorker) => {
    if (message.type === 'start') run.start(message);
    else void run.finish().then((result) => run.post(result));
  });
  void run.connectAll().then((message) => run.post(message));
}
