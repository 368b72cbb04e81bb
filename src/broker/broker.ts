/**
 * The Broker: the composition root. It owns the sessions, the topic index and the retained
 * messages, accepts connections from its listener (or from any Duplex given to `handle`),
 * and routes messages.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { FennecError } from '../errors/index.js';
import { ReasonCode, type PublishProperties, type Subscription, type Will } from '../protocol/index.js';
import { parseSharedSubscription, RetainedIndex, TopicIndex, type TopicLimits } from '../topic/index.js';
import { delivery, expiresAt, isExpired, type Delivery, type Message } from '../session/message.js';
import {
  emptyDropTally,
  NEVER_EXPIRES,
  Session,
  type DropReason,
  type SubscriptionOptions,
} from '../session/session.js';
import { Connection, ConnectionState, type ConnectionRefusal, type PeerInfo } from './connection.js';
import { FailedLogins } from './failed-logins.js';
import type { ClientInfo } from './hooks.js';
import { HookRegistry } from './hook-registry.js';
import { channels } from './diagnostics.js';
import { anonymousHooks } from '../auth/anonymous.js';
import {
  defaultTlsOptions,
  limitNames,
  resolveOptions,
  type BrokerOptions,
  type LimitName,
  type ResolvedBrokerOptions,
  type TlsOptions,
} from './options.js';
import { deliverToGroup, route, type RouteEntry, type Subscriber } from './router.js';
import { SharedGroup, sharedGroupKey } from './shared.js';
import { topicLimits } from './limits.js';
import { scheduleAfter, type Scheduled } from './timers.js';
import { Persistence, restoredMessage, storedWill } from './persistence.js';
import { DeliveryState, type SessionRecord, type StoredState } from '../store/types.js';
import type { ConnectionHandler, Listener, ListenerAddress } from '../transport/listener.js';
import { listenTcp } from '../transport/tcp.js';
import { listenTls, type TlsListener } from '../transport/tls.js';

/** Typed events of a Broker; observations only, in the past tense. */
export interface BrokerEvents {
  clientConnected: [client: ClientInfo & { sessionPresent: boolean }];
  clientDisconnected: [client: ClientInfo];
  subscribed: [client: ClientInfo, subscriptions: Subscription[]];
  unsubscribed: [client: ClientInfo, topicFilters: string[]];
  published: [message: Message];
}

/** Counters of what the broker did; exported for metrics. */
export interface BrokerCounters {
  messagesReceived: number;
  messagesRouted: number;
  /**
   * Deliveries dropped, by reason: a full session queue, a slow reader (QoS 0), an offline session
   * (QoS 0), too large for the client (5.0), a Message Expiry Interval that passed before delivery started.
   */
  dropped: Record<DropReason, number>;
  connectionsAccepted: number;
  protocolErrors: number;
  /** CONNECTs refused with 0x86 / 0x87 (3.1.1: 4 / 5): bad credentials, not authorized, anonymous refused. */
  loginFailures: number;
  /** Of those, refusals whose CONNACK was delayed because their address had failed too often. */
  loginFailuresDelayed: number;
  /** Times each limit triggered: a connection refused or closed, a subscription refused, a client throttled. */
  limits: Record<LimitName, number>;
}

export class Broker extends EventEmitter<BrokerEvents> {
  readonly options: ResolvedBrokerOptions;
  /** The registered hooks: `allowAnonymous` first, then BrokerOptions.hooks, then those added since. */
  readonly hooks: HookRegistry;
  /** The Server Keep Alive imposed on 5.0 clients, in seconds; undefined: each client's own. */
  readonly serverKeepAlive: number | undefined;
  readonly log: Logger;
  /** Writes what must outlive the process to the store; undefined when the broker has none. */
  readonly persistence: Persistence | undefined;
  /** The TLS listener's options; undefined: no TLS listener. */
  readonly tlsOptions: TlsOptions | undefined;
  /** Every session, connected or not, by client id. */
  readonly sessions = new Map<string, Session>();
  /** The connected client of each client id. */
  readonly clients = new Map<string, Connection>();
  /** Every subscription: one entry per session and filter, and one per shared subscription group. */
  readonly subscriptions: TopicIndex<RouteEntry>;
  readonly retained: RetainedIndex<Message>;
  /** maxTopicLength and maxTopicLevels, as the topic validators take them. */
  readonly topicLimits: TopicLimits;
  readonly counters: BrokerCounters = {
    messagesReceived: 0,
    messagesRouted: 0,
    dropped: emptyDropTally(),
    connectionsAccepted: 0,
    protocolErrors: 0,
    loginFailures: 0,
    loginFailuresDelayed: 0,
    limits: Object.fromEntries(limitNames.map((name) => [name, 0])) as Record<LimitName, number>,
  };
  /** Failed logins by remote address, to delay refusals to addresses that keep failing. */
  readonly failedLogins: FailedLogins;

