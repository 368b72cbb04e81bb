/**
 * The Bus seam (DESIGN.md): how a broker reaches the other nodes of a cluster. The broker knows only
 * these types; an implementation (src/cluster/, on Redis) is given in `BrokerOptions.bus` by whoever
 * composes the broker (the CLI), so that without a cluster nothing of it is loaded.
 */
import type { Logger } from 'pino';
import type { Message } from '../session/message.js';
import type { StoredState } from '../store/types.js';

/** Numbers reserved for sessions moved to this node: sequences and message ids in (seq, seq + count]. */
export interface ReservedNumbers {
  seq: number;
  messageId: number;
  count: number;
}

/** What a Bus may ask of the broker it serves. */
export interface BusHost {
  readonly log: Logger;
  /**
   * Delivers a message another node forwarded to this node's matching subscribers, as a message
   * published here would be, but never forwarded again and never changing retained messages.
   * Returns how many deliveries were made.
   */
  deliverFromBus(message: Message): number;
  /** Sets (`message`) or clears (undefined) the retained message of `topic`, as another node changed it. */
  retainFromBus(topic: string, message: Message | undefined): void;
  /** Resolves once what this node has queued so far is committed to its store (at once without one). */
  committed(): Promise<void>;
  /** Reserves `count` delivery sequence numbers and message ids for sessions moved to this node. */
  reserve(count: number): ReservedNumbers;
  /**
   * Another node takes the session of `clientId` over: closes its connection here (DISCONNECT 0x8E
   * in 5.0), commits everything of the session, then forgets it without writing to the store.
   * Resolves with the ids of stored messages that no session here refers to any more.
   */
  releaseSession(clientId: string): Promise<number[]>;
  /** Restores sessions moved to this node from the store's records, with their subscriptions and routes. */
  installSessions(state: StoredState): void;
  /**
   * Delivers messages that waited in a dead node's stream to the sessions `clientIds` only (the
   * dead node's sessions, adopted here); returns how many deliveries were made.
   */
  deliverToSessions(messages: readonly Message[], clientIds: ReadonlySet<string>): number;
}

/** A Bus whose sessions are one across the cluster: a client id has one session, on one node at a time. */
export interface SessionBus {
  /**
   * Claims `clientId` for this node before its CONNECT is accepted; when another live node owns the
   * session, that node hands it over first (and after a timeout it is taken anyway, the old node
   * fenced out). Resolves with the session's records when it moved here, to be installed; undefined
   * when this node already owned it or nobody did.
   */
  claimSession(clientId: string): Promise<StoredState | undefined>;
  /** The session of `clientId` ended here with its connection: nothing of it is stored; the client id is given up. */
  sessionEnded(clientId: string): void;
}

/** Counters of a bus, for metrics and tests. */
export interface BusCounters {
  /** Messages handed to the bus for other nodes (one per target node). */
  forwarded: number;
  /** Messages received from other nodes and delivered here. */
  received: number;
  /** Messages received again (same message id) and dropped. */
  duplicates: number;
  /** Batches written to the bus (one per turn of the event loop with something to write). */
  batches: number;
  /** Batches that failed and were written again. */
  retries: number;
}

/** The broker's side of a cluster transport. */
export interface Bus {
  /** This node's id in the cluster. */
  readonly nodeId: string;
  readonly counters: BusCounters;
  /** Whether nothing handed to the bus is waiting for it to accept: an acknowledgement may go at once. */
  readonly idle: boolean;
  /** Joins the cluster: announces this node's routes, learns the others', starts receiving. */
  start(host: BusHost): Promise<void>;
  /** Sends `message`, published on this node, to every other node with a matching route. */
  forward(message: Message): void;
  /** Runs `fn` once everything handed to the bus so far has been accepted by it (durably). */
  afterAccepted(fn: () => void): void;
  /** This node's index gained a subscription to `filter` (a shared group: its plain filter); the bus counts them. */
  routeAdded(filter: string): void;
  /** This node's index lost a subscription to `filter`. */
  routeRemoved(filter: string): void;
  /** A client of this node set (`message`) or cleared (undefined) the retained message of `topic`. */
  retained(topic: string, message: Message | undefined): void;
  /** Cluster-wide sessions; absent: each node keeps its sessions to itself. */
  readonly sessions?: SessionBus | undefined;
  /** Leaves the cluster: writes what is pending, withdraws this node's routes, closes connections. */
  close(): Promise<void>;
}
