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
  /** This node's retained messages, `$SYS` ones excepted (written back to a Redis that lost them). */
  retainedMessages?(): Message[];
  /** Clients connected to this node now (reported to the other nodes). */
  clientCount?(): number;
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

/** One node of a cluster as another sees it, for $SYS and metrics. */
export interface ClusterNodeStats {
  nodeId: string;
  /** `up`: reported within three report intervals; `silent`: not heard from since. */
  state: 'up' | 'silent';
  /** Its connected clients, as it last reported. */
  clients: number;
  /** Route filters this node knows it has (its own count for itself). */
  routes: number;
  /** When it last reported, in ms since the epoch (its clock); undefined: never. */
  reportedAt: number | undefined;
}

/** What a cluster bus shows of itself: `$SYS/broker/cluster/...` and `fennec_cluster_*` metrics. */
export interface ClusterStats {
  nodeId: string;
  /** The link to the cluster's engine (Redis): `up`, `down`, `connecting` or `closed`. */
  link: string;
  /** How long the link has been down, in ms; 0 while up. */
  linkDownMs: number;
  /** The last measured round trip to Redis, in ms; undefined before the first. */
  roundTripMs: number | undefined;
  nodes: ClusterNodeStats[];
  counters: BusCounters & {
    /** Encoded bytes of the messages forwarded (one copy per target node). */
    bytesForwarded: number;
    /** Encoded bytes of the messages received from other nodes. */
    bytesReceived: number;
    /** QoS 0 messages for other nodes dropped while too many commands waited for Redis. */
    droppedQoS0: number;
    /** QoS 1/2 PUBLISH packets refused (0x97) because Redis was unreachable too long. */
    refusedUnavailable: number;
    linkDown: number;
    linkUp: number;
    /** PINGs answered by Redis. */
    pings: number;
    /** WAIT / WAITAOF replies with fewer confirmations than asked (the wait is sent again). */
    waitsShort: number;
  };
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
  /**
   * Whether `message` needs the bus (another node routes it, or it changes a retained message) while
   * the bus has been unable to take it for longer than its limit: then a 5.0 publisher gets 0x97
   * and a 3.1.1 one waits for `available()`. Absent: never.
   */
  unavailableFor?(message: Message): boolean;
  /** Whether `message` goes through the bus (another node routes it, or it is retained); absent: always. */
  carries?(message: Message): boolean;
  /** Resolves once the bus can take messages again. */
  available?(): Promise<void>;
  /** The bus's state, for $SYS and metrics. */
  stats?(): ClusterStats;
  /** Leaves the cluster: writes what is pending, withdraws this node's routes, closes connections. */
  close(): Promise<void>;
}
