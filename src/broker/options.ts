/**
 * The broker's options: every limit with its default and unit, in one place.
 */
import type { Logger } from 'pino';
import type { QoS } from '../protocol/index.js';
import type { Store } from '../store/types.js';
import type { BrokerHooks } from './hooks.js';
import type { TlsMinVersion } from '../transport/tls.js';
import type { SharedSubscriptionStrategy } from './shared.js';

/** Values of `allowAnonymous`. */
export type AllowAnonymous = boolean | 'loopback';
/** The TLS listener (`mqtts://`), started by `listen()` next to the TCP one. */
export interface TlsOptions {
  /** Address to listen on. Default: the broker's `host`. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 8883. */
  port?: number;
  /** PEM file with the server certificate (and any intermediates after it). Required. */
  certFile: string;
  /** PEM file with the server's private key, not encrypted. Required. */
  keyFile: string;
  /** PEM file of the CA(s) client certificates must chain to; given, clients are asked for a certificate. Default: none. */
  caFile?: string;
  /** Mutual TLS: refuse, during the handshake, a client without a certificate from `caFile`'s CA. Default false. */
  requireClientCertificate?: boolean;
  /**
   * A subject field of the client certificate (e.g. `CN`) that becomes the client's username, in place of
   * the one in CONNECT; a certificate without that field gets CONNACK 0x87 (3.1.1: 0x05). Needs
   * `requireClientCertificate`. Default false: the username is the one in CONNECT.
   */
  useIdentityAsUsername?: false | string;
  /** Oldest TLS version accepted. Default `TLSv1.2`. */
  minVersion?: TlsMinVersion;
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are not affected). Default: Node's. */
  ciphers?: string;
}

/** Defaults of the TLS listener's options (its host defaults to the broker's). */
export const defaultTlsOptions = {
  /** IANA's `secure-mqtt` port. */
  port: 8883,
  requireClientCertificate: false,
  useIdentityAsUsername: false,
  minVersion: 'TLSv1.2',
} as const satisfies Partial<TlsOptions>;

