// 36: the spool and shared subscriptions. When every member of a `$share` group has a full memory
// queue, a QoS 1/2 message is spooled to one member, the one with the least spooled (not dropped);
// each message still goes to one member only, in order per member; and when a member's session
// ends, what it had spooled for the group goes to another member, also after a restart.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { MemoryStore } from '../../src/store/memory.js';
import { retained } from '../../src/store/conformance-records.js';
import { spooled } from '../../src/store/conformance-spool.js';
import type { StoreOp } from '../../src/store/types.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { VERSIONS, startBroker, waitUntil } from '../helpers/broker.js';

/** A 100-byte payload that carries `i`. */
function payload(i: number): Buffer {
  const buf = Buffer.alloc(100, 0x2e);
  buf.write(String(i).padStart(8, '0'));
  return buf;
}

const index = (p: Buffer): number => Number(p.subarray(0, 8).toString());

/** Reads messages until none comes for `quietMs`, acknowledging each; returns their indexes. */
async function receiveUntilQuiet(client: RawClient, quietMs = 300): Promise<number[]> {
  const got: number[] = [];
  for (;;) {
    const message = await client.receive(quietMs).catch(() => undefined);
    if (message === undefined) return got;
    got.push(index(message.payload));
  }
}

const isIncreasing = (list: number[]): boolean => list.every((value, i) => i === 0 || list[i - 1]! < value);
const sorted = (list: number[]): number[] => [...list].sort((a, b) => a - b);
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

for (const v of VERSIONS) {
  const persistent = (clientId: string) => ({
    version: v,
    clientId,
    clean: false,
    ...(v === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });

  describe(`36 spool and shared subscriptions (v${v})`, () => {
    it(`when every member's memory queue is full, messages are spooled to the member with the least spooled, none dropped, each to one member, in order per member (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxQueuedMessages: 5 });
      for (const id of ['m1', 'm2']) {
        const member = await RawClient.connect(port, persistent(`share-${id}`));
        await member.subscribe('$share/g/sh/#', 1);
        await member.disconnect();
      }
      const pub = await RawClient.connect(port, { version: v, clientId: 'share-pub' });
      for (let i = 0; i < 60; i++) assert.equal(await pub.publish({ topic: 'sh/a', payload: payload(i), qos: 1 }), 0);
      assert.deepEqual(broker.counters.dropped['queue-full'], 0, 'nothing dropped');
      assert.equal(broker.spool.size.messages, 50, '5 in each memory queue, the rest spooled');
      const spilled = ['m1', 'm2'].map((id) => broker.sessions.get(`share-${id}`)!.spilledBytes);
      assert.deepEqual(spilled, [2500, 2500], 'the smallest backlog takes each one: the spool is shared evenly');
      const got: number[][] = [];
      for (const id of ['m1', 'm2']) {
        const member = await RawClient.connect(port, persistent(`share-${id}`));
        got.push(await receiveUntilQuiet(member));
        await member.disconnect();
      }
      assert.deepEqual(sorted(got.flat()), range(0, 60), 'every message to exactly one member');
      for (const list of got) assert.ok(isIncreasing(list), `in order per member: ${list.join(' ')}`);
      assert.equal(broker.spool.size.messages, 0);
      assert.equal(broker.spool.size.bytes, 0);
    });

    it(`a member's session that ends hands what it had spooled for the group to another member (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxQueuedMessages: 5, maxInflightMessages: 5 });
      // m1: a clean session that stops reading (5 in flight, 5 queued, then spooled); m2: offline.
      const m1 = await RawClient.connect(port, { version: v, clientId: 'end-m1' });
      await m1.subscribe('$share/g/end/#', 1);
      m1.stopReading();
      const m2 = await RawClient.connect(port, persistent('end-m2'));
      await m2.subscribe('$share/g/end/#', 1);
      await m2.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'end-pub' });
      for (let i = 0; i < 40; i++) await pub.publish({ topic: 'end/a', payload: payload(i), qos: 1 });
      const m1Spilled = broker.sessions.get('end-m1')!.spilledBytes;
      assert.ok(m1Spilled > 0, 'the ending member has messages spooled');
      assert.equal(broker.counters.dropped['queue-full'], 0);
      m1.destroy();
      const m2Session = broker.sessions.get('end-m2')!;
      await waitUntil(() => m2Session.spilledBytes === 3500, "all but m2's memory queue in m2's spool", 3000);
      assert.equal(broker.spool.size.messages, 35, 'nothing left with the ended member');
      const back = await RawClient.connect(port, persistent('end-m2'));
      const got = await receiveUntilQuiet(back);
      assert.deepEqual(sorted(got), range(0, 40), 'm2 gets every message m1 had not acknowledged, once');
      assert.equal(broker.spool.size.bytes, 0);
    });

    it(`with a store, the spool of a member ended before a restart, not yet handed over, goes to the group's members after it; its other rows are deleted (v${v})`, async (t) => {
      const store = new MemoryStore();
      const options: BrokerOptions = { host: '127.0.0.1', port: 0, sysInterval: 0, store, maxQueuedMessages: 5 };
      let broker = new Broker(options);
      let { port } = await broker.listen();
      t.after(async () => {
        destroyAllClients();
        await broker.close();
      });
      for (const id of ['m1', 'm2']) {
        const member = await RawClient.connect(port, persistent(`restart-${id}`));
        await member.subscribe('$share/g/rs/#', 1);
        await member.disconnect();
      }
      destroyAllClients();
      await broker.close();
      // What a stop in the middle of a hand-over leaves: the ended member's rows under an orphan key.
      const key = '\u0000orphan/restart-gone/1';
      const ops: StoreOp[] = range(1, 13).map((n) => ({
        op: 'spool',
        record: spooled(key, n, 100, {
          message: retained('rs/a', { payload: payload(n), qos: 1, retain: false }),
          sharedFilter: n === 4 || n === 9 ? undefined : '$share/g/rs/#',
        }),
      }));
      await store.commit(ops);
      broker = new Broker(options);
      ({ port } = await broker.listen());
      await waitUntil(() => broker.spool.size.messages === 0, 'the hand-over after the restart', 3000);
      const got: number[] = [];
      for (const id of ['m1', 'm2']) {
        const member = await RawClient.connect(port, persistent(`restart-${id}`));
        got.push(...(await receiveUntilQuiet(member)));
      }
      assert.deepEqual(sorted(got), [1, 2, 3, 5, 6, 7, 8, 10, 11, 12], 'the shared rows, each to one member');
      assert.deepEqual((await store.load()).spools, []);
    });
  });
}