  private readonly connections = new Set<Connection>();
  /** Open connections by remote address, for maxConnectionsPerAddress. */
  private readonly connectionsByAddress = new Map<string, number>();
  /** The timer that ends each offline session with a finite Session Expiry Interval. */
  private readonly expiries = new Map<Session, Scheduled>();
  /** Wills waiting out their Will Delay Interval, by the session of the client that left them. */
  private readonly pendingWills = new Map<Session, PendingWill>();
  private listening = false;
  /** The running listeners, TCP first. */
  private transports: Listener[] = [];
  private tlsListener: TlsListener | undefined;
  private closing = false;
  /** Resolves once the store's state is restored; see `open()`. */
  private opened: Promise<void> | undefined;
  /** Resolves `close()` once the last connection has closed. */
  private drained: (() => void) | undefined;

  constructor(options: BrokerOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.serverKeepAlive = options.serverKeepAlive;
    this.hooks = new HookRegistry(anonymousHooks(this.options.allowAnonymous), options.hooks);
    this.tlsOptions = options.tls;
    this.log = options.logger ?? pino({ level: 'silent' });
    const o = this.options;
    this.failedLogins = new FailedLogins({
      freeAttempts: o.loginFailureFreeAttempts,
      windowMs: o.loginFailureWindowMs,
      firstDelayMs: o.loginFailureFirstDelayMs,
      maxDelayMs: o.loginFailureMaxDelayMs,
      maxAddresses: o.loginFailureMaxAddresses,
    });
    this.persistence = options.store === undefined ? undefined : new Persistence(options.store, this.log);
    this.topicLimits = topicLimits(this.options);
    // The indexes hold topics as deep as the validators let through.
    this.subscriptions = new TopicIndex<RouteEntry>({ maxLevels: this.options.maxTopicLevels });
    this.retained = new RetainedIndex<Message>({ maxLevels: this.options.maxTopicLevels });
  }

  /**
   * Restores sessions, subscriptions, queued and in-flight messages and retained messages from the
   * store, once; `listen()` calls it. Sessions and wills that expired while the broker was down end
   * now. Rejects, restoring nothing, when the store cannot be read.
   */
  open(): Promise<void> {
    this.opened ??= this.restore();
    return this.opened;
  }

