/**
 * The SQLite store's file format: the schema and its migrations, the encoding of MQTT 5 properties,
 * and the reading of rows back into records. See docs/persistence.md.
 */
import type Database from 'better-sqlite3';
import type { PublishProperties, QoS, RetainHandling } from '../protocol/index.js';
import type {
  DeliveryRecord,
  DeliveryState,
  SessionRecord,
  SpoolSummary,
  StoredMessage,
  StoredRetained,
  StoredState,
  StoredWill,
  SubscriptionRecord,
} from './types.js';

/**
 * Each entry takes the database from its index's version to the next; `PRAGMA user_version` holds
 * the version a file is at. Version 0 is a new, empty file.
 */
export const migrations: readonly string[] = [
  // 0 -> 1: the first schema. Booleans are 0/1; times are ms since the epoch; properties are the
  // compact JSON of encodeProperties (NULL when the message has none).
  `
  CREATE TABLE sessions (
    client_id TEXT PRIMARY KEY NOT NULL,
    expiry_interval INTEGER NOT NULL,
    disconnected_at INTEGER,
    will_topic TEXT,
    will_payload BLOB,
    will_qos INTEGER CHECK (will_qos IN (0, 1, 2)),
    will_retain INTEGER,
    will_properties TEXT,
    will_due_at INTEGER
  ) WITHOUT ROWID;
  CREATE TABLE subscriptions (
    client_id TEXT NOT NULL,
    topic_filter TEXT NOT NULL,
    qos INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
    no_local INTEGER NOT NULL,
    retain_as_published INTEGER NOT NULL,
    retain_handling INTEGER NOT NULL CHECK (retain_handling IN (0, 1, 2)),
    subscription_identifier INTEGER,
    PRIMARY KEY (client_id, topic_filter)
  ) WITHOUT ROWID;
  CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
    retain INTEGER NOT NULL,
    properties TEXT,
    publisher_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER
  );
  CREATE TABLE deliveries (
    seq INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    qos INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
    retain INTEGER NOT NULL,
    subscription_identifiers TEXT,
    shared_filter TEXT,
    state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),
    packet_id INTEGER NOT NULL CHECK (packet_id BETWEEN 0 AND 65535)
  );
  CREATE INDEX deliveries_by_client ON deliveries (client_id);
  CREATE TABLE incoming_qos2 (
    client_id TEXT NOT NULL,
    packet_id INTEGER NOT NULL CHECK (packet_id BETWEEN 1 AND 65535),
    PRIMARY KEY (client_id, packet_id)
  ) WITHOUT ROWID;
  CREATE TABLE retained (
    topic TEXT PRIMARY KEY NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL CHECK (qos IN (0, 1, 2)),
    retain INTEGER NOT NULL,
    properties TEXT,
    publisher_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER
  ) WITHOUT ROWID;
  `,
  // 1 -> 2: the spool of deliveries beyond the memory queues (sqlite-spool.ts). The unique key is
  // the read order; rows are big, so the table keeps a rowid.
  `
  CREATE TABLE spool (
    client_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    message_qos INTEGER NOT NULL CHECK (message_qos IN (0, 1, 2)),
    message_retain INTEGER NOT NULL,
    properties TEXT,
    publisher_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER,
    qos INTEGER NOT NULL CHECK (qos IN (1, 2)),
    retain INTEGER NOT NULL,
    subscription_identifiers TEXT,
    UNIQUE (client_id, n)
  );
`,
  // 2 -> 3: spooled deliveries of shared subscriptions keep their `$share/...` filter, so that when
  // their session ends they can go to another member of the group.
  `
  ALTER TABLE spool ADD COLUMN shared_filter TEXT;
`,
  // 3 -> 4: the last stream entries of a cluster node whose deliveries were committed, in rowid
  // order ('stream-committed'), so that entries read again after a crash are not delivered twice.
  `
  CREATE TABLE stream_committed (id TEXT NOT NULL);
`,
];

/** The schema version this Fennec writes and the newest it reads. */
export const SQLITE_SCHEMA_VERSION = migrations.length;

/** Reads every record of the store, in the shapes and order of StoredState. */
export function readState(db: Database.Database): StoredState {
  const sessions = (db.prepare('SELECT * FROM sessions').all() as SessionRow[]).map(sessionFromRow);
  const subscriptions = (db.prepare('SELECT * FROM subscriptions').all() as SubscriptionRow[]).map(subscriptionFromRow);
  const messages = (db.prepare('SELECT * FROM messages ORDER BY id').all() as MessageRow[]).map(
    (row): StoredMessage => ({
      id: row.id,
      ...retainedFromRow(row),
    }),
  );
  const deliveries = (db.prepare('SELECT * FROM deliveries ORDER BY seq').all() as DeliveryRow[]).map(deliveryFromRow);
  const incomingQoS2 = (
    db.prepare('SELECT client_id, packet_id FROM incoming_qos2').all() as { client_id: string; packet_id: number }[]
  ).map((row) => ({ clientId: row.client_id, packetId: row.packet_id }));
  const retained = (db.prepare('SELECT * FROM retained').all() as RetainedRow[]).map(retainedFromRow);
  const streamCommitted = (db.prepare('SELECT id FROM stream_committed ORDER BY rowid').all() as { id: string }[]).map(
    (row) => row.id,
  );
  const spools = readSpoolSummaries(db);
  return { sessions, subscriptions, messages, deliveries, incomingQoS2, retained, spools, streamCommitted };
}

