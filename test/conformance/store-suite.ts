/**
 * The store conformance suite: what every Store (memory, SQLite, ...) must do, as node:test tests.
 * `storeConformance(name, open)` registers them; `open` gives a new, empty store each time.
 *
 * Each test commits batches, then checks `load()` on the same store and, when the implementation
 * can reopen its data (`reopen`), again on a reopened store: what a restart reads back.
 * Sessions, subscriptions, incoming QoS 2 ids and retained messages are compared as sets; messages
 * in id order and deliveries in seq order, which is part of the contract.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { PublishProperties } from '../../src/protocol/index.js';
import {
  DeliveryState,
  MemoryStore,
  type DeliveryRecord,
  type SessionRecord,
  type Store,
  type StoredMessage,
  type StoredRetained,
  type StoredState,
  type StoreOp,
  type SubscriptionRecord,
} from '../../src/store/index.js';

/** A store under test. */
export interface OpenedStore {
  store: Store;
  /** Closes `store` and opens the same data again, as a restart would; absent for stores that cannot. */
  reopen?: () => Promise<Store>;
  /** Removes what the store left behind (files); called after the last store is closed. */
  cleanup?: () => Promise<void>;
}

export interface ConformanceOptions {
  /**
   * An operation this store refuses (e.g. breaking a constraint), to check that a batch failing on
   * its last operation leaves no earlier operation applied. Absent: that test is not registered.
   */
  refusedOp?: StoreOp;
}

/** The empty state. */
export function emptyState(): StoredState {
  return { sessions: [], subscriptions: [], messages: [], deliveries: [], incomingQoS2: [], retained: [] };
}

/** Sorts what the contract leaves unordered, so two states compare with deepStrictEqual. */
export function normalize(state: StoredState): StoredState {
  const byString =
    <T>(key: (item: T) => string) =>
    (a: T, b: T) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
  return {
    sessions: [...state.sessions].sort(byString((s) => s.clientId)),
    subscriptions: [...state.subscriptions].sort(byString((s) => `${s.clientId}\u0000${s.topicFilter}`)),
    messages: state.messages,
    deliveries: state.deliveries,
    incomingQoS2: [...state.incomingQoS2].sort((a, b) =>
      a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : a.packetId - b.packetId,
    ),
    retained: [...state.retained].sort(byString((r) => r.topic)),
  };
}

/** Properties using every PUBLISH property, with repeated and non-ASCII user properties in a set order. */
export const fullProperties: PublishProperties = {
  payloadFormatIndicator: true,
  messageExpiryInterval: 3600,
  topicAlias: 12,
  contentType: 'application/json; charset=utf-8',
  responseTopic: 'replies/ü/1',
  correlationData: Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]),
  userProperties: [
    ['b', '2'],
    ['a', '1'],
    ['b', '1'],
    ['', ''],
    ['ключ', '値 🦊'],
  ],
  subscriptionIdentifiers: [7, 1, 268_435_455],
};

export function message(id: number, fields: Partial<StoredMessage> = {}): StoredMessage {
  return {
    id,
    topic: `sensors/${id}/temperature`,
    payload: Buffer.from(`payload ${id}`),
    qos: 1,
    retain: false,
    properties: undefined,
    publisherId: 'publisher',
    receivedAt: 1_764_000_000_000 + id,
    expiresAt: undefined,
    ...fields,
  };
}

export function retained(topic: string, fields: Partial<StoredRetained> = {}): StoredRetained {
  const { id: _id, ...rest } = message(1, { topic, retain: true, ...fields });
  return rest;
}

export function session(clientId: string, fields: Partial<SessionRecord> = {}): SessionRecord {
  return { clientId, expiryInterval: 300, disconnectedAt: undefined, will: undefined, willDueAt: undefined, ...fields };
}

export function subscription(
  clientId: string,
  topicFilter: string,
  fields: Partial<SubscriptionRecord> = {},
): SubscriptionRecord {
  return {
    clientId,
    topicFilter,
    qos: 1,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
    subscriptionIdentifier: undefined,
    ...fields,
  };
}