  /**
   * Starts the listeners: TCP, and TLS when `options.tls` is set. Resolves with the TCP address, and
   * the TLS one as `tls`; `addresses` lists them all. When one cannot start, none is left running:
   * the error is a FennecError (`ERR_ADDRESS_IN_USE`, `ERR_LISTEN`, or for TLS files a TlsFileError).
   */
  async listen(): Promise<{ host: string; port: number; tls?: { host: string; port: number } }> {
    if (this.listening) throw new FennecError('ERR_ALREADY_LISTENING', 'the broker is already listening');
    await this.open();
    this.listening = true;
    const onConnection: ConnectionHandler = (stream, peer) => {
      this.handle(stream, peer);
    };
    try {
      // TLS first: its files are read and checked before any port opens.
      const tls = this.tlsOptions;
      if (typeof tls?.useIdentityAsUsername === 'string' && tls.requireClientCertificate !== true) {
        // Otherwise a client without a certificate would keep whatever username it claims in CONNECT.
        throw new FennecError('ERR_TLS_OPTIONS', 'useIdentityAsUsername needs requireClientCertificate: true');
      }
      if (tls !== undefined) {
        this.tlsListener = await listenTls(
          {
            host: tls.host ?? this.options.host,
            port: tls.port ?? defaultTlsOptions.port,
            certFile: tls.certFile,
            keyFile: tls.keyFile,
            caFile: tls.caFile,
            requireClientCertificate: tls.requireClientCertificate ?? defaultTlsOptions.requireClientCertificate,
            minVersion: tls.minVersion ?? defaultTlsOptions.minVersion,
            ciphers: tls.ciphers,
            handshakeTimeoutMs: this.options.connectTimeoutMs,
            keepAliveMs: this.options.tcpKeepAliveMs,
          },
          onConnection,
          (err, remoteAddress) => {
            // A refused client certificate matters to whoever runs mutual TLS; a failed handshake is routine noise.
            if (err instanceof FennecError) this.log.info({ remoteAddress, err: err.message }, 'TLS client refused');
            else this.log.debug({ remoteAddress, err: err.message }, 'TLS handshake failed');
          },
        );
        this.transports.push(this.tlsListener);
      }
      this.transports.unshift(
        await listenTcp(
          { host: this.options.host, port: this.options.port, keepAliveMs: this.options.tcpKeepAliveMs },
          onConnection,
        ),
      );
    } catch (err) {
      await Promise.all(this.transports.map((listener) => listener.close()));
      this.transports = [];
      this.tlsListener = undefined;
      this.listening = false;
      throw err;
    }
    for (const { transport, host, port } of this.addresses) this.log.info({ transport, host, port }, 'listening');
    const [tcp, tls] = this.addresses;
    if (tcp === undefined) throw new FennecError('ERR_INTERNAL', 'the TCP listener has no address');
    const address = { host: tcp.host, port: tcp.port };
    return tls === undefined ? address : { ...address, tls: { host: tls.host, port: tls.port } };
  }

  /** The address of every running listener: TCP first, then TLS. Empty before `listen()` and after `close()`. */
  get addresses(): ListenerAddress[] {
    return this.transports.map((listener) => listener.address);
  }

  /**
   * Reads the TLS certificate, key and CA files again and serves new TLS connections with them, for
   * a renewed certificate (`fennec broker` calls it on SIGHUP). Open connections stay up. Resolves
   * with the new certificate's SHA-256 fingerprint; on a bad file rejects with a TlsFileError and
   * keeps the previous credentials. Rejects with `ERR_TLS_NOT_LISTENING` when no TLS listener runs.
   */
  async reloadTls(): Promise<string> {
    const listener = this.tlsListener;
    if (listener === undefined) {
      throw new FennecError(
        'ERR_TLS_NOT_LISTENING',
        'no TLS listener to reload: tls is not configured or not listening',
      );
    }
    const fingerprint256 = await listener.reload();
    this.log.info({ fingerprint256 }, 'TLS certificate reloaded');
    return fingerprint256;
  }

  /** Accepts a connection from any transport: a Duplex and what is known of the peer. */
  handle(stream: Duplex, peer: PeerInfo = {}): Connection {
    const refusal = this.admit(peer.remoteAddress);
    const connection = new Connection(this, stream, peer);
    this.counters.connectionsAccepted++;
    this.connections.add(connection);
    const address = peer.remoteAddress;
    if (address !== undefined)
      this.connectionsByAddress.set(address, (this.connectionsByAddress.get(address) ?? 0) + 1);
    if (this.closing) connection.close('server shutting down');
    else if (refusal === 'flood') {
      connection.close('connection flood');
      stream.destroy();
    } else if (refusal !== undefined) connection.refusal = refusal;
    return connection;
  }

  /**
   * Checks maxConnections and maxConnectionsPerAddress for one more connection from `address`:
   * undefined when it may proceed; the CONNACK refusal it gets when over a limit; 'flood' when over
   * twice a limit, so that a flood of sockets that never send CONNECT is closed at once, unread.
   */
  private admit(address: string | undefined): ConnectionRefusal | 'flood' | undefined {
    const { maxConnections, maxConnectionsPerAddress } = this.options;
    if (maxConnections > 0 && this.connections.size >= maxConnections) {
      this.counters.limits.maxConnections++;
      if (this.connections.size >= 2 * maxConnections) return 'flood';
      return {
        reasonCode: ReasonCode.ServerBusy,
        why: `the broker holds its maximum of ${maxConnections} connections`,
      };
    }
    const fromAddress = address === undefined ? 0 : (this.connectionsByAddress.get(address) ?? 0);
    if (maxConnectionsPerAddress > 0 && fromAddress >= maxConnectionsPerAddress) {
      this.counters.limits.maxConnectionsPerAddress++;
      if (fromAddress >= 2 * maxConnectionsPerAddress) return 'flood';
      return {
        reasonCode: ReasonCode.QuotaExceeded,
        why: `at most ${maxConnectionsPerAddress} connections from one address`,
      };
    }
    return undefined;
  }

