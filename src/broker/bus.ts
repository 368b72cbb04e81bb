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
   * Of the shared subscription groups here, only those in `groups` (full `$share/G/F` filters, the
   * publishing node's choice) deliver it, each to one member. The sessions of the client ids in
   * `except` (plain subscriptions) had the message already, marked for them. Returns how many
   * deliveries were made.
   */
  deliverFromBus(message: Message, groups: ReadonlySet<string>, except?: ReadonlySet<string>): number;
  /**
   * Sets (`message`) or clears (undefined) the retained message of `topic`, as another node changed
   * it; with `store`, in this node's store too (workers, each with its own store), else in memory.
   */
  retainFromBus(topic: string, message: Message | undefined, store?: boolean): void;
  /** Resolves once what this node has queued so far is committed to its store (at once without one). */
  committed(): Promise<void>;
  /**
   * The stream entries `ids` delivered what this node has queued for its store so far (a node with
   * its own store): the store records them in the same commit (see `committedStreamEntries`).
   */
  streamCommitted?(ids: string[]): void;
  /** The stream entries whose deliveries the store had committed when the node started. */
  committedStreamEntries?(): ReadonlySet<string>;
  /** Reserves `count` delivery sequence numbers and message ids for sessions moved to this node. */
  reserve(count: number): ReservedNumbers;
  /**
   * Another node takes the session of `clientId` over: closes its connection here (DISCONNECT 0x8E
   * in 5.0), commits everything of the session, then forgets it without writing to the store.
   * Resolves with the ids of stored messages that no session here refers to any more.
   */
  releaseSession(clientId: string): Promise<number[]>;
  /** The topic filters of the session of `clientId` here; undefined when it has no session here. */
  subscriptionsOf?(clientId: string): string[] | undefined;
  /** Restores sessions moved to this node from the store's records, with their subscriptions and routes. */
  installSessions(state: StoredState): void;
  /**
   * Delivers messages that waited in a dead node's stream to the sessions `clientIds` only (the
   * dead node's sessions, adopted here); returns how many deliveries were made. `copies`: the
   * messages may be copies of ones a session holds (queued or in flight, by Message.originId),
   * which it does not get again.
   */
  deliverToSessions(messages: readonly Message[], clientIds: ReadonlySet<string>, copies?: boolean): number;
  /**
   * Delivers `message` to one member each of the shared groups `groups` (`$share/G/F`) that have
   * members here: a dead node's share of a group, taken over by this node. Returns the deliveries made.
   */
  deliverToGroups?(message: Message, groups: ReadonlySet<string>): number;
  /**
   * Publishes the will of a client of another node (declared dead) or of this node's previous run,
   * through the normal publish path (local subscribers, retained, the other nodes), stamped with the
   * time it goes out.
   */
  publishWill(message: Message): void;
  /** This node's retained messages, `$SYS` ones excepted (written back to a Redis that lost them). */
  retainedMessages?(): Message[];
  /** Clients connected to this node now (reported to the other nodes). */
  clientCount?(): number;
}

/**
 * Where a cluster keeps the wills of this node's clients, so that another node publishes them once
 * if this one dies. The broker decides what MQTT says (which will, which delay); the ledger keeps
 * the record and arbitrates: a will goes out only from the node that took its record.
 */
