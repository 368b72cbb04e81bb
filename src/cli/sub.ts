/**
 * `fennec sub`: subscribes and prints what arrives, with the flags and exit codes of
 * mosquitto_sub (docs/cli.md), plus `--json` for scripts.
 */
import { Command, InvalidArgumentError } from 'commander';
import type { MqttClient, MqttClientError, SubscribeOptions, SubscriptionRequest } from '../client/index.js';
import type { QoS, SubscribeProperties } from '../protocol/index.js';
import { validateTopicFilter } from '../topic/index.js';
import { CliError } from './errors.js';
import { connectError, MqttExit, openClient, runError } from './mqtt/connect.js';
import { compileFormat, formatMessage, FormatError, jsonLine, plainMessage, type Received } from './mqtt/format.js';
import {
  addConnectionFlags,
  collect,
  integer,
  qos,
  resolveConnection,
  usage,
  type ConnectionFlags,
} from './mqtt/flags.js';
import { isEmpty } from './mqtt/properties.js';
import { topicMatches } from './mqtt/match.js';

interface SubFlags extends ConnectionFlags {
  topic?: string[];
  filterOut?: string[];
  unsubscribe?: string[];
  qos: QoS;
  count?: number;
  timeout?: number;
  verbose?: boolean;
  format?: string;
  eol: boolean;
  retained: boolean;
  exitAfterSubscribe?: boolean;
  retainAsPublished?: boolean;
  json?: boolean;
}

export function subCommand(): Command {
  const command = new Command('sub').description(
    'subscribe to topics on a broker and print the messages, like mosquitto_sub; --json for scripts',
  );
  addConnectionFlags(command, 'sub')
    .option('-t, --topic <filter>', 'topic filter to subscribe to; repeatable', collect)
    .option('-T, --filter-out <filter>', 'do not print messages whose topic matches this filter; repeatable', collect)
    .option('-U, --unsubscribe <filter>', 'unsubscribe from this filter first (of a kept session); repeatable', collect)
    .option('-q, --qos <qos>', 'QoS of the subscriptions: 0, 1 or 2', qos, 0)
    .option('-C, --count <n>', 'exit after this many messages are printed', integer(1, 4_294_967_295))
    .option('-W, --timeout <s>', 'exit with code 27 when this many seconds pass after connecting', timeoutSeconds)
    .option('-v, --verbose', 'print the topic, a space, then the payload')
    .option(
      '-F, --format <format>',
      'print each message as this mosquitto format string (%t topic, %p payload, ...; see docs/cli.md)',
    )
    .option('-N, --no-eol', 'no newline after each message')
    .option('-R, --no-retained', 'do not print stale (retained) messages')
    .option('-E, --exit-after-subscribe', 'exit once the broker has acknowledged the subscriptions')
    .option('--retain-as-published', 'MQTT 5: keep the retain flag as published on live messages')
    .option(
      '--json',
      'print each message as one JSON object: topic, payload (UTF-8 or base64 with encoding), qos, retain, properties',
    )
    .action(async (flags: SubFlags) => {
      await subscribeCommand(flags);
    });
  return command;
}

function timeoutSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 2_147_483)
    throw new InvalidArgumentError('must be a whole number of seconds from 1');
  return n;
}

function validFilter(flag: string, filter: string): string {
  try {
    validateTopicFilter(filter);
  } catch {
    throw usage(`invalid ${flag} topic filter ${JSON.stringify(filter)}: are all '+' and '#' wildcards correct?`);
  }
  return filter;
}

/** How each message is printed, chosen once. */
function printerOf(flags: SubFlags): (m: Received) => Buffer {
  if (flags.json === true && (flags.format !== undefined || flags.verbose === true)) {
    throw usage('--json cannot be combined with -F or -v');
  }
  const eol = flags.eol ? Buffer.from('\n') : Buffer.alloc(0);
  const withEol = (bytes: Buffer): Buffer => (eol.length === 0 ? bytes : Buffer.concat([bytes, eol]));
  if (flags.json === true) return (m) => withEol(Buffer.from(jsonLine(m)));
  if (flags.format !== undefined) {
    let tokens;
    try {
      tokens = compileFormat(flags.format);
    } catch (err) {
      if (err instanceof FormatError) throw usage(`-F: ${err.message}`);
      throw err;
    }
    const warn = (line: string): void => void process.stderr.write(`fennec: ${line}\n`);
    return (m) => withEol(formatMessage(tokens, m, warn));
  }
  const verbose = flags.verbose === true;
  return (m) => withEol(plainMessage(m, verbose));
}