  /** Stops listening, closes every connection (5.0 clients get DISCONNECT 0x8B) and resolves when done. */
  async close(): Promise<void> {
    this.closing = true;
    const transports = this.transports;
    this.transports = [];
    this.tlsListener = undefined;
    this.listening = false;
    const closed = Promise.all(transports.map((listener) => listener.close()));
    // The listener can report closed before the last connection has run connectionClosed, and
    // connections given to handle() are not the listener's: wait for every one of them.
    const drained = this.connections.size === 0 ? Promise.resolve() : new Promise<void>((r) => (this.drained = r));
    for (const connection of this.connections) connection.close('server shutting down', 0x8b);
    await Promise.all([closed, drained]);
    // Timers end with the broker; a store keeps the sessions and delayed wills they were for.
    for (const timer of this.expiries.values()) timer.cancel();
    this.expiries.clear();
    for (const { timer } of this.pendingWills.values()) timer.cancel();
    this.pendingWills.clear();
    await this.persistence?.drain();
  }

  /** Routes a message to every matching subscriber and updates retained messages. */
  publish(message: Message): number {
    this.counters.messagesReceived++;
    if (message.retain) {
      // [MQTT-3.3.1-10] [MQTT-3.3.1-11] (3.1.1) [MQTT-3.3.1-6] [MQTT-3.3.1-7] (5.0): an empty retained
      // payload removes the retained message and is not stored
      if (message.payload.length === 0) this.forgetRetained(message.topic);
      // [MQTT-3.3.1-5] (both) store it, replacing the previous one; [MQTT-3.3.1-7] (3.1.1) QoS 0 too
      else {
        this.retained.set(message.topic, message);
        this.persistence?.retain(message);
      }
    }
    const count = route(this.subscriptions, message, this.hooks.authorizeRead);
    this.counters.messagesRouted += count;
    if (this.listenerCount('published') > 0) this.emit('published', message);
    if (channels.published.hasSubscribers) channels.published.publish({ broker: this, message, deliveries: count });
    return count;
  }

  /** Deletes the retained message of `topic`, if any. */
  forgetRetained(topic: string): void {
    if (this.retained.delete(topic)) this.persistence?.unretain(topic);
  }

  /**
   * The session of `clientId`: resumed, or new when there is none or `cleanStart` discards it
   * [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.1.2-6] (both versions). `expiryInterval` is the Session
   * Expiry Interval in seconds: 0 for 3.1.1's Clean Session 1 and NEVER_EXPIRES for Clean Session 0.
   * Reports whether a session was present.
   */
  openSession(
    clientId: string,
    cleanStart: boolean,
    expiryInterval: number,
  ): { session: Session; sessionPresent: boolean } {
    const existing = this.sessions.get(clientId);
    // A session that ends with its connection is never resumed, even while that connection is still
    // closing or being taken over: [MQTT-3.1.2-6] (3.1.1) [MQTT-4.1.0-2] (5.0, expiry 0)
    if (existing !== undefined && !cleanStart && !existing.clean) {
      // Resumed before it expired: its expiry waits for the next disconnect
      this.expiries.get(existing)?.cancel();
      this.expiries.delete(existing);
      // [MQTT-3.1.3-9] (5.0): a new connection to the session within the Will Delay Interval: no will
      const will = this.pendingWills.get(existing);
      if (will !== undefined) {
        will.timer.cancel();
        this.pendingWills.delete(existing);
      }
      existing.expiryInterval = expiryInterval;
      return { session: existing, sessionPresent: true };
    }
    if (existing !== undefined) this.endSession(existing);
    const session = this.newSession(clientId, expiryInterval);
    // Clean sessions never touch the store; a persistent one is written from the start.
    if (expiryInterval > 0) session.journal = this.persistence;
    this.sessions.set(clientId, session);
    return { session, sessionPresent: false };
  }

