/**
 * What `connect(url, options)` accepts, the defaults, and the reconnect delay: exponential backoff
 * with full jitter above a floor, so that a broker that refuses or drops at once is never retried
 * in a tight loop.
 */
import { randomBytes } from 'node:crypto';
import type {
  ConnectProperties,
  PublishProperties,
  QoS,
  RetainHandling,
  Subscription,
  WillProperties,
} from '../protocol/index.js';
import type { ClientAuthentication } from './auth.js';
import type { OfflineStore } from './journal.js';
import type { ClientTlsOptions } from './transport.js';

/** The Will of the client: published by the broker when the client goes without DISCONNECT. */
export interface ClientWill {
  topic: string;
  payload: string | Buffer;
  qos?: QoS;
  retain?: boolean;
  /** 5.0 Will properties (Will Delay Interval, Message Expiry Interval, ...). */
  properties?: WillProperties;
}

/** How the client reconnects after the link goes down. */
export interface ReconnectOptions {
  /** Shortest wait before an attempt, in ms; default 1,000. */
  minDelayMs?: number;
  /** Longest wait before an attempt, in ms; default 30,000. */
  maxDelayMs?: number;
}

/** Options of `connect(url, options)`. */
export interface ClientOptions {
  /** The Client Identifier; `fennec-` and 16 random hex digits when absent. */
  clientId?: string;
  /** User name; overrides one written in the URL. */
  username?: string;
  /** Password; overrides one written in the URL. */
  password?: string | Buffer;
  /** 4: MQTT 3.1.1; 5: MQTT 5.0 (default). */
  protocolVersion?: 4 | 5;
  /** Clean Session (3.1.1) or Clean Start of the first CONNECT (5.0); default true. Same as `cleanStart`. */
  clean?: boolean;
  /** Alias of `clean`. */
  cleanStart?: boolean;
  /** Keep Alive, in seconds; default 60; 0: none. */
  keepAlive?: number;
  /** 5.0 Session Expiry Interval, in seconds; default 0 (the session ends with the connection). */
  sessionExpiryInterval?: number;
  /** The Will. */
  will?: ClientWill;
  /** Further 5.0 CONNECT properties (Receive Maximum, Maximum Packet Size, User Properties, ...). */
  properties?: ConnectProperties;
  /** How long an attempt may take from opening the socket to CONNACK, in ms; default 30,000. */
  connectTimeoutMs?: number;
  /** TLS options for `mqtts:` and `wss:`. */
  tls?: ClientTlsOptions;
  /** Automatic reconnect; `false` turns it off (the client closes when the link goes down). */
  reconnect?: ReconnectOptions | false;
  /** Most QoS 1/2 messages waiting to be sent (offline, or the in-flight window full); default 1,000. */
  maxQueuedMessages?: number;
  /** Most QoS 1/2 messages sent and unacknowledged at once; default 65,535 (the broker's Receive Maximum caps it). */
  maxInflightMessages?: number;
  /** Most messages one `messages()` iterator holds unread; newer ones are dropped; default 10,000. */
  maxBufferedMessages?: number;
  /**
   * Keeps the QoS 1/2 messages of the session (queued, and in flight with their packet ids) and the
   * incoming QoS 2 ids in this store, so that they survive a restart of the application: e.g.
   * `await SqliteStore.open(dir)` from `fennec-mqtt/store`. Needs `clientId`. One client per store;
   * the client does not close it.
   */
  offlineStore?: OfflineStore;
  /**
   * 5.0: send topic aliases when the broker's CONNACK allows them: `true` up to its Topic Alias
   * Maximum, a number at most that many per connection. Topics get aliases first come, first
   * served; a topic that finds them all taken goes by name. Default false.
   */
  topicAliases?: boolean | number;
  /**
   * Aborts the first connection: `connect()` rejects with ERR_CLIENT_ABORTED and the attempt is
   * closed. Once `connect()` has resolved the signal is not looked at; `end()` ends the client.
   */
  signal?: AbortSignal;
  /** 5.0 enhanced authentication: the method and its callbacks (ignored in 3.1.1). */
  authentication?: ClientAuthentication;
}

