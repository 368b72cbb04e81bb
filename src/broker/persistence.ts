/**
 * Persistence: turns the broker's changes into Store operations, commits them once per turn of the
 * event loop, and holds back the acknowledgements that promise durability until their batch is
 * committed. Clean sessions and QoS 0 deliveries never reach it.
 *
 * Operations of one batch that cancel out are never written: a delivery enqueued and acknowledged
 * before its batch commits leaves no trace, nor does its message when no other delivery refers to it.
 * So a subscriber that keeps up costs the disk almost nothing.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Logger } from 'pino';
import { toFennecError } from '../errors/index.js';
import type { Will } from '../protocol/index.js';
import { messageFields, type Delivery, type Message } from '../session/message.js';
import type { JournaledSession, SessionJournal, SubscriptionOptions } from '../session/types.js';
import {
  DeliveryState,
  type DeliveryRecord,
  type SessionRecord,
  type Store,
  type StoredMessage,
  type StoredWill,
  type StoreOp,
  type SpoolOp,
} from '../store/types.js';

/** What `fennec:persistence.committed` carries: one batch written to the store. */
export interface CommittedMessage {
  /** The Persistence (`broker.persistence`) that committed it. */
  persistence: Persistence;
  /** Time the store took to commit the batch, in seconds. */
  seconds: number;
  /** Store operations in the batch. */
  operations: number;
}

/**
 * `fennec:persistence.committed`: published after each batch the store committed, only while
 * someone subscribes (the metrics of src/http), so that nothing is measured for nobody.
 */
export const committedChannel = diagnosticsChannel.channel(
  'fennec:persistence.committed',
) as diagnosticsChannel.Channel & {
  publish(message: CommittedMessage): void;
};

/** How long a failed commit waits before it is tried again, in ms. */
const RETRY_MS = 1000;

export class Persistence implements SessionJournal {
  /** Operations of the batch being gathered; null where an operation was cancelled out. */
  private ops: (StoreOp | null)[] = [];
  /** Run once the batch being gathered is committed. */
  private callbacks: (() => void)[] = [];
  /** Index in `ops` of each `enqueue` of the batch being gathered, by seq. */
  private readonly pendingEnqueues = new Map<number, number>();
  /** Index in `ops` of each `message` of the batch being gathered, by message id. */
  private readonly pendingMessages = new Map<number, number>();
  private scheduled = false;
  private committing = false;
  private failing = false;
  /** Resolvers waiting for everything gathered so far to be committed. */
  private drainers: (() => void)[] = [];
  private nextSeq = 1;
  private nextMessageId = 1;
  /** Commits made, and operations written, for metrics and benchmarks. */
  readonly counters = { commits: 0, operations: 0, cancelled: 0, failures: 0 };

  constructor(
    readonly store: Store,
    private readonly log: Logger,
  ) {}

  /** Continues the store's sequences after what `load` returned. */
  resumeSequences(lastSeq: number, lastMessageId: number): void {
    this.nextSeq = Math.max(this.nextSeq, lastSeq + 1);
    this.nextMessageId = Math.max(this.nextMessageId, lastMessageId + 1);
  }

  /**
   * Reserves `count` delivery sequence numbers and message ids, (seq, seq + count] and
   * (messageId, messageId + count], for records written by another node (a session moved here).
   */
  reserve(count: number): { seq: number; messageId: number; count: number } {
    const reserved = { seq: this.nextSeq - 1, messageId: this.nextMessageId - 1, count };
    this.nextSeq += count;
    this.nextMessageId += count;
    return reserved;
  }

  /** Whether nothing is waiting to be committed: an acknowledgement may then go out at once. */
  get idle(): boolean {
    return this.ops.length === 0 && this.callbacks.length === 0 && !this.committing;
  }

  /** Runs `fn` once everything gathered so far is committed: now, when nothing is waiting. */
  afterCommit(fn: () => void): void {
    if (this.idle) {
      fn();
      return;
    }
    this.callbacks.push(fn);
    this.schedule();
  }

  /** SessionJournal: a completion the store keeps, with the commit of the acknowledgement (or the next one). */
  completedOrigin(session: JournaledSession, originId: string): void {
    this.store.noteCompleted?.(session.clientId, originId);
  }

  /** SessionJournal: outgoing QoS 2 PUBLISH and PUBREL wait for the commit of their state. */
  afterDurable(fn: () => void): void {
    this.afterCommit(fn);
  }