  private newSession(clientId: string, expiryInterval: number): Session {
    return new Session(
      clientId,
      expiryInterval,
      {
        maxInflightMessages: this.options.maxInflightMessages,
        maxQueuedMessages: this.options.maxQueuedMessages,
        maxQueuedBytes: this.options.maxQueuedBytes,
      },
      this.counters.dropped,
    );
  }

  /** Records that a connection attached to `session` with `will` (stored sessions only). */
  sessionAttached(session: Session, will: Will | undefined): void {
    if (session.journal === undefined) return;
    this.saveSession(session, undefined, will, undefined);
  }

  private saveSession(
    session: Session,
    disconnectedAt: number | undefined,
    will: Will | undefined,
    willDueAt: number | undefined,
  ): void {
    const record: SessionRecord = {
      clientId: session.clientId,
      expiryInterval: session.expiryInterval,
      disconnectedAt,
      will: storedWill(will),
      willDueAt,
    };
    this.persistence?.saveSession(record);
  }

  /**
   * Ends a session: its subscriptions and messages are gone. Retained messages are not session state
   * [MQTT-3.1.2-7]. A will still waiting out its delay goes out now [MQTT-3.1.2-8] (5.0). The session
   * leaves its shared subscription groups (MQTT 5.0 section 4.8.2: sessions are detached when they
   * terminate), then what it held for them goes to another member (see Session.releaseSharedDeliveries).
   */
  endSession(session: Session): void {
    this.expiries.get(session)?.cancel();
    this.expiries.delete(session);
    const will = this.pendingWills.get(session);
    if (will !== undefined) {
      will.timer.cancel();
      this.pendingWills.delete(session);
      this.publishWill(will.message);
    }
    for (const filter of session.subscriptions.keys()) this.unindex(session.clientId, filter);
    session.subscriptions.clear();
    const orphans = session.releaseSharedDeliveries();
    session.clearMessages();
    if (session.journal !== undefined) {
      this.persistence?.endSession(session.clientId);
      session.journal = undefined;
    }
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    for (const orphan of orphans) this.redeliverShared(orphan);
  }

  /**
   * Adds or replaces a subscription [MQTT-3.8.4-3]; returns whether it existed before. A valid
   * `$share/{ShareName}/{filter}` makes the session a member of that group, created on first use;
   * an invalid one throws `ERR_INVALID_TOPIC_FILTER`.
   */
  addSubscription(session: Session, topicFilter: string, options: SubscriptionOptions): boolean {
    // Parsed before anything changes: an invalid shared filter throws and leaves no half-made subscription.
    const shared = parseSharedSubscription(topicFilter);
    const existed = session.subscriptions.has(topicFilter);
    session.subscriptions.set(topicFilter, options);
    if (session.journal !== undefined) this.persistence?.subscribed(session.clientId, topicFilter, options);
    const subscriber: Subscriber = { session, options };
    if (shared === undefined) {
      this.subscriptions.add(topicFilter, session.clientId, subscriber);
      return existed;
    }
    const key = sharedGroupKey(shared.shareName);
    let group = this.subscriptions.get(shared.topicFilter, key);
    if (!(group instanceof SharedGroup)) {
      group = new SharedGroup(shared.shareName, shared.topicFilter, this.options.sharedSubscriptionStrategy);
      this.subscriptions.add(shared.topicFilter, key, group);
    }
    group.add(subscriber);
    return existed;
  }

  /** Removes a subscription; returns whether it existed. */
  removeSubscription(session: Session, topicFilter: string): boolean {
    if (!session.subscriptions.delete(topicFilter)) return false;
    if (session.journal !== undefined) this.persistence?.unsubscribed(session.clientId, topicFilter);
    this.unindex(session.clientId, topicFilter);
    return true;
  }

  /** Takes the subscription of `clientId` to `topicFilter` (one the session holds) out of the index. */
  private unindex(clientId: string, topicFilter: string): void {
    const shared = parseSharedSubscription(topicFilter);
    if (shared === undefined) {
      this.subscriptions.remove(topicFilter, clientId);
      return;
    }
    const key = sharedGroupKey(shared.shareName);
    const group = this.subscriptions.get(shared.topicFilter, key);
    if (!(group instanceof SharedGroup)) return;
    group.remove(clientId);
    // A shared subscription lasts while it has at least one session (MQTT 5.0 section 4.8.2).
    if (group.size === 0) this.subscriptions.remove(shared.topicFilter, key);
  }