/** Options of one `publish`. */
export interface PublishOptions {
  qos?: QoS;
  retain?: boolean;
  /** 5.0 PUBLISH properties (no Topic Alias: the `topicAliases` option assigns them). */
  properties?: PublishProperties;
}

/** One filter of `subscribe`, with its options; only `topicFilter` is required. */
export interface SubscriptionRequest {
  topicFilter: string;
  /** Maximum QoS asked for; default 0. */
  qos?: QoS;
  /** 5.0: no messages this client published itself. */
  noLocal?: boolean;
  /** 5.0: keep the RETAIN flag as published. */
  retainAsPublished?: boolean;
  /** 5.0: 0 send retained messages, 1 only for a new subscription, 2 never. */
  retainHandling?: RetainHandling;
}

/** Options of a whole SUBSCRIBE. */
export interface SubscribeOptions {
  /** 5.0 Subscription Identifier and User Properties. */
  properties?: { subscriptionIdentifier?: number; userProperties?: [string, string][] };
}

/** The options with their defaults applied. */
export interface ResolvedOptions {
  clientId: string;
  protocolVersion: 4 | 5;
  clean: boolean;
  keepAlive: number;
  sessionExpiryInterval: number;
  connectTimeoutMs: number;
  reconnect: Required<ReconnectOptions> | false;
  maxQueuedMessages: number;
  maxInflightMessages: number;
  maxBufferedMessages: number;
  /** Most topic aliases the client assigns per connection (the broker's maximum caps it); 0: none. */
  topicAliases: number;
}

export function resolveOptions(options: ClientOptions): ResolvedOptions {
  const reconnect = options.reconnect;
  return {
    clientId: options.clientId ?? `fennec-${randomBytes(8).toString('hex')}`,
    protocolVersion: options.protocolVersion ?? 5,
    clean: options.clean ?? options.cleanStart ?? true,
    keepAlive: options.keepAlive ?? 60,
    sessionExpiryInterval: options.sessionExpiryInterval ?? options.properties?.sessionExpiryInterval ?? 0,
    connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
    reconnect:
      reconnect === false
        ? false
        : { minDelayMs: reconnect?.minDelayMs ?? 1_000, maxDelayMs: reconnect?.maxDelayMs ?? 30_000 },
    maxQueuedMessages: options.maxQueuedMessages ?? 1_000,
    maxInflightMessages: options.maxInflightMessages ?? 65_535,
    maxBufferedMessages: options.maxBufferedMessages ?? 10_000,
    topicAliases:
      options.topicAliases === true ? 65_535 : options.topicAliases === false ? 0 : (options.topicAliases ?? 0),
  };
}

/**
 * The wait before reconnect attempt `attempt` (0 first), in ms: uniformly random between the floor
 * `minDelayMs` and min(maxDelayMs, minDelayMs x 2^attempt), so that clients dropped together do not
 * come back together, and no attempt follows a failure at once. `random` is injected for tests.
 */
export function reconnectDelay(
  attempt: number,
  { minDelayMs, maxDelayMs }: Required<ReconnectOptions>,
  random: () => number = Math.random,
): number {
  const cap = Math.min(maxDelayMs, minDelayMs * 2 ** Math.min(attempt, 30));
  return minDelayMs + random() * Math.max(0, cap - minDelayMs);
}

/** The filters `subscribe` was given, each with its options filled in. */
export function toSubscriptions(
  filters: string | SubscriptionRequest | (string | SubscriptionRequest)[],
): Subscription[] {
  return (Array.isArray(filters) ? filters : [filters]).map((f) =>
    typeof f === 'string'
      ? { topicFilter: f, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }
      : {
          topicFilter: f.topicFilter,
          qos: f.qos ?? 0,
          noLocal: f.noLocal ?? false,
          retainAsPublished: f.retainAsPublished ?? false,
          retainHandling: f.retainHandling ?? 0,
        },
  );
}
