/**
 * The Store seam: what must outlive the broker process. The broker keeps its working state in
 * memory and writes every change a restart needs as an ordered batch of operations, one batch per
 * turn of the event loop; `commit` resolves once the batch is durable, and only then does the broker
 * acknowledge the QoS 1/2 messages and subscriptions the batch holds. `load` reads it all back at start.
 *
 * Records are plain data (no class instances, no packets), so that any store (memory, SQLite, Redis)
 * can hold them. Clean sessions and QoS 0 deliveries never become records.
 */
import type { PublishProperties, QoS, RetainHandling, WillProperties } from '../protocol/index.js';

/** The schema version of the records below; a store written by a newer version is refused. */
export const RECORD_VERSION = 1;

/** An application message as stored: once, however many sessions it waits for. */
export interface StoredMessage {
  /** Unique and increasing within a store; assigned by the broker. */
  id: number;
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 properties to forward, or undefined. */
  properties: PublishProperties | undefined;
  publisherId: string;
  /** When the broker received it, ms since the epoch. */
  receivedAt: number;
  /** When its Message Expiry Interval runs out, ms since the epoch; undefined: never. */
  expiresAt: number | undefined;
  /** Its cluster id (Message.originId), kept by the stores of a cluster's nodes; absent elsewhere. */
  originId?: string;
}

/** A retained message: the last retained PUBLISH of its topic. Its `id` is not meaningful. */
export type StoredRetained = Omit<StoredMessage, 'id'>;

/** A will as stored with its session. */
export interface StoredWill {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** Will properties, Will Delay Interval included (seconds). */
  properties: WillProperties | undefined;
}

/** A persistent session (Session Expiry Interval above 0). */
export interface SessionRecord {
  clientId: string;
  /** Session Expiry Interval, seconds; 0xFFFFFFFF never expires. */
  expiryInterval: number;
  /** When its last connection closed, ms since the epoch; undefined while a connection is attached. */
  disconnectedAt: number | undefined;
  /**
   * The will of the connection attached (published if the broker dies with it), or, when
   * `willDueAt` is set, a will waiting out its Will Delay Interval.
   */
  will: StoredWill | undefined;
  /** When a delayed will goes out, ms since the epoch; undefined when no will is waiting. */
  willDueAt: number | undefined;
}

/** A subscription of a persistent session. */
export interface SubscriptionRecord {
  clientId: string;
  topicFilter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: RetainHandling;
  subscriptionIdentifier: number | undefined;
}

/** Where an outgoing QoS 1/2 delivery stands. */
export const DeliveryState = {
  /** Waiting in the session's queue; no packet id yet. */
  Queued: 0,
  /** PUBLISH sent with `packetId`; PUBACK or PUBREC awaited. */
  Published: 1,
  /** QoS 2: PUBREC received and PUBREL sent for `packetId`; PUBCOMP awaited. */
  Released: 2,
} as const;
export type DeliveryState = (typeof DeliveryState)[keyof typeof DeliveryState];

/** One message on its way to one persistent session. */
export interface DeliveryRecord {
  /** Unique and increasing within a store: a session's deliveries in `seq` order are its queue order. */
  seq: number;
  clientId: string;
  messageId: number;
  qos: QoS;
  retain: boolean;
  subscriptionIdentifiers: number[] | undefined;
  /** The `$share/...` filter it was chosen for, or undefined. */
  sharedFilter: string | undefined;
  state: DeliveryState;
  /** Packet identifier once published; 0 while queued. */
  packetId: number;
}

/** One change; a batch applies its operations in order. */
export type StoreOp =
  /** Creates or replaces a session record (its subscriptions and deliveries stay). */
  | { op: 'session'; record: SessionRecord }
  /** Deletes a session with its subscriptions, deliveries and incoming QoS 2 ids. */
  | { op: 'end-session'; clientId: string }
  | { op: 'subscribe'; record: SubscriptionRecord }
  | { op: 'unsubscribe'; clientId: string; topicFilter: string }
  | { op: 'message'; message: StoredMessage }
  /** Deletes a message no delivery refers to any more. */
  | { op: 'forget-message'; id: number }
  | { op: 'enqueue'; record: DeliveryRecord }
  /** Sets the state and packet id of a delivery. */
  | { op: 'delivery-state'; seq: number; state: DeliveryState; packetId: number }
  /** Deletes a delivery: acknowledged, expired, or handed to another session. */
  | { op: 'complete'; seq: number }
  /** A QoS 2 PUBLISH from the client was received and PUBREC sent; PUBREL awaited [MQTT-4.3.3-2]. */
  | { op: 'qos2-received'; clientId: string; packetId: number }
  | { op: 'qos2-released'; clientId: string; packetId: number }
  /** Sets the retained message of its topic. */
  | { op: 'retain'; message: StoredRetained }
  | { op: 'unretain'; topic: string }
  /** Appends a delivery to its session's spool (see SpoolRecord). */
  | { op: 'spool'; record: SpoolRecord }
  /** Deletes the spooled deliveries of `clientId` numbered `through` and below: read back, or dropped. */
  | { op: 'unspool'; clientId: string; through: number }
  /** Deletes every spooled delivery of `clientId` (also done by `end-session`). */
  | { op: 'clear-spool'; clientId: string }
  /**
   * Gives every spooled delivery of `clientId` to the key `to` (never a client id: it starts with
   * U+0000), numbers kept: an ending session's spooled deliveries of shared subscriptions wait there
   * to go to other members of their groups.
   */
  | { op: 'move-spool'; clientId: string; to: string }
  /**
   * A cluster node with its own store (`cluster.sessions: local`): the entries `ids` of its Redis
   * stream, whose deliveries this batch commits. Read again after a crash that came before their
   * acknowledgement reached Redis, they are not delivered twice. A store keeps the last
   * STREAM_ENTRIES_KEPT of them.
   */
  | { op: 'stream-committed'; ids: string[] };