  /** Gives a delivery released by an ending session to another member of its group, if one is left. */
  private redeliverShared(orphan: Delivery): void {
    const shared = orphan.sharedFilter === undefined ? undefined : parseSharedSubscription(orphan.sharedFilter);
    if (shared === undefined) return;
    const group = this.subscriptions.get(shared.topicFilter, sharedGroupKey(shared.shareName));
    if (group instanceof SharedGroup) deliverToGroup(group, orphan.message, this.hooks.authorizeRead);
  }

  /** Called by a connection once its socket has closed. */
  connectionClosed(connection: Connection): void {
    this.connections.delete(connection);
    const address = connection.peer.remoteAddress;
    if (address !== undefined) {
      const count = (this.connectionsByAddress.get(address) ?? 1) - 1;
      if (count === 0) this.connectionsByAddress.delete(address);
      else this.connectionsByAddress.set(address, count);
    }
    const { session, will } = connection;
    if (this.clients.get(connection.clientId) === connection) this.clients.delete(connection.clientId);
    // The session is over when it ends with its connection; otherwise, still offline, it expires.
    let sessionOver = false;
    let pendingWill: { will: Will; dueAt: number } | undefined;
    if (session !== undefined) {
      session.detach(connection);
      if (this.clients.get(session.clientId) === undefined) {
        if (session.clean) {
          this.endSession(session);
          sessionOver = true;
        } else if (session.expiryInterval !== NEVER_EXPIRES && !this.closing) {
          this.scheduleExpiry(session);
        }
      }
    }
    if (connection.wasActive) {
      // [MQTT-3.1.2-8] (both versions): the will goes out when the connection ends without
      // DISCONNECT; [MQTT-3.1.2-16] [MQTT-3.1.2-17] (3.1.1) with the retain flag it was given
      if (will !== undefined) {
        connection.will = undefined;
        const delay = will.properties?.willDelayInterval ?? 0;
        const successor = this.clients.get(connection.clientId);
        if (delay === 0 || sessionOver) {
          this.publishWill(willMessage(will, connection.clientId));
        } else if (successor !== undefined) {
          // Taken over: [MQTT-3.1.3-9] (5.0) a connection that resumed the session within the delay
          // cancels the will; one that started clean ended the session, which sends it [MQTT-3.1.2-8]
          if (!successor.sessionPresent) this.publishWill(willMessage(will, connection.clientId));
        } else if (session !== undefined && !this.closing) {
          this.delayWill(session, willMessage(will, connection.clientId), delay);
        } else if (session?.journal !== undefined) {
          // Shutting down: the store keeps the will, which goes out after its delay once restarted.
          pendingWill = { will, dueAt: Date.now() + delay * 1000 };
        }
      }
      this.emit('clientDisconnected', connection.info);
      if (channels.clientDisconnected.hasSubscribers) {
        channels.clientDisconnected.publish({ broker: this, client: connection.info });
      }
    }
    // A stored session left offline: when it went, for its expiry, and the will it still owes.
    if (session !== undefined && !sessionOver && session.journal !== undefined && !this.clients.has(session.clientId)) {
      const delayed = this.pendingWills.get(session);
      if (delayed !== undefined) pendingWill = { will: delayed.will, dueAt: delayed.dueAt };
      this.saveSession(session, Date.now(), pendingWill?.will, pendingWill?.dueAt);
    }
    if (this.connections.size === 0) this.drained?.();
  }

  /**
   * Ends `session` once its Session Expiry Interval has passed offline [MQTT-4.1.0-2] (5.0), or after
   * `delayMs` (a session restored from the store, which has been offline for part of it).
   */
  private scheduleExpiry(session: Session, delayMs = session.expiryInterval * 1000): void {
    this.expiries.get(session)?.cancel();
    const timer = scheduleAfter(delayMs, () => {
      this.expiries.delete(session);
      if (this.sessions.get(session.clientId) === session && !session.online) {
        this.log.debug({ clientId: session.clientId }, 'session expired');
        this.endSession(session);
      }
    });
    this.expiries.set(session, timer);
  }

