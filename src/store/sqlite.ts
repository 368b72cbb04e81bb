/**
 * A Store in one SQLite file, `<dataDir>/fennec.db`, through better-sqlite3. The broker commits one
 * batch of operations per turn of the event loop; each batch is one transaction of prepared
 * statements, so a crash leaves either all of a batch or none of it. See docs/persistence.md.
 *
 *   const store = await SqliteStore.open('data', { durability: 'process' });
 *   const state = await store.load();
 *
 * `open` does everything that can refuse the file (lock, schema version, integrity check,
 * migrations); `load` only reads.
 */
import { mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { FennecError } from '../errors/index.js';
import type { PublishProperties, QoS, RetainHandling } from '../protocol/index.js';
import type {
  DeliveryRecord,
  DeliveryState,
  SessionRecord,
  Store,
  StoredMessage,
  StoredRetained,
  StoredState,
  StoredWill,
  StoreOp,
  SubscriptionRecord,
} from './types.js';

/** How much of a committed batch survives what. */
export type Durability = 'process' | 'power';

export interface SqliteStoreOptions {
  /**
   * `process` (default): a committed batch survives the broker process dying (SQLite
   * `synchronous = NORMAL` in WAL mode: the WAL is written, not flushed to the disk, at each commit).
   * `power`: it also survives power loss or an OS crash (`synchronous = FULL`: an fsync per commit).
   */
  durability?: Durability;
  /**
   * Largest size of the database file, in bytes (rounded down to whole pages); a commit that
   * would pass it fails with ERR_STORE_FULL like a full disk. Undefined: SQLite's limit only.
   */
  maxDatabaseBytes?: number | undefined;
}

/** The file a store keeps in its data directory. */
export const SQLITE_FILE_NAME = 'fennec.db';

/**
 * Each entry takes the database from its index's version to the next; `PRAGMA user_version` holds
 * the version a file is at. Version 0 is a new, empty file.
 */
const migrations: readonly string[] = [
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
];

/** Commits between two looks at the free pages of the file. */
export const COMMITS_PER_VACUUM_CHECK = 256;
/** Free pages kept for later commits to reuse (4 MiB of 4 KiB pages); the surplus goes back to the disk. */
export const FREE_PAGES_KEPT = 1024;
/** Most pages given back per look, so that one commit never pays for a whole drained backlog. */
export const PAGES_PER_VACUUM_STEP = 512;

/** The schema version this Fennec writes and the newest it reads. */
export const SQLITE_SCHEMA_VERSION = migrations.length;

/** The prepared statements of every operation, prepared once at open. */
interface Statements {
  putSession: Database.Statement;
  deleteSession: Database.Statement;
  deleteSubscriptionsOf: Database.Statement;
  deleteDeliveriesOf: Database.Statement;
  deleteIncomingOf: Database.Statement;
  putSubscription: Database.Statement;
  deleteSubscription: Database.Statement;
  putMessage: Database.Statement;
  deleteMessage: Database.Statement;
  putDelivery: Database.Statement;
  setDeliveryState: Database.Statement;
  deleteDelivery: Database.Statement;
  putIncoming: Database.Statement;
  deleteIncoming: Database.Statement;
  putRetained: Database.Statement;
  deleteRetained: Database.Statement;
}

export class SqliteStore implements Store {
  readonly description: string;
  /** The database file, absolute. */
  readonly file: string;
  private readonly db: Database.Database;
  private readonly statements: Statements;
  private readonly applyBatch: (ops: readonly StoreOp[]) => void;
  private readonly pageCount: Database.Statement;
  private readonly freePageCount: Database.Statement;
  private readonly pageSize: number;
  private commitsSinceVacuumCheck = 0;

  private constructor(file: string, db: Database.Database) {
    this.file = file;
    this.description = `sqlite ${file}`;
    this.db = db;
    this.statements = prepareStatements(db);
    const statements = this.statements;
    this.applyBatch = db.transaction((ops: readonly StoreOp[]) => {
      for (const op of ops) apply(statements, op);
    });
    this.pageCount = db.prepare('PRAGMA page_count').pluck();
    this.freePageCount = db.prepare('PRAGMA freelist_count').pluck();
    this.pageSize = db.pragma('page_size', { simple: true }) as number;
  }

  /**
   * Opens (creating it if missing) the store of `dataDir`, takes its lock, checks its integrity and
   * schema version and migrates an older file forward. Throws a FennecError: ERR_STORE_OPEN,
   * ERR_STORE_LOCKED, ERR_STORE_CORRUPT or ERR_STORE_SCHEMA_NEWER.
   */
  static open(dataDir: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    try {
      return Promise.resolve(SqliteStore.openSync(dataDir, options));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private static openSync(dataDir: string, options: SqliteStoreOptions): SqliteStore {
    const dir = resolve(dataDir);
    const file = join(dir, SQLITE_FILE_NAME);
    try {
      mkdirSync(dir, { recursive: true });
      if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
    } catch (error) {
      throw openError(dir, error);
    }
    let db: Database.Database;
    try {
      // No busy wait: a lock held by another process is refused at once, not after a timeout.
      db = new Database(file, { timeout: 0 });
    } catch (error) {
      throw classify(file, error, 'open');
    }
    try {
      // Held from the first read to close: a second broker on this data directory gets SQLITE_BUSY.
      db.pragma('locking_mode = EXCLUSIVE');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SQLITE_SCHEMA_VERSION) {
        throw new FennecError(
          'ERR_STORE_SCHEMA_NEWER',
          `${file} has schema version ${version}, but this Fennec reads versions up to ${SQLITE_SCHEMA_VERSION}: ` +
            `upgrade Fennec, or move the data directory away to start with an empty store`,
        );
      }
      // Checked before anything is written, so that a refused file is left as it was.
      const check = db.pragma('quick_check', { simple: true }) as string;
      if (check !== 'ok') {
        throw new FennecError(
          'ERR_STORE_CORRUPT',
          `${file} failed its integrity check (${check}): restore it from a backup, or move it away to start ` +
            `with an empty store; the broker does not start on a store it cannot read in full`,
        );
      }
      if (version === 0) {
        const tables = db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get() as number;
        if (tables > 0) {
          throw new FennecError(
            'ERR_STORE_CORRUPT',
            `${file} is an SQLite database but not a Fennec store (it has tables and no schema version): ` +
              `move it away, or give Fennec another data directory`,
          );
        }
        // Must precede the first table; lets close() give pages freed by deliveries back to the disk.
        db.pragma('auto_vacuum = INCREMENTAL');
      }
      db.pragma('journal_mode = WAL');
      db.pragma(options.durability === 'power' ? 'synchronous = FULL' : 'synchronous = NORMAL');
      // After a checkpoint the WAL file is cut back to this size, so it does not stay at its peak.
      db.pragma('journal_size_limit = 4194304');
      if (options.maxDatabaseBytes !== undefined) {
        const pageSize = db.pragma('page_size', { simple: true }) as number;
        db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxDatabaseBytes / pageSize))}`);
      }
      if (version < SQLITE_SCHEMA_VERSION) {
        db.transaction(() => {
          for (let next = version; next < SQLITE_SCHEMA_VERSION; next++) db.exec(migrations[next]!);
          db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
        }).immediate();
      }
      return new SqliteStore(file, db);
    } catch (error) {
      db.close();
      throw error instanceof FennecError ? error : classify(file, error, 'open');
    }
  }

  load(): Promise<StoredState> {
    try {
      return Promise.resolve(this.read());
    } catch (error) {
      return Promise.reject(classify(this.file, error, 'read'));
    }
  }

  /**
   * Applies the batch in one transaction; the promise settles after COMMIT returned (for
   * durability `power`, after the WAL was flushed). A failed batch was rolled back whole.
   */
  commit(ops: readonly StoreOp[]): Promise<void> {
    if (ops.length === 0 && this.db.open) return Promise.resolve();
    try {
      this.applyBatch(ops);
    } catch (error) {
      return Promise.reject(classify(this.file, error, 'write'));
    }
    if (++this.commitsSinceVacuumCheck >= COMMITS_PER_VACUUM_CHECK) {
      this.commitsSinceVacuumCheck = 0;
      this.giveBackFreePages();
    }
    return Promise.resolve();
  }

  /** The size of the database (the WAL aside), how much of it is free pages, and its page size, in bytes. */
  size(): { bytes: number; freeBytes: number; pageSize: number } {
    return {
      pageSize: this.pageSize,
      bytes: (this.pageCount.get() as number) * this.pageSize,
      freeBytes: (this.freePageCount.get() as number) * this.pageSize,
    };
  }

  /** Checkpoints the WAL into the database, returns freed pages to the disk, and closes the file. */
  close(): Promise<void> {
    if (!this.db.open) return Promise.resolve();
    try {
      this.db.pragma('incremental_vacuum');
      this.db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Closing still releases the file and its lock; the WAL is checkpointed at the next open.
    }
    this.db.close();
    return Promise.resolve();
  }

  /**
   * Once a backlog has drained, its pages are free but still in the file: give the surplus back a
   * step at a time. This changes no record, so a failure is left for the next commit to meet.
   */
  private giveBackFreePages(): void {
    try {
      const surplus = (this.freePageCount.get() as number) - FREE_PAGES_KEPT;
      if (surplus > 0) this.db.pragma(`incremental_vacuum(${Math.min(surplus, PAGES_PER_VACUUM_STEP)})`);
    } catch {
      // Nothing was lost: the batch is committed, and the free pages stay for reuse.
    }
  }

  private read(): StoredState {
    const db = this.db;
    const sessions = (db.prepare('SELECT * FROM sessions').all() as SessionRow[]).map(sessionFromRow);
    const subscriptions = (db.prepare('SELECT * FROM subscriptions').all() as SubscriptionRow[]).map(
      subscriptionFromRow,
    );
    const messages = (db.prepare('SELECT * FROM messages ORDER BY id').all() as MessageRow[]).map(
      (row): StoredMessage => ({
        id: row.id,
        ...retainedFromRow(row),
      }),
    );
    const deliveries = (db.prepare('SELECT * FROM deliveries ORDER BY seq').all() as DeliveryRow[]).map(
      deliveryFromRow,
    );
    const incomingQoS2 = (
      db.prepare('SELECT client_id, packet_id FROM incoming_qos2').all() as { client_id: string; packet_id: number }[]
    ).map((row) => ({ clientId: row.client_id, packetId: row.packet_id }));
    const retained = (db.prepare('SELECT * FROM retained').all() as RetainedRow[]).map(retainedFromRow);
    return { sessions, subscriptions, messages, deliveries, incomingQoS2, retained };
  }
}

function prepareStatements(db: Database.Database): Statements {
  return {
    putSession: db.prepare(
      'INSERT OR REPLACE INTO sessions (client_id, expiry_interval, disconnected_at, will_topic, will_payload, ' +
        'will_qos, will_retain, will_properties, will_due_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteSession: db.prepare('DELETE FROM sessions WHERE client_id = ?'),
    deleteSubscriptionsOf: db.prepare('DELETE FROM subscriptions WHERE client_id = ?'),
    deleteDeliveriesOf: db.prepare('DELETE FROM deliveries WHERE client_id = ?'),
    deleteIncomingOf: db.prepare('DELETE FROM incoming_qos2 WHERE client_id = ?'),
    putSubscription: db.prepare(
      'INSERT OR REPLACE INTO subscriptions (client_id, topic_filter, qos, no_local, retain_as_published, ' +
        'retain_handling, subscription_identifier) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteSubscription: db.prepare('DELETE FROM subscriptions WHERE client_id = ? AND topic_filter = ?'),
    putMessage: db.prepare(
      'INSERT OR REPLACE INTO messages (id, topic, payload, qos, retain, properties, publisher_id, received_at, ' +
        'expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteMessage: db.prepare('DELETE FROM messages WHERE id = ?'),
    putDelivery: db.prepare(
      'INSERT OR REPLACE INTO deliveries (seq, client_id, message_id, qos, retain, subscription_identifiers, ' +
        'shared_filter, state, packet_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    setDeliveryState: db.prepare('UPDATE deliveries SET state = ?, packet_id = ? WHERE seq = ?'),
    deleteDelivery: db.prepare('DELETE FROM deliveries WHERE seq = ?'),
    putIncoming: db.prepare(
      'INSERT INTO incoming_qos2 (client_id, packet_id) VALUES (?, ?) ON CONFLICT (client_id, packet_id) DO NOTHING',
    ),
    deleteIncoming: db.prepare('DELETE FROM incoming_qos2 WHERE client_id = ? AND packet_id = ?'),
    putRetained: db.prepare(
      'INSERT OR REPLACE INTO retained (topic, payload, qos, retain, properties, publisher_id, received_at, ' +
        'expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteRetained: db.prepare('DELETE FROM retained WHERE topic = ?'),
  };
}

/** One operation; statements are bound positionally, so no parameter object is built per op. */
function apply(s: Statements, op: StoreOp): void {
  switch (op.op) {
    case 'session': {
      const r = op.record;
      const will = r.will;
      if (will === undefined) {
        s.putSession.run(
          r.clientId,
          r.expiryInterval,
          r.disconnectedAt ?? null,
          null,
          null,
          null,
          null,
          null,
          r.willDueAt ?? null,
        );
      } else {
        s.putSession.run(
          r.clientId,
          r.expiryInterval,
          r.disconnectedAt ?? null,
          will.topic,
          will.payload,
          will.qos,
          will.retain ? 1 : 0,
          encodeProperties(will.properties),
          r.willDueAt ?? null,
        );
      }
      break;
    }
    case 'end-session':
      s.deleteSession.run(op.clientId);
      s.deleteSubscriptionsOf.run(op.clientId);
      s.deleteDeliveriesOf.run(op.clientId);
      s.deleteIncomingOf.run(op.clientId);
      break;
    case 'subscribe': {
      const r = op.record;
      s.putSubscription.run(
        r.clientId,
        r.topicFilter,
        r.qos,
        r.noLocal ? 1 : 0,
        r.retainAsPublished ? 1 : 0,
        r.retainHandling,
        r.subscriptionIdentifier ?? null,
      );
      break;
    }
    case 'unsubscribe':
      s.deleteSubscription.run(op.clientId, op.topicFilter);
      break;
    case 'message': {
      const m = op.message;
      s.putMessage.run(
        m.id,
        m.topic,
        m.payload,
        m.qos,
        m.retain ? 1 : 0,
        encodeProperties(m.properties),
        m.publisherId,
        m.receivedAt,
        m.expiresAt ?? null,
      );
      break;
    }
    case 'forget-message':
      s.deleteMessage.run(op.id);
      break;
    case 'enqueue': {
      const r = op.record;
      s.putDelivery.run(
        r.seq,
        r.clientId,
        r.messageId,
        r.qos,
        r.retain ? 1 : 0,
        r.subscriptionIdentifiers === undefined ? null : r.subscriptionIdentifiers.join(','),
        r.sharedFilter ?? null,
        r.state,
        r.packetId,
      );
      break;
    }
    case 'delivery-state':
      s.setDeliveryState.run(op.state, op.packetId, op.seq);
      break;
    case 'complete':
      s.deleteDelivery.run(op.seq);
      break;
    case 'qos2-received':
      s.putIncoming.run(op.clientId, op.packetId);
      break;
    case 'qos2-released':
      s.deleteIncoming.run(op.clientId, op.packetId);
      break;
    case 'retain': {
      const m = op.message;
      s.putRetained.run(
        m.topic,
        m.payload,
        m.qos,
        m.retain ? 1 : 0,
        encodeProperties(m.properties),
        m.publisherId,
        m.receivedAt,
        m.expiresAt ?? null,
      );
      break;
    }
    case 'unretain':
      s.deleteRetained.run(op.topic);
      break;
    default: {
      const unknown: never = op;
      throw new Error(`unknown store operation ${JSON.stringify(unknown)}`);
    }
  }
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

/** The SQLite result code of an error (e.g. `SQLITE_FULL`), or undefined. */
function sqliteCode(error: unknown): string | undefined {
  if (error instanceof Database.SqliteError) return error.code;
  return undefined;
}

function openError(dir: string, error: unknown): FennecError {
  const reason = error instanceof Error ? error.message : String(error);
  return new FennecError(
    'ERR_STORE_OPEN',
    `cannot open the store in ${dir}: ${reason}; check that it is a directory this user can read and write`,
    { cause: error },
  );
}

/** Maps an SQLite failure to the FennecError that tells the operator what to do. */
function classify(file: string, error: unknown, during: 'open' | 'read' | 'write'): FennecError {
  if (error instanceof FennecError) return error;
  const code = sqliteCode(error) ?? '';
  const reason = error instanceof Error ? error.message : String(error);
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new FennecError(
      'ERR_STORE_LOCKED',
      `${file} is locked by another process (is another broker running on this data directory?): ` +
        `stop it, or give this broker another data directory`,
      { cause: error },
    );
  }
  if (code.startsWith('SQLITE_NOTADB') || code.startsWith('SQLITE_CORRUPT')) {
    return new FennecError(
      'ERR_STORE_CORRUPT',
      `${file} is not a readable Fennec database (${reason}): restore it from a backup, or move it away to ` +
        `start with an empty store; the broker does not start on a store it cannot read in full`,
      { cause: error },
    );
  }
  if (code.startsWith('SQLITE_FULL')) {
    return new FennecError(
      'ERR_STORE_FULL',
      `disk full writing ${file}: free space; acknowledgements are withheld until a write succeeds`,
      { cause: error },
    );
  }
  if (during === 'write') {
    return new FennecError('ERR_STORE_WRITE', `cannot write ${file}: ${reason}`, { cause: error });
  }
  return new FennecError(
    'ERR_STORE_OPEN',
    `cannot ${during} ${file}: ${reason}; check that this user can read and write it`,
    { cause: error },
  );
}
