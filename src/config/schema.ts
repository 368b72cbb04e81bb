/**
 * The configuration file's schema: snake_case keys, each with its type, range and unit, and the
 * camelCase `FennecConfig` it maps to. Documented key by key in docs/configuration.md.
 */
import { z } from 'zod';
import type { AllowAnonymous, BrokerOptions, TlsOptions } from '../broker/options.js';
import { sharedSubscriptionStrategies, type SharedSubscriptionStrategy } from '../broker/shared.js';
import { tlsMinVersions } from '../transport/tls.js';

/** Log levels accepted by `log_level`, from the most to the least severe; `silent` logs nothing. */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A pino log level, or `silent`. */
export type LogLevel = (typeof logLevels)[number];

/** Values of `persistence`: `sqlite` keeps sessions and messages in `data_dir`, `none` keeps them in memory. */
export const persistenceModes = ['sqlite', 'none'] as const;
/** Where the broker keeps state that should outlive the process. */
export type Persistence = (typeof persistenceModes)[number];

/** Values of `durability`: what a committed write survives (SQLite store). */
export const durabilityModes = ['process', 'power'] as const;
/** `process`: the broker process dying (WAL, synchronous NORMAL); `power`: power loss too (synchronous FULL). */
export type Durability = (typeof durabilityModes)[number];

/** The BrokerOptions set by the `limits:` section. */
export type LimitOption =
  | 'connectTimeoutMs'
  | 'loginFailureFreeAttempts'
  | 'loginFailureWindowMs'
  | 'loginFailureFirstDelayMs'
  | 'loginFailureMaxDelayMs'
  | 'loginFailureMaxAddresses'
  | 'maximumPacketSize'
  | 'maxClientIdLength'
  | 'maxInflightMessages'
  | 'maxQueuedMessages'
  | 'maxOutgoingBufferBytes'
  | 'receiveMaximum'
  | 'topicAliasMaximum'
  | 'maxSessionExpiryInterval'
  | 'maxConnections'
  | 'maxConnectionsPerAddress'
  | 'maxQueuedBytes'
  | 'maxSubscriptionsPerClient'
  | 'maxTopicLength'
  | 'maxTopicLevels'
  | 'maxPublishRate'
  | 'maxPublishBytesRate'
  | 'maxControlPacketRate'
  | 'packetTimeoutMs'
  | 'tcpKeepAliveMs';

/** The limits a configuration sets, as BrokerOptions. */
export type ConfigLimits = Pick<BrokerOptions, LimitOption>;

interface LimitSpec {
  /** The BrokerOptions field the key sets. */
  option: LimitOption;
  /** Unit of the value, plural, as it reads in error messages. */
  unit: string;
  min: number;
  max: number;
}