  /**
   * Publishes the will after `delaySeconds`, or when `session` ends first [MQTT-3.1.2-8] (5.0). `will`
   * is what the store keeps of it; `dueAt` overrides the delay for a will restored from the store.
   */
  private delayWill(
    session: Session,
    message: Message,
    delaySeconds: number,
    restored?: { will: Will; dueAt: number; disconnectedAt: number },
  ): void {
    this.pendingWills.get(session)?.timer.cancel();
    const now = Date.now();
    const due = restored?.dueAt ?? now + delaySeconds * 1000;
    const offlineSince = restored?.disconnectedAt ?? now;
    const timer = scheduleAfter(Math.max(0, due - Date.now()), () => {
      if (this.pendingWills.get(session)?.timer !== timer) return;
      this.pendingWills.delete(session);
      this.publishWill(message);
      // The store no longer owes it, if the session is still offline there.
      if (session.journal !== undefined && this.sessions.get(session.clientId) === session && !session.online) {
        this.saveSession(session, offlineSince, undefined, undefined);
      }
    });
    this.pendingWills.set(session, { message, timer, will: restored?.will ?? messageWill(message), dueAt: due });
  }

  /** Publishes a will, stamped with the time it goes out (its Message Expiry Interval starts then). */
  private publishWill(message: Message): void {
    const now = Date.now();
    message.receivedAt = now;
    message.expiresAt = expiresAt(message.properties, now);
    this.publish(message);
  }

  /** Reads the store back into memory; see `open()`. */
  private async restore(): Promise<void> {
    const persistence = this.persistence;
    if (persistence === undefined) return;
    const state = await persistence.store.load();
    const now = Date.now();
    const counts = this.restoreState(state, persistence, now);
    this.log.info({ store: persistence.store.description, ...counts }, 'restored from the store');
  }

  private restoreState(
    state: StoredState,
    persistence: Persistence,
    now: number,
  ): { sessions: number; messages: number; retained: number; expired: number } {
    let expired = 0;
    for (const stored of state.retained) {
      const message = restoredMessage(stored, 0);
      // [MQTT-3.3.2-5] (5.0): a retained message whose expiry passed while the broker was down is gone
      if (isExpired(message, now)) {
        persistence.unretain(stored.topic);
        expired++;
      } else {
        this.retained.set(stored.topic, message);
      }
    }
    const messages = new Map<number, Message>();
    let lastMessageId = 0;
    for (const stored of state.messages) {
      messages.set(stored.id, restoredMessage(stored, stored.id));
      if (stored.id > lastMessageId) lastMessageId = stored.id;
    }
    const sessions = new Map<string, Session>();
    for (const record of state.sessions) {
      const session = this.newSession(record.clientId, record.expiryInterval);
      sessions.set(record.clientId, session);
      this.sessions.set(record.clientId, session);
    }
    // The journal is attached only once everything is back: restoring writes nothing.
    for (const sub of state.subscriptions) {
      const session = sessions.get(sub.clientId);
      if (session === undefined) continue;
      const { qos, noLocal, retainAsPublished, retainHandling, subscriptionIdentifier } = sub;
      const options = { qos, noLocal, retainAsPublished, retainHandling, subscriptionIdentifier };
      try {
        this.addSubscription(session, sub.topicFilter, options);
      } catch (err) {
        this.log.warn({ clientId: sub.clientId, topicFilter: sub.topicFilter, err }, 'stored subscription dropped');
        persistence.unsubscribed(sub.clientId, sub.topicFilter);
      }
    }
    let lastSeq = 0;
    for (const record of state.deliveries) {
      if (record.seq > lastSeq) lastSeq = record.seq;
      const session = sessions.get(record.clientId);
      const message = messages.get(record.messageId);
      if (session === undefined || message === undefined) {
        persistence.forgetDelivery(record.seq);
        continue;
      }
      const d = delivery(message, record.qos, record.retain, record.subscriptionIdentifiers, record.sharedFilter);
      d.seq = record.seq;
      message.storeRefs = (message.storeRefs ?? 0) + 1;
      session.restore(
        d,
        record.state === DeliveryState.Queued ? 0 : record.packetId,
        record.state === DeliveryState.Released,
      );
    }
    for (const { clientId, packetId } of state.incomingQoS2) sessions.get(clientId)?.incomingQoS2.add(packetId);
    for (const [id, message] of messages) if (message.storeRefs === 0) persistence.forgetMessage(id);
    persistence.resumeSequences(lastSeq, lastMessageId);
    // Then time: what expired while the broker was down ends now, in the order it would have.
    const wills: Message[] = [];
    for (const record of state.sessions) {
      const session = sessions.get(record.clientId)!;
      session.journal = persistence;
      // A session whose connection died with the broker went offline now; the will of that
      // connection is owed as if the connection had just been lost [MQTT-3.1.2-8].
      const disconnectedAt = record.disconnectedAt ?? now;
      let will = record.will;
      let willDueAt = record.willDueAt;
      if (record.disconnectedAt === undefined && will !== undefined) {
        willDueAt = now + (will.properties?.willDelayInterval ?? 0) * 1000;
      }
      const expiresAt =
        record.expiryInterval === NEVER_EXPIRES ? Infinity : disconnectedAt + record.expiryInterval * 1000;
      if (will !== undefined && willDueAt !== undefined && (willDueAt <= now || expiresAt <= now)) {
        wills.push(willMessage(will, record.clientId));
        will = undefined;
        willDueAt = undefined;
      }
      if (expiresAt <= now) {
        this.endSession(session);
        expired++;
        continue;
      }
      if (will !== undefined && willDueAt !== undefined) {
        this.delayWill(session, willMessage(will, record.clientId), 0, { will, dueAt: willDueAt, disconnectedAt });
      } else {
        will = undefined;
        willDueAt = undefined;
      }
      if (expiresAt !== Infinity) this.scheduleExpiry(session, expiresAt - now);
      this.saveSession(session, disconnectedAt, will, willDueAt);
    }
    for (const message of wills) this.publishWill(message);
    return { sessions: this.sessions.size, messages: messages.size, retained: this.retained.size, expired };
  }

