/**
 * The SQLite store's write path: one prepared statement per kind of change, prepared once at open,
 * and the application of one StoreOp, bound positionally so that no parameter object is built per op.
 */
import type Database from 'better-sqlite3';
import { STREAM_ENTRIES_KEPT, type StoredRetained, type StoreOp } from './types.js';
import { encodeProperties } from './sqlite-schema.js';
import { applySpool, prepareSpoolStatements, type SpoolStatements } from './sqlite-spool.js';

/** The prepared statements of every operation, prepared once at open. */
export interface Statements {
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
  putStreamEntry: Database.Statement;
  trimStreamEntries: Database.Statement;
  spool: SpoolStatements;
  /** CHUNK rows a statement, for the worker's batches (sqlite-apply.ts). */
  putMessages: Database.Statement;
  putDeliveries: Database.Statement;
  deleteMessages: Database.Statement;
  deleteDeliveries: Database.Statement;
}

/** Rows per multi-row statement of the worker's batches. */
export const CHUNK = 32;

const PUT_MESSAGE =
  'INSERT OR REPLACE INTO messages (id, topic, payload, qos, retain, properties, publisher_id, received_at, ' +
  'expires_at) VALUES ';
const PUT_DELIVERY =
  'INSERT OR REPLACE INTO deliveries (seq, client_id, message_id, qos, retain, subscription_identifiers, ' +
  'shared_filter, state, packet_id) VALUES ';
const NINE = '(?, ?, ?, ?, ?, ?, ?, ?, ?)';
/** `n` times `item`, comma-separated. */
const repeat = (item: string, n: number): string => Array.from({ length: n }, () => item).join(', ');

export function prepareStatements(db: Database.Database): Statements {
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
    putMessage: db.prepare(PUT_MESSAGE + NINE),
    deleteMessage: db.prepare('DELETE FROM messages WHERE id = ?'),
    putDelivery: db.prepare(PUT_DELIVERY + NINE),
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
    putStreamEntry: db.prepare('INSERT INTO stream_committed (id) VALUES (?)'),
    trimStreamEntries: db.prepare(
      'DELETE FROM stream_committed WHERE rowid <= (SELECT max(rowid) FROM stream_committed) - ?',
    ),
    spool: prepareSpoolStatements(db),
    putMessages: db.prepare(PUT_MESSAGE + repeat(NINE, CHUNK)),
    putDeliveries: db.prepare(PUT_DELIVERY + repeat(NINE, CHUNK)),
    deleteMessages: db.prepare(`DELETE FROM messages WHERE id IN (${repeat('?', CHUNK)})`),
    deleteDeliveries: db.prepare(`DELETE FROM deliveries WHERE seq IN (${repeat('?', CHUNK)})`),
  };
}

/** One operation; statements are bound positionally, so no parameter object is built per op. */
export function apply(s: Statements, op: StoreOp): void {
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
      s.spool.deleteOf.run(op.clientId);
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
      s.putMessage.run(m.id, m.topic, ...messageValues(m));
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
      s.putRetained.run(m.topic, ...messageValues(m));
      break;
    }
    case 'unretain':
      s.deleteRetained.run(op.topic);
      break;
    case 'spool':
    case 'unspool':
    case 'clear-spool':
    case 'move-spool':
      applySpool(s.spool, op);
      break;
    case 'stream-committed':
      putStreamEntries(s, op.ids);
      break;
    default: {
      const unknown: never = op;
      throw new Error(`unknown store operation ${JSON.stringify(unknown)}`);
    }
  }
}

/** The columns after the topic that messages and retained messages share, in table order. */
function messageValues(m: StoredRetained): unknown[] {
  return [
    m.payload,
    m.qos,
    m.retain ? 1 : 0,
    encodeProperties(m.properties),
    m.publisherId,
    m.receivedAt,
    m.expiresAt ?? null,
  ];
}

/** Records committed stream entries, keeping the last STREAM_ENTRIES_KEPT. */
export function putStreamEntries(s: Statements, ids: readonly string[]): void {
  for (const id of ids) if (id !== '') s.putStreamEntry.run(id);
  s.trimStreamEntries.run(STREAM_ENTRIES_KEPT);
}