export function delivery(
  seq: number,
  clientId: string,
  messageId: number,
  fields: Partial<DeliveryRecord> = {},
): DeliveryRecord {
  return {
    seq,
    clientId,
    messageId,
    qos: 1,
    retain: false,
    subscriptionIdentifiers: undefined,
    sharedFilter: undefined,
    state: DeliveryState.Queued,
    packetId: 0,
    ...fields,
  };
}

/** Runs `body` on a fresh store and releases it afterwards, whatever happens. */
async function withStore(
  open: () => Promise<OpenedStore>,
  body: (opened: OpenedStore, current: () => Store, reopen: () => Promise<Store>) => Promise<void>,
): Promise<void> {
  const opened = await open();
  let store = opened.store;
  let closed = false;
  try {
    await body(
      opened,
      () => store,
      async () => {
        if (opened.reopen === undefined) return store;
        closed = true;
        store = await opened.reopen();
        closed = false;
        return store;
      },
    );
  } finally {
    if (!closed) await store.close();
    await opened.cleanup?.();
  }
}

export function storeConformance(
  name: string,
  open: () => Promise<OpenedStore>,
  options: ConformanceOptions = {},
): void {
  /** Commits `batches` in order; `load()` (then, where possible, a reopened store's) gives `expected`. */
  async function check(batches: readonly (readonly StoreOp[])[], expected: StoredState): Promise<void> {
    await withStore(open, async (_opened, current, reopen) => {
      for (const batch of batches) await current().commit(batch);
      assert.deepStrictEqual(normalize(await current().load()), normalize(expected), 'load() after commit');
      await reopen();
      assert.deepStrictEqual(normalize(await current().load()), normalize(expected), 'load() after reopen');
    });
  }

  describe(`Store conformance: ${name}`, () => {
    it('a new store loads an empty state', async () => {
      await check([], emptyState());
    });

    it('session creates a record and a second one replaces it, keeping its subscriptions and deliveries', async () => {
      const replaced = session('c1', { expiryInterval: 0xffff_ffff, disconnectedAt: 1_764_000_000_123 });
      await check(
        [
          [
            { op: 'session', record: session('c1') },
            { op: 'subscribe', record: subscription('c1', 'a/#') },
            { op: 'message', message: message(1) },
            { op: 'enqueue', record: delivery(1, 'c1', 1) },
          ],
          [
            { op: 'session', record: replaced },
            { op: 'session', record: session('c2', { expiryInterval: 0 }) },
          ],
        ],
        {
          ...emptyState(),
          sessions: [replaced, session('c2', { expiryInterval: 0 })],
          subscriptions: [subscription('c1', 'a/#')],
          messages: [message(1)],
          deliveries: [delivery(1, 'c1', 1)],
        },
      );
    });

    it('a session keeps its will with properties, delay and due time exactly', async () => {
      const { subscriptionIdentifiers: _ids, ...willProperties } = fullProperties;
      const waiting = session('w1', {
        disconnectedAt: 1_764_000_000_000,
        will: {
          topic: 'clients/w1/status',
          payload: Buffer.from('gone'),
          qos: 2,
          retain: true,
          properties: { ...willProperties, willDelayInterval: 30 },
        },
        willDueAt: 1_764_000_030_000,
      });
      const attached = session('w2', {
        will: { topic: 'clients/w2/status', payload: Buffer.alloc(0), qos: 0, retain: false, properties: undefined },
      });
      const noWillButDue = session('w3', { willDueAt: 1_764_000_000_500 });
      await check(
        [
          [
            { op: 'session', record: waiting },
            { op: 'session', record: attached },
            { op: 'session', record: noWillButDue },
          ],
        ],
        { ...emptyState(), sessions: [waiting, attached, noWillButDue] },
      );
    });

    it('end-session deletes the session with its subscriptions, deliveries and incoming QoS 2 ids, and nothing of other clients', async () => {
      const setup: StoreOp[] = [];
      for (const clientId of ['gone', 'stays']) {
        setup.push(
          { op: 'session', record: session(clientId) },
          { op: 'subscribe', record: subscription(clientId, 'a/+') },
          { op: 'subscribe', record: subscription(clientId, 'b/#') },
          { op: 'qos2-received', clientId, packetId: 10 },
          { op: 'qos2-received', clientId, packetId: 11 },
        );
      }
      setup.push(
        { op: 'message', message: message(1) },
        { op: 'message', message: message(2) },
        { op: 'enqueue', record: delivery(1, 'gone', 1) },
        { op: 'enqueue', record: delivery(2, 'stays', 1) },
        { op: 'enqueue', record: delivery(3, 'gone', 2, { state: DeliveryState.Published, packetId: 5 }) },
        { op: 'enqueue', record: delivery(4, 'stays', 2) },
      );
      await check([setup, [{ op: 'end-session', clientId: 'gone' }]], {
        sessions: [session('stays')],
        subscriptions: [subscription('stays', 'a/+'), subscription('stays', 'b/#')],
        // Messages are the broker's to forget: end-session leaves them.
        messages: [message(1), message(2)],
        deliveries: [delivery(2, 'stays', 1), delivery(4, 'stays', 2)],
        incomingQoS2: [
          { clientId: 'stays', packetId: 10 },
          { clientId: 'stays', packetId: 11 },
        ],
        retained: [],
      });
    });

    it('subscribe replaces the subscription of the same client and filter; unsubscribe deletes only that one', async () => {
      const replacement = subscription('c1', 'a/+', {
        qos: 2,
        noLocal: true,
        retainAsPublished: true,
        retainHandling: 2,
        subscriptionIdentifier: 268_435_455,
      });
      await check(
        [
          [
            { op: 'subscribe', record: subscription('c1', 'a/+') },
            { op: 'subscribe', record: subscription('c1', 'b') },
            { op: 'subscribe', record: subscription('c2', 'a/+', { qos: 0, retainHandling: 1 }) },
            { op: 'subscribe', record: subscription('c1', '$share/g/a/+', { subscriptionIdentifier: 1 }) },
          ],
          [
            { op: 'subscribe', record: replacement },
            { op: 'unsubscribe', clientId: 'c1', topicFilter: 'b' },
            { op: 'unsubscribe', clientId: 'c1', topicFilter: 'never/subscribed' },
            { op: 'unsubscribe', clientId: 'nobody', topicFilter: 'a/+' },
          ],
        ],
        {
          ...emptyState(),
          subscriptions: [
            replacement,
            subscription('c2', 'a/+', { qos: 0, retainHandling: 1 }),
            subscription('c1', '$share/g/a/+', { subscriptionIdentifier: 1 }),
          ],
        },
      );
    });

    it('message stores a message and forget-message deletes it; messages load in id order', async () => {
      await check(
        [
          [
            { op: 'message', message: message(3, { qos: 2, retain: true, expiresAt: 1_764_000_100_000 }) },
            { op: 'message', message: message(1) },
            { op: 'message', message: message(2) },
          ],
          [
            { op: 'forget-message', id: 2 },
            { op: 'forget-message', id: 99 },
          ],
        ],
        {
          ...emptyState(),
          messages: [message(1), message(3, { qos: 2, retain: true, expiresAt: 1_764_000_100_000 })],
        },
      );
    });

    it('message properties round-trip exactly: user property order, correlation data bytes and every other property', async () => {
      const cases = [
        message(1, { properties: fullProperties }),
        message(2, { properties: {} }),
        message(3, { properties: { payloadFormatIndicator: false, userProperties: [] } }),
        message(4, { properties: { correlationData: Buffer.alloc(0), subscriptionIdentifiers: [] } }),
        message(5, { properties: { messageExpiryInterval: 0xffff_ffff, correlationData: Buffer.alloc(300, 0xaa) } }),
      ];
      await check([cases.map((m): StoreOp => ({ op: 'message', message: m }))], { ...emptyState(), messages: cases });
    });

    it('enqueue, delivery-state and complete track deliveries, which load in seq order', async () => {
      await check(
        [
          [
            { op: 'message', message: message(1) },
            { op: 'enqueue', record: delivery(5, 'c1', 1, { subscriptionIdentifiers: [3, 1, 2] }) },
            { op: 'enqueue', record: delivery(3, 'c1', 1, { qos: 2, retain: true, subscriptionIdentifiers: [] }) },
            { op: 'enqueue', record: delivery(4, 'c2', 1, { sharedFilter: '$share/g/sensors/#' }) },
            { op: 'enqueue', record: delivery(6, 'c1', 1) },
          ],
          [
            { op: 'delivery-state', seq: 3, state: DeliveryState.Published, packetId: 65_535 },
            { op: 'delivery-state', seq: 5, state: DeliveryState.Published, packetId: 1 },
            { op: 'delivery-state', seq: 77, state: DeliveryState.Published, packetId: 2 },
          ],
          [
            { op: 'delivery-state', seq: 3, state: DeliveryState.Released, packetId: 65_535 },
            { op: 'complete', seq: 5 },
            { op: 'complete', seq: 1000 },
          ],
        ],
        {
          ...emptyState(),
          messages: [message(1)],
          deliveries: [
            delivery(3, 'c1', 1, {
              qos: 2,
              retain: true,
              subscriptionIdentifiers: [],
              state: DeliveryState.Released,
              packetId: 65_535,
            }),
            delivery(4, 'c2', 1, { sharedFilter: '$share/g/sensors/#' }),
            delivery(6, 'c1', 1),
          ],
        },
      );
    });

    it('qos2-received records a client packet id once and qos2-released deletes it', async () => {
      await check(
        [
          [
            { op: 'qos2-received', clientId: 'c1', packetId: 1 },
            { op: 'qos2-received', clientId: 'c1', packetId: 65_535 },
            { op: 'qos2-received', clientId: 'c2', packetId: 1 },
          ],
          [
            { op: 'qos2-received', clientId: 'c1', packetId: 1 },
            { op: 'qos2-released', clientId: 'c2', packetId: 1 },
            { op: 'qos2-released', clientId: 'c2', packetId: 2 },
          ],
        ],
        {
          ...emptyState(),
          incomingQoS2: [
            { clientId: 'c1', packetId: 1 },
            { clientId: 'c1', packetId: 65_535 },
          ],
        },
      );
    });

    it('retain sets the retained message of its topic, replacing the previous one; unretain deletes it', async () => {
      const newer = retained('a/b', { payload: Buffer.from('newer'), qos: 2, properties: fullProperties });
      await check(
        [
          [
            { op: 'retain', message: retained('a/b') },
            { op: 'retain', message: retained('a/c', { expiresAt: 1_764_000_500_000 }) },
            { op: 'retain', message: retained('a/d') },
          ],
          [
            { op: 'retain', message: newer },
            { op: 'unretain', topic: 'a/d' },
            { op: 'unretain', topic: 'never/retained' },
          ],
        ],
        { ...emptyState(), retained: [newer, retained('a/c', { expiresAt: 1_764_000_500_000 })] },
      );
    });

    it('empty and 1 MiB payloads and unicode topics and client ids round-trip exactly', async () => {
      const large = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < large.length; i++) large[i] = (i * 7 + (i >> 8)) & 0xff;
      const empty = message(1, { payload: Buffer.alloc(0) });
      const big = message(2, { payload: large, topic: 'big/ΣΩ/🦊' });
      const unicode = message(3, { topic: 'capteurs/été/温度/🦊', publisherId: 'éditeur-温' });
      await check(
        [
          [
            { op: 'message', message: empty },
            { op: 'message', message: big },
            { op: 'message', message: unicode },
            { op: 'retain', message: retained('', { payload: Buffer.alloc(0) }) },
            { op: 'retain', message: retained('/ü/🦊/', { payload: large }) },
            { op: 'session', record: session('клиент-🦊') },
            { op: 'subscribe', record: subscription('клиент-🦊', 'capteurs/été/+/#') },
            { op: 'enqueue', record: delivery(1, 'клиент-🦊', 3) },
            { op: 'qos2-received', clientId: 'клиент-🦊', packetId: 9 },
          ],
        ],
        {
          sessions: [session('клиент-🦊')],
          subscriptions: [subscription('клиент-🦊', 'capteurs/été/+/#')],
          messages: [empty, big, unicode],
          deliveries: [delivery(1, 'клиент-🦊', 3)],
          incomingQoS2: [{ clientId: 'клиент-🦊', packetId: 9 }],
          retained: [retained('', { payload: Buffer.alloc(0) }), retained('/ü/🦊/', { payload: large })],
        },
      );
    });

    it('the operations of one batch apply in order', async () => {
      await check(
        [
          [
            { op: 'message', message: message(1) },
            { op: 'enqueue', record: delivery(1, 'c1', 1) },
            { op: 'complete', seq: 1 },
            { op: 'forget-message', id: 1 },
            { op: 'subscribe', record: subscription('c1', 'x') },
            { op: 'unsubscribe', clientId: 'c1', topicFilter: 'x' },
            { op: 'subscribe', record: subscription('c1', 'y') },
            { op: 'session', record: session('c2') },
            { op: 'subscribe', record: subscription('c2', 'z') },
            { op: 'end-session', clientId: 'c2' },
            { op: 'session', record: session('c2', { expiryInterval: 60 }) },
            { op: 'retain', message: retained('r') },
            { op: 'unretain', topic: 'r' },
            { op: 'retain', message: retained('r', { payload: Buffer.from('again') }) },
            { op: 'qos2-released', clientId: 'c1', packetId: 4 },
            { op: 'qos2-received', clientId: 'c1', packetId: 4 },
          ],
        ],
        {
          ...emptyState(),
          sessions: [session('c2', { expiryInterval: 60 })],
          subscriptions: [subscription('c1', 'y')],
          incomingQoS2: [{ clientId: 'c1', packetId: 4 }],
          retained: [retained('r', { payload: Buffer.from('again') })],
        },
      );
    });

    it('load() returns copies: changing what it returned does not change the store', async () => {
      await withStore(open, async (_opened, current) => {
        await current().commit([
          { op: 'message', message: message(1, { properties: fullProperties }) },
          { op: 'retain', message: retained('r') },
        ]);
        const first = await current().load();
        first.messages[0]!.payload.fill(0);
        first.messages[0]!.properties!.correlationData!.fill(0);
        first.messages[0]!.properties!.userProperties!.reverse();
        first.retained[0]!.payload.fill(0);
        const second = await current().load();
        assert.deepStrictEqual(second.messages, [message(1, { properties: fullProperties })]);
        assert.deepStrictEqual(second.retained, [retained('r')]);
      });
    });

    if (options.refusedOp !== undefined) {
      const refusedOp = options.refusedOp;
      it('a batch whose last operation fails leaves none of its operations applied, and the store keeps working', async () => {
        await withStore(open, async (_opened, current, reopen) => {
          const before: StoreOp[] = [{ op: 'session', record: session('c1') }];
          await current().commit(before);
          const batch: StoreOp[] = [
            { op: 'session', record: session('c1', { expiryInterval: 1 }) },
            { op: 'message', message: message(1) },
            { op: 'enqueue', record: delivery(1, 'c1', 1) },
            { op: 'retain', message: retained('r') },
            { op: 'end-session', clientId: 'c1' },
            refusedOp,
          ];
          await assert.rejects(current().commit(batch), (error: unknown) => {
            assert.ok(error instanceof Error && 'code' in error, `a FennecError, got ${String(error)}`);
            return true;
          });
          const unchanged = { ...emptyState(), sessions: [session('c1')] };
          assert.deepStrictEqual(normalize(await current().load()), unchanged);
          await reopen();
          assert.deepStrictEqual(normalize(await current().load()), unchanged);
          await current().commit(batch.slice(0, -2));
          assert.deepStrictEqual(normalize(await current().load()), {
            ...emptyState(),
            sessions: [session('c1', { expiryInterval: 1 })],
            messages: [message(1)],
            deliveries: [delivery(1, 'c1', 1)],
            retained: [retained('r')],
          });
        });
      });
    }

    it('random batches of every operation leave the same state as the reference memory store', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(arbitraryOp, { maxLength: 25 }), { maxLength: 8 }), async (batches) => {
          const reference = new MemoryStore();
          for (const batch of batches) await reference.commit(batch);
          await check(batches, await reference.load());
        }),
        { numRuns: 40, seed: 0x5eed },
      );
    });
  });
}

