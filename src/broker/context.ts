/**
 * What the handlers and each connection may use of the Broker: its options, counters, log, store
 * journal, hooks, session and subscription operations and events. The Broker implements it; the
 * handlers see the Broker only through it, so that they, the Connection and the Broker import one
 * way: broker -> handlers -> context -> connection.
 */
import type { Logger } from 'pino';
import type { Subscription, Will } from '../protocol/index.js';
import type { RetainedIndex, TopicLimits } from '../topic/index.js';
import type { Message } from '../session/message.js';
import type { DropReason, Session, SubscriptionOptions } from '../session/session.js';
import type { Connection, ConnectionHost } from './connection.js';
import type { FailedLogins } from './failed-logins.js';
import type { HookRegistry } from './hook-registry.js';
import type { ClientInfo } from './hooks.js';
import type { LimitName, ResolvedBrokerOptions, TlsOptions } from './options.js';
import type { Persistence } from './persistence.js';
import type { Spool } from './spool.js';
import type { Bus } from './bus.js';
import type { TrafficCounters } from './traffic.js';

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
  /** Packets, bytes and PUBLISH packets by QoS, in and out, counted by the connections. */
  traffic: TrafficCounters;
}

/** A connection of a Broker, as the handlers see it. */
export type BrokerConnection = Connection<BrokerContext>;

/** The Broker as its handlers and connections use it. */
export interface BrokerContext extends ConnectionHost {
  readonly options: ResolvedBrokerOptions;
  /** The registered hooks, by kind, in registration order. */
  readonly hooks: HookRegistry;
  /** The Server Keep Alive imposed on 5.0 clients, in seconds; undefined: each client's own. */
  readonly serverKeepAlive: number | undefined;
  readonly log: Logger;
  readonly persistence: Persistence | undefined;
  readonly spool: Spool;
  /** The bus to the other nodes of a cluster; undefined for a broker alone. */
  readonly bus: Bus | undefined;
  readonly tlsOptions: TlsOptions | undefined;
  readonly counters: BrokerCounters;
  readonly topicLimits: TopicLimits;
  readonly failedLogins: FailedLogins;
  /** Every session, connected or not, by client id. */
  readonly sessions: ReadonlyMap<string, Session>;
  /** The connected client of each client id. */
  readonly clients: Map<string, BrokerConnection>;
  readonly retained: RetainedIndex<Message>;
  publish(message: Message): number;
  forgetRetained(topic: string): void;
  openSession(
    clientId: string,
    cleanStart: boolean,
    expiryInterval: number,
  ): { session: Session; sessionPresent: boolean };
  sessionAttached(session: Session, will: Will | undefined): void;
  /**
   * Claims `clientId` cluster-wide before its CONNECT is accepted; undefined: nothing to wait for.
   * `gone`: whether the connection closed meanwhile (the claim then asks nobody more, forces nothing).
   */
  claimSession(clientId: string, gone?: () => boolean): Promise<void> | undefined;
  /** In a cluster, resolves once this node delivered what other nodes had sent it when called; undefined: at once. */
  caughtUp(): Promise<void> | undefined;
  /** In a cluster, records `will` of a client connecting to `session` for the other nodes; returns the record's id. */
  recordWill(session: Session, will: Will | undefined): string | undefined;
  addSubscription(session: Session, topicFilter: string, options: SubscriptionOptions): boolean;
  removeSubscription(session: Session, topicFilter: string): boolean;
  emit<K extends keyof BrokerEvents>(event: K, ...args: BrokerEvents[K]): boolean;
}
