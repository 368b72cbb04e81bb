/**
 * The option table: every option of Fennec written once, with its configuration file key (and
 * section), its zod schema, unit, default and documentation. From it come the file's schema
 * (schema.ts), the merge of file, environment and flags (merge.ts), the `BrokerOptions` type and
 * defaults (src/broker/options.ts), the validation of `new Broker(options)` (validate.ts) and the key
 * tables of docs/configuration.md (docs.ts, `npm run docs:config`).
 *
 * It imports only zod and the value lists of fields.ts, so that both `config/` and `broker/` can
 * import it.
 */
import { z } from 'zod';
import {
  anyString,
  boolean,
  durabilityModes,
  field,
  integerIn,
  MAX_TIMER_MS,
  logLevels,
  nonEmptyString,
  oneOf,
  persistenceModes,
  sharedSubscriptionStrategies,
  type OptionSpec,
} from './fields.js';
import { limitOptionSpecs } from './limit-options.js';
import { processOptionSpecs } from './process-options.js';
import { listenerOptionSpecs, type listenerTlsOptionNames } from './listener-options.js';
import { tlsOptionSpecs } from './tls-options.js';
import { httpOptionSpecs } from './http-options.js';
import { clusterOptionSpecs } from './cluster-options.js';

export { limitOptionSpecs } from './limit-options.js';
export { logFormats, processOptionSpecs, type LogFormat } from './process-options.js';
export { listenerOptionSpecs } from './listener-options.js';
export { tlsOptionSpecs } from './tls-options.js';
export { httpOptionSpecs } from './http-options.js';
export { clusterOptionSpecs } from './cluster-options.js';

/**
 * The options of the top level of the file and of its `limits:` section, by their camelCase name
 * (the BrokerOptions field, for `broker` options), in documentation order.
 */