/** Each key of the `limits:` section: the option it sets, its unit and its inclusive range. */
export const limitSpecs = {
  // Node's timers hold at most 2^31 - 1 ms; a longer delay silently becomes 1 ms.
  connect_timeout_ms: { option: 'connectTimeoutMs', unit: 'milliseconds', min: 1, max: 2_147_483_647 },
  // Failed logins (CONNACK 0x86 / 0x87) from one address: the refusals past the free ones are delayed.
  login_failure_free_attempts: {
    option: 'loginFailureFreeAttempts',
    unit: 'attempts',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  },
  login_failure_window_ms: { option: 'loginFailureWindowMs', unit: 'milliseconds', min: 1, max: 2_147_483_647 },
  login_failure_first_delay_ms: {
    option: 'loginFailureFirstDelayMs',
    unit: 'milliseconds',
    min: 0,
    max: 2_147_483_647,
  },
  login_failure_max_delay_ms: { option: 'loginFailureMaxDelayMs', unit: 'milliseconds', min: 0, max: 2_147_483_647 },
  login_failure_max_addresses: {
    option: 'loginFailureMaxAddresses',
    unit: 'addresses',
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
  },
  // The largest Remaining Length (268,435,455) plus a 5-byte fixed header.
  maximum_packet_size: { option: 'maximumPacketSize', unit: 'bytes', min: 1, max: 268_435_460 },
  // [MQTT-3.1.3-5] the server must allow client ids of 1 to 23 bytes; a string holds at most 65,535.
  max_client_id_length: { option: 'maxClientIdLength', unit: 'bytes', min: 23, max: 65_535 },
  // Packet identifiers are 1 to 65,535, so no more can be in flight at once.
  max_inflight_messages: { option: 'maxInflightMessages', unit: 'messages', min: 1, max: 65_535 },
  max_queued_messages: { option: 'maxQueuedMessages', unit: 'messages', min: 1, max: Number.MAX_SAFE_INTEGER },
  max_outgoing_buffer_bytes: {
    option: 'maxOutgoingBufferBytes',
    unit: 'bytes',
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
  },
  // 5.0 sends both as Two Byte Integers; a Receive Maximum of 0 is a protocol error.
  receive_maximum: { option: 'receiveMaximum', unit: 'messages', min: 1, max: 65_535 },
  topic_alias_maximum: { option: 'topicAliasMaximum', unit: 'aliases', min: 0, max: 65_535 },
  // A Session Expiry Interval is a four-byte integer; 0 makes every 5.0 session end with its connection.
  max_session_expiry_interval: {
    option: 'maxSessionExpiryInterval',
    unit: 'seconds',
    min: 0,
    max: 4_294_967_295,
  },
  // 0 means no limit for the connection, queue, subscription and rate limits.
  max_connections: { option: 'maxConnections', unit: 'connections', min: 0, max: Number.MAX_SAFE_INTEGER },
  max_connections_per_address: {
    option: 'maxConnectionsPerAddress',
    unit: 'connections',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  },
  max_queued_bytes: { option: 'maxQueuedBytes', unit: 'bytes', min: 0, max: Number.MAX_SAFE_INTEGER },
  max_subscriptions_per_client: {
    option: 'maxSubscriptionsPerClient',
    unit: 'subscriptions',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  },
  // [MQTT-4.7.3-3] a topic is at most 65,535 bytes.
  max_topic_length: { option: 'maxTopicLength', unit: 'bytes', min: 1, max: 65_535 },
  // The topic index recurses once per level: more than 1,024 would risk the call stack.
  max_topic_levels: { option: 'maxTopicLevels', unit: 'levels', min: 1, max: 1024 },
  max_publish_rate: { option: 'maxPublishRate', unit: 'messages per second', min: 0, max: Number.MAX_SAFE_INTEGER },
  max_publish_bytes_rate: {
    option: 'maxPublishBytesRate',
    unit: 'bytes per second',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  },
  max_control_packet_rate: {
    option: 'maxControlPacketRate',
    unit: 'packets per second',
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
  },
  packet_timeout_ms: { option: 'packetTimeoutMs', unit: 'milliseconds', min: 1, max: 2_147_483_647 },
  tcp_keepalive_ms: { option: 'tcpKeepAliveMs', unit: 'milliseconds', min: 0, max: 2_147_483_647 },
} as const satisfies Record<string, LimitSpec>;

/** A key of the `limits:` section. */
export type LimitKey = keyof typeof limitSpecs;
/** Every key of the `limits:` section, in documentation order. */
export const limitKeys = Object.keys(limitSpecs) as LimitKey[];

function integerIn(min: number, max: number, what: string): z.ZodInt {
  const message =
    max >= Number.MAX_SAFE_INTEGER
      ? `must be an integer of at least ${min} ${what}`
      : `must be an integer from ${min} to ${max} ${what}`;
  return z.int({ error: message }).min(min, { error: message }).max(max, { error: message });
}

function nonEmptyString(what: string): z.ZodString {
  const message = `must be a non-empty string (${what})`;
  return z.string({ error: message }).min(1, { error: message });
}

/** A string that must be given, whose absence is reported as such. */
function requiredString(what: string): z.ZodString {
  const message = `must be a non-empty string (${what})`;
  return z
    .string({ error: (issue) => (issue.input === undefined ? `is required (${what})` : message) })
    .min(1, { error: message });
}

const limitsShape = Object.fromEntries(
  limitKeys.map((key) => {
    const spec: LimitSpec = limitSpecs[key];
    return [key, integerIn(spec.min, spec.max, spec.unit).optional()];
  }),
) as { [K in LimitKey]: z.ZodOptional<z.ZodInt> };

