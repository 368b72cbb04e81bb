/**
 * The SQLite worker thread's side of sqlite-codec.ts: reads an encoded batch and applies it with
 * the prepared statements, binding each one straight from the bytes (payloads are views, not copies).
 */
import { NULL_LENGTH, OP } from './sqlite-codec.js';
import { putStreamEntries } from './sqlite-ops.js';
import { CHUNK, type Statements } from './sqlite-ops.js';

/** Reads what Writer wrote; byte strings are views of the batch, not copies. */
class Reader {
  at = 0;

  constructor(private readonly buf: Buffer) {}

  u8(): number {
    return this.buf[this.at++]!;
  }

  f64(): number {
    const value = this.buf.readDoubleLE(this.at);
    this.at += 8;
    return value;
  }

  /** An optional number as the statements bind it: null when absent. */
  optF64(): number | null {
    return this.buf[this.at++] === 0 ? null : this.f64();
  }

  str(): string | null {
    const length = this.buf.readUInt32LE(this.at);
    this.at += 4;
    if (length === NULL_LENGTH) return null;
    const value = this.buf.toString('utf8', this.at, this.at + length);
    this.at += length;
    return value;
  }

  bytes(): Buffer {
    const length = this.buf.readUInt32LE(this.at);
    this.at += 4;
    const value = this.buf.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }
}

/** The columns after the topic that messages, retained messages and spooled rows share. */
function readMessageColumns(r: Reader): unknown[] {
  return [r.bytes(), r.f64(), r.u8(), r.str(), r.str(), r.f64(), r.optF64()];
}

/** Applies an encoded batch with the prepared statements, in order; the caller holds the transaction. */
export function applyEncoded(s: Statements, batch: Buffer): void {
  const r = new Reader(batch);
  const run = new RowRun(s);
  while (r.at < batch.length) {
    const code = r.u8();
    switch (code) {
      // The four operations of the QoS 1/2 flow are gathered and written several rows a statement.
      case OP.message:
        run.message(r);
        continue;
      case OP.enqueue:
        run.enqueue(r);
        continue;
      case OP.complete:
        run.complete(r.f64());
        continue;
      case OP['forget-message']:
        run.forget(r.f64());
        continue;
      default:
        run.flush();
        applyOne(s, r, code);
    }
  }
  run.flush();
}

/**
 * A run of message, enqueue, complete and forget-message operations, applied as multi-row INSERTs
 * and `DELETE ... IN (...)`: all messages, then deliveries, then the two deletes. Reordering
 * changes nothing there: rows of different keys are independent, a key written then deleted ends
 * deleted either way, and a key deleted then written again first writes what was gathered, then
 * starts a new run. Writes of one key, and deletes, keep their order among themselves.
 */
class RowRun {
  private messages: unknown[] = [];
  private deliveries: unknown[] = [];
  private completed: number[] = [];
  private forgotten: number[] = [];
  private readonly forgottenIds = new Set<number>();
  private readonly completedSeqs = new Set<number>();

  constructor(private readonly s: Statements) {}

  message(r: Reader): void {
    const id = r.f64();
    if (this.forgottenIds.has(id)) this.flush();
    this.messages.push(id, r.str(), r.bytes(), r.f64(), r.u8(), r.str(), r.str(), r.f64(), r.optF64());
  }

  enqueue(r: Reader): void {
    const seq = r.f64();
    if (this.completedSeqs.has(seq)) this.flush();
    this.deliveries.push(seq, r.str(), r.f64(), r.f64(), r.u8(), r.str(), r.str(), r.f64(), r.f64());
  }

  complete(seq: number): void {
    this.completedSeqs.add(seq);
    this.completed.push(seq);
  }

  forget(id: number): void {
    this.forgottenIds.add(id);
    this.forgotten.push(id);
  }

  flush(): void {
    if (this.messages.length + this.deliveries.length + this.completed.length + this.forgotten.length === 0) return;
    const s = this.s;
    if (this.messages.length > 0) runRows(this.messages, 9, s.putMessage, s.putMessages);
    if (this.deliveries.length > 0) runRows(this.deliveries, 9, s.putDelivery, s.putDeliveries);
    if (this.completed.length > 0) runRows(this.completed, 1, s.deleteDelivery, s.deleteDeliveries);
    if (this.forgotten.length > 0) runRows(this.forgotten, 1, s.deleteMessage, s.deleteMessages);
    this.messages = [];
    this.deliveries = [];
    this.completed = [];
    this.forgotten = [];
    this.forgottenIds.clear();
    this.completedSeqs.clear();
  }
}

/** Runs `values` (`width` per row) CHUNK rows a statement, the rest one row a statement, in order. */
function runRows(
  values: unknown[],
  width: number,
  one: Statements['putMessage'],
  many: Statements['putMessage'],
): void {
  const rows = values.length / width;
  let row = 0;
  for (; row + CHUNK <= rows; row += CHUNK) many.run(values.slice(row * width, (row + CHUNK) * width));
  for (; row < rows; row++) one.run(values.slice(row * width, (row + 1) * width));
}

/** Any other operation, at once. */
function applyOne(s: Statements, r: Reader, code: number): void {
  switch (code) {
    case OP.session: {
      const clientId = r.str();
      const expiry = r.f64();
      const disconnectedAt = r.optF64();
      const willDueAt = r.optF64();
      if (r.u8() === 0) {
        s.putSession.run(clientId, expiry, disconnectedAt, null, null, null, null, null, willDueAt);
      } else {
        s.putSession.run(clientId, expiry, disconnectedAt, r.str(), r.bytes(), r.f64(), r.u8(), r.str(), willDueAt);
      }
      break;
    }
    case OP['end-session']: {
      const clientId = r.str();
      s.deleteSession.run(clientId);
      s.deleteSubscriptionsOf.run(clientId);
      s.deleteDeliveriesOf.run(clientId);
      s.deleteIncomingOf.run(clientId);
      s.spool.deleteOf.run(clientId);
      break;
    }
    case OP.subscribe:
      s.putSubscription.run(r.str(), r.str(), r.f64(), r.u8(), r.u8(), r.f64(), r.optF64());
      break;
    case OP.unsubscribe:
      s.deleteSubscription.run(r.str(), r.str());
      break;
    case OP['delivery-state']: {
      const seq = r.f64();
      s.setDeliveryState.run(r.f64(), r.f64(), seq);
      break;
    }
    case OP['qos2-received']:
      s.putIncoming.run(r.str(), r.f64());
      break;
    case OP['qos2-released']:
      s.deleteIncoming.run(r.str(), r.f64());
      break;
    case OP.retain:
      s.putRetained.run(r.str(), ...readMessageColumns(r));
      break;
    case OP.unretain:
      s.deleteRetained.run(r.str());
      break;
    case OP.spool:
      s.spool.put.run(r.str(), r.f64(), r.str(), ...readMessageColumns(r), r.f64(), r.u8(), r.str(), r.str());
      break;
    case OP['move-spool']: {
      const from = r.str();
      s.spool.move.run(r.str(), from);
      break;
    }
    case OP.unspool:
      s.spool.deleteThrough.run(r.str(), r.f64());
      break;
    case OP['clear-spool']:
      s.spool.deleteOf.run(r.str());
      break;
    case OP['stream-committed']:
      putStreamEntries(s, (r.str() ?? '').split('\n'));
      break;
    default:
      throw new Error(`unknown store operation code ${code} at byte ${r.at - 1} of an encoded batch`);
  }
}
