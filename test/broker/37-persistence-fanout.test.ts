// Fan-out into persistent sessions: a delivery acknowledged before its batch is committed is never
// written, nor is its message once every subscriber acknowledged it. The publisher's PUBACK still
// waits for the batch: acknowledging after the commit holds for the deliveries cancelled out too.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../src/broker/broker.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { StoreOp } from '../../src/store/types.js';
import * as packets from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';

/** A MemoryStore that records the operations it committed, and whose commits wait while it is shut. */
class RecordingStore extends MemoryStore {
  readonly committed: StoreOp[] = [];
  private gate: Promise<void> | undefined;
  private release: () => void = () => undefined;

  override async commit(ops: readonly StoreOp[]): Promise<void> {
    while (this.gate !== undefined) await this.gate;
    this.committed.push(...ops);
    return super.commit(ops);
  }

  shut(): void {
    this.gate ??= new Promise<void>((resolve) => (this.release = resolve));
  }

  open(): void {
    this.gate = undefined;
    this.release();
  }
}

const SUBSCRIBERS = 5;
const MESSAGES = 20;

describe('37 persistence under fan-out', () => {
  it('QoS 1 deliveries to persistent sessions acknowledged while a commit waits are never written, and the PUBACK waits for that commit', async (t) => {
    const store = new RecordingStore();
    const broker = new Broker({ host: '127.0.0.1', port: 0, store });
    t.after(async () => {
      store.open();
      destroyAllClients();
      await broker.close();
    });
    const port = (await broker.listen()).port;
    const subs: RawClient[] = [];
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const sub = await RawClient.connect(port, { version: 4, clientId: `fan-${i}`, clean: false });
      await sub.subscribe('fan/#', 1);
      subs.push(sub);
    }
    const pub = await RawClient.connect(port, { version: 4, clientId: 'fan-pub', clean: true });
    // A commit that waits: a retained message nobody subscribed to, in a batch of its own.
    store.shut();
    pub.send(packets.publish(4, { topic: 'other/r', payload: 'r', qos: 1, retain: true, packetId: 100 }));
    await pub.expectNothing(100);
    const before = store.committed.length;
    for (let m = 1; m <= MESSAGES; m++) {
      pub.send(packets.publish(4, { topic: `fan/${m}`, payload: `m${m}`, qos: 1, packetId: m }));
    }
    for (const sub of subs) {
      for (let m = 1; m <= MESSAGES; m++) assert.equal((await sub.receive()).payload.toString(), `m${m}`);
      // The broker handles one connection's packets in order: its PUBACKs are in once PINGRESP is back.
      await sub.ping();
    }
    // Acknowledged by every subscriber, but the batch holding them waits behind the shut commit.
    await pub.expectNothing(100);
    assert.equal(store.committed.length, before);
    store.open();
    const acked = new Set<number>();
    while (acked.size < MESSAGES + 1) acked.add((await pub.next('puback')).packetId);
    await broker.persistence!.drain();
    const written = store.committed.slice(before).filter((op) => op.op === 'message' || op.op === 'enqueue');
    assert.deepEqual(written, []);
    const state = await store.load();
    assert.deepEqual([state.messages.length, state.deliveries.length], [0, 0]);
    assert.ok(broker.persistence!.counters.cancelled >= MESSAGES * (1 + SUBSCRIBERS));
  });
});