  /** Number of open network connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Sends the connected 5.0 client `clientId` elsewhere (MQTT 5.0 section 4.11): DISCONNECT 0x9D
   * (Server moved) when `permanent`, else 0x9C (Use another server), with `serverReference`, then
   * closes its connection. Returns false, doing nothing, when the client is not connected or is a
   * 3.1 / 3.1.1 client, which cannot be told.
   */
  redirect(clientId: string, serverReference: string, permanent: boolean): boolean {
    const connection = this.clients.get(clientId);
    if (connection === undefined || connection.version !== 5 || connection.state !== ConnectionState.Active) {
      return false;
    }
    const reasonCode = permanent ? ReasonCode.ServerMoved : ReasonCode.UseAnotherServer;
    connection.close(permanent ? 'server moved' : 'use another server', reasonCode, serverReference);
    return true;
  }

  /** The connection state of `clientId`, for tests and the admin API. */
  clientState(clientId: string): ConnectionState | undefined {
    return this.clients.get(clientId)?.state;
  }
}

/** A will waiting out its Will Delay Interval. */
interface PendingWill {
  message: Message;
  timer: Scheduled;
  /** The will as the store keeps it. */
  will: Will;
  /** When it goes out, ms since the epoch. */
  dueAt: number;
}

/** The Will a will message was made from, for the store. */
function messageWill(message: Message): Will {
  return {
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain,
    properties: message.properties,
  };
}

/** The message a will becomes; `publishWill` stamps its times. */
function willMessage(will: Will, clientId: string): Message {
  return {
    topic: will.topic,
    payload: will.payload,
    qos: will.qos,
    retain: will.retain,
    // [MQTT-3.1.3-10] (5.0): the will goes out with its properties, user properties in order
    properties: willPublishProperties(will),
    publisherId: clientId,
    receivedAt: 0,
  };
}

/** The PUBLISH properties of a will: its Will Properties without Will Delay Interval, which is not one. */
function willPublishProperties(will: Will): PublishProperties | undefined {
  if (will.properties === undefined) return undefined;
  const { willDelayInterval: _willDelayInterval, ...properties } = will.properties;
  return properties;
}
