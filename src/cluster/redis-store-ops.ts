/**
 * The Redis store's conversions (src/cluster/redis-store.ts): a store operation as the commit
 * script's arguments, a moved session's records from the claim script's reply, and pipeline reads.
 */
import type { Redis } from 'ioredis';
import { FennecError } from '../errors/index.js';
import {
  emptyStoredState,
  type DeliveryRecord,
  type SpoolOp,
  type StoredMessage,
  type StoredState,
  type StoreOp,
} from '../store/types.js';
import { spoolArgs } from './redis-spool.js';
import {
  decodeDelivery,
  decodeSession,
  decodeStoredMessage,
  decodeSubscription,
  encodeDelivery,
  encodeSession,
  encodeStoredMessage,
  encodeSubscription,
} from './store-codec.js';

/** A script's reply, nested. */
export type Reply = (string | Buffer | Reply)[];

/** One operation as the commit script's 6 arguments; undefined: nothing to write. */
export function encodeOp(
  op: StoreOp,
  token: (cid: string) => string,
  client: (seq: number) => string,
  keepRetained: boolean,
): (string | Buffer)[] | undefined {
  const row = (kind: string, cid: string, a: string | Buffer, b: string | Buffer = '', c = ''): (string | Buffer)[] => [
    kind,
    cid,
    cid === '' ? '0' : token(cid),
    a,
    b,
    c,
  ];
  switch (op.op) {
    case 'session':
      return row(op.op, op.record.clientId, encodeSession(op.record));
    case 'end-session':
      return row(op.op, op.clientId, '');
    case 'subscribe':
      return row(op.op, op.record.clientId, op.record.topicFilter, encodeSubscription(op.record));
    case 'unsubscribe':
      return row(op.op, op.clientId, op.topicFilter);
    case 'message':
      return row(op.op, '', String(op.message.id), encodeStoredMessage(op.message));
    case 'forget-message':
      return row(op.op, '', String(op.id));
    case 'enqueue': {
      const r = op.record;
      return row(op.op, r.clientId, String(r.seq), encodeDelivery(r), `${r.state} ${r.packetId}`);
    }
    case 'delivery-state':
      return row(op.op, client(op.seq), String(op.seq), `${op.state} ${op.packetId}`);
    case 'complete':
      return row(op.op, client(op.seq), String(op.seq));
    case 'qos2-received':
    case 'qos2-released':
      return row(op.op, op.clientId, String(op.packetId));
    case 'retain':
      return keepRetained ? row(op.op, '', op.message.topic, encodeStoredMessage(op.message)) : undefined;
    case 'unretain':
      return keepRetained ? row(op.op, '', op.topic) : undefined;
    case 'spool':
      return row(op.op, op.record.clientId, ...spoolArgs(op));
    case 'unspool':
    case 'clear-spool':
    case 'move-spool':
      return row(op.op, op.clientId, ...spoolArgs(op));
    case 'stream-committed':
      // Its own commits acknowledge the stream entries in Redis (acknowledgeWithCommit).
      return undefined;
  }
}

/** A session's state from `readSession`'s reply (claim script). */
export function movedState(clientId: string, [session, subs, deliveries, messages, qos2]: Reply): StoredState {
  const state = emptyStoredState();
  const text = String(session);
  if (text !== '') state.sessions.push(decodeSession(clientId, text));
  const subList = subs as Reply;
  for (let i = 0; i + 1 < subList.length; i += 2) {
    state.subscriptions.push(decodeSubscription(clientId, String(subList[i]), String(subList[i + 1])));
  }
  const deliveryList = deliveries as Reply;
  for (let i = 0; i + 2 < deliveryList.length; i += 3) {
    const seq = Number(String(deliveryList[i]));
    const record: DeliveryRecord = decodeDelivery(
      seq,
      clientId,
      String(deliveryList[i + 1]),
      String(deliveryList[i + 2]),
    );
    state.deliveries.push(record);
  }
  state.deliveries.sort((a, b) => a.seq - b.seq);
  const messageList = messages as Reply;
  for (let i = 0; i + 1 < messageList.length; i += 2) {
    const message: StoredMessage = {
      id: Number(String(messageList[i])),
      ...decodeStoredMessage(messageList[i + 1] as Buffer),
    };
    state.messages.push(message);
  }
  state.messages.sort((a, b) => a.id - b.id);
  for (const id of qos2 as Reply) state.incomingQoS2.push({ clientId, packetId: Number(String(id)) });
  return state;
}

/** Whether `op` is one of the spool's. */
export function isSpoolOp(op: StoreOp): op is SpoolOp {
  return op.op === 'spool' || op.op === 'unspool' || op.op === 'clear-spool' || op.op === 'move-spool';
}

/** Runs a pipeline; rejects with its first error. */
export async function exec(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
  const results = await pipeline.exec();
  if (results === null) throw new FennecError('ERR_STORE_OPEN', 'Redis gave no reply to the store read');
  return results.map(([err, value]) => {
    if (err !== null)
      throw new FennecError('ERR_STORE_OPEN', `Redis refused a store read: ${err.message}`, { cause: err });
    return value;
  });
}