/** Options of `new Broker(options)`; every field is optional. */
export interface BrokerOptions {
  /** Address to listen on. Default `127.0.0.1`. */
  host?: string;
  /** TCP port; 0 picks a free one. Default 1883. */
  port?: number;
  /** Time a new connection has to send CONNECT, in ms. Default 10,000. */
  connectTimeoutMs?: number;
  /** Largest packet accepted from a client, in bytes (fixed header included). Default 1,048,576 (1 MiB). */
  maximumPacketSize?: number;
  /** Longest client identifier accepted, in UTF-8 bytes. Default 1,024. */
  maxClientIdLength?: number;
  /** QoS 1/2 messages sent to a client and not yet acknowledged, per session. Default 1,000. */
  maxInflightMessages?: number;
  /** Messages waiting for a session (offline, or its window is full), per session; more are dropped. Default 1,000. */
  maxQueuedMessages?: number;
  /**
   * Bytes a connection's socket may hold unsent before the client counts as a slow reader:
   * QoS 0 messages to it are dropped and QoS 1/2 messages wait in its queue. Default 1,048,576 (1 MiB).
   */
  maxOutgoingBufferBytes?: number;
  /**
   * 5.0 Receive Maximum announced in CONNACK: QoS 1/2 PUBLISHes a client may have unacknowledged
   * (QoS 1 until PUBACK is sent, QoS 2 until PUBCOMP is sent); one more gets DISCONNECT 0x93.
   * Default 65,535 (the protocol's default, no limit beyond the packet-id space).
   */
  receiveMaximum?: number;
  /**
   * 5.0 Topic Alias Maximum, in aliases per connection and per direction: announced in CONNACK as
   * the most aliases a client may use, and the most the broker assigns on its side (never more
   * than the client's own maximum). 0 turns topic aliases off. Default 10.
   */
  topicAliasMaximum?: number;
  /**
   * How a shared subscription group (`$share/{ShareName}/{filter}`) picks the member for each message:
   * `round-robin` (the next member in turn that can send it at once) or `least-inflight` (the member
   * with the fewest messages in flight and queued). Either way, offline members, members whose window
   * or queue is full and slow readers are passed over while another member can take the message.
   * Default `round-robin`.
   */
  sharedSubscriptionStrategy?: SharedSubscriptionStrategy;
  /**
   * Longest Session Expiry Interval a 5.0 client may ask for, in seconds; a longer one is lowered to
   * this and CONNACK says so. 4,294,967,295 (0xFFFFFFFF, a session that never expires) by default:
   * no cap, as the standard reads and as 3.1.1 persistent sessions (which never expire) behave.
   */
  maxSessionExpiryInterval?: number;
  /**
   * Start of the Response Information a 5.0 client gets in CONNACK when it asks for it (Request
   * Response Information 1): the client id follows. Default `responses/`.
   */
  responseInformationPrefix?: string;
  /**
   * Highest QoS the broker accepts from clients and grants on subscriptions. Below 2 it is announced
   * to 5.0 clients in CONNACK; a PUBLISH above it gets DISCONNECT 0x9B (3.1.1: the connection is
   * closed), a will above it CONNACK 0x9B, and subscriptions are granted at most this QoS. Default 2.
   */
  maximumQoS?: QoS;
  /**
   * Whether retained messages are supported. When false, 5.0 CONNACK says so (Retain Available 0), a
   * retained PUBLISH gets DISCONNECT 0x9A (3.1.1: the connection is closed) and a retained will
   * CONNACK 0x9A. Default true.
   */
  retainAvailable?: boolean;
  /** Whether filters with `+` or `#` may be subscribed; when false they get SUBACK 0xA2 (3.1.1: 0x80). Default true. */
  wildcardSubscriptionAvailable?: boolean;
  /** Whether 5.0 Subscription Identifiers are supported; when false a SUBSCRIBE with one gets DISCONNECT 0xA1. Default true. */
  subscriptionIdentifiersAvailable?: boolean;
  /**
   * Keep alive the broker imposes on 5.0 clients instead of the one in their CONNECT, in seconds
   * (0 turns keep-alive off), announced as Server Keep Alive in CONNACK. Default: unset, each
   * client's own keep alive is used.
   */
  serverKeepAlive?: number;
  /**
   * Where sessions, their subscriptions and queued QoS 1/2 messages, and retained messages outlive the
   * process (see src/store). The broker restores from it in `open()` and commits to it once per turn
   * of the event loop, acknowledging QoS 1/2 messages only once they are committed. The creator of
   * the store closes it, after `broker.close()`. Default: none, everything lives in memory.
   */
  store?: Store;
  /**
   * Who may connect without a user name (anonymous clients): `'loopback'` only on connections whose
   * local address is a loopback address (127.0.0.0/8, ::1; a Duplex given to `handle()` without a
   * `localAddress` is not), `true` everywhere, `false` nowhere. A refused one gets CONNACK 0x87 (3.1.1: 5).
   * Default `'loopback'`.
   */
  allowAnonymous?: AllowAnonymous;
  /** Failed logins (CONNACK 0x86 / 0x87) from one address refused at once, per window. Default 3. */
  loginFailureFreeAttempts?: number;
  /** A failed login more than this long after the previous one from its address starts a new count, in ms. Default 60,000. */
  loginFailureWindowMs?: number;
  /** Delay of the first refusal past the free ones, in ms, doubling with each further one; 0: no delay. Default 250. */
  loginFailureFirstDelayMs?: number;
  /** Longest delay of a refused login, in ms. Default 4,000. */
  loginFailureMaxDelayMs?: number;
  /** Remote addresses whose failed logins are remembered at once; the one idle longest is forgotten first. Default 10,000. */
  loginFailureMaxAddresses?: number;
  /** A TLS listener next to the TCP one; default: none. */
  tls?: TlsOptions;
  /**
   * Open network connections the broker holds at once, in connections; 0: no limit. One more is
   * answered CONNACK 0x89 Server busy (3.1.1: return code 3, Server unavailable) and closed. Default
   * 100,000: above what one Node process serves well, and below the memory that many idle
   * connections take (about 20 KB each: some 2 GB), so a flood is refused before it exhausts memory.
   */
  maxConnections?: number;
  /**
   * Open network connections from one remote address, in connections; 0: no limit. One more is
   * answered CONNACK 0x97 Quota exceeded (3.1.1: return code 3) and closed. Default 0: clients behind
   * one NAT or load balancer share an address, so only an operator who knows the network can set it.
   */
  maxConnectionsPerAddress?: number;
  /** Payload bytes waiting in a session's queue, in bytes; more are dropped (the newest). 0: no limit. Default 16,777,216 (16 MiB). */
  maxQueuedBytes?: number;
  /**
   * Subscriptions one session may hold, in subscriptions; 0: no limit. A filter beyond it gets SUBACK
   * 0x97 Quota exceeded (3.1.1: 0x80). Default 10,000.
   */
  maxSubscriptionsPerClient?: number;
  /**
   * Longest Topic Name or Topic Filter accepted, in UTF-8 bytes. A longer PUBLISH topic gets DISCONNECT
   * 0x90 (3.1.1: a close); a longer filter SUBACK 0x8F (3.1.1: 0x80). Default 65,535 (the protocol's).
   */
  maxTopicLength?: number;
  /**
   * Most levels in a Topic Name or Topic Filter, in levels; handled as maxTopicLength. Default 128
   * (EMQX's default; the topic index recurses once per level).
   */
  maxTopicLevels?: number;
  /**
   * PUBLISH packets one connection may send, in messages per second (a token bucket holding one
   * second's worth); 0: no limit. Above it the broker stops reading the connection until it is back
   * under: nothing is lost, the client is slowed. Default 0.
   */
  maxPublishRate?: number;
  /** As maxPublishRate, in payload bytes per second; 0: no limit. Default 0. */
  maxPublishBytesRate?: number;
  /**
   * SUBSCRIBE, UNSUBSCRIBE and PINGREQ packets one connection may send, in packets per second; one
   * more within the same second gets DISCONNECT 0x97 Quota exceeded (3.1.1: a close). 0: no limit. Default 100.
   */
  maxControlPacketRate?: number;
  /**
   * Time a connection may take to send the rest of a packet it has started, in ms, whatever its keep
   * alive: a stalled partial packet (slow-loris) closes the connection. Default 60,000.
   */
  packetTimeoutMs?: number;
  /**
   * Idle time before TCP keep-alive probes start on accepted sockets, in ms, so that half-open
   * connections (peer gone without a FIN) are found even with MQTT keep alive 0; 0 turns it off.
   * Default 60,000.
   */
  tcpKeepAliveMs?: number;
  /**
   * Decisions the broker asks of the embedder (authentication, authorization): one hooks object, or
   * several whose hooks of each kind chain in this order (see docs/hooks.md); more can be added with
   * `broker.hooks.add`.
   */
  hooks?: BrokerHooks | readonly BrokerHooks[];
  /** A pino logger; default: silent. */
  logger?: Logger;
}

