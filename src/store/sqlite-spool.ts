/**
 * The SQLite store's spool: QoS 1/2 deliveries beyond a session's memory queue, one row each with
 * its message inline, numbered per session. Written through the same batches as everything else;
 * read back a batch at a time (`readSpool`), never by `load`, so a backlog never sits in memory.
 */
import type Database from 'better-sqlite3';
import type { PublishProperties, QoS } from '../protocol/index.js';
import { decodeProperties, encodeProperties } from './sqlite-schema.js';
import type { SpoolOp, SpoolRecord } from './types.js';

export interface SpoolStatements {
  put: Database.Statement;
  deleteThrough: Database.Statement;
  deleteOf: Database.Statement;
  read: Database.Statement;
  sizes: Database.Statement;
  move: Database.Statement;
}

export function prepareSpoolStatements(db: Database.Database): SpoolStatements {
  return {
    put: db.prepare(
      'INSERT INTO spool (client_id, n, topic, payload, message_qos, message_retain, properties, publisher_id, ' +
        'received_at, expires_at, qos, retain, subscription_identifiers, shared_filter) ' +
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    deleteThrough: db.prepare('DELETE FROM spool WHERE client_id = ? AND n <= ?'),
    deleteOf: db.prepare('DELETE FROM spool WHERE client_id = ?'),
    read: db.prepare('SELECT * FROM spool WHERE client_id = ? AND n >= ? ORDER BY n LIMIT ?'),
    // length() of a BLOB reads its size from the record header, not the blob itself.
    sizes: db.prepare(
      'SELECT n, length(payload) AS bytes FROM spool WHERE client_id = ? AND n >= ? ORDER BY n LIMIT ?',
    ),
    move: db.prepare('UPDATE spool SET client_id = ? WHERE client_id = ?'),
  };
}

export function applySpool(s: SpoolStatements, op: SpoolOp): void {
  switch (op.op) {
    case 'spool': {
      const r = op.record;
      const m = r.message;
      s.put.run(
        r.clientId,
        r.n,
        m.topic,
        m.payload,
        m.qos,
        m.retain ? 1 : 0,
        encodeProperties(m.properties),
        m.publisherId,
        m.receivedAt,
        m.expiresAt ?? null,
        r.qos,
        r.retain ? 1 : 0,
        r.subscriptionIdentifiers === undefined ? null : r.subscriptionIdentifiers.join(','),
        r.sharedFilter ?? null,
      );
      break;
    }
    case 'unspool':
      s.deleteThrough.run(op.clientId, op.through);
      break;
    case 'clear-spool':
      s.deleteOf.run(op.clientId);
      break;
    case 'move-spool':
      s.move.run(op.to, op.clientId);
      break;
  }
}

interface SpoolRow {
  client_id: string;
  n: number;
  topic: string;
  payload: Buffer;
  message_qos: number;
  message_retain: number;
  properties: string | null;
  publisher_id: string;
  received_at: number;
  expires_at: number | null;
  qos: number;
  retain: number;
  subscription_identifiers: string | null;
  shared_filter: string | null;
}

export function readSpoolRows(s: SpoolStatements, clientId: string, from: number, limit: number): SpoolRecord[] {
  return (s.read.all(clientId, from, limit) as SpoolRow[]).map((row) => {
    const ids = row.subscription_identifiers;
    return {
      clientId: row.client_id,
      n: row.n,
      message: {
        topic: row.topic,
        payload: row.payload,
        qos: row.message_qos as QoS,
        retain: row.message_retain === 1,
        properties: decodeProperties<PublishProperties>(row.properties),
        publisherId: row.publisher_id,
        receivedAt: row.received_at,
        expiresAt: row.expires_at ?? undefined,
      },
      qos: row.qos as QoS,
      retain: row.retain === 1,
      subscriptionIdentifiers: ids === null ? undefined : ids === '' ? [] : ids.split(',').map(Number),
      sharedFilter: row.shared_filter ?? undefined,
    };
  });
}

export function readSpoolSizes(
  s: SpoolStatements,
  clientId: string,
  from: number,
  limit: number,
): { n: number; bytes: number }[] {
  return s.sizes.all(clientId, from, limit) as { n: number; bytes: number }[];
}
