/**
 * `fennec bench SCENARIO`: loads a broker the way mqload does and prints throughput, latency
 * percentiles and integrity counters, as a table or as JSON (docs/cli.md).
 */
import { Argument, Command, InvalidArgumentError } from 'commander';
import type { QoS } from '../../protocol/index.js';
import { parsePort } from '../broker.js';
import { CliError, ExitCode } from '../errors.js';
import {
  defaultThreads,
  PAYLOAD_HEADER_BYTES,
  publisherCount,
  scenarios,
  type BenchOptions,
  type Scenario,
} from './options.js';
import { formatTable, ProgressLine, toReport } from './report.js';
import { BenchSetupError, runBench } from './run.js';

/** Parses an integer flag from `min` to `max`. */
function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max)
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** Parses a number of seconds or a rate: a finite number from `min` up. */
function decimal(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min)
      throw new InvalidArgumentError(`must be a number of at least ${min}`);
    return n;
  };
}

/** Parses `-L mqtt://host:port`. */
function parseUrl(value: string): { host: string; port: number } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be a URL such as mqtt://127.0.0.1:1883');
  }
  if (url.protocol !== 'mqtt:') throw new InvalidArgumentError('only mqtt:// URLs are supported');
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port === '' ? 1883 : Number(url.port) };
}

interface BenchFlags {
  url?: { host: string; port: number };
  subscriberUrl?: { host: string; port: number };
  host: string;
  port: number;
  clients?: number;
  publishers?: number;
  subscribers?: number;
  rate: number;
  window: number;
  qos: number;
  payload: number;
  duration: number;
  warmup: number;
  drain: number;
  mqttVersion: number;
  connectConcurrency: number;
  topicPrefix: string;
  keepalive: number;
  threads: number;
  json?: boolean;
}

/** Clients of a scenario when no count is given: mqload's test matrix. */
const defaultClients: Record<Scenario, number> = { conn: 1000, pub: 8, sub: 50, fanin: 8, fanout: 50, pairs: 50 };

/** The options of a run from the scenario and the parsed flags. */
export function resolveOptions(scenario: Scenario, flags: BenchFlags): BenchOptions {
  const clients = flags.clients ?? defaultClients[scenario];
  if (flags.payload < PAYLOAD_HEADER_BYTES) {
    throw new CliError(
      'ERR_BAD_FLAG',
      `--payload must be at least ${PAYLOAD_HEADER_BYTES} bytes (send time, publisher and sequence number)`,
      ExitCode.Usage,
    );
  }
  return {
    scenario,
    host: flags.url?.host ?? flags.host,
    port: flags.url?.port ?? flags.port,
    subscriberAt: flags.subscriberUrl,
    publishers: flags.publishers ?? clients,
    subscribers: flags.subscribers ?? clients,
    connections: clients,
    rate: flags.rate,
    window: flags.window,
    qos: flags.qos as QoS,
    payloadBytes: flags.payload,
    durationSeconds: flags.duration,
    // conn and sub do not publish: their window starts at once.
    warmupSeconds: scenario === 'conn' || scenario === 'sub' ? 0 : flags.warmup,
    drainSeconds: flags.drain,
    protocolVersion: flags.mqttVersion === 5 ? 5 : 4,
    connectConcurrency: flags.connectConcurrency,
    topicPrefix: flags.topicPrefix,
    keepAliveSeconds: flags.keepalive,
    threads: flags.threads,
    json: flags.json === true,
  };
}

/** Subscribers a scenario connects once fixed counts are applied (fanin has one). */
function subscriberCount(options: BenchOptions): number {
  if (options.scenario === 'fanin') return 1;
  if (options.scenario === 'pairs') return options.publishers;
  if (options.scenario === 'sub' || options.scenario === 'fanout') return options.subscribers;
  return 0;
}

export function benchCommand(): Command {
  return new Command('bench')
    .description('load a broker the way mqload does and report throughput, latency percentiles and lost messages')
    .addArgument(new Argument('<scenario>', 'what to run').choices(scenarios))
    .option('-L, --url <url>', 'the broker as mqtt://HOST:PORT (instead of --host and --port)', parseUrl)
    .option(
      '--subscriber-url <url>',
      'subscribers connect to this broker instead, as mqtt://HOST:PORT (another node of a cluster)',
      parseUrl,
    )
    .option('--host <address>', 'broker address', '127.0.0.1')
    .option('--port <port>', 'broker TCP port', parsePort, 1883)
    .option(
      '-c, --clients <n>',
      'clients of the scenario: conn connections (default 1000), pub and fanin publishers (8), sub and fanout subscribers (50), pairs pairs (50)',
      integer(1, 1_000_000),
    )
    .option('-P, --publishers <n>', 'publishers of pub, fanin and pairs (overrides --clients)', integer(1, 1_000_000))
    .option('-S, --subscribers <n>', 'subscribers of sub and fanout (overrides --clients)', integer(1, 1_000_000))
    .option('-q, --qos <qos>', 'QoS of PUBLISH and SUBSCRIBE: 0, 1 or 2', integer(0, 2), 0)
    .option(
      '-r, --rate <n>',
      'messages per second per publisher; 0 = as fast as the window or socket allows',
      decimal(0),
      0,
    )
    .option('-w, --window <n>', 'QoS 1/2 PUBLISHes per publisher without their final ack', integer(1, 65_535), 64)
    .option('-m, --payload <bytes>', `payload size, at least ${PAYLOAD_HEADER_BYTES}`, integer(0, 268_435_000), 64)
    .option('-d, --duration <s>', 'measured seconds (conn: seconds the connections are held)', decimal(0.1), 10)
    .option('--warmup <s>', 'seconds of publishing before the measured window, not counted', decimal(0), 1)
    .option('--drain <s>', 'longest wait for messages still on their way after publishing stops', decimal(0), 5)
    .option('-V, --mqtt-version <version>', 'MQTT protocol level: 4 (3.1.1) or 5', integer(4, 5), 4)
    .option('--connect-concurrency <n>', 'CONNECT/CONNACK handshakes outstanding at a time', integer(1, 100_000), 100)
    .option('-t, --topic-prefix <prefix>', 'first topic levels of every topic', `fennec-bench/${process.pid}`)
    .option(
      '-k, --keepalive <s>',
      'keep-alive in CONNECT; a PINGREQ goes out every half of it',
      integer(1, 65_535),
      300,
    )
    .option(
      '--threads <n>',
      'worker threads the clients are spread over; the default, cores minus one, leaves a core to a broker on this machine',
      integer(1, 256),
      defaultThreads(),
    )
    .option('--json', 'print the result as JSON instead of a table')
    .action(async (scenario: Scenario, flags: BenchFlags) => {
      const options = resolveOptions(scenario, flags);
      const progress = process.stderr.isTTY ? new ProgressLine(process.stderr) : undefined;
      let result;
      try {
        result = await runBench(options, (counters, elapsed) => progress?.update(counters, elapsed));
      } catch (err) {
        progress?.clear();
        if (err instanceof BenchSetupError)
          throw new CliError('ERR_BENCH_CONNECT', err.message, ExitCode.Unavailable, { cause: err });
        throw err;
      }
      progress?.clear();
      const report = toReport(options, publisherCount(options), subscriberCount(options), result);
      process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatTable(report));
    });
}
