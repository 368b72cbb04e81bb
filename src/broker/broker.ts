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
import type { PublishProperties, Subscription, Will } from '../protocol/index.js';
import { parseSharedSubscription, RetainedIndex, TopicIndex } from '../topic/index.js';
import type { Delivery, Message } from '../session/message.js';
import { Session, type DropReason, type SubscriptionOptions } from '../session/session.js';
import type { ConnectionState } from './connection.js';
import { Connection, type PeerInfo } from './connection.js';
import type { BrokerHooks, ClientInfo } from './hooks.js';
import { resolveOptions, type BrokerOptions, type ResolvedBrokerOptions } from './options.js';
import { deliverToGroup, route, type RouteEntry, type Subscriber } from './router.js';
import { SharedGroup, sharedGroupKey } from './shared.js';

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
  /** Deliveries dropped, by reason: a full session queue, a slow reader (QoS 0), an offline session (QoS 0), too large for the client (5.0). */
  dropped: Record<DropReason, number>;
  connectionsAccepted: number;
  protocolErrors: number;
}

export class Broker extends EventEmitter<BrokerEvents> {
  readonly options: ResolvedBrokerOptions;
  readonly hooks: BrokerHooks;
  readonly log: Logger;
  /** Every session, connected or not, by client id. */
  readonly sessions = new Map<string, Session>();
  /** The connected client of each client id. */
  readonly clients = new Map<string, Connection>();
  /** Every subscription: one entry per session and filter, and one per shared subscription group. */
  readonly subscriptions = new TopicIndex<RouteEntry>();
  readonly retained = new RetainedIndex<Message>();
  readonly counters: BrokerCounters = {
    messagesReceived: 0,
    messagesRouted: 0,
    dropped: { 'queue-full': 0, 'slow-reader': 0, 'offline-qos0': 0, 'too-large': 0 },
    connectionsAccepted: 0,
    protocolErrors: 0,
  };

  private readonly connections = new Set<Connection>();
  private server: Server | undefined;
  private closing = false;
  /** Resolves `close()` once the last connection has closed. */
  private drained: (() => void) | undefined;

  constructor(options: BrokerOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.hooks = options.hooks ?? {};
    this.log = options.logger ?? pino({ level: 'silent' });
  }

  /** Starts the TCP listener; resolves with the address it listens on. */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.server !== undefined) throw new FennecError('ERR_ALREADY_LISTENING', 'the broker is already listening');
    // Writes are batched per turn of the event loop, so Nagle's algorithm would only add delay.
    const server = createServer({ noDelay: true }, (socket: Socket) => {
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
    const connection = new Connection(this, stream, peer);
    this.counters.connectionsAccepted++;
    this.connections.add(connection);
    if (this.closing) connection.close('server shutting down');
    return connection;
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
   * [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.1.2-6] (both versions). `endsWithConnection` is 3.1.1's
   * Clean Session, or a 5.0 Session Expiry Interval of 0. Reports whether a session was present.
   */
  openSession(
    clientId: string,
    cleanStart: boolean,
    endsWithConnection: boolean,
  ): { session: Session; sessionPresent: boolean } {
    const existing = this.sessions.get(clientId);
    // A session that ends with its connection is never resumed, even while that connection is still
    // closing or being taken over: [MQTT-3.1.2-6] (3.1.1) [MQTT-4.1.0-2] (5.0, expiry 0)
    if (existing !== undefined && !cleanStart && !existing.clean) {
      existing.clean = endsWithConnection;
      return { session: existing, sessionPresent: true };
    }
    if (existing !== undefined) this.endSession(existing);
    const session = new Session(
      clientId,
      endsWithConnection,
      { maxInflightMessages: this.options.maxInflightMessages, maxQueuedMessages: this.options.maxQueuedMessages },
      this.counters.dropped,
    );
    this.sessions.set(clientId, session);
    return { session, sessionPresent: false };
  }

  /**
   * Ends a session: its subscriptions and messages are gone. Retained messages are not session state
   * [MQTT-3.1.2-7]. The session first leaves its shared subscription groups (MQTT 5.0 section 4.8.2:
   * sessions are detached when they terminate), then what it held for them goes to another member
   * (see Session.releaseSharedDeliveries).
   */
  endSession(session: Session): void {
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
    const { session, will } = connection;
    if (this.clients.get(connection.clientId) === connection) this.clients.delete(connection.clientId);
    if (session !== undefined) {
      session.detach(connection);
      if (session.clean && this.clients.get(session.clientId) === undefined) this.endSession(session);
    }
    if (connection.wasActive) {
      // [MQTT-3.1.2-8] (3.1.1): the will goes out when the connection ends without DISCONNECT;
      // [MQTT-3.1.2-16] [MQTT-3.1.2-17] with the retain flag it was given
      if (will !== undefined) {
        connection.will = undefined;
        this.publish({
          topic: will.topic,
          payload: will.payload,
          qos: will.qos,
          retain: will.retain,
          // [MQTT-3.1.3-10] (5.0): the will goes out with its properties, user properties in order
          properties: willPublishProperties(will),
          publisherId: connection.clientId,
          receivedAt: Date.now(),
        });
      }
      this.emit('clientDisconnected', connection.info);
    }
    if (this.connections.size === 0) this.drained?.();
  }

  /** Number of open network connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** The connection state of `clientId`, for tests and the admin API. */
  clientState(clientId: string): ConnectionState | undefined {
    return this.clients.get(clientId)?.state;
  }
}

/** The PUBLISH properties of a will: its Will Properties without Will Delay Interval, which is not one. */
function willPublishProperties(will: Will): PublishProperties | undefined {
  if (will.properties === undefined) return undefined;
  const { willDelayInterval: _willDelayInterval, ...properties } = will.properties;
  return properties;
}
