/**
 * A Store in memory. It outlives a Broker but not the process: an embedder can stop a broker and
 * start another on the same MemoryStore, and tests use it to check restarts without a disk. It is
 * also the reference for what every store must do (test/conformance).
 */
import type {
  DeliveryRecord,
  SessionRecord,
  SpoolRecord,
  SpoolSummary,
  Store,
  StoredMessage,
  StoredRetained,
  StoredState,
  StoreOp,
  SubscriptionRecord,
  StoredWill,
} from './types.js';
import { STREAM_ENTRIES_KEPT } from './types.js';

export class MemoryStore implements Store {
  readonly description = 'memory';
  private readonly sessions = new Map<string, SessionRecord>();
  /** By client id, then topic filter. */
  private readonly subscriptions = new Map<string, Map<string, SubscriptionRecord>>();
  private readonly messages = new Map<number, StoredMessage>();
  private readonly deliveries = new Map<number, DeliveryRecord>();
  /** `${clientId}\u0000${packetId}` keys, so that one Set holds them all. */
  private readonly incomingQoS2 = new Map<string, { clientId: string; packetId: number }>();
  private readonly retained = new Map<string, StoredRetained>();
  /** Each session's spool, rows in `n` order (appended at the back, deleted from the front). */
  private readonly spools = new Map<string, SpoolRecord[]>();
  /** The last committed stream entries of a cluster node, oldest first. */
  private readonly streamCommitted: string[] = [];

  load(): Promise<StoredState> {
    const subscriptions: SubscriptionRecord[] = [];
    for (const bySession of this.subscriptions.values()) {
      for (const record of bySession.values()) subscriptions.push({ ...record });
    }
    return Promise.resolve({
      sessions: [...this.sessions.values()].map(copySession),
      subscriptions,
      messages: [...this.messages.values()].sort((a, b) => a.id - b.id).map(copyMessage),
      deliveries: [...this.deliveries.values()].sort((a, b) => a.seq - b.seq).map(copyDelivery),
      incomingQoS2: [...this.incomingQoS2.values()].map((entry) => ({ ...entry })),
      retained: [...this.retained.values()].map(copyMessage),
      spools: this.spoolSummaries(),
      streamCommitted: [...this.streamCommitted],
    });
  }