export const optionSpecs = {
  host: {
    target: 'broker',
    section: '',
    key: 'host',
    env: 'FENNEC_HOST',
    field: nonEmptyString('a host name or IP address'),
    unit: '',
    default: '127.0.0.1',
    doc: 'address to listen on: an IP address or a host name; `0.0.0.0` or `::` listens on every interface',
  },
  port: {
    target: 'broker',
    section: '',
    key: 'port',
    env: 'FENNEC_PORT',
    field: integerIn(0, 65_535, '(a TCP port; 0 picks a free one)'),
    unit: 'TCP port',
    default: 1883,
    doc: 'port to listen on; `0` picks a free one (printed in `fennec listening mqtt://HOST:PORT`)',
  },
  dataDir: {
    target: 'command',
    section: '',
    key: 'data_dir',
    isPath: true,
    env: 'FENNEC_DATA_DIR',
    field: nonEmptyString('a directory path'),
    unit: 'directory path',
    default: './data',
    doc: "directory of the SQLite store (`fennec.db`); in the configuration file relative to the file's directory, from `--data-dir` or the variable to the working directory; created when missing. Used with `persistence: sqlite`",
  },
  logLevel: {
    target: 'command',
    section: '',
    key: 'log_level',
    env: 'FENNEC_LOG_LEVEL',
    field: oneOf(logLevels),
    unit: '',
    default: 'warn',
    doc: 'least severe level written to the log; `silent` writes none. `info` adds a line per client connect and disconnect ([logging.md](logging.md)), which `fennec broker -v` turns on as `mosquitto -v` does',
  },
  ...processOptionSpecs,
  persistence: {
    target: 'command',
    section: '',
    key: 'persistence',
    env: 'FENNEC_PERSISTENCE',
    field: oneOf(persistenceModes),
    unit: '',
    default: 'sqlite',
    doc: 'where sessions, subscriptions, queued and in-flight QoS 1/2 messages and retained messages are kept: `sqlite` in `data_dir`, committed before each acknowledgement, so they survive a crash and a restart ([persistence.md](persistence.md)); `none` in memory only, lost on restart (`fennec broker --memory`)',
  },
  durability: {
    target: 'command',
    section: '',
    key: 'durability',
    env: 'FENNEC_DURABILITY',
    field: oneOf(durabilityModes),
    unit: '',
    default: 'process',
    doc: 'what a committed write survives with `persistence: sqlite`: `process` the broker dying (WAL, synchronous NORMAL); `power` power loss too (synchronous FULL: an fsync per commit, slower)',
  },
  sharedSubscriptionStrategy: {
    target: 'broker',
    section: '',
    key: 'shared_subscription_strategy',
    field: oneOf(sharedSubscriptionStrategies),
    unit: '',
    default: 'round-robin',
    doc: 'how a shared subscription group (`$share/{ShareName}/{filter}`) picks the member that gets each message: `round-robin` takes the next member in turn, `least-inflight` the member with the fewest unacknowledged and queued messages. Either way a member that is offline, whose in-flight window or queue is full, or that reads too slowly is passed over while another can take the message at once',
  },
  responseInformationPrefix: {
    target: 'broker',
    section: '',
    key: 'response_information_prefix',
    field: anyString('a topic prefix'),
    unit: '',
    default: 'responses/',
    doc: 'start of the Response Information an MQTT 5.0 client gets in CONNACK when it sets Request Response Information to 1: the client id follows (`responses/sensor-1`), and the client may build response topics on it. Clients that do not ask get none',
  },
  maximumQoS: {
    target: 'broker',
    section: '',
    key: 'maximum_qos',
    field: field(
      z.union([z.literal(0), z.literal(1), z.literal(2)], { error: 'must be 0, 1 or 2 (a QoS level)' }),
      '0, 1 or 2',
    ),
    unit: 'QoS level',
    default: 2,
    doc: 'highest QoS the broker accepts and grants. Below 2, MQTT 5.0 clients are told in CONNACK (Maximum QoS); a PUBLISH above it gets DISCONNECT 0x9B (3.1.1: the connection is closed), a will above it is refused (CONNACK 0x9B; 3.1.1: 0x05), and subscriptions are granted at most this QoS, in both versions',
  },
  retainAvailable: {
    target: 'broker',
    section: '',
    key: 'retain_available',
    field: boolean(),
    unit: '',
    default: true,
    doc: 'whether retained messages are supported. When `false`, 5.0 CONNACK says Retain Available 0, a retained PUBLISH gets DISCONNECT 0x9A (3.1.1: the connection is closed) and a retained will is refused (CONNACK 0x9A; 3.1.1: 0x05)',
  },
  wildcardSubscriptionAvailable: {
    target: 'broker',
    section: '',
    key: 'wildcard_subscription_available',
    field: boolean(),
    unit: '',
    default: true,
    doc: 'whether filters with `+` or `#` may be subscribed. When `false`, 5.0 CONNACK says so and such filters get SUBACK 0xA2 (3.1.1: 0x80)',
  },
  subscriptionIdentifiersAvailable: {
    target: 'broker',
    section: '',
    key: 'subscription_identifiers_available',
    field: boolean(),
    unit: '',
    default: true,
    doc: 'whether MQTT 5.0 Subscription Identifiers are supported. When `false`, CONNACK says so and a SUBSCRIBE carrying one gets DISCONNECT 0xA1',
  },
  // Server Keep Alive is a Two Byte Integer in CONNACK.
  serverKeepAlive: {
    target: 'broker',
    section: '',
    key: 'server_keep_alive',
    alias: 'max_keepalive',
    field: integerIn(0, 65_535, 'seconds'),
    unit: 'seconds',
    doc: "Server Keep Alive imposed on MQTT 5.0 clients in place of the Keep Alive of their CONNECT, and announced in CONNACK; `0` turns keep-alive off for them. MQTT 3.1.1 clients keep their own. Unset: each client's own keep alive is used. Mosquitto's name, `max_keepalive`, is accepted too (not both); unlike Mosquitto, Fennec imposes the value on every 5.0 client, not only on those whose own keep alive is longer",
  },
  passwordFile: {
    target: 'command',
    section: '',
    key: 'password_file',
    isPath: true,
    field: nonEmptyString('a file path'),
    unit: 'file path',
    doc: "password file of `user:hash` lines (write it with [`fennec passwd`](cli.md#fennec-passwd)); clients with a user name must then give that user's password, or get CONNACK 0x86 (3.1.1: 4). In the configuration file relative to the file's directory. Read at start (a bad file stops the broker with exit code 78) and again on SIGHUP (a bad file is logged and the users loaded before stay). Unset: no password file, and any user name is accepted",
  },
  allowAnonymous: {
    target: 'broker',
    section: '',
    key: 'allow_anonymous',
    field: field(
      z.union([z.boolean(), z.literal('loopback')], { error: 'must be true, false or loopback' }),
      '`true`, `false` or `loopback`',
    ),
    unit: '',
    default: 'loopback',
    doc: 'who may connect without a user name: `loopback` only on connections to a loopback address (127.0.0.0/8, ::1), `true` everywhere, `false` nowhere; a refused client gets CONNACK 0x87 (3.1.1: 5). With the default, `fennec broker` listening on another address says at start that anonymous clients are refused there',
  },
  aclFile: {
    target: 'command',
    section: '',
    key: 'acl_file',
    isPath: true,
    field: nonEmptyString('a file path'),
    unit: 'file path',
    doc: "access control list ([README, Access control](../README.md#access-control)): which topics each client may publish to, subscribe to and receive. Unset: no access control. In the configuration file relative to the file's directory. An unreadable or bad file stops `fennec broker` (exit 78, file and line named); SIGHUP re-reads it, and a bad file is logged while the rules in force stay",
  },
  sysInterval: {
    target: 'broker',
    section: '',
    key: 'sys_interval',
    field: integerIn(0, 86_400, 'seconds'),
    unit: 'seconds',
    default: 10,
    doc: 'how often the broker publishes its `$SYS/broker/...` topics (retained; [operations.md](operations.md#sys-topics)), as Mosquitto does; `0` publishes none. Who may read them is up to the ACL',
  },
  sysEvents: {
    target: 'broker',
    section: '',
    key: 'sys_events',
    field: boolean(),
    unit: '',
    default: false,
    doc: 'publish `$SYS/broker/clients/{client id}/connected` and `.../disconnected` (not retained) each time a client connects or its connection closes, with a JSON payload ([operations.md](operations.md#client-events))',
  },
  shutdownTimeoutMs: {
    target: 'command',
    section: '',
    key: 'shutdown_timeout_ms',
    field: integerIn(1, MAX_TIMER_MS, 'milliseconds'),
    unit: 'milliseconds',
    default: 10_000,
    doc: 'longest time `fennec broker` takes to stop on SIGTERM or SIGINT (DISCONNECT 0x8B to 5.0 clients, the store flushed and closed); past it the process exits with code 70. A second signal exits at once (code 130 after SIGINT, 143 after SIGTERM)',
  },
  ...limitOptionSpecs,
} as const satisfies Record<string, OptionSpec>;

