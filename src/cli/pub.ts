/**
 * `fennec pub`: publishes one message (-m, -f, -s, -n), or one per line of standard input (-l),
 * with the flags and exit codes of mosquitto_pub (docs/cli.md).
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import type { MqttClient, PublishOptions } from '../client/index.js';
import type { QoS } from '../protocol/index.js';
import { validateTopicName } from '../topic/index.js';
import { CliError, ExitCode } from './errors.js';
import { openClient, runError } from './mqtt/connect.js';
import {
  addConnectionFlags,
  collect,
  integer,
  qos,
  resolveConnection,
  usage,
  type Connection,
  type ConnectionFlags,
} from './mqtt/flags.js';
import { isEmpty } from './mqtt/properties.js';

interface PubFlags extends ConnectionFlags {
  topic?: string[];
  message?: string;
  file?: string;
  stdinLine?: boolean;
  stdinFile?: boolean;
  nullMessage?: boolean;
  qos: QoS;
  retain?: boolean;
  repeat: number;
  repeatDelay: number;
  maxInflight: number;
}

/** Where the payload comes from: given now, or one message per line of stdin. */
type Source = { kind: 'once'; payload: Buffer } | { kind: 'lines' };

export function pubCommand(): Command {
  const command = new Command('pub').description(
    'publish a message to a broker, like mosquitto_pub: -t topic and one of -m, -f, -s, -l or -n',
  );
  addConnectionFlags(command, 'pub')
    .option('-t, --topic <topic>', 'topic to publish to', collect)
    .option('-m, --message <message>', 'the payload')
    .option('-f, --file <file>', 'send the contents of a file as the payload')
    .option('-s, --stdin-file', 'read standard input to its end and send it as one message')
    .option('-l, --stdin-line', 'send each line of standard input as a message (the newline not included)')
    .option('-n, --null-message', 'send an empty (zero-length) payload')
    .option('-q, --qos <qos>', 'QoS: 0, 1 or 2', qos, 0)
    .option('-r, --retain', 'the broker retains the message')
    .option('--repeat <count>', 'with -m, -f, -s or -n: publish the message this many times', integer(1, 1_000_000), 1)
    .option('--repeat-delay <s>', 'seconds to wait between repeats', seconds, 0)
    .option(
      '-M, --max-inflight <n>',
      'QoS 1/2 messages of -l sent and not yet acknowledged at once',
      integer(1, 65_535),
      20,
    )
    .action(async (flags: PubFlags) => {
      await publishCommand(flags);
    });
  return command;
}

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('must be a number of seconds');
  return n;
}

async function publishCommand(flags: PubFlags): Promise<void> {
  const connection = resolveConnection(flags, 'pub', ['connect', 'publish', 'will']);
  const topic = topicOf(flags, connection);
  const source = await sourceOf(flags);
  const options: PublishOptions = { qos: flags.qos, retain: flags.retain === true };
  if (!isEmpty(connection.properties.publish)) options.properties = connection.properties.publish;
  const client = await openClient(connection, false);
  try {
    if (source.kind === 'once') {
      for (let i = 0; i < flags.repeat; i++) {
        if (i > 0 && flags.repeatDelay > 0) await sleep(flags.repeatDelay * 1000);
        await client.publish(topic, source.payload, options);
      }
    } else {
      await publishLines(client, topic, options, flags.maxInflight);
    }
  } catch (err) {
    await client.end().catch(() => undefined);
    throw runError(err);
  }
  await client.end();
}

function topicOf(flags: PubFlags, connection: Connection): string {
  const topics = [...(flags.topic ?? []), ...(connection.urlTopic === undefined ? [] : [connection.urlTopic])];
  if (topics.length > 1) throw usage('fennec pub takes one topic: -t or the path of -L, once');
  const topic = topics[0];
  if (topic === undefined) throw usage('both a topic (-t) and a message (-m, -f, -s, -l or -n) must be given');
  try {
    validateTopicName(topic);
  } catch {
    throw usage(`invalid publish topic ${JSON.stringify(topic)}: does it contain '+' or '#'?`);
  }
  return topic;
}

async function sourceOf(flags: PubFlags): Promise<Source> {
  const given = [
    flags.message !== undefined,
    flags.file !== undefined,
    flags.stdinFile === true,
    flags.stdinLine === true,
    flags.nullMessage === true,
  ].filter(Boolean).length;
  if (given === 0) throw usage('both a topic (-t) and a message (-m, -f, -s, -l or -n) must be given');
  if (given > 1) throw usage('only one of -m, -f, -s, -l and -n can be given');
  if (flags.stdinLine === true) {
    if (flags.repeat > 1) throw usage('--repeat works with -m, -f, -s and -n, not -l');
    return { kind: 'lines' };
  }
  if (flags.message !== undefined) return { kind: 'once', payload: Buffer.from(flags.message) };
  if (flags.nullMessage === true) return { kind: 'once', payload: Buffer.alloc(0) };
  if (flags.file !== undefined) {
    try {
      return { kind: 'once', payload: readFileSync(flags.file) };
    } catch (err) {
      throw new CliError('ERR_CLI_INPUT', `cannot read -f ${flags.file}: ${(err as Error).message}`, ExitCode.NoInput, {
        cause: err,
      });
    }
  }
  return { kind: 'once', payload: await readAll(process.stdin) };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/**
 * `-l`: one message per line of stdin as lines arrive, the `\n` cut off (a `\r` before it kept,
 * an empty line sent as an empty message, a last line without `\n` sent too), like mosquitto_pub.
 * At most `window` QoS 1/2 publishes wait for their acknowledgement at once.
 */
async function publishLines(client: MqttClient, topic: string, options: PublishOptions, window: number): Promise<void> {
  const pending = new Set<Promise<void>>();
  let failure: Error | undefined;
  const send = async (line: Buffer): Promise<void> => {
    const p = client.publish(topic, line, options);
    pending.add(p);
    p.then(
      () => pending.delete(p),
      (err: unknown) => {
        pending.delete(p);
        failure ??= err instanceof Error ? err : new Error(String(err));
      },
    );
    if (pending.size >= window) await Promise.race(pending).catch(() => undefined);
    if (failure !== undefined) throw failure;
  };
  let rest = Buffer.alloc(0);
  for await (const chunk of process.stdin) {
    rest = Buffer.concat([rest, chunk as Buffer]);
    let newline: number;
    while ((newline = rest.indexOf(0x0a)) !== -1) {
      await send(rest.subarray(0, newline));
      rest = rest.subarray(newline + 1);
    }
  }
  if (rest.length > 0) await send(rest);
  await Promise.allSettled(pending);
  if (failure !== undefined) throw failure;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