/** The `tls:` section: the TLS listener. Relative file paths are resolved from the working directory. */
const tlsSchema = z
  .strictObject(
    {
      host: nonEmptyString('a host name or IP address').optional(),
      port: integerIn(0, 65_535, '(a TCP port; 0 picks a free one)').optional(),
      cert_file: requiredString('a PEM certificate file path'),
      key_file: requiredString('a PEM private key file path'),
      ca_file: nonEmptyString('a PEM CA certificate file path').optional(),
      require_client_certificate: z.boolean({ error: 'must be true or false' }).optional(),
      use_identity_as_username: z
        .union([z.literal(false), z.string().regex(/^[A-Za-z][A-Za-z0-9.]*$/)], {
          error: 'must be false or a certificate subject field such as CN',
        })
        .optional(),
      min_version: z.enum(tlsMinVersions, { error: `must be one of ${tlsMinVersions.join(', ')}` }).optional(),
      ciphers: nonEmptyString('an OpenSSL cipher list').optional(),
    },
    { error: 'must be a mapping of TLS settings (cert_file and key_file at least)' },
  )
  .superRefine((tls, context) => {
    if (tls.require_client_certificate === true && tls.ca_file === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['require_client_certificate'],
        message: 'needs ca_file, the CA that client certificates must chain to',
      });
    }
    if (typeof tls.use_identity_as_username === 'string' && tls.require_client_certificate !== true) {
      context.addIssue({
        code: 'custom',
        path: ['use_identity_as_username'],
        message: 'needs require_client_certificate: true, so that every client has a verified certificate',
      });
    }
  });

/** The schema of a configuration file, as parsed from YAML. Every key is optional; unknown keys are errors. */
export const fileSchema = z.strictObject(
  {
    host: nonEmptyString('a host name or IP address').optional(),
    port: integerIn(0, 65_535, '(a TCP port; 0 picks a free one)').optional(),
    data_dir: nonEmptyString('a directory path').optional(),
    log_level: z.enum(logLevels, { error: `must be one of ${logLevels.join(', ')}` }).optional(),
    persistence: z.enum(persistenceModes, { error: `must be one of ${persistenceModes.join(', ')}` }).optional(),
    durability: z.enum(durabilityModes, { error: `must be one of ${durabilityModes.join(', ')}` }).optional(),
    shared_subscription_strategy: z
      .enum(sharedSubscriptionStrategies, { error: `must be one of ${sharedSubscriptionStrategies.join(', ')}` })
      .optional(),
    response_information_prefix: z.string({ error: 'must be a string (a topic prefix)' }).optional(),
    maximum_qos: z
      .union([z.literal(0), z.literal(1), z.literal(2)], { error: 'must be 0, 1 or 2 (a QoS level)' })
      .optional(),
    retain_available: z.boolean({ error: 'must be true or false' }).optional(),
    wildcard_subscription_available: z.boolean({ error: 'must be true or false' }).optional(),
    subscription_identifiers_available: z.boolean({ error: 'must be true or false' }).optional(),
    acl_file: nonEmptyString('a file path').optional(),
    password_file: nonEmptyString('a file path').optional(),
    allow_anonymous: z
      .union([z.boolean(), z.literal('loopback')], { error: 'must be true, false or loopback' })
      .optional(),
    limits: z.strictObject(limitsShape, { error: 'must be a mapping of limit names to values' }).optional(),
    tls: tlsSchema.optional(),
  },
  { error: 'must be a mapping of configuration keys to values' },
);

/** A configuration file's content after validation, with the file's snake_case keys. */
export type FileConfig = z.output<typeof fileSchema>;

