/**
 * The store conformance suite: what every Store (memory, SQLite, a third party's) must do, as
 * node:test tests. `storeConformance(name, open)` registers them; `open` gives a new, empty store
 * each time. It ships with the package (`fennec-mqtt/store`) so that any store can prove itself.
 *
 * Each test commits batches, then checks `load()` on the same store and, when the implementation
 * can reopen its data (`reopen`), again on a reopened store: what a restart reads back.
 * Sessions, subscriptions, incoming QoS 2 ids and retained messages are compared as sets; messages
 * in id order and deliveries in seq order, which is part of the contract.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  delivery,
  emptyState,
  fullProperties,
  message,
  normalize,
  retained,
  session,
  subscription,
} from './conformance-records.js';
import { batchTests } from './conformance-batches.js';
import { spoolTests } from './conformance-spool.js';
import type { ConformanceOptions, OpenedStore } from './conformance-types.js';

export type { ConformanceOptions, OpenedStore } from './conformance-types.js';
import { DeliveryState, type Store, type StoredState, type StoreOp } from './types.js';

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

/**
 * Registers the conformance tests of a store as a node:test suite named `Store conformance: ${name}`.
 * `open` gives a new, empty store each time (with `reopen` when its data outlives it, and `cleanup`).
 */
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

    batchTests({ check, withFreshStore: (body) => withStore(open, body), options });
    spoolTests((body) => withStore(open, body));
  });
}