type Specs = typeof optionSpecs;
type TlsSpecs = typeof tlsOptionSpecs;
type ListenerSpecs = typeof listenerOptionSpecs;
type ListenerTlsOption = (typeof listenerTlsOptionNames)[number];
type RequiredListenerOption = NamesWhere<ListenerSpecs, { required: true }>;
type ListenerBrokerOption = NamesWhere<ListenerSpecs, { target: 'broker' }>;
type HttpSpecs = typeof httpOptionSpecs;
type ClusterSpecs = typeof clusterOptionSpecs;
/** The names of `T`'s entries that are a `Condition`. */
type NamesWhere<T, Condition> = { [K in keyof T]: T[K] extends Condition ? K : never }[keyof T];
/** The value an option takes, as its schema outputs it. */
type ValueOf<Spec> = Spec extends { readonly field: { readonly schema: infer S extends z.ZodType } }
  ? z.output<S>
  : never;
/** The options named `K` of table `T`, by name. */
type ValuesOf<T, K extends keyof T> = { -readonly [P in K]: ValueOf<T[P]> };
/** An option's file key (`Name` = `key`) or alias; never when it has none. */
type FileKeyOf<Spec, Name extends 'key' | 'alias'> = Spec extends Record<Name, infer Key extends string> ? Key : never;
/** The options named `K` of table `T`, by their file key (or alias); the required ones required. */
type FileValuesOf<T, K extends keyof T, Name extends 'key' | 'alias' = 'key'> = {
  -readonly [P in K as T[P] extends { readonly required: true } ? FileKeyOf<T[P], Name> : never]: ValueOf<T[P]>;
} & {
  -readonly [P in K as T[P] extends { readonly required: true } ? never : FileKeyOf<T[P], Name>]?: ValueOf<T[P]>;
};
/** Spelt out, so that editors show the fields rather than the type expression. */
type Flat<T> = { [K in keyof T]: T[K] } & {};