// Few client ids, filters, topics, ids and sequence numbers, so that random operations often meet.
const clientId = fc.constantFrom('c1', 'c2', 'ç3');
const smallId = fc.integer({ min: 1, max: 6 });
const topic = fc.constantFrom('a', 'a/b', 'ü/🦊', '');
const qos = fc.constantFrom(0 as const, 1 as const, 2 as const);
const packetId = fc.integer({ min: 1, max: 65_535 });
const optionalTime = fc.option(fc.integer({ min: 0, max: 2 ** 42 }), { nil: undefined });
const properties: fc.Arbitrary<PublishProperties | undefined> = fc.option(
  fc.record(
    {
      payloadFormatIndicator: fc.boolean(),
      messageExpiryInterval: fc.integer({ min: 0, max: 0xffff_ffff }),
      contentType: fc.string(),
      responseTopic: fc.string({ unit: 'grapheme' }),
      correlationData: fc.uint8Array({ maxLength: 20 }).map((bytes) => Buffer.from(bytes)),
      userProperties: fc.array(fc.tuple(fc.string(), fc.string({ unit: 'grapheme' })), { maxLength: 4 }),
      subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { maxLength: 3 }),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);
const payload = fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes));
const retainedArb: fc.Arbitrary<StoredRetained> = fc.record({
  topic,
  payload,
  qos,
  retain: fc.boolean(),
  properties,
  publisherId: fc.string(),
  receivedAt: fc.integer({ min: 0, max: 2 ** 42 }),
  expiresAt: optionalTime,
});
const state = fc.constantFrom(DeliveryState.Queued, DeliveryState.Published, DeliveryState.Released);

