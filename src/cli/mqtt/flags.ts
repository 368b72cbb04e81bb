/**
 * The flags `fennec pub` and `fennec sub` share, spelt as mosquitto_pub and mosquitto_sub spell
 * them (-h -p -u -P -i -I -V -k -c -x -L, the Will, TLS and -D), and how they become the URL and
 * the options of the client library's `connect`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ClientOptions, ClientTlsOptions, ClientWill } from '../../client/index.js';
import type { QoS } from '../../protocol/index.js';
import { validateTopicName } from '../../topic/index.js';
import { CliError, ExitCode } from '../errors.js';
import { isEmpty, parseProperties, type CliProperties, type PropertyCommand } from './properties.js';

/** What commander hands the action of `pub` or `sub` for the shared flags. */
export interface ConnectionFlags {
  host: string;
  port?: number;
  url?: string;
  username?: string;
  pw?: string;
  id?: string;
  idPrefix?: string;
  protocolVersion: 4 | 5;
  keepalive: number;
  disableCleanSession?: boolean;
  sessionExpiry?: number;
  willTopic?: string;
  willPayload?: string;
  willQos: QoS;
  willRetain?: boolean;
  cafile?: string;
  capath?: string;
  cert?: string;
  key?: string;
  insecure?: boolean;
  tlsVersion?: 'tlsv1.3' | 'tlsv1.2' | 'tlsv1.1';
  property?: string[];
}

/** Where to connect and how, ready for `connect(url, options)`. */
export interface Connection {
  url: string;
  options: ClientOptions;
  /** The topic written in a `-L` URL's path, if any. */
  urlTopic: string | undefined;
  properties: CliProperties;
}

/** A usage error: one line and exit code 2. */
export function usage(message: string): CliError {
  return new CliError('ERR_BAD_FLAG', message, ExitCode.Usage);
}

/** Parses an integer flag from `min` to `max`. */
export function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max)
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
    return n;
  };
}

/** Parses a QoS: 0, 1 or 2. */
export const qos = integer(0, 2) as (value: string) => QoS;

/** Collects a repeatable flag into a list. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** `-V`: mqttv5 / 5, mqttv311 / 311; MQTT 3.1 (mqttv31) is refused, the client library does not speak it. */
function protocolVersion(value: string): 4 | 5 {
  if (value === 'mqttv5' || value === '5') return 5;
  if (value === 'mqttv311' || value === '311') return 4;
  if (value === 'mqttv31' || value === '31') {
    throw new InvalidArgumentError('MQTT 3.1 is not supported by fennec pub/sub; use mqttv311 or mqttv5');
  }
  throw new InvalidArgumentError('must be mqttv5, mqttv311, 5 or 311');
}

/** `-x`: 0 to 4294967295 seconds; -1 and ∞ mean 4294967295, a session that never expires. */
function sessionExpiry(value: string): number {
  if (value === '-1' || value === '∞') return 4_294_967_295;
  return integer(0, 4_294_967_295)(value);
}

/** The flags of `pub` and `sub` that open the connection; `sub` and `pub` add their own. */
export function addConnectionFlags(command: Command, role: 'pub' | 'sub'): Command {
  return command
    .helpOption('--help', 'display help for the command')
    .option('-h, --host <host>', 'broker host', 'localhost')
    .option('-p, --port <port>', 'broker port (default 1883, 8883 with TLS)', integer(1, 65_535))
    .option(
      '-L, --url <url>',
      `the broker and topic as a URL: mqtt(s)://[user[:pass]@]host[:port]/topic; also ws:// and wss://`,
    )
    .option('-u, --username <user>', 'user name of CONNECT')
    .option('-P, --pw <password>', 'password of CONNECT')
    .option('-i, --id <id>', `client identifier (default fennec_${role}_ and the process id)`)
    .option('-I, --id-prefix <prefix>', 'client identifier: this prefix followed by the process id')
    .addOption(
      new Option('-V, --protocol-version <version>', 'MQTT version: mqttv311 (311) or mqttv5 (5)')
        .argParser(protocolVersion)
        .default(4, 'mqttv311'),
    )
    .option('-k, --keepalive <s>', 'keep-alive in seconds, 5 to 65535 (0: none)', keepAlive, 60)
    .option(
      '-c, --disable-clean-session',
      'keep the session: clean session off (3.1.1), clean start off (5.0); needs -i',
    )
    .option(
      '-x, --session-expiry <s>',
      'MQTT 5 session expiry interval in seconds; -1 or ∞: never (default -1 with -c, else 0)',
      sessionExpiry,
    )
    .option('--will-topic <topic>', 'topic of the Will, published by the broker if this client goes without DISCONNECT')
    .option('--will-payload <payload>', 'payload of the Will (default empty)')
    .option('--will-qos <qos>', 'QoS of the Will', qos, 0)
    .option('--will-retain', 'retain the Will')
    .option('--cafile <file>', 'PEM file of CA certificates to trust; turns on TLS')
    .option('--capath <dir>', 'directory of PEM CA certificates (*.pem, *.crt) to trust; turns on TLS')
    .option('--cert <file>', 'client certificate (PEM); needs --key')
    .option('--key <file>', 'private key of --cert (PEM)')
    .option('--insecure', "do not check that the broker's certificate names the host connected to")
    .addOption(
      new Option('--tls-version <version>', 'use only this TLS version').choices(['tlsv1.3', 'tlsv1.2', 'tlsv1.1']),
    )
    .option(
      '-D, --property <command identifier value...>',
      `MQTT 5 property, e.g. -D ${role === 'pub' ? 'publish user-property key value' : 'subscribe subscription-identifier 7'}; repeatable (see docs/cli.md)`,
      collect,
    );
}