  commit(ops: readonly StoreOp[]): Promise<void> {
    for (const op of ops) this.apply(op);
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  readSpool(clientId: string, from: number, limit: number): Promise<SpoolRecord[]> {
    const rows = this.spools.get(clientId) ?? [];
    return Promise.resolve(
      rows
        .filter((row) => row.n >= from)
        .slice(0, limit)
        .map(copySpooled),
    );
  }

  spoolSizes(clientId: string, from: number, limit: number): { n: number; bytes: number }[] {
    const rows = this.spools.get(clientId) ?? [];
    return rows
      .filter((row) => row.n >= from)
      .slice(0, limit)
      .map((row) => ({ n: row.n, bytes: row.message.payload.length }));
  }

  private spoolSummaries(): SpoolSummary[] {
    const summaries: SpoolSummary[] = [];
    for (const [clientId, rows] of [...this.spools].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (rows.length === 0) continue;
      let bytes = 0;
      for (const row of rows) bytes += row.message.payload.length;
      summaries.push({ clientId, count: rows.length, bytes, first: rows[0]!.n, last: rows[rows.length - 1]!.n });
    }
    return summaries;
  }

  private apply(op: StoreOp): void {
    switch (op.op) {
      case 'session':
        this.sessions.set(op.record.clientId, copySession(op.record));
        break;
      case 'end-session': {
        this.sessions.delete(op.clientId);
        this.subscriptions.delete(op.clientId);
        for (const [seq, record] of this.deliveries) if (record.clientId === op.clientId) this.deliveries.delete(seq);
        for (const [key, entry] of this.incomingQoS2) if (entry.clientId === op.clientId) this.incomingQoS2.delete(key);
        this.spools.delete(op.clientId);
        break;
      }
      case 'subscribe': {
        let bySession = this.subscriptions.get(op.record.clientId);
        if (bySession === undefined) {
          bySession = new Map<string, SubscriptionRecord>();
          this.subscriptions.set(op.record.clientId, bySession);
        }
        bySession.set(op.record.topicFilter, { ...op.record });
        break;
      }
      case 'unsubscribe':
        this.subscriptions.get(op.clientId)?.delete(op.topicFilter);
        break;
      case 'message':
        this.messages.set(op.message.id, copyMessage(op.message));
        break;
      case 'forget-message':
        this.messages.delete(op.id);
        break;
      case 'enqueue':
        this.deliveries.set(op.record.seq, copyDelivery(op.record));
        break;
      case 'delivery-state': {
        const record = this.deliveries.get(op.seq);
        if (record !== undefined) {
          record.state = op.state;
          record.packetId = op.packetId;
        }
        break;
      }
      case 'complete':
        this.deliveries.delete(op.seq);
        break;
      case 'qos2-received':
        this.incomingQoS2.set(`${op.clientId}\u0000${op.packetId}`, { clientId: op.clientId, packetId: op.packetId });
        break;
      case 'qos2-released':
        this.incomingQoS2.delete(`${op.clientId}\u0000${op.packetId}`);
        break;
      case 'retain':
        this.retained.set(op.message.topic, copyMessage(op.message));
        break;
      case 'unretain':
        this.retained.delete(op.topic);
        break;
      case 'spool': {
        let rows = this.spools.get(op.record.clientId);
        if (rows === undefined) this.spools.set(op.record.clientId, (rows = []));
        rows.push(copySpooled(op.record));
        break;
      }
      case 'unspool': {
        const rows = this.spools.get(op.clientId);
        if (rows !== undefined)
          this.spools.set(
            op.clientId,
            rows.filter((row) => row.n > op.through),
          );
        break;
      }
      case 'clear-spool':
        this.spools.delete(op.clientId);
        break;
      case 'move-spool': {
        const rows = this.spools.get(op.clientId);
        this.spools.delete(op.clientId);
        if (rows !== undefined) {
          for (const row of rows) row.clientId = op.to;
          this.spools.set(op.to, [...(this.spools.get(op.to) ?? []), ...rows]);
        }
        break;
      }
      case 'stream-committed':
        this.streamCommitted.push(...op.ids);
        if (this.streamCommitted.length > STREAM_ENTRIES_KEPT) {
          this.streamCommitted.splice(0, this.streamCommitted.length - STREAM_ENTRIES_KEPT);
        }
        break;
    }
  }
}

/** A copy that shares nothing mutable with `message`; the payload is copied too. */
function copyMessage<T extends StoredRetained>(message: T): T {
  return { ...message, payload: Buffer.from(message.payload), properties: copyProperties(message.properties) };
}

function copyProperties<T extends object>(properties: T | undefined): T | undefined {
  if (properties === undefined) return undefined;
  const copy = { ...properties } as Record<string, unknown>;
  for (const [key, value] of Object.entries(copy)) {
    if (Buffer.isBuffer(value)) copy[key] = Buffer.from(value);
    else if (Array.isArray(value)) {
      copy[key] = (value as unknown[]).map((item) => (Array.isArray(item) ? (item as unknown[]).slice() : item));
    }
  }
  return copy as T;
}

function copyWill(will: StoredWill | undefined): StoredWill | undefined {
  if (will === undefined) return undefined;
  return { ...will, payload: Buffer.from(will.payload), properties: copyProperties(will.properties) };
}

function copySession(record: SessionRecord): SessionRecord {
  return { ...record, will: copyWill(record.will) };
}

function copySpooled(record: SpoolRecord): SpoolRecord {
  return {
    ...record,
    message: copyMessage(record.message),
    subscriptionIdentifiers:
      record.subscriptionIdentifiers === undefined ? undefined : [...record.subscriptionIdentifiers],
  };
}

function copyDelivery(record: DeliveryRecord): DeliveryRecord {
  return {
    ...record,
    subscriptionIdentifiers:
      record.subscriptionIdentifiers === undefined ? undefined : [...record.subscriptionIdentifiers],
  };
}