export interface WillLedger {
  /**
   * A client connected with a will: records `message` (the will as it is published) and `delayMs`
   * (its Will Delay Interval, capped by the Session Expiry Interval, in ms). Returns the record's id.
   */
  record(message: Message, delayMs: number): string;
  /** The connection of record `id` was lost: its will goes out at `dueAt` (ms since the epoch) unless dropped. */
  due(id: string, dueAt: number): void;
  /** The will of record `id` is never to be published (normal DISCONNECT, resumed within its delay). */
  drop(id: string): void;
  /** Takes record `id` from the cluster, then calls `publish`: only if no other node took it first. */
  take(id: string, publish: () => void): void;
  /**
   * The connection of record `id` was taken over by a client connecting to another node, which now
   * has the session: that node decides on the will (dropped if the session is resumed within the
   * delay [MQTT-3.1.3-9], published if it ends), so this one forgets it without a write.
   */
  handedOver(id: string): void;
  /**
   * The will of `clientId`'s last connection, when its session just moved here from another node
   * with its record: the broker now decides on it as on a will waiting out its delay here (the
   * returned `handle` is its record id). Undefined when none.
   */
  takeMoved?(clientId: string): { handle: string; message: Message; dueAt: number } | undefined;
  /**
   * A client resumed its session [MQTT-3.1.3-9] (5.0): the will its connection to this node id's
   * previous run left (which the cluster, not the store, publishes) is not to go out.
   */
  resumed(clientId: string): void;
}

/** A Bus whose sessions are one across the cluster: a client id has one session, on one node at a time. */
export interface SessionBus {
  /**
   * Claims `clientId` for this node before its CONNECT is accepted; when another live node owns the
   * session, that node hands it over first (and after a timeout it is taken anyway, the old node
   * fenced out). Resolves with the session's records when it moved here, to be installed; undefined
   * when this node already owned it or nobody did. Rejects (ERR_CLUSTER_HANDOVER) when the client
   * left (`gone`) before another node had to be asked, or forced: it may be connected there again.
   */
  claimSession(clientId: string, gone?: () => boolean): Promise<StoredState | undefined>;
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
  /** Other nodes this node declared dead (their lease expired). */
  nodesDeclaredDead: number;
  /** Wills of dead nodes' clients (or of this node's previous run) this node published. */
  deadNodeWills: number;
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
  /** Keeps the wills of this node's clients for the cluster; undefined: a bus without node liveness. */
  readonly wills?: WillLedger | undefined;
  /** Whether nothing handed to the bus is waiting for it to accept: an acknowledgement may go at once. */
  readonly idle: boolean;
  /** Joins the cluster: announces this node's routes, learns the others', starts receiving. */
  start(host: BusHost): Promise<void>;
  /**
   * Sends `message`, published on this node, to every other node with a matching route, and to one
   * node per matching shared group (docs/cluster.md#shared-subscriptions). Returns the shared groups
   * (`$share/G/F`) of this node that are to deliver it; undefined: every matching group here.
   */
  forward(message: Message): ReadonlySet<string> | undefined;
  /** Runs `fn` once everything handed to the bus so far has been accepted by it (durably). */
  afterAccepted(fn: () => void): void;
  /** This node's index gained a subscription to `filter` (a shared group: `$share/G/F`); the bus counts them. */
  routeAdded(filter: string): void;
  /** This node's index lost a subscription to `filter`. */
  routeRemoved(filter: string): void;
  /**
   * Runs `fn` once every other node knows the routes this node announced so far: SUBACK waits for
   * it, so that a message published anywhere after SUBACK reaches the new subscription. Absent: the
   * bus promises no such thing (the Redis cluster: routes reach the other nodes shortly after).
   */
  afterRoutes?(fn: () => void): void;
  /** A client of this node set (`message`) or cleared (undefined) the retained message of `topic`. */
  retained(topic: string, message: Message | undefined): void;
  /** Cluster-wide sessions; absent: each node keeps its sessions to itself. */
  readonly sessions?: SessionBus | undefined;
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
  /**
   * Resolves once this node has delivered every message the other nodes had sent it when called.
   * A client's publishes wait for the one asked as it connects, so that what it published through
   * another node before (and was acknowledged) reaches this node's subscribers first. Absent: at once.
   */
  caughtUp?(): Promise<void>;
  /** The bus's state, for $SYS and metrics. */
  stats?(): ClusterStats;
  /** Leaves the cluster: writes what is pending, withdraws this node's routes, closes connections. */
  close(): Promise<void>;
}