/** Each session's spool in short, for `load`; the rows stay on disk. */
function readSpoolSummaries(db: Database.Database): SpoolSummary[] {
  const rows = db
    .prepare(
      'SELECT client_id, count(*) AS count, sum(length(payload)) AS bytes, min(n) AS first, max(n) AS last ' +
        'FROM spool GROUP BY client_id ORDER BY client_id',
    )
    .all() as { client_id: string; count: number; bytes: number; first: number; last: number }[];
  return rows.map((r) => ({ clientId: r.client_id, count: r.count, bytes: r.bytes, first: r.first, last: r.last }));
}

/**
 * Properties as JSON, except that a Buffer value (correlation data) becomes `{"b":"<base64>"}`:
 * the only object-valued properties are Buffers, so decoding needs no type tags. Arrays (user
 * properties as [name, value] pairs, subscription identifiers) keep their order.
 */
export function encodeProperties(properties: object | undefined): string | null {
  if (properties === undefined) return null;
  let copy: Record<string, unknown> | undefined;
  for (const [key, value] of Object.entries(properties)) {
    if (Buffer.isBuffer(value)) {
      copy ??= { ...properties };
      copy[key] = { b: value.toString('base64') };
    }
  }
  return JSON.stringify(copy ?? properties);
}

/** The inverse of encodeProperties. */
export function decodeProperties<T extends object>(text: string | null): T | undefined {
  if (text === null) return undefined;
  const properties = JSON.parse(text) as Record<string, unknown>;
  for (const [key, value] of Object.entries(properties)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      properties[key] = Buffer.from((value as { b: string }).b, 'base64');
    }
  }
  return properties as T;
}

interface SessionRow {
  client_id: string;
  expiry_interval: number;
  disconnected_at: number | null;
  will_topic: string | null;
  will_payload: Buffer | null;
  will_qos: number | null;
  will_retain: number | null;
  will_properties: string | null;
  will_due_at: number | null;
}

function sessionFromRow(row: SessionRow): SessionRecord {
  let will: StoredWill | undefined;
  if (row.will_topic !== null) {
    will = {
      topic: row.will_topic,
      payload: row.will_payload ?? Buffer.alloc(0),
      qos: row.will_qos as QoS,
      retain: row.will_retain === 1,
      properties: decodeProperties<PublishProperties & { willDelayInterval?: number }>(row.will_properties),
    };
  }
  return {
    clientId: row.client_id,
    expiryInterval: row.expiry_interval,
    disconnectedAt: row.disconnected_at ?? undefined,
    will,
    willDueAt: row.will_due_at ?? undefined,
  };
}

interface SubscriptionRow {
  client_id: string;
  topic_filter: string;
  qos: number;
  no_local: number;
  retain_as_published: number;
  retain_handling: number;
  subscription_identifier: number | null;
}

function subscriptionFromRow(row: SubscriptionRow): SubscriptionRecord {
  return {
    clientId: row.client_id,
    topicFilter: row.topic_filter,
    qos: row.qos as QoS,
    noLocal: row.no_local === 1,
    retainAsPublished: row.retain_as_published === 1,
    retainHandling: row.retain_handling as RetainHandling,
    subscriptionIdentifier: row.subscription_identifier ?? undefined,
  };
}

interface RetainedRow {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: number;
  properties: string | null;
  publisher_id: string;
  received_at: number;
  expires_at: number | null;
}

interface MessageRow extends RetainedRow {
  id: number;
}

function retainedFromRow(row: RetainedRow): StoredRetained {
  return {
    topic: row.topic,
    payload: row.payload,
    qos: row.qos as QoS,
    retain: row.retain === 1,
    properties: decodeProperties<PublishProperties>(row.properties),
    publisherId: row.publisher_id,
    receivedAt: row.received_at,
    expiresAt: row.expires_at ?? undefined,
  };
}

interface DeliveryRow {
  seq: number;
  client_id: string;
  message_id: number;
  qos: number;
  retain: number;
  subscription_identifiers: string | null;
  shared_filter: string | null;
  state: number;
  packet_id: number;
}

function deliveryFromRow(row: DeliveryRow): DeliveryRecord {
  const ids = row.subscription_identifiers;
  return {
    seq: row.seq,
    clientId: row.client_id,
    messageId: row.message_id,
    qos: row.qos as QoS,
    retain: row.retain === 1,
    subscriptionIdentifiers: ids === null ? undefined : ids === '' ? [] : ids.split(',').map(Number),
    sharedFilter: row.shared_filter ?? undefined,
    state: row.state as DeliveryState,
    packetId: row.packet_id,
  };
}