/** mosquitto takes keep-alive 5 to 65535; 0 (no keep-alive) is allowed here as well. */
function keepAlive(value: string): number {
  const n = integer(0, 65_535)(value);
  if (n > 0 && n < 5) throw new InvalidArgumentError('must be 0 or from 5 to 65535');
  return n;
}

function readInput(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CliError('ERR_CLI_INPUT', `cannot read ${what} ${file}: ${(err as Error).message}`, ExitCode.NoInput, {
      cause: err,
    });
  }
}

/** The CA certificates of --cafile and --capath, or undefined for the system's. */
function trustedCas(flags: ConnectionFlags): Buffer[] | undefined {
  const cas: Buffer[] = [];
  if (flags.cafile !== undefined) cas.push(readInput(flags.cafile, '--cafile'));
  if (flags.capath !== undefined) {
    let names: string[];
    try {
      names = readdirSync(flags.capath);
    } catch (err) {
      throw new CliError(
        'ERR_CLI_INPUT',
        `cannot read --capath ${flags.capath}: ${(err as Error).message}`,
        ExitCode.NoInput,
      );
    }
    for (const name of names.filter((n) => /\.(pem|crt)$/.test(n)).sort())
      cas.push(readInput(join(flags.capath, name), '--capath file'));
  }
  return cas.length > 0 ? cas : undefined;
}

function tlsOptions(flags: ConnectionFlags): ClientTlsOptions | undefined {
  const on =
    flags.cafile !== undefined ||
    flags.capath !== undefined ||
    flags.cert !== undefined ||
    flags.key !== undefined ||
    flags.insecure === true ||
    flags.tlsVersion !== undefined;
  if (!on) return undefined;
  if ((flags.cert === undefined) !== (flags.key === undefined)) {
    throw usage('--cert and --key must be given together');
  }
  const tls: ClientTlsOptions = {};
  const ca = trustedCas(flags);
  if (ca !== undefined) tls.ca = ca;
  if (flags.cert !== undefined) tls.cert = readInput(flags.cert, '--cert');
  if (flags.key !== undefined) tls.key = readInput(flags.key, '--key');
  // mosquitto's --insecure skips the host name check only: the chain must still verify
  if (flags.insecure === true) tls.checkServerIdentity = () => undefined;
  if (flags.tlsVersion !== undefined) {
    const version = `TLSv${flags.tlsVersion.slice(4)}` as 'TLSv1.3' | 'TLSv1.2' | 'TLSv1.1';
    tls.minVersion = version;
    tls.maxVersion = version;
  }
  return tls;
}

