/**
 * The Broker: the composition root. It wires its parts together, each with one job: the listeners
 * (`listeners.ts`), connection admission (`admission.ts`), the session registry
 * (`session-registry.ts`), the will scheduler (`wills.ts`), the subscription index
 * (`subscriptions.ts`), and restoring from the store (`restore.ts`). It keeps the retained
 * messages, accepts connections (from its listeners or any Duplex given to `handle`), and routes
 * messages.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { FennecError } from '../errors/index.js';
import { ReasonCode, type Will } from '../protocol/index.js';
import { RetainedIndex, type TopicIndex, type TopicLimits } from '../topic/index.js';
import type { Message } from '../session/message.js';
import { emptyDropTally, type DropReason, type Session, type SubscriptionOptions } from '../session/session.js';
import { Admission } from './admission.js';
import { Connection, ConnectionState, type PeerInfo } from './connection.js';
import type { BrokerConnection, BrokerContext, BrokerCounters, BrokerEvents } from './context.js';
import { FailedLogins } from './failed-logins.js';
import { dispatch } from './handlers/index.js';
import { HookRegistry } from './hook-registry.js';
import { channels } from './diagnostics.js';
import { anonymousHooks } from '../auth/anonymous.js';
import { topicLimits } from './limits.js';
import { Listeners, named, type NamedListenerAddress } from './listeners.js';
import { limitKey, LimitWarnings, type LimitOptionName } from './limit-warnings.js';
import {
  limitNames,
  resolveOptions,
  type BrokerOptions,
  type LimitName,
  type ResolvedBrokerOptions,
  type TlsOptions,
} from './options.js';
import { Persistence } from './persistence.js';
import { restore } from './restore.js';
import { route, type RouteEntry } from './router.js';
import { SessionRegistry } from './session-registry.js';
import { Spool } from './spool.js';
import { Subscriptions } from './subscriptions.js';
import { Wills, type OwedWill } from './wills.js';
import { emptyTraffic } from './traffic.js';
import { SysPublisher, type SysSource } from './sys.js';
import type { Bus } from './bus.js';
import { busHost } from './bus-host.js';
import { installSessions, type HandoverParts } from './session-handover.js';

export type { BrokerCounters, BrokerEvents } from './context.js';

/** The limits that drop deliveries, by drop reason; the other reasons are the client's own limits or expiry. */
const dropLimits: Partial<Record<DropReason, LimitOptionName>> = {
  'queue-full': 'maxQueuedMessages',
  'queue-bytes-full': 'maxQueuedBytes',
  'slow-reader': 'maxOutgoingBufferBytes',
};

/** The packet handlers every connection hands its packets to. */
const handlers = { dispatch };