/** An option of the top level or of `limits:`, by its camelCase name. */
export type OptionName = keyof Specs;
/** An option `new Broker()` reads: a BrokerOptions field. */
export type BrokerOptionName = NamesWhere<Specs, { target: 'broker' }>;
/** An option of the top level of the file. */
export type TopLevelOption = NamesWhere<Specs, { section: '' }>;
/** A BrokerOptions field set by the `limits:` section. */
export type LimitOption = NamesWhere<Specs, { section: 'limits' }>;
/** An option with a default. */
type DefaultedOption = NamesWhere<Specs, { default: unknown }>;
/** A field of `BrokerOptions.tls`. */
export type TlsOptionName = keyof TlsSpecs;
type RequiredTlsOption = NamesWhere<TlsSpecs, { required: true }>;
type DefaultedTlsOption = NamesWhere<TlsSpecs, { default: unknown }>;

/**
 * One listener of `BrokerOptions.listeners`: its protocol and port, and what else it sets (a secure
 * one its certificate files). Documented in docs/configuration.md (`listeners:`).
 */
export type ListenerOptions = Flat<
  ValuesOf<ListenerSpecs, RequiredListenerOption> &
    Partial<ValuesOf<ListenerSpecs, Exclude<ListenerBrokerOption, RequiredListenerOption>>> &
    Partial<ValuesOf<TlsSpecs, ListenerTlsOption>>
>;

/** One listener as the configuration file gives it: ListenerOptions and the auth files `fennec broker` reads. */
export type ListenerConfig = Flat<
  ListenerOptions & Partial<ValuesOf<ListenerSpecs, Exclude<keyof ListenerSpecs, ListenerBrokerOption>>>
>;

/** The value of the option `K`. */
export type OptionValue<K extends OptionName> = ValueOf<Specs[K]>;

/**
 * The BrokerOptions fields that hold values (all but the hooks, the logger and the store), each
 * optional: every `broker` option of the table and `tls`, so every one of them can be set in the
 * configuration file. Documented in docs/configuration.md.
 */
export type SettableBrokerOptions = Flat<
  Partial<ValuesOf<Specs, BrokerOptionName>> & {
    /** A TLS listener next to the TCP one: the file's `tls:` section. Default: none. */
    tls?: TlsOptions;
    /**
     * Every listener, in place of the one of `host` and `port` and the TLS one of `tls` (the short
     * form): the file's `listeners:` list. Default: the short form.
     */
    listeners?: ListenerOptions[];
  }
>;

/** The BrokerOptions fields that have a default, with every default filled in. */
export type ResolvedBrokerOptions = Flat<ValuesOf<Specs, BrokerOptionName & DefaultedOption>>;

/** The TLS listener (`mqtts://`), started by `listen()` next to the TCP one: the file's `tls:` section. */
export type TlsOptions = Flat<
  ValuesOf<TlsSpecs, RequiredTlsOption> & Partial<ValuesOf<TlsSpecs, Exclude<TlsOptionName, RequiredTlsOption>>>
>;

/** The HTTP listener of `fennec broker` (metrics, health, admin API): the file's `http:` section. */
export type HttpConfig = Flat<Partial<ValuesOf<HttpSpecs, keyof HttpSpecs>>>;

/** The HTTP listener with its defaults filled in; the admin token may stay unset. */
export type ResolvedHttpConfig = Flat<
  ValuesOf<HttpSpecs, NamesWhere<HttpSpecs, { default: unknown }>> & { adminToken?: string | undefined }
>;