/** Reads `-L`; the path is the topic, the rest the broker. */
function parseUrl(value: string): {
  scheme: string;
  host: string;
  port: number | undefined;
  topic: string | undefined;
  username: string | undefined;
  password: string | undefined;
} {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usage(`-L ${value}: not a URL; use mqtt(s)://[user[:pass]@]host[:port]/topic`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (!['mqtt', 'mqtts', 'ws', 'wss'].includes(scheme)) throw usage(`-L ${value}: use mqtt, mqtts, ws or wss`);
  if (url.hostname === '') throw usage(`-L ${value}: no host`);
  const path = decodeURIComponent(url.pathname.replace(/^\//, ''));
  return {
    scheme,
    host: url.hostname,
    port: url.port === '' ? undefined : Number(url.port),
    topic: path === '' ? undefined : path,
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
  };
}

/** The connection the flags describe; throws a CliError (exit 2 for bad flags, 66 for unreadable files). */
export function resolveConnection(
  flags: ConnectionFlags,
  role: 'pub' | 'sub',
  allowed: readonly PropertyCommand[],
): Connection {
  const v5 = flags.protocolVersion === 5;
  let properties: CliProperties;
  try {
    properties = parseProperties(flags.property ?? [], allowed);
  } catch (err) {
    throw usage((err as Error).message);
  }
  if (flags.property !== undefined && !v5) throw usage('-D properties need MQTT 5: add -V mqttv5');
  if (flags.sessionExpiry !== undefined && !v5) throw usage('-x (session expiry) needs MQTT 5: add -V mqttv5');
  const clean = flags.disableCleanSession !== true;
  // [MQTT-3.1.3-7] (3.1.1): a client that keeps its session must name itself; mosquitto asks the same
  if (!clean && (flags.id === undefined || flags.idPrefix !== undefined)) {
    throw usage('you must provide a client id (-i) if you are using the -c option');
  }
  if (flags.id !== undefined && flags.idPrefix !== undefined) throw usage('-i and -I cannot both be given');
  // [MQTT-3.1.2-22] (3.1.1): no password without a user name; 5.0 allows one
  if (!v5 && flags.username === undefined && flags.pw !== undefined) throw usage('-P needs -u with MQTT 3.1.1');

  const fromUrl = flags.url === undefined ? undefined : parseUrl(flags.url);
  const tls = tlsOptions(flags);
  let scheme = fromUrl?.scheme ?? (tls !== undefined ? 'mqtts' : 'mqtt');
  if (tls !== undefined && scheme === 'mqtt') scheme = 'mqtts';
  if (tls !== undefined && scheme === 'ws') scheme = 'wss';
  const host = fromUrl?.host ?? flags.host;
  const defaultPort = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 }[scheme as 'mqtt'];
  const port = fromUrl?.port ?? flags.port ?? defaultPort;
  const hostPart = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  // A WebSocket URL's path is the topic here, so the socket goes to /mqtt, the usual place
  const url = `${scheme}://${hostPart}:${port}${scheme.startsWith('ws') ? '/mqtt' : ''}`;

  const options: ClientOptions = {
    clientId:
      flags.id ?? (flags.idPrefix !== undefined ? `${flags.idPrefix}${process.pid}` : `fennec_${role}_${process.pid}`),
    protocolVersion: flags.protocolVersion,
    clean,
    keepAlive: flags.keepalive,
  };
  const username = flags.username ?? fromUrl?.username;
  const password = flags.pw ?? fromUrl?.password;
  if (username !== undefined) options.username = username;
  if (password !== undefined) options.password = password;
  if (v5) {
    // mosquitto: with -c the session never expires unless -x says otherwise
    const expiry = flags.sessionExpiry ?? properties.connect.sessionExpiryInterval ?? (clean ? 0 : 4_294_967_295);
    options.sessionExpiryInterval = expiry;
    if (!isEmpty(properties.connect)) options.properties = properties.connect;
  }
  if (tls !== undefined) options.tls = tls;
  const will = willOf(flags, properties.will);
  if (will !== undefined) options.will = will;
  return { url, options, urlTopic: fromUrl?.topic, properties };
}

function willOf(flags: ConnectionFlags, properties: CliProperties['will']): ClientWill | undefined {
  if (flags.willTopic === undefined) {
    if (flags.willPayload !== undefined || flags.willRetain === true)
      throw usage('--will-payload and --will-retain need --will-topic');
    if (!isEmpty(properties)) throw usage('-D will ... needs --will-topic');
    return undefined;
  }
  try {
    validateTopicName(flags.willTopic);
  } catch {
    throw usage(`invalid will topic ${JSON.stringify(flags.willTopic)}: does it contain '+' or '#'?`);
  }
  const will: ClientWill = {
    topic: flags.willTopic,
    payload: flags.willPayload ?? '',
    qos: flags.willQos,
    retain: flags.willRetain === true,
  };
  if (!isEmpty(properties)) will.properties = properties;
  return will;
}
