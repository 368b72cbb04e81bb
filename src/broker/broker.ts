/**
 * The Broker: the composition root. It owns the sessions, the topic index and the retained
 * messages, accepts connections from its listener (or from any Duplex given to `handle`),
 * and routes messages.
 */
import { EventEmitter } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { FennecError } from '../errors/index.js';
import { ReasonCode, type PublishProperties, type Subscription, type Will } from '../protocol/index.js';
import { parseSharedSubscription, RetainedIndex, TopicIndex, type TopicLimits } from '../topic/index.js';
import { expiresAt, type Delivery, type Message } from '../session/message.js';
import {
  emptyDropTally,
  NEVER_EXPIRES,
  Session,
  type DropReason,
  type SubscriptionOptions,
} from '../session/session.js';
import { Connection, ConnectionState, type ConnectionRefusal, type PeerInfo } from './connection.js';
import type { BrokerHooks, ClientInfo } from './hooks.js';
import {
  limitNames,
  resolveOptions,
  type BrokerOptions,
  type LimitName,
  type ResolvedBrokerOptions,
} from './options.js';
import { deliverToGroup, route, type RouteEntry, type Subscriber } from './router.js';
import { SharedGroup, sharedGroupKey } from './shared.js';
import { topicLimits } from './limits.js';
import { scheduleAfter, type Scheduled } from './timers.js';

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
  /** Times each limit triggered: a connection refused or closed, a subscription refused, a client throttled. */
  limits: Record<LimitName, number>;
}

export class Broker extends EventEmitter<BrokerEvents> {
  readonly options: ResolvedBrokerOptions;
  readonly hooks: BrokerHooks;
  /** The Server Keep Alive imposed on 5.0 clients, in seconds; undefined: each client's own. */
  readonly serverKeepAlive: number | undefined;
  readonly log: Logger;
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
    limits: Object.fromEntries(limitNames.map((name) => [name, 0])) as Record<LimitName, number>,
  };

  private readonly connections = new Set<Connection>();
  /** Open connections by remote address, for maxConnectionsPerAddress. */
  private readonly connectionsByAddress = new Map<string, number>();
  /** The timer that ends each offline session with a finite Session Expiry Interval. */
  private readonly expiries = new Map<Session, Scheduled>();
  /** Wills waiting out their Will Delay Interval, by the session of the client that left them. */
  private readonly pendingWills = new Map<Session, { message: Message; timer: Scheduled }>();
  private server: Server | undefined;
  private closing = false;
  /** Resolves `close()` once the last connection has closed. */
  private drained: (() => void) | undefined;

  constructor(options: BrokerOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.serverKeepAlive = options.serverKeepAlive;
    this.hooks = options.hooks ?? {};
    this.log = options.logger ?? pino({ level: 'silent' });
    this.topicLimits = topicLimits(this.options);
    // The indexes hold topics as deep as the validators let through.
    this.subscriptions = new TopicIndex<RouteEntry>({ maxLevels: this.options.maxTopicLevels });
    this.retained = new RetainedIndex<Message>({ maxLevels: this.options.maxTopicLevels });
  }

  /** Starts the TCP listener; resolves with the address it listens on. */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.server !== undefined) throw new FennecError('ERR_ALREADY_LISTENING', 'the broker is already listening');
    // Writes are batched per turn of the event loop, so Nagle's algorithm would only add delay.
    const keepAliveMs = this.options.tcpKeepAliveMs;
    // TCP keep-alive ends half-open connections (peer gone without a FIN) even with MQTT keep alive 0.
    const server = createServer({ noDelay: true }, (socket: Socket) => {
      if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs);
      this.handle(socket, { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        this.server = undefined;
        const code = err.code === 'EADDRINUSE' ? 'ERR_ADDRESS_IN_USE' : 'ERR_LISTEN';
        reject(
          new FennecError(code, `cannot listen on ${this.options.host}:${this.options.port}: ${err.message}`, {
            cause: err,
          }),
        );
      };
      server.once('error', onError);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    this.log.info({ host: address.address, port: address.port }, 'listening');
    return { host: address.address, port: address.port };
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
    const server = this.server;
    this.server = undefined;
    const closed = server === undefined ? Promise.resolve() : new Promise<void>((r) => server.close(() => r()));
    // The listener can report closed before the last connection has run connectionClosed, and
    // connections given to handle() are not the listener's: wait for every one of them.
    const drained = this.connections.size === 0 ? Promise.resolve() : new Promise<void>((r) => (this.drained = r));
    for (const connection of this.connections) connection.close('server shutting down', 0x8b);
    await Promise.all([closed, drained]);
    // Sessions and wills live in memory: they end with the broker, and their timers with them.
    for (const timer of this.expiries.values()) timer.cancel();
    this.expiries.clear();
    for (const { timer } of this.pendingWills.values()) timer.cancel();
    this.pendingWills.clear();
  }

  /** Routes a message to every matching subscriber and updates retained messages. */
  publish(message: Message): number {
    this.counters.messagesReceived++;
    if (message.retain) {
      // [MQTT-3.3.1-10] [MQTT-3.3.1-11] (3.1.1) [MQTT-3.3.1-6] [MQTT-3.3.1-7] (5.0): an empty retained
      // payload removes the retained message and is not stored
      if (message.payload.length === 0) this.retained.delete(message.topic);
      // [MQTT-3.3.1-5] (both) store it, replacing the previous one; [MQTT-3.3.1-7] (3.1.1) QoS 0 too
      else this.retained.set(message.topic, message);
    }
    const count = route(this.subscriptions, message);
    this.counters.messagesRouted += count;
    if (this.listenerCount('published') > 0) this.emit('published', message);
    return count;
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
    const session = new Session(
      clientId,
      expiryInterval,
      {
        maxInflightMessages: this.options.maxInflightMessages,
        maxQueuedMessages: this.options.maxQueuedMessages,
        maxQueuedBytes: this.options.maxQueuedBytes,
      },
      this.counters.dropped,
    );
    this.sessions.set(clientId, session);
    return { session, sessionPresent: false };
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
    if (group instanceof SharedGroup) deliverToGroup(group, orphan.message);
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
        }
      }
      this.emit('clientDisconnected', connection.info);
    }
    if (this.connections.size === 0) this.drained?.();
  }

  /** Ends `session` once its Session Expiry Interval has passed offline [MQTT-4.1.0-2] (5.0). */
  private scheduleExpiry(session: Session): void {
    this.expiries.get(session)?.cancel();
    const timer = scheduleAfter(session.expiryInterval * 1000, () => {
      this.expiries.delete(session);
      if (this.sessions.get(session.clientId) === session && !session.online) {
        this.log.debug({ clientId: session.clientId }, 'session expired');
        this.endSession(session);
      }
    });
    this.expiries.set(session, timer);
  }

  /** Publishes `message` after `delaySeconds`, or when `session` ends first [MQTT-3.1.2-8] (5.0). */
  private delayWill(session: Session, message: Message, delaySeconds: number): void {
    this.pendingWills.get(session)?.timer.cancel();
    const timer = scheduleAfter(delaySeconds * 1000, () => {
      if (this.pendingWills.get(session)?.timer !== timer) return;
      this.pendingWills.delete(session);
      this.publishWill(message);
    });
    this.pendingWills.set(session, { message, timer });
  }

  /** Publishes a will, stamped with the time it goes out (its Message Expiry Interval starts then). */
  private publishWill(message: Message): void {
    const now = Date.now();
    message.receivedAt = now;
    message.expiresAt = expiresAt(message.properties, now);
    this.publish(message);
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