/** BrokerOptions with every default filled in. */
export type ResolvedBrokerOptions = Required<
  Omit<BrokerOptions, 'hooks' | 'logger' | 'serverKeepAlive' | 'store' | 'tls'>
>;

/** The defaults, documented in docs/configuration.md. */
export const defaultBrokerOptions: ResolvedBrokerOptions = {
  host: '127.0.0.1',
  port: 1883,
  connectTimeoutMs: 10_000,
  maximumPacketSize: 1_048_576,
  maxClientIdLength: 1024,
  maxInflightMessages: 1000,
  maxQueuedMessages: 1000,
  maxOutgoingBufferBytes: 1_048_576,
  receiveMaximum: 65_535,
  topicAliasMaximum: 10,
  sharedSubscriptionStrategy: 'round-robin',
  maxSessionExpiryInterval: 0xffff_ffff,
  responseInformationPrefix: 'responses/',
  maximumQoS: 2,
  retainAvailable: true,
  wildcardSubscriptionAvailable: true,
  subscriptionIdentifiersAvailable: true,
  allowAnonymous: 'loopback',
  loginFailureFreeAttempts: 3,
  loginFailureWindowMs: 60_000,
  loginFailureFirstDelayMs: 250,
  loginFailureMaxDelayMs: 4000,
  loginFailureMaxAddresses: 10_000,
  maxConnections: 100_000,
  maxConnectionsPerAddress: 0,
  maxQueuedBytes: 16_777_216,
  maxSubscriptionsPerClient: 10_000,
  maxTopicLength: 65_535,
  maxTopicLevels: 128,
  maxPublishRate: 0,
  maxPublishBytesRate: 0,
  maxControlPacketRate: 100,
  packetTimeoutMs: 60_000,
  tcpKeepAliveMs: 60_000,
};

/**
 * The limits counted in `broker.counters.limits` each time they trigger. (maxQueuedBytes, like
 * maxQueuedMessages, is a drop: counted in `broker.counters.dropped['queue-bytes-full']`.)
 */
export const limitNames = [
  'maxConnections',
  'maxConnectionsPerAddress',
  'maxSubscriptionsPerClient',
  'maxTopicLength',
  'maxTopicLevels',
  'maxPublishRate',
  'maxPublishBytesRate',
  'maxControlPacketRate',
  'packetTimeoutMs',
] as const;
/** A limit counted in `broker.counters.limits`. */
export type LimitName = (typeof limitNames)[number];

/** Fills in defaults, dropping keys given as undefined. */
export function resolveOptions(options: BrokerOptions): ResolvedBrokerOptions {
  const resolved: ResolvedBrokerOptions = { ...defaultBrokerOptions };
  for (const key of Object.keys(defaultBrokerOptions) as (keyof ResolvedBrokerOptions)[]) {
    const value = options[key];
    if (value !== undefined) (resolved as Record<string, unknown>)[key] = value;
  }
  return resolved;
}