/** The cluster node settings of `fennec broker`: the file's `cluster:` section (docs/cluster.md). */
export type ClusterConfig = Flat<Partial<ValuesOf<ClusterSpecs, keyof ClusterSpecs>>>;

/** The limits a configuration sets, as BrokerOptions. */
export type ConfigLimits = Flat<Partial<ValuesOf<Specs, LimitOption>>>;

/** A validated configuration: only the keys its source set, by their camelCase names (BrokerOptions' for its fields). */
export type FennecConfig = Flat<
  Partial<ValuesOf<Specs, TopLevelOption>> & {
    /** Limits, with units as in BrokerOptions. */
    limits?: ConfigLimits;
    /** The TLS listener; unset: none. */
    tls?: TlsOptions;
    /** Every listener, in place of the short form; unset: the short form. */
    listeners?: ListenerConfig[];
    /** The HTTP listener; unset: none. */
    http?: HttpConfig;
    /** The cluster on Redis; unset: a broker alone. */
    cluster?: ClusterConfig;
  }
>;

/** A configuration with every setting decided; an option without a default may stay undefined. */
export type ResolvedConfig = Flat<
  ValuesOf<Specs, TopLevelOption & DefaultedOption> & {
    [P in Exclude<TopLevelOption, DefaultedOption>]: ValueOf<Specs[P]> | undefined;
  } & {
    limits: Flat<ValuesOf<Specs, LimitOption>>;
    /** The TLS listener; absent: none. Its own defaults are `defaultTlsOptions`. */
    tls?: TlsOptions;
    /** Every listener, in place of the short form; absent: the short form. */
    listeners?: ListenerConfig[];
    /** The HTTP listener (metrics, admin API); absent: none. */
    http?: ResolvedHttpConfig;
    /** The cluster on Redis; absent: a broker alone. `redis` is set whenever it is present. */
    cluster?: ClusterConfig & { redis: string };
  }
>;

/** A configuration file's content after validation, with the file's snake_case keys. */
export type FileConfig = Flat<
  FileValuesOf<Specs, TopLevelOption> &
    FileValuesOf<Specs, TopLevelOption, 'alias'> & {
      limits?: Flat<FileValuesOf<Specs, LimitOption>>;
      tls?: Flat<FileValuesOf<TlsSpecs, TlsOptionName>>;
      listeners?: Flat<
        FileValuesOf<ListenerSpecs, keyof ListenerSpecs> & Partial<FileValuesOf<TlsSpecs, ListenerTlsOption>>
      >[];
      http?: Flat<FileValuesOf<HttpSpecs, keyof HttpSpecs>>;
      cluster?: Flat<FileValuesOf<ClusterSpecs, keyof ClusterSpecs>>;
    }
>;

/** The default of each option of `specs` that has one. */
function defaultsOf(specs: Record<string, OptionSpec>, target?: OptionSpec['target']): Record<string, unknown> {
  const defaults: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) {
    if ('default' in spec && (target === undefined || spec.target === target)) defaults[name] = spec.default;
  }
  return defaults;
}

/** The defaults of the broker's options, documented in docs/configuration.md. */
export const defaultBrokerOptions = defaultsOf(optionSpecs, 'broker') as ResolvedBrokerOptions;

/** Defaults of the HTTP listener's options. */
export const defaultHttpConfig = defaultsOf(httpOptionSpecs) as ResolvedHttpConfig;

/** Defaults of the cluster node's operational options (the URL and the node id have none). */
export const defaultClusterConfig = defaultsOf(clusterOptionSpecs) as ClusterConfig;

/** Defaults of the TLS listener's options (its host defaults to the broker's). */
export const defaultTlsOptions = defaultsOf(tlsOptionSpecs) as Flat<ValuesOf<TlsSpecs, DefaultedTlsOption>>;

/** Defaults of a listener's options (its host defaults to the broker's, its name to `PROTOCOL-INDEX`). */
export const defaultListenerOptions = defaultsOf(listenerOptionSpecs) as Flat<
  ValuesOf<ListenerSpecs, NamesWhere<ListenerSpecs, { default: unknown }>>
>;
