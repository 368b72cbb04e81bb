/**
 * The conformance tests of whole batches: large and unicode values, the order of operations within
 * a batch, copies out of load(), all-or-nothing commits and random batches checked against the
 * reference MemoryStore. Registered by storeConformance (conformance.ts) inside its suite.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import type { ConformanceOptions, OpenedStore } from './conformance-types.js';
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
import { randomBatches, SeededRandom } from './conformance-random.js';
import { MemoryStore } from './memory.js';
import type { Store, StoredState, StoreOp } from './types.js';

/** Seed and number of runs of the random test: fixed, so that a failure reproduces. */
const RANDOM_SEED = 0x5eed;
const RANDOM_RUNS = 40;

/** What the suite hands its batch tests. */
export interface BatchTestContext {
  /** Commits `batches` in order; `load()` (then, where possible, a reopened store's) gives `expected`. */
  check: (batches: readonly (readonly StoreOp[])[], expected: StoredState) => Promise<void>;
  /** Runs `body` on a fresh store and releases it afterwards, whatever happens. */
  withFreshStore: (
    body: (opened: OpenedStore, current: () => Store, reopen: () => Promise<Store>) => Promise<void>,
  ) => Promise<void>;
  options: ConformanceOptions;
}

/** Registers the batch tests in the current node:test suite. */
export function batchTests({ check, withFreshStore, options }: BatchTestContext): void {
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
    await withFreshStore(async (_opened, current) => {
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
      await withFreshStore(async (_opened, current, reopen) => {
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
    const random = new SeededRandom(RANDOM_SEED);
    for (let run = 1; run <= RANDOM_RUNS; run++) {
      const batches = randomBatches(random);
      const reference = new MemoryStore();
      for (const batch of batches) await reference.commit(batch);
      try {
        await check(batches, await reference.load());
      } catch (error) {
        const where = `random run ${run} of ${RANDOM_RUNS} (seed ${RANDOM_SEED})`;
        throw new Error(`${where}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    }
  });
}
