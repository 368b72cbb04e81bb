/**
 * The Bus seam (DESIGN.md): how a broker reaches the other nodes of a cluster. The broker knows only
 * these types; an implementation (src/cluster/, on Redis) is given in `BrokerOptions.bus` by whoever
 * composes the broker (the CLI), so that without a cluster nothing of it is loaded.
 */
import type { Logger } from 'pino';
import type { Message } from '../session/message.js';

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
  /** Leaves the cluster: writes what is pending, withdraws this node's routes, closes connections. */
  close(): Promise<void>;
}