async function subscribeCommand(flags: SubFlags): Promise<void> {
  const connection = resolveConnection(flags, 'sub', ['connect', 'subscribe', 'will']);
  const topics = [...(flags.topic ?? []), ...(connection.urlTopic === undefined ? [] : [connection.urlTopic])].map(
    (t) => validFilter('-t', t),
  );
  const filterOut = (flags.filterOut ?? []).map((t) => validFilter('-T', t));
  const unsubscribe = (flags.unsubscribe ?? []).map((t) => validFilter('-U', t));
  if (topics.length === 0 && unsubscribe.length === 0) throw usage('you must give a topic to subscribe to (-t) or -U');
  if (flags.retainAsPublished === true && flags.protocolVersion !== 5)
    throw usage('--retain-as-published needs -V mqttv5');
  const print = printerOf(flags);

  const client = await openClient(connection, true);
  let printed = 0;
  let finish: (error?: CliError) => void = () => undefined;
  const done = new Promise<CliError | undefined>((resolve) => (finish = resolve));

  // Listened to from the first moment: a kept session (-c) delivers what waited at once
  client.on('message', (message) => {
    const m: Received = message;
    if (!flags.retained && m.retain) return;
    if (filterOut.some((f) => topicMatches(f, m.topic))) return;
    process.stdout.write(print(m));
    printed++;
    if (flags.count !== undefined && printed >= flags.count) finish();
  });
  client.on('error', (err: MqttClientError) => finish(connectError(err, connection.url)));
  client.on('close', () => finish(new CliError('ERR_CLIENT_DISCONNECTED', 'the connection closed', MqttExit.Failure)));
  const onSignal = (): void => finish();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // `fennec sub ... | head -1`: the reader went away; that ends the command, as it ends mosquitto_sub
  const onOutputError = (): void => finish();
  process.stdout.on('error', onOutputError);
  const timer =
    flags.timeout === undefined
      ? undefined
      : setTimeout(
          () => finish(new CliError('ERR_SUB_TIMEOUT', `timed out after ${flags.timeout} s`, MqttExit.Timeout)),
          flags.timeout * 1000,
        );

  void setUp(client, flags, topics, unsubscribe, connection.properties.subscribe).then(
    (exitNow) => exitNow && finish(),
    (err: unknown) => finish(runError(err)),
  );
  const error = await done;
  clearTimeout(timer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  client.removeAllListeners('close');
  await client.end().catch(() => undefined);
  if (error !== undefined) throw error;
}

/** Unsubscribes (-U), then subscribes; resolves true when the command is done (-E, or -U alone). */
async function setUp(
  client: MqttClient,
  flags: SubFlags,
  topics: string[],
  unsubscribe: string[],
  properties: SubscribeProperties,
): Promise<boolean> {
  if (unsubscribe.length > 0) await client.unsubscribe(unsubscribe);
  if (topics.length === 0) return true;
  const requests: SubscriptionRequest[] = topics.map((topicFilter) => ({
    topicFilter,
    qos: flags.qos,
    ...(flags.retainAsPublished === true ? { retainAsPublished: true } : {}),
  }));
  const options: SubscribeOptions = {};
  if (!isEmpty(properties)) {
    options.properties = {};
    if (properties.subscriptionIdentifier !== undefined)
      options.properties.subscriptionIdentifier = properties.subscriptionIdentifier;
    if (properties.userProperties !== undefined)
      options.properties.userProperties = properties.userProperties.map(([k, v]) => [k, v]);
  }
  const codes = await client.subscribe(requests, options);
  const refused = codes.filter((c) => c >= 0x80).length;
  if (refused === codes.length) {
    throw new CliError(
      'ERR_SUB_REFUSED',
      `all subscription requests were denied (reason code ${codes[0]})`,
      MqttExit.Failure,
    );
  }
  codes.forEach((code, i) => {
    if (code >= 0x80) process.stderr.write(`fennec: subscription to ${topics[i]} denied (reason code ${code})\n`);
  });
  return flags.exitAfterSubscribe === true;
}