  /** Resolves once everything gathered so far is committed (on close). */
  drain(): Promise<void> {
    if (this.idle) return Promise.resolve();
    return new Promise((resolve) => {
      this.drainers.push(resolve);
      this.schedule();
    });
  }

  private push(op: StoreOp): number {
    this.schedule();
    return this.ops.push(op) - 1;
  }

  private schedule(): void {
    if (this.scheduled || this.committing || this.failing) return;
    this.scheduled = true;
    setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.committing) return;
    const gathered = this.ops;
    const callbacks = this.callbacks;
    const drainers = this.drainers;
    this.ops = [];
    this.callbacks = [];
    this.drainers = [];
    this.pendingEnqueues.clear();
    this.pendingMessages.clear();
    const ops: StoreOp[] = [];
    for (const op of gathered) if (op !== null) ops.push(op);
    this.counters.cancelled += gathered.length - ops.length;
    this.committing = true;
    const started = performance.now();
    const committed = ops.length === 0 ? Promise.resolve() : this.store.commit(ops);
    committed.then(
      () => {
        this.committing = false;
        if (ops.length > 0) {
          this.counters.commits++;
          this.counters.operations += ops.length;
          if (committedChannel.hasSubscribers) {
            const seconds = (performance.now() - started) / 1000;
            committedChannel.publish({ persistence: this, seconds, operations: ops.length });
          }
        }
        if (this.failing) {
          this.failing = false;
          this.log.warn({ store: this.store.description }, 'store writes succeed again');
        }
        for (const callback of callbacks) callback();
        for (const drainer of drainers) drainer();
        if (this.ops.length > 0 || this.callbacks.length > 0 || this.drainers.length > 0) this.schedule();
      },
      (err: unknown) => {
        this.committing = false;
        this.counters.failures++;
        const error = toFennecError(err, 'ERR_STORE_WRITE');
        if (!this.failing) {
          // A failing store is never hidden: acknowledgements wait until a write succeeds.
          this.log.error(
            { store: this.store.description, code: error.code, err: error.message },
            'cannot write to the store; acknowledgements are withheld until a write succeeds',
          );
        }
        this.failing = true;
        // Put the batch back in front of what came since, and try again later.
        this.ops = [...ops, ...this.ops];
        this.callbacks = [...callbacks, ...this.callbacks];
        this.drainers = [...drainers, ...this.drainers];
        this.pendingEnqueues.clear();
        this.pendingMessages.clear();
        setTimeout(() => {
          this.failing = false;
          this.schedule();
        }, RETRY_MS).unref();
      },
    );
  };

  // --- sessions, subscriptions, incoming QoS 2, retained messages ---

  /**
   * The stream entries `ids` of a cluster node delivered what the batch being gathered holds: the
   * batch records them (nothing when it is empty: their deliveries wrote nothing).
   */
  streamCommitted(ids: string[]): void {
    if (this.ops.length > 0 && ids.length > 0) this.push({ op: 'stream-committed', ids });
  }

  /** The stream entries whose deliveries the store had committed when it was loaded ('stream-committed'). */
  restoredStreamEntries: ReadonlySet<string> = new Set();

  saveSession(record: SessionRecord): void {
    this.push({ op: 'session', record });
  }

  endSession(clientId: string): void {
    this.push({ op: 'end-session', clientId });
  }

  subscribed(clientId: string, topicFilter: string, options: SubscriptionOptions): void {
    this.push({
      op: 'subscribe',
      record: {
        clientId,
        topicFilter,
        qos: options.qos,
        noLocal: options.noLocal,
        retainAsPublished: options.retainAsPublished,
        retainHandling: options.retainHandling,
        subscriptionIdentifier: options.subscriptionIdentifier,
      },
    });
  }

  unsubscribed(clientId: string, topicFilter: string): void {
    this.push({ op: 'unsubscribe', clientId, topicFilter });
  }

  qos2Received(session: JournaledSession, packetId: number): void {
    this.push({ op: 'qos2-received', clientId: session.clientId, packetId });
  }

  qos2Released(session: JournaledSession, packetId: number): void {
    this.push({ op: 'qos2-released', clientId: session.clientId, packetId });
  }

  retain(message: Message): void {
    const { id: _id, ...stored } = storedMessage(message, 0);
    this.push({ op: 'retain', message: stored });
  }

  unretain(topic: string): void {
    this.push({ op: 'unretain', topic });
  }

  /** Deletes a stored delivery whose session or message is gone (found at start). */
  forgetDelivery(seq: number): void {
    this.push({ op: 'complete', seq });
  }

  /** Deletes a stored message no delivery refers to (found at start). */
  forgetMessage(id: number): void {
    this.push({ op: 'forget-message', id });
  }

  /** A write of the spool (src/broker/spool.ts), in the batch being gathered. */
  spoolOp(op: SpoolOp): void {
    this.push(op);
  }

  // --- deliveries (SessionJournal) ---

  added(session: JournaledSession, d: Delivery, packetId: number): void {
    const message = d.message;
    let messageId = message.storeId ?? 0;
    if (messageId === 0) {
      messageId = this.nextMessageId++;
      message.storeId = messageId;
      message.storeRefs = 0;
      this.pendingMessages.set(messageId, this.push({ op: 'message', message: storedMessage(message, messageId) }));
    }
    message.storeRefs = (message.storeRefs ?? 0) + 1;
    const seq = this.nextSeq++;
    d.seq = seq;
    const record: DeliveryRecord = {
      seq,
      clientId: session.clientId,
      messageId,
      qos: d.qos,
      retain: d.retain,
      subscriptionIdentifiers: d.subscriptionIdentifiers,
      sharedFilter: d.sharedFilter,
      state: packetId === 0 ? DeliveryState.Queued : DeliveryState.Published,
      packetId,
    };
    this.pendingEnqueues.set(seq, this.push({ op: 'enqueue', record }));
  }

  published(_session: JournaledSession, d: Delivery, packetId: number): void {
    this.setState(d, DeliveryState.Published, packetId);
  }

  released(_session: JournaledSession, d: Delivery, packetId: number): void {
    this.setState(d, DeliveryState.Released, packetId);
  }

  private setState(d: Delivery, state: DeliveryState, packetId: number): void {
    if (d.seq === 0) return;
    const index = this.pendingEnqueues.get(d.seq);
    if (index !== undefined) {
      // Not written yet: the enqueue itself carries the new state.
      const op = this.ops[index] as Extract<StoreOp, { op: 'enqueue' }>;
      op.record.state = state;
      op.record.packetId = packetId;
      return;
    }
    this.push({ op: 'delivery-state', seq: d.seq, state, packetId });
  }

  removed(_session: JournaledSession, d: Delivery): void {
    const seq = d.seq;
    if (seq === 0) return;
    d.seq = 0;
    const index = this.pendingEnqueues.get(seq);
    if (index !== undefined) {
      this.ops[index] = null;
      this.pendingEnqueues.delete(seq);
    } else {
      this.push({ op: 'complete', seq });
    }
    const message = d.message;
    const refs = (message.storeRefs ?? 1) - 1;
    message.storeRefs = refs;
    if (refs > 0) return;
    const messageId = message.storeId ?? 0;
    message.storeId = 0;
    if (messageId === 0) return;
    const messageIndex = this.pendingMessages.get(messageId);
    if (messageIndex !== undefined) {
      this.ops[messageIndex] = null;
      this.pendingMessages.delete(messageId);
    } else {
      this.push({ op: 'forget-message', id: messageId });
    }
  }
}