/** A validated configuration: only the keys its source set, in BrokerOptions' camelCase. */
export interface FennecConfig {
  /** Address to listen on. */
  host?: string;
  /** TCP port; 0 picks a free one. */
  port?: number;
  /** Directory for persistent state. */
  dataDir?: string;
  /** Log level of the broker's JSON logs on stderr. */
  logLevel?: LogLevel;
  /** Where state that outlives the process is kept (stored; the SQLite store arrives in a later change). */
  persistence?: Persistence;
  /** What a committed write survives, with `persistence: sqlite`. */
  durability?: Durability;
  /** How a shared subscription group picks the member for each message. */
  sharedSubscriptionStrategy?: SharedSubscriptionStrategy;
  /** Start of the Response Information sent to 5.0 clients that ask for it; the client id follows. */
  responseInformationPrefix?: string;
  /** Highest QoS accepted from clients and granted on subscriptions. */
  maximumQos?: 0 | 1 | 2;
  /** Whether retained messages are supported. */
  retainAvailable?: boolean;
  /** Whether filters with `+` or `#` may be subscribed. */
  wildcardSubscriptionAvailable?: boolean;
  /** Whether 5.0 Subscription Identifiers are supported. */
  subscriptionIdentifiersAvailable?: boolean;
  /** ACL file (README, "Access control"): who may read and write which topics; unset: no access control. */
  aclFile?: string;
  /** Password file (`user:hash` lines, see `fennec passwd`) that authenticates clients with a user name. */
  passwordFile?: string;
  /** Who may connect without a user name: `loopback` (only on loopback addresses), true or false. */
  allowAnonymous?: AllowAnonymous;
  /** Limits, with units as in BrokerOptions. */
  limits?: ConfigLimits;
  /** The TLS listener; unset: none. */
  tls?: TlsOptions;
}

/** Maps a validated file's snake_case keys to a FennecConfig, leaving out keys it did not set. */
export function toFennecConfig(file: FileConfig): FennecConfig {
  const config: FennecConfig = {};
  if (file.host !== undefined) config.host = file.host;
  if (file.port !== undefined) config.port = file.port;
  if (file.data_dir !== undefined) config.dataDir = file.data_dir;
  if (file.log_level !== undefined) config.logLevel = file.log_level;
  if (file.persistence !== undefined) config.persistence = file.persistence;
  if (file.durability !== undefined) config.durability = file.durability;
  if (file.shared_subscription_strategy !== undefined) {
    config.sharedSubscriptionStrategy = file.shared_subscription_strategy;
  }
  if (file.response_information_prefix !== undefined) {
    config.responseInformationPrefix = file.response_information_prefix;
  }
  if (file.maximum_qos !== undefined) config.maximumQos = file.maximum_qos;
  if (file.retain_available !== undefined) config.retainAvailable = file.retain_available;
  if (file.wildcard_subscription_available !== undefined) {
    config.wildcardSubscriptionAvailable = file.wildcard_subscription_available;
  }
  if (file.subscription_identifiers_available !== undefined) {
    config.subscriptionIdentifiersAvailable = file.subscription_identifiers_available;
  }
  if (file.acl_file !== undefined) config.aclFile = file.acl_file;
  if (file.password_file !== undefined) config.passwordFile = file.password_file;
  if (file.allow_anonymous !== undefined) config.allowAnonymous = file.allow_anonymous;
  if (file.limits !== undefined) {
    const limits: ConfigLimits = {};
    for (const key of limitKeys) {
      const value = file.limits[key];
      if (value !== undefined) limits[limitSpecs[key].option] = value;
    }
    config.limits = limits;
  }
  if (file.tls !== undefined) config.tls = toTlsOptions(file.tls);
  return config;
}

function toTlsOptions(file: z.output<typeof tlsSchema>): TlsOptions {
  const tls: TlsOptions = { certFile: file.cert_file, keyFile: file.key_file };
  if (file.host !== undefined) tls.host = file.host;
  if (file.port !== undefined) tls.port = file.port;
  if (file.ca_file !== undefined) tls.caFile = file.ca_file;
  if (file.require_client_certificate !== undefined) tls.requireClientCertificate = file.require_client_certificate;
  if (file.use_identity_as_username !== undefined) tls.useIdentityAsUsername = file.use_identity_as_username;
  if (file.min_version !== undefined) tls.minVersion = file.min_version;
  if (file.ciphers !== undefined) tls.ciphers = file.ciphers;
  return tls;
}

function collectKeys(shape: Record<string, z.ZodType>, prefix: string, out: string[]): string[] {
  for (const [key, field] of Object.entries(shape)) {
    const inner = field instanceof z.ZodOptional ? field.unwrap() : field;
    if (inner instanceof z.ZodObject) collectKeys(inner.shape, `${prefix}${key}.`, out);
    else out.push(`${prefix}${key}`);
  }
  return out;
}

/** Every key the schema accepts, as dotted paths (`port`, `limits.max_queued_messages`); sections themselves are left out. */
export function configKeys(): string[] {
  return collectKeys(fileSchema.shape, '', []);
}