export class Broker extends EventEmitter<BrokerEvents> implements BrokerContext, SysSource {
  readonly options: ResolvedBrokerOptions;
  /** The registered hooks: `allowAnonymous` first, then BrokerOptions.hooks, then those added since. */
  readonly hooks: HookRegistry;
  /** The Server Keep Alive imposed on 5.0 clients, in seconds; undefined: each client's own. */
  readonly serverKeepAlive: number | undefined;
  readonly log: Logger;
  /** Writes the warn line of a limit that fired, at most once per interval per client and limit. */
  readonly limitWarnings: LimitWarnings;
  /** Writes what must outlive the process to the store; undefined when the broker has none. */
  readonly persistence: Persistence | undefined;
  /** The bus to the other nodes of a cluster; undefined for a broker alone. */
  readonly bus: Bus | undefined;
  /** The TLS listener's options; undefined: no TLS listener. */
  readonly tlsOptions: TlsOptions | undefined;
  /** Every session, connected or not, by client id (the session registry's). */
  readonly sessions: Map<string, Session>;
  /** The connected client of each client id. */
  readonly clients = new Map<string, BrokerConnection>();
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
    traffic: emptyTraffic(),
  };
  /** Failed logins by remote address, to delay refusals to addresses that keep failing. */
  readonly failedLogins: FailedLogins;
  /** Holds the QoS 1/2 messages that sessions' memory queues cannot (see spool.ts). */
  readonly spool: Spool;
  /** Publishes the `$SYS/broker/...` topics every `sysInterval` seconds once listening; `publish()` does it now. */
  readonly sys: SysPublisher;

  private readonly transports: Listeners;
  private readonly admission: Admission<BrokerConnection>;
  private readonly registry: SessionRegistry;
  private readonly wills: Wills;
  private readonly subscriptionManager: Subscriptions;
  private listening = false;
  private closing = false;
  /** Resolves once the store's state is restored; see `open()`. */
  private opened: Promise<void> | undefined;

  constructor(options: BrokerOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.serverKeepAlive = options.serverKeepAlive;
    // A listener's own allow_anonymous overrides the broker's for the clients that come through it.
    const anonymousByListener = new Map(
      named(options.listeners ?? []).flatMap(({ name, allowAnonymous }) =>
        allowAnonymous === undefined ? [] : [[name, allowAnonymous] as const],
      ),
    );
    this.hooks = new HookRegistry(anonymousHooks(this.options.allowAnonymous, anonymousByListener), options.hooks);
    this.tlsOptions = options.tls;
    this.log = options.logger ?? pino({ level: 'silent' });
    const o = this.options;
    this.limitWarnings = new LimitWarnings(this.log, o);
    this.failedLogins = new FailedLogins({
      freeAttempts: o.loginFailureFreeAttempts,
      windowMs: o.loginFailureWindowMs,
      firstDelayMs: o.loginFailureFirstDelayMs,
      maxDelayMs: o.loginFailureMaxDelayMs,
      maxAddresses: o.loginFailureMaxAddresses,
    });
    this.persistence = options.store === undefined ? undefined : new Persistence(options.store, this.log);
    this.topicLimits = topicLimits(o);
    // The indexes hold topics as deep as the validators let through.
    this.retained = new RetainedIndex<Message>({ maxLevels: o.maxTopicLevels });
    this.bus = options.bus;
    this.subscriptionManager = new Subscriptions(o, this.hooks, this.persistence, this.bus);
    this.subscriptions = this.subscriptionManager.index;
    this.wills = new Wills(
      (message) => this.publish(message),
      this.persistence,
      (session) => this.registry.isOffline(session),
      this.bus?.wills,
    );
    this.registry = new SessionRegistry(
      o,
      this.counters.dropped,
      this.persistence,
      this.subscriptionManager,
      this.wills,
      this.log,
      (session, reason) => this.deliveryDropped(session, reason),
    );
    this.sessions = this.registry.sessions;
    this.spool = new Spool(
      o,
      this.log,
      options.store === undefined ? undefined : { store: options.store, writer: this.persistence! },
      (d) => this.subscriptionManager.redeliverShared(d),
    );
    if (this.spool.enabled) this.registry.overflow = this.spool;
    this.admission = new Admission(o, this.counters.limits);
    this.transports = new Listeners(o, this.tlsOptions, options.listeners, this.log);
    this.sys = new SysPublisher(this, o.sysInterval);
    if (o.sysEvents) {
      this.on('clientConnected', (client) => this.sys.clientEvent(client, 'connected'));
      this.on('clientDisconnected', (client) => this.sys.clientEvent(client, 'disconnected'));
    }
  }

  /**
   * Restores sessions, subscriptions, queued and in-flight messages and retained messages from the
   * store, once; `listen()` calls it. Sessions and wills that expired while the broker was down end
   * now. Rejects, restoring nothing, when the store cannot be read.
   */
  open(): Promise<void> {
    const persistence = this.persistence;
    const restored =
      persistence === undefined
        ? Promise.resolve()
        : restore(persistence, {
            registry: this.registry,
            subscriptions: this.subscriptionManager,
            wills: this.wills,
            retained: this.retained,
            log: this.log,
            spool: this.spool.enabled ? this.spool : undefined,
          });
    // The node joins its cluster with its restored subscriptions, so that it announces them at once.
    const bus = this.bus;
    this.opened ??=
      bus === undefined
        ? restored
        : restored.then(() => bus.start(busHost(this, this.subscriptions, persistence, this.handoverParts())));
    return this.opened;
  }

  /**
   * Starts the listeners: those of `options.listeners`, else TCP, and TLS when `options.tls` is set.
   * Resolves with the first listener's address (TCP in the short form), and the first TLS one's as
   * `tls`; `addresses` lists them all, named. When one cannot start, none is left running: the error
   * is a FennecError (`ERR_ADDRESS_IN_USE`, `ERR_LISTEN`, `ERR_TLS_OPTIONS`, or for TLS files a
   * TlsFileError).
   */
  async listen(): Promise<{ host: string; port: number; tls?: { host: string; port: number } }> {
    await this.serve(false);
    try {
      await this.transports.start((stream, peer) => {
        this.handle(stream, peer);
      });
    } catch (err) {
      this.listening = false;
      throw err;
    }
    for (const { name, transport, host, port, path } of this.addresses) {
      this.log.info({ listener: name, transport, host, port, path }, 'listening');
    }
    this.sys.start();
    const [first] = this.addresses;
    const tls = this.addresses.find((address) => address.transport === 'tls');
    if (first === undefined) throw new FennecError('ERR_INTERNAL', 'no listener has an address');
    const address = { host: first.host, port: first.port };
    return tls === undefined ? address : { ...address, tls: { host: tls.host, port: tls.port } };
  }

  /**
   * Opens the broker (restoring from the store, joining the bus) and accepts connections given to
   * `handle()`, without starting any listener: a worker of `fennec broker --workers N` gets its
   * sockets from the primary process. `listen()` calls it before starting the listeners.
   */
  async serve(sys = true): Promise<void> {
    if (this.listening) throw new FennecError('ERR_ALREADY_LISTENING', 'the broker is already listening');
    await this.open();
    this.listening = true;
    // listen() starts $SYS only once its listeners run.
    if (sys) this.sys.start();
  }

  /** The address and name of every running listener, in configuration order (short form: TCP, then TLS). Empty before `listen()` and after `close()`. */
  get addresses(): NamedListenerAddress[] {
    return this.transports.addresses;
  }

  /**
   * Reads the certificate, key and CA files of every secure listener (mqtts, wss) again and serves new connections with them, for
   * a renewed certificate (`fennec broker` calls it on SIGHUP). Open connections stay up. Resolves
   * with the new certificate's SHA-256 fingerprint; on a bad file rejects with a TlsFileError and
   * keeps the previous credentials. Rejects with `ERR_TLS_NOT_LISTENING` when no TLS listener runs.
   */
  reloadTls(): Promise<string> {
    return this.transports.reloadTls();
  }

  /** Accepts a connection from any transport: a Duplex and what is known of the peer. */
  handle(stream: Duplex, peer: PeerInfo = {}): BrokerConnection {
    const refusal = this.admission.check(peer.remoteAddress);
    const connection = new Connection<BrokerContext>(this, stream, peer, handlers);
    this.counters.connectionsAccepted++;
    this.admission.add(connection);
    if (this.closing) {
      connection.endWith({ reason: 'server-shutdown' });
      connection.close('server shutting down');
    } else if (refusal?.flood === true) {
      connection.warnLimit(refusal.limit, `${refusal.why}; over twice the limit, closed unread`);
      connection.endWith({ reason: 'limit', limit: limitKey(refusal.limit), message: refusal.why });
      connection.close('connection flood');
      stream.destroy();
    } else if (refusal !== undefined) {
      connection.warnLimit(refusal.limit, `${refusal.why}; CONNECT will be refused`);
      connection.refusal = refusal;
    }
    return connection;
  }

  /** Stops listening, closes every connection (5.0 clients get DISCONNECT 0x8B) and resolves when done. */
  async close(): Promise<void> {
    this.closing = true;
    this.listening = false;
    this.sys.stop();
    const closed = this.transports.close();
    // The listener can report closed before the last connection has run connectionClosed, and
    // connections given to handle() are not the listener's: wait for every one of them.
    const drained = this.admission.drain();
    for (const connection of this.admission.open) {
      connection.endWith({ reason: 'server-shutdown' });
      connection.close('server shutting down', 0x8b);
    }
    await Promise.all([closed, drained]);
    // Timers end with the broker; a store keeps the sessions and delayed wills they were for.
    this.registry.cancelExpiries();
    this.wills.cancelAll();
    await this.persistence?.drain();
    await this.bus?.close();
    await this.spool.close();
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
      this.bus?.retained(message.topic, message.payload.length === 0 ? undefined : message);
    }
    // In a cluster, a shared group here delivers only when the bus chose this node for it.
    const groups = this.bus?.forward(message);
    const count = route(this.subscriptions, message, this.hooks.authorizeRead, groups);
    this.counters.messagesRouted += count;
    if (this.listenerCount('published') > 0) this.emit('published', message);
    if (channels.published.hasSubscribers) channels.published.publish({ broker: this, message, deliveries: count });
    return count;
  }

  /**
   * Publishes a message the broker makes itself ($SYS): routed like any other, and when `retain`
   * kept as the topic's retained message in memory only, never written to the store.
   */
  publishSys(topic: string, payload: string, retain: boolean): void {
    const message: Message = {
      topic,
      payload: Buffer.from(payload),
      qos: 0,
      retain,
      properties: undefined,
      publisherId: '',
      receivedAt: Date.now(),
    };
    if (retain) this.retained.set(topic, message);
    route(this.subscriptions, message, this.hooks.authorizeRead);
  }

  /** Whether the broker accepts connections: listening (so the store is open) and not closing. */
  get accepting(): boolean {
    return this.listening && !this.closing;
  }

  /** Clients whose CONNECT was accepted and whose connection is open. */
  get connectedCount(): number {
    return this.clients.size;
  }

  /** Retained messages held. */
  get retainedCount(): number {
    return this.retained.size;
  }

  /** Deletes the retained message of `topic`, if any. */
  forgetRetained(topic: string): void {
    if (this.retained.delete(topic)) this.persistence?.unretain(topic);
  }

  /** The session of `clientId`, resumed or new; see SessionRegistry.open. */
  openSession(
    clientId: string,
    cleanStart: boolean,
    expiryInterval: number,
  ): { session: Session; sessionPresent: boolean } {
    return this.registry.open(clientId, cleanStart, expiryInterval);
  }

  /**
   * In a cluster with cluster-wide sessions, claims `clientId` for this node before its CONNECT is
   * accepted, taking the session over from the node that has it (see SessionBus.claimSession) and
   * installing what moved here. Undefined (nothing to wait for) without one.
   */
  claimSession(clientId: string, gone?: () => boolean): Promise<void> | undefined {
    const sessions = this.bus?.sessions;
    if (sessions === undefined) return undefined;
    return sessions.claimSession(clientId, gone).then((state) => {
      if (state !== undefined) installSessions(this.handoverParts(), state);
    });
  }

  /**
   * In a cluster, resolves once this node has delivered what the other nodes had sent it when called
   * (see Bus.caughtUp); undefined (nothing to wait for) without one.
   */
  caughtUp(): Promise<void> | undefined {
    return this.bus?.caughtUp?.();
  }

  /** The parts that sessions moving between nodes touch (src/broker/session-handover.ts). */
  private handoverParts(): HandoverParts {
    return {
      registry: this.registry,
      subscriptions: this.subscriptionManager,
      wills: this.wills,
      retained: this.retained,
      log: this.log,
      spool: this.spool.enabled ? this.spool : undefined,
      clients: this.clients,
      persistence: this.persistence,
      authorizeRead: () => this.hooks.authorizeRead,
    };
  }

  /** Records that a connection attached to `session` with `will` (stored sessions only). */
  sessionAttached(session: Session, will: Will | undefined): void {
    this.registry.attached(session, will);
  }

  /** In a cluster, records `will` of a client connecting to `session` for the other nodes; returns the record's id. */
  recordWill(session: Session, will: Will | undefined): string | undefined {
    return this.wills.record(will, session.clientId, session);
  }

  /** Ends a session, its subscriptions and messages; see SessionRegistry.end. */
  endSession(session: Session): void {
    this.registry.end(session);
  }

  /** Adds or replaces a subscription; returns whether it existed before. See Subscriptions.add. */
  addSubscription(session: Session, topicFilter: string, options: SubscriptionOptions): boolean {
    return this.subscriptionManager.add(session, topicFilter, options);
  }

  /** Removes a subscription; returns whether it existed. */
  removeSubscription(session: Session, topicFilter: string): boolean {
    return this.subscriptionManager.remove(session, topicFilter);
  }

  /** Called by a connection once its socket has closed. */
  connectionClosed(connection: BrokerConnection): void {
    this.admission.remove(connection);
    const { session, will, clientId, willRecord } = connection;
    connection.willRecord = undefined;
    if (this.clients.get(clientId) === connection) this.clients.delete(clientId);
    // The session is over when it ends with its connection; otherwise, still offline, it expires.
    let sessionOver = false;
    if (session !== undefined) {
      session.detach(connection);
      if (this.clients.get(session.clientId) === undefined)
        sessionOver = this.registry.wentOffline(session, this.closing);
      // Nothing of it is stored: the client id is given up cluster-wide.
      if (sessionOver) this.bus?.sessions?.sessionEnded(session.clientId);
    }
    let lostWill: OwedWill | undefined;
    if (!connection.wasActive) this.wills.forget(willRecord);
    else {
      if (will !== undefined) {
        connection.will = undefined;
        const successor = this.clients.get(clientId);
        // Taken over by a client of another node: the session, and the decision on its will, moved there.
        if (connection.takenOverElsewhere !== undefined)
          this.wills.takenOverElsewhere(will, clientId, willRecord, connection.takenOverElsewhere === 'moved');
        else
          lostWill = this.wills.connectionLost(
            will,
            clientId,
            session,
            sessionOver,
            successor,
            this.closing,
            willRecord,
          );
      } else {
        // [MQTT-3.1.2-10] (5.0) [MQTT-3.14.4-3] (3.1.1): discarded by DISCONNECT, so in the cluster too
        this.wills.forget(willRecord);
      }
      this.emit('clientDisconnected', connection.info);
      if (channels.clientDisconnected.hasSubscribers) {
        channels.clientDisconnected.publish({ broker: this, client: connection.info });
      }
    }
    // A stored session left offline: when it went, for its expiry, and the will it still owes.
    if (session !== undefined && !sessionOver && session.journal !== undefined && !this.clients.has(session.clientId)) {
      this.registry.savedOffline(session, lostWill);
    }
  }

  /** A delivery to `session` was dropped: logged at warn when one of the broker's limits dropped it. */
  private deliveryDropped(session: Session, reason: DropReason): void {
    const limit = dropLimits[reason];
    if (limit === undefined) return;
    const remoteAddress = this.clients.get(session.clientId)?.peer.remoteAddress;
    this.limitWarnings.warn(limit, { clientId: session.clientId, remoteAddress }, 'message dropped');
  }

  /** Number of open network connections. */
  get connectionCount(): number {
    return this.admission.size;
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
    connection.endWith({ reason: 'redirected', reasonCode, serverReference });
    connection.close(permanent ? 'server moved' : 'use another server', reasonCode, serverReference);
    return true;
  }

  /** The connection state of `clientId`, for tests and the admin API. */
  clientState(clientId: string): ConnectionState | undefined {
    return this.clients.get(clientId)?.state;
  }
}
