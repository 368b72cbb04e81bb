/**
 * The client's offline store: the QoS 1/2 messages its session holds (queued while offline, or
 * published and unacknowledged) and the incoming QoS 2 ids awaiting PUBREL, kept in a Store (the
 * project's seam: `MemoryStore`, `SqliteStore` from `fennec-mqtt/store`) so that they survive a
 * restart of the application. The client's Session reports every change to this journal, which
 * commits it before the session writes the PUBLISH or PUBREL it concerns; a store whose `commit`
 * applies within the call (both of the project's stores) then never holds less than the broker may
 * have seen, so that after a crash QoS 2 is re-sent with its packet id and completes exactly once.
 */
import { messageFields, type Delivery, type Message } from '../session/message.js';
import type { Session } from '../session/session.js';
import type { JournaledSession, SessionJournal } from '../session/types.js';
import { DeliveryState, type Store, type StoredState, type StoreOp } from '../store/types.js';
import { MqttClientError } from './errors.js';

/** Where the client keeps its queue and in-flight messages across restarts: any Store. One client id per store. */
export type OfflineStore = Store;

interface Entry {
  seq: number;
  messageId: number;
  state: DeliveryState;
}

export class ClientJournal implements SessionJournal {
  private readonly entries = new Map<Delivery, Entry>();
  /** Incoming QoS 2 ids the store holds, so that a reset can forget them. */
  private readonly incoming = new Set<number>();
  private nextId: number;

  private constructor(
    private readonly store: OfflineStore,
    private readonly clientId: string,
    state: StoredState,
    /** Told when a commit fails: the message stays in memory, but would not survive a restart. */
    private readonly failed: (error: MqttClientError) => void,
  ) {
    let top = 0;
    for (const m of state.messages) top = Math.max(top, m.id);
    for (const d of state.deliveries) top = Math.max(top, d.seq);
    this.nextId = top + 1;
  }

  /**
   * Reads what an earlier process left for `clientId` and puts it back into `session`: queued
   * messages into its queue, published ones into flight with their packet ids (re-sent with DUP on
   * the next connection), incoming QoS 2 ids into its held set. Returns the journal, attached.
   */
  static async open(
    store: OfflineStore,
    session: Session,
    failed: (error: MqttClientError) => void,
  ): Promise<ClientJournal> {
    let state: StoredState;
    try {
      state = await store.load();
    } catch (err) {
      throw new MqttClientError('ERR_CLIENT_STORE', `cannot read the offline store ${store.description}`, {
        cause: err,
      });
    }
    const journal = new ClientJournal(store, session.clientId, state, failed);
    journal.restore(state, session);
    session.journal = journal;
    journal.commit([
      {
        op: 'session',
        record: {
          clientId: session.clientId,
          expiryInterval: session.expiryInterval,
          disconnectedAt: undefined,
          will: undefined,
          willDueAt: undefined,
        },
      },
    ]);
    return journal;
  }

  private restore(state: StoredState, session: Session): void {
    const messages = new Map(state.messages.map((m) => [m.id, m]));
    for (const record of state.deliveries) {
      if (record.clientId !== this.clientId) continue;
      const stored = messages.get(record.messageId);
      if (stored === undefined) continue;
      const message: Message = messageFields(stored);
      const d: Delivery = {
        message,
        qos: record.qos,
        retain: record.retain,
        subscriptionIdentifiers: undefined,
        sharedFilter: undefined,
        seq: record.seq,
      };
      this.entries.set(d, { seq: record.seq, messageId: record.messageId, state: record.state });
      session.restore(d, record.packetId, record.state === DeliveryState.Released);
    }
    for (const { clientId, packetId } of state.incomingQoS2) {
      if (clientId !== this.clientId) continue;
      session.restoreQoS2(packetId);
      this.incoming.add(packetId);
    }
  }

  added(_session: JournaledSession, d: Delivery, packetId: number): void {
    const entry: Entry = {
      seq: this.nextId++,
      messageId: this.nextId++,
      state: packetId === 0 ? DeliveryState.Queued : DeliveryState.Published,
    };
    this.entries.set(d, entry);
    const m = d.message;
    this.commit([
      {
        op: 'message',
        message: { id: entry.messageId, ...messageFields(m) },
      },
      {
        op: 'enqueue',
        record: {
          seq: entry.seq,
          clientId: this.clientId,
          messageId: entry.messageId,
          qos: d.qos,
          retain: d.retain,
          subscriptionIdentifiers: undefined,
          sharedFilter: undefined,
          state: entry.state,
          packetId,
        },
      },
    ]);
  }

  published(_session: JournaledSession, d: Delivery, packetId: number): void {
    this.setState(d, DeliveryState.Published, packetId);
  }

  released(_session: JournaledSession, d: Delivery, packetId: number): void {
    this.setState(d, DeliveryState.Released, packetId);
  }

  removed(_session: JournaledSession, d: Delivery): void {
    const entry = this.entries.get(d);
    if (entry === undefined) return;
    this.entries.delete(d);
    this.commit([
      { op: 'complete', seq: entry.seq },
      { op: 'forget-message', id: entry.messageId },
    ]);
  }

  qos2Received(_session: JournaledSession, packetId: number): void {
    this.incoming.add(packetId);
    this.commit([{ op: 'qos2-received', clientId: this.clientId, packetId }]);
  }

  qos2Released(_session: JournaledSession, packetId: number): void {
    this.incoming.delete(packetId);
    this.commit([{ op: 'qos2-released', clientId: this.clientId, packetId }]);
  }

  /**
   * The broker answered Session Present 0 and the session's flows were reset: the deliveries it had
   * received (`done`) are removed, those it had not wait in the queue again, without packet id, and
   * the incoming QoS 2 ids are forgotten with the broker's session.
   */
  flowsReset(session: JournaledSession, done: readonly Delivery[]): void {
    for (const d of done) this.removed(session, d);
    for (const packetId of [...this.incoming]) this.qos2Released(session, packetId);
    for (const [d, entry] of this.entries) {
      if (entry.state !== DeliveryState.Queued) this.setState(d, DeliveryState.Queued, 0);
    }
  }

  private setState(d: Delivery, state: DeliveryState, packetId: number): void {
    const entry = this.entries.get(d);
    if (entry === undefined) return;
    entry.state = state;
    this.commit([{ op: 'delivery-state', seq: entry.seq, state, packetId }]);
  }

  private commit(ops: StoreOp[]): void {
    this.store.commit(ops).catch((err: unknown) => {
      this.failed(
        new MqttClientError('ERR_CLIENT_STORE', `cannot write the offline store ${this.store.description}`, {
          cause: err,
        }),
      );
    });
  }
}