/** How many committed stream entry ids a store keeps: far more than a node has unacknowledged at once. */
export const STREAM_ENTRIES_KEPT = 10_000;

/** The store operations of the spool (src/broker/spool.ts). */
export type SpoolOp = Extract<StoreOp, { op: 'spool' | 'unspool' | 'clear-spool' | 'move-spool' }>;

/**
 * A QoS 1/2 delivery spooled to disk beyond its session's memory queue, its message inline (a copy
 * per session: a spooled row is read back alone). Spooled deliveries come after every delivery of
 * the session in `deliveries`, and are never part of `load`: the broker reads them back in batches
 * with `readSpool` as the subscriber drains, so memory holds none of a backlog.
 */
export interface SpoolRecord {
  clientId: string;
  /** Its place in the session's spool: 1, 2, 3... with no gaps; rows leave from the front only. */
  n: number;
  message: StoredRetained;
  /** Delivery QoS (1 or 2), RETAIN flag and subscription identifiers, as for a DeliveryRecord. */
  qos: QoS;
  retain: boolean;
  subscriptionIdentifiers: number[] | undefined;
  /** The `$share/...` filter it was chosen for, or undefined (as for a DeliveryRecord). */
  sharedFilter: string | undefined;
}

/** What `load` says of one session's spool; the rows themselves stay on disk. */
export interface SpoolSummary {
  clientId: string;
  count: number;
  /** Payload bytes of its rows. */
  bytes: number;
  /** Lowest and highest `n`. */
  first: number;
  last: number;
}

/** Everything a store holds, as `load` returns it. */
export interface StoredState {
  sessions: SessionRecord[];
  subscriptions: SubscriptionRecord[];
  messages: StoredMessage[];
  /** In `seq` order. */
  deliveries: DeliveryRecord[];
  incomingQoS2: { clientId: string; packetId: number }[];
  retained: StoredRetained[];
  /** Each session's spool, by client id; absent from stores that cannot spool. */
  spools?: SpoolSummary[];
  /** The last stream entries whose deliveries were committed ('stream-committed'), oldest first; absent: none. */
  streamCommitted?: string[];
  /**
   * The cluster ids of the messages each session completed lately, newest first (Store.noteCompleted);
   * absent: the store keeps none.
   */
  completed?: { clientId: string; originIds: string[] }[];
}

/** A StoredState holding nothing, to fill. */
export function emptyStoredState(): StoredState {
  return { sessions: [], subscriptions: [], messages: [], deliveries: [], incomingQoS2: [], retained: [] };
}

/** What outlives the process. Implementations: MemoryStore, SqliteStore; all pass test/conformance. */
export interface Store {
  /** A short description for logs, e.g. the database file. */
  readonly description: string;
  /** Reads everything; called once, before any commit. Throws a FennecError when the data cannot be trusted. */
  load(): Promise<StoredState>;
  /**
   * Applies `ops` in order, all or nothing; resolves once they are durable. A rejected commit changed
   * nothing, and may be retried with the same operations.
   */
  commit(ops: readonly StoreOp[]): Promise<void>;
  /** Releases files and handles; the store is not used afterwards. */
  close(): Promise<void>;
  /**
   * The committed spooled deliveries of `clientId` from `n = from` on, in `n` order, at most `limit`.
   * Optional: a store without it cannot spool, and the broker keeps queues in memory only.
   */
  readSpool?(clientId: string, from: number, limit: number): Promise<SpoolRecord[]>;
  /**
   * The `n` and payload size (bytes) of the committed spooled deliveries of `clientId` from `n = from`
   * on, in `n` order, at most `limit`; synchronous, a small read of an index, so that `drop_oldest`
   * frees exactly what it drops. A store spools only when it has both this and `readSpool`.
   */
  spoolSizes?(clientId: string, from: number, limit: number): { n: number; bytes: number }[];
  /**
   * Keeps, with the next commit, that the session of `clientId` completed the message of cluster id
   * `originId` (StoredState.completed), for a while and up to a number per session. Optional: only a
   * store whose sessions move between nodes (Redis) needs it.
   */
  noteCompleted?(clientId: string, originId: string): void;
}