const arbitraryOp: fc.Arbitrary<StoreOp> = fc.oneof(
  fc.record({
    op: fc.constant('session' as const),
    record: fc.record({
      clientId,
      expiryInterval: fc.integer({ min: 0, max: 0xffff_ffff }),
      disconnectedAt: optionalTime,
      will: fc.option(
        fc.record({
          topic,
          payload,
          qos,
          retain: fc.boolean(),
          properties: properties.map((p) => (p === undefined ? p : { ...p, willDelayInterval: 5 })),
        }),
        { nil: undefined },
      ),
      willDueAt: optionalTime,
    }),
  }),
  fc.record({ op: fc.constant('end-session' as const), clientId }),
  fc.record({
    op: fc.constant('subscribe' as const),
    record: fc.record({
      clientId,
      topicFilter: fc.constantFrom('a', 'a/+', '#', '$share/g/a'),
      qos,
      noLocal: fc.boolean(),
      retainAsPublished: fc.boolean(),
      retainHandling: qos,
      subscriptionIdentifier: fc.option(fc.integer({ min: 1, max: 268_435_455 }), { nil: undefined }),
    }),
  }),
  fc.record({ op: fc.constant('unsubscribe' as const), clientId, topicFilter: fc.constantFrom('a', 'a/+', '#') }),
  fc.record({
    op: fc.constant('message' as const),
    message: fc.tuple(smallId, retainedArb).map(([id, rest]): StoredMessage => ({ id, ...rest })),
  }),
  fc.record({ op: fc.constant('forget-message' as const), id: smallId }),
  fc.record({
    op: fc.constant('enqueue' as const),
    record: fc.record({
      seq: smallId,
      clientId,
      messageId: smallId,
      qos,
      retain: fc.boolean(),
      subscriptionIdentifiers: fc.option(fc.array(fc.integer({ min: 1, max: 268_435_455 }), { maxLength: 3 }), {
        nil: undefined,
      }),
      sharedFilter: fc.option(fc.constant('$share/g/a'), { nil: undefined }),
      state,
      packetId: fc.integer({ min: 0, max: 65_535 }),
    }),
  }),
  fc.record({ op: fc.constant('delivery-state' as const), seq: smallId, state, packetId }),
  fc.record({ op: fc.constant('complete' as const), seq: smallId }),
  fc.record({ op: fc.constant('qos2-received' as const), clientId, packetId: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant('qos2-released' as const), clientId, packetId: fc.integer({ min: 1, max: 3 }) }),
  fc.record({ op: fc.constant('retain' as const), message: retainedArb }),
  fc.record({ op: fc.constant('unretain' as const), topic }),
);