/** The stored form of `message` under `id`. */
export function storedMessage(message: Message, id: number): StoredMessage {
  const stored: StoredMessage = {
    id,
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain,
    properties: message.properties,
    publisherId: message.publisherId,
    receivedAt: message.receivedAt,
    expiresAt: message.expiresAt,
  };
  if (message.originId !== undefined) stored.originId = message.originId;
  return stored;
}

/**
 * The record of `session` for the store: offline since `disconnectedAt` (ms since the epoch;
 * undefined while connected), owing `will` at `willDueAt` when one waits out its delay.
 */
export function sessionRecord(
  session: { clientId: string; expiryInterval: number },
  disconnectedAt: number | undefined,
  will: Will | undefined,
  willDueAt: number | undefined,
): SessionRecord {
  return {
    clientId: session.clientId,
    expiryInterval: session.expiryInterval,
    disconnectedAt,
    will: storedWill(will),
    willDueAt,
  };
}

/** The stored form of a will, or undefined. */
export function storedWill(will: Will | undefined): StoredWill | undefined {
  if (will === undefined) return undefined;
  return { topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties: will.properties };
}

/** A Message made from a stored one, referring to it by id. */
export function restoredMessage(stored: Omit<StoredMessage, 'id'>, id: number): Message {
  const message: Message = { ...messageFields(stored), storeId: id, storeRefs: 0 };
  if (stored.originId !== undefined) message.originId = stored.originId;
  return message;
}
