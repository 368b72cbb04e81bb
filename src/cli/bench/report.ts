/** What `fennec bench` prints: the live progress line, the final table and the JSON report. */
import type { Counters } from './messages.js';
import type { BenchOptions } from './options.js';
import type { BenchResult } from './run.js';

/** The JSON report of a run (`--json`); its fields are documented in docs/cli.md. */
export interface BenchReport {
  scenario: BenchOptions['scenario'];
  options: {
    host: string;
    port: number;
    publishers: number;
    subscribers: number;
    connections: number;
    qos: number;
    payload_bytes: number;
    rate: number;
    window: number;
    duration_s: number;
    warmup_s: number;
    mqtt_version: number;
    threads: number;
  };
  connections: number;
  connects_per_s: number;
  sent: number;
  received: number;
  pub_per_s: number;
  msgs_per_s: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  max_us: number;
  latency_samples: number;
  lost: number;
  dup: number;
  reorder: number;
  errors: number;
  first_error: string | null;
}

/** Builds the report of `result`. */
export function toReport(
  options: BenchOptions,
  publishers: number,
  subscribers: number,
  result: BenchResult,
): BenchReport {
  const { counters, windowSeconds } = result;
  const perSecond = (n: number): number => (windowSeconds > 0 ? Math.round(n / windowSeconds) : 0);
  return {
    scenario: options.scenario,
    options: {
      host: options.host,
      port: options.port,
      publishers,
      subscribers,
      connections: options.scenario === 'conn' ? options.connections : publishers + subscribers,
      qos: options.qos,
      payload_bytes: options.payloadBytes,
      rate: options.rate,
      window: options.window,
      duration_s: options.durationSeconds,
      warmup_s: options.warmupSeconds,
      mqtt_version: options.protocolVersion,
      threads: options.threads,
    },
    connections: result.connections,
    connects_per_s: result.connectSeconds > 0 ? Math.round(result.connections / result.connectSeconds) : 0,
    sent: counters.sent,
    received: counters.received,
    pub_per_s: perSecond(counters.sent),
    msgs_per_s: perSecond(counters.received),
    p50_us: result.latencyUs.p50,
    p90_us: result.latencyUs.p90,
    p99_us: result.latencyUs.p99,
    max_us: result.latencyUs.max,
    latency_samples: result.latencyUs.count,
    lost: Math.max(0, result.expected - counters.distinct),
    dup: counters.dup,
    reorder: counters.reorder,
    errors: counters.errors,
    first_error: result.firstError ?? null,
  };
}

/** The report as an aligned two-column table, for a person. */
export function formatTable(report: BenchReport): string {
  const o = report.options;
  const rows: [string, string][] = [
    [
      'scenario',
      `${report.scenario} (MQTT ${o.mqtt_version === 5 ? '5.0' : '3.1.1'}, QoS ${o.qos}, ${o.threads} thread${o.threads === 1 ? '' : 's'})`,
    ],
    [
      'clients',
      report.scenario === 'conn'
        ? `${o.connections} connections`
        : `${plural(o.publishers, 'publisher')}, ${plural(o.subscribers, 'subscriber')}`,
    ],
    ['connections', `${report.connections} (${report.connects_per_s} connects/s)`],
  ];
  if (report.scenario !== 'conn') {
    rows.push(
      [
        'payload',
        `${o.payload_bytes} bytes, rate ${o.rate === 0 ? 'unlimited' : `${o.rate}/s per publisher`}, window ${o.window}`,
      ],
      ['window', `${o.duration_s} s after ${o.warmup_s} s of warm-up`],
      ['sent', `${report.sent} (${report.pub_per_s} msgs/s)`],
      ['received', `${report.received} (${report.msgs_per_s} msgs/s)`],
      [
        'latency µs',
        `p50 ${report.p50_us}  p90 ${report.p90_us}  p99 ${report.p99_us}  max ${report.max_us}  (${report.latency_samples} samples)`,
      ],
      ['integrity', `lost ${report.lost}  dup ${report.dup}  reorder ${report.reorder}`],
    );
  }
  rows.push([
    'errors',
    report.first_error === null ? `${report.errors}` : `${report.errors} (first: ${report.first_error})`,
  ]);
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n') + '\n';
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** Writes a progress line over the previous one on a terminal; `clear` removes it. */
export class ProgressLine {
  private lastReceived = 0;
  private lastSent = 0;
  private lastSeconds = 0;
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  update(counters: Counters, elapsedSeconds: number): void {
    // One line a second is enough for a person and costs nothing.
    if (elapsedSeconds - this.lastSeconds < 1) return;
    const span = elapsedSeconds - this.lastSeconds;
    const received = Math.round((counters.receivedAll - this.lastReceived) / span);
    const sent = Math.round((counters.sentAll - this.lastSent) / span);
    this.lastReceived = counters.receivedAll;
    this.lastSent = counters.sentAll;
    this.lastSeconds = elapsedSeconds;
    const line = `${elapsedSeconds.toFixed(0)} s  sent ${sent}/s  received ${received}/s  connections ${counters.connections}  errors ${counters.errors}`;
    this.stream.write(`\r\x1b[2K${line}`);
    this.shown = true;
  }

  clear(): void {
    if (this.shown) this.stream.write('\r\x1b[2K');
  }
}
