// 30: persistence across a restart, in one process: a broker closes and another starts on the same
// store. Sessions, subscriptions, queued and in-flight QoS 1/2 messages, incoming QoS 2 ids and
// retained messages come back; clean sessions and QoS 0 never reach the store; acknowledgements wait
// for the commit. Crashes with SIGKILL and the SQLite store are in test/persistence/.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { FennecError } from '../../src/errors/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { Store, StoredState, StoreOp } from '../../src/store/types.js';
import type * as pkt from '../helpers/packets.js';
import * as packets from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { VERSIONS, cite, sleep, waitUntil } from '../helpers/broker.js';

/** Brokers started one after another on one store, as a process restarting would. */
class Restarts {
  broker: Broker | undefined;
  port = 0;

  constructor(
    t: TestContext,
    readonly store: Store,
    private readonly options: BrokerOptions = {},
  ) {
    t.after(async () => {
      destroyAllClients();
      await this.broker?.close();
    });
  }

  async start(): Promise<number> {
    const broker = new Broker({ host: '127.0.0.1', port: 0, ...this.options, store: this.store });
    this.port = (await broker.listen()).port;
    this.broker = broker;
    return this.port;
  }

  /** Closes the running broker (its clients are cut off first) and starts another on the same store. */
  async restart(): Promise<number> {
    destroyAllClients();
    await this.broker?.close();
    this.broker = undefined;
    return this.start();
  }
}

/** A MemoryStore whose commits wait while it is shut. */
class GatedStore extends MemoryStore {
  private gate: Promise<void> | undefined;
  private release: () => void = () => undefined;

  override async commit(ops: readonly StoreOp[]): Promise<void> {
    while (this.gate !== undefined) await this.gate;
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

/** A MemoryStore whose first `failures` commits fail as a full disk would. */
class FailingStore extends MemoryStore {
  attempts = 0;

  constructor(private failures: number) {
    super();
  }

  override commit(ops: readonly StoreOp[]): Promise<void> {
    this.attempts++;
    if (this.failures > 0) {
      this.failures--;
      return Promise.reject(new FennecError('ERR_STORE_FULL', 'disk full writing test.db'));
    }
    return super.commit(ops);
  }
}

async function stored(store: Store): Promise<StoredState> {
  return store.load();
}

for (const v of VERSIONS) {
  const persistent = (clientId: string, expiry = 3600): pkt.ConnectOptions => ({
    version: v,
    clientId,
    clean: false,
    ...(v === 5 ? { properties: { sessionExpiryInterval: expiry } } : {}),
  });
  const clean = (clientId: string): pkt.ConnectOptions => ({ version: v, clientId, clean: true });

  describe(`30 persistence across a restart (v${v})`, () => {
    it(`${cite(v, 'MQTT-3.1.2-4 MQTT-4.1.0-1', 'MQTT-3.1.2-23 MQTT-4.1.0-1')} a persistent session, its subscriptions and its queued QoS 1 and 2 messages survive a restart, in order (v${v})`, async (t) => {
      const run = new Restarts(t, new MemoryStore());
      let port = await run.start();
      const sub = await RawClient.connect(port, persistent('keeper'));
      await sub.subscribe('keep/#', 2);
      await sub.disconnect();
      const pub = await RawClient.connect(port, clean('pub'));
      for (let i = 0; i < 10; i++)
        await pub.publish({ topic: `keep/${i}`, payload: `m${i}`, qos: i % 2 === 0 ? 1 : 2 });
      port = await run.restart();
      const back = await RawClient.connect(port, persistent('keeper'));
      assert.equal(back.connack.sessionPresent, true);
      const got: [string, string, number][] = [];
      for (let i = 0; i < 10; i++) {
        const m = await back.next('publish');
        got.push([m.topic, m.payload.toString(), m.qos]);
        back.send(m.qos === 1 ? packets.puback(v, m.packetId) : packets.pubrec(v, m.packetId));
      }
      assert.deepEqual(
        got,
        Array.from({ length: 10 }, (_, i) => [`keep/${i}`, `m${i}`, i % 2 === 0 ? 1 : 2]),
      );
      for (let i = 0; i < 5; i++) back.send(packets.pubcomp(v, (await back.next('pubrel')).packetId));
      await back.expectNothing(100);
      // The subscription itself came back: a new message is routed to it.
      const pub2 = await RawClient.connect(port, clean('pub2'));
      await pub2.publish({ topic: 'keep/new', payload: 'n', qos: 1 });
      assert.equal((await back.receive()).topic, 'keep/new');
    });

    it(`clean sessions and QoS 0 never reach the store (v${v})`, async (t) => {
      const store = new MemoryStore();
      const run = new Restarts(t, store);
      const port = await run.start();
      const cleanSub = await RawClient.connect(port, clean('clean-sub'));
      await cleanSub.subscribe('c/#', 2);
      const qos0Sub = await RawClient.connect(port, persistent('qos0-sub'));
      await qos0Sub.subscribe('c/#', 0);
      await qos0Sub.disconnect();
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 'c/1', payload: 'x', qos: 1 });
      await pub.publish({ topic: 'c/2', payload: 'y', qos: 0 });
      await cleanSub.receive();
      await cleanSub.receive();
      await run.broker!.persistence!.drain();
      const state = await stored(store);
      assert.deepEqual(
        state.sessions.map((s) => s.clientId),
        ['qos0-sub'],
      );
      assert.deepEqual(state.messages, []);
      assert.deepEqual(state.deliveries, []);
    });

    it(`a message routed to many persistent sessions is stored once and referenced by each (v${v})`, async (t) => {
      const store = new MemoryStore();
      const run = new Restarts(t, store);
      const port = await run.start();
      for (const id of ['s1', 's2', 's3']) {
        const sub = await RawClient.connect(port, persistent(id));
        await sub.subscribe('fan/#', 1);
        await sub.disconnect();
      }
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 'fan/x', payload: Buffer.alloc(1000, 7), qos: 1 });
      const state = await stored(store);
      assert.equal(state.messages.length, 1);
      assert.deepEqual(state.deliveries.map((d) => [d.clientId, d.messageId]).sort(), [
        ['s1', state.messages[0]!.id],
        ['s2', state.messages[0]!.id],
        ['s3', state.messages[0]!.id],
      ]);
    });

    it(`a subscriber that keeps up leaves no message in the store (v${v})`, async (t) => {
      const store = new MemoryStore();
      const run = new Restarts(t, store);
      const port = await run.start();
      const sub = await RawClient.connect(port, persistent('online'));
      await sub.subscribe('live/#', 1);
      const pub = await RawClient.connect(port, clean('pub'));
      for (let i = 0; i < 20; i++) {
        await pub.publish({ topic: 'live/x', payload: `${i}`, qos: 1 });
        assert.equal((await sub.receive()).payload.toString(), `${i}`);
      }
      await sub.ping();
      await run.broker!.persistence!.drain();
      const state = await stored(store);
      assert.deepEqual([state.messages.length, state.deliveries.length], [0, 0]);
    });

    it(`${cite(v, 'MQTT-3.3.1-5 MQTT-3.3.1-10', 'MQTT-3.3.1-5 MQTT-3.3.1-6')} retained messages set, replaced and deleted before a restart are as they were after it (v${v})`, async (t) => {
      const run = new Restarts(t, new MemoryStore());
      let port = await run.start();
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 'r/a', payload: 'a1', qos: 1, retain: true });
      await pub.publish({ topic: 'r/b', payload: 'b1', qos: 0, retain: true });
      await pub.publish({ topic: 'r/b', payload: 'b2', qos: 1, retain: true });
      await pub.publish({ topic: 'r/c', payload: 'c1', qos: 1, retain: true });
      await pub.publish({ topic: 'r/c', payload: '', qos: 1, retain: true });
      await pub.ping();
      port = await run.restart();
      const sub = await RawClient.connect(port, clean('sub'));
      await sub.subscribe('r/#', 1);
      const got = [await sub.receive(), await sub.receive()].map((m) => [m.topic, m.payload.toString(), m.retain]);
      assert.deepEqual(got.sort(), [
        ['r/a', 'a1', true],
        ['r/b', 'b2', true],
      ]);
      await sub.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-4.4.0-1', 'MQTT-4.4.0-1')} outgoing QoS 2 in flight survives restarts: the PUBLISH is re-sent with DUP and its id, then the PUBREL (v${v})`, async (t) => {
      const run = new Restarts(t, new MemoryStore());
      let port = await run.start();
      const sub = await RawClient.connect(port, persistent('q2sub'));
      await sub.subscribe('q2/#', 2);
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 'q2/x', payload: 'once', qos: 2 });
      const first = await sub.next('publish');
      assert.equal(first.dup, false);
      port = await run.restart();
      let back = await RawClient.connect(port, persistent('q2sub'));
      const again = await back.next('publish');
      assert.deepEqual([again.dup, again.packetId, again.payload.toString()], [true, first.packetId, 'once']);
      back.send(packets.pubrec(v, again.packetId));
      assert.equal((await back.next('pubrel')).packetId, again.packetId);
      await sleep(20);
      port = await run.restart();
      back = await RawClient.connect(port, persistent('q2sub'));
      // PUBREC was received: only the PUBREL is sent again, never the message
      assert.equal((await back.next('pubrel')).packetId, again.packetId);
      back.send(packets.pubcomp(v, again.packetId));
      await back.expectNothing(150);
      port = await run.restart();
      const last = await RawClient.connect(port, persistent('q2sub'));
      await last.expectNothing(150);
    });

    it(`${cite(v, 'MQTT-4.3.3-2', 'MQTT-4.3.3-10')} an incoming QoS 2 message awaiting PUBREL survives a restart: the re-sent PUBLISH is not routed again and PUBREL completes (v${v})`, async (t) => {
      const run = new Restarts(t, new MemoryStore());
      let port = await run.start();
      const sub = await RawClient.connect(port, persistent('in-sub'));
      await sub.subscribe('in/#', 2);
      await sub.disconnect();
      const pub = await RawClient.connect(port, persistent('in-pub'));
      pub.send(packets.publish(v, { topic: 'in/x', payload: 'exactly-once', qos: 2, packetId: 7 }));
      assert.equal((await pub.next('pubrec')).packetId, 7);
      port = await run.restart();
      const pubBack = await RawClient.connect(port, persistent('in-pub'));
      assert.equal(pubBack.connack.sessionPresent, true);
      pubBack.send(packets.publish(v, { topic: 'in/x', payload: 'exactly-once', qos: 2, packetId: 7, dup: true }));
      assert.equal((await pubBack.next('pubrec')).packetId, 7);
      pubBack.send(packets.pubrel(v, 7));
      const pubcomp = await pubBack.next('pubcomp');
      assert.deepEqual([pubcomp.packetId, pubcomp.reasonCode], [7, 0]);
      const subBack = await RawClient.connect(port, persistent('in-sub'));
      assert.equal((await subBack.receive()).payload.toString(), 'exactly-once');
      await subBack.expectNothing(150);
    });

    it(`without a spool, the queue limit holds across a restart: what was queued stays, more is refused (v${v})`, async (t) => {
      const run = new Restarts(t, new MemoryStore(), { maxQueuedMessages: 3, maxSpoolBytes: 0 }); // no spool
      let port = await run.start();
      const sub = await RawClient.connect(port, persistent('limited'));
      await sub.subscribe('lim/#', 1);
      await sub.disconnect();
      let pub = await RawClient.connect(port, clean('pub'));
      for (let i = 0; i < 5; i++) await pub.publish({ topic: 'lim/x', payload: `${i}`, qos: 1 });
      port = await run.restart();
      pub = await RawClient.connect(port, clean('pub'));
      for (let i = 5; i < 7; i++) await pub.publish({ topic: 'lim/x', payload: `${i}`, qos: 1 });
      assert.equal(run.broker!.counters.dropped['queue-full'], 2);
      const back = await RawClient.connect(port, persistent('limited'));
      const got: string[] = [];
      for (let i = 0; i < 3; i++) got.push((await back.receive()).payload.toString());
      assert.deepEqual(got, ['0', '1', '2']);
      await back.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-4.3.2-4', 'MQTT-4.3.2-4')} PUBACK and SUBACK wait until what they acknowledge is committed (v${v})`, async (t) => {
      const store = new GatedStore();
      const run = new Restarts(t, store);
      const port = await run.start();
      const sub = await RawClient.connect(port, persistent('gated'));
      store.shut();
      sub.send(packets.subscribe(v, 1, [{ topic: 'g/#', qos: 1 }]));
      await sub.expectNothing(150);
      store.open();
      await sub.next('suback');
      await sub.disconnect();
      const pub = await RawClient.connect(port, clean('pub'));
      store.shut();
      pub.send(packets.publish(v, { topic: 'g/x', payload: 'durable', qos: 1, packetId: 9 }));
      await pub.expectNothing(150);
      assert.deepEqual((await stored(store)).deliveries, []);
      store.open();
      assert.equal((await pub.next('puback')).packetId, 9);
      // By the time the PUBACK is out, the message is in the store.
      const state = await stored(store);
      assert.deepEqual(
        state.deliveries.map((d) => d.clientId),
        ['gated'],
      );
      assert.equal(state.messages[0]?.payload.toString(), 'durable');
    });

    it(`a failing store withholds acknowledgements until a write succeeds, and loses nothing (v${v})`, async (t) => {
      const store = new FailingStore(0);
      const run = new Restarts(t, store);
      const port = await run.start();
      const sub = await RawClient.connect(port, persistent('fail-sub'));
      await sub.subscribe('f/#', 1);
      await sub.disconnect();
      const failing = store as unknown as { failures: number };
      failing.failures = 1;
      const pub = await RawClient.connect(port, clean('pub'));
      pub.send(packets.publish(v, { topic: 'f/x', payload: 'kept', qos: 1, packetId: 3 }));
      // The first commit fails: no PUBACK yet; the broker tries again after a second.
      await pub.expectNothing(400);
      const puback = await pub.next('puback', 3000);
      assert.equal(puback.packetId, 3);
      assert.ok(store.attempts >= 2);
      const back = await RawClient.connect(port, persistent('fail-sub'));
      assert.equal((await back.receive()).payload.toString(), 'kept');
    });
  });
}

describe('30 persistence across a restart (v5 only)', () => {
  it('[MQTT-4.1.0-2] a session expires on time across a restart: the time offline before it counts', async (t) => {
    const run = new Restarts(t, new MemoryStore());
    let port = await run.start();
    const opts = (id: string, expiry: number): pkt.ConnectOptions => ({
      version: 5,
      clientId: id,
      clean: false,
      properties: { sessionExpiryInterval: expiry },
    });
    const short = await RawClient.connect(port, opts('short', 1));
    await short.subscribe('e/#', 1);
    await short.disconnect();
    const long = await RawClient.connect(port, opts('long', 60));
    await long.disconnect();
    await sleep(700);
    port = await run.restart();
    await sleep(600);
    // 1.3 s offline in all: the 1 s session is gone, the 60 s one is there
    const shortBack = await RawClient.connect(port, opts('short', 1));
    assert.equal(shortBack.connack.sessionPresent, false);
    const longBack = await RawClient.connect(port, opts('long', 60));
    assert.equal(longBack.connack.sessionPresent, true);
  });

  it('[MQTT-3.1.3-9] a will waiting out its Will Delay Interval at shutdown goes out after the restart', async (t) => {
    const run = new Restarts(t, new MemoryStore());
    let port = await run.start();
    const client = await RawClient.connect(port, {
      version: 5,
      clientId: 'willing',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: { topic: 'wills/willing', payload: 'gone', qos: 1, properties: { willDelayInterval: 1 } },
    });
    client.destroy();
    await waitUntil(() => run.broker!.clientState('willing') === undefined, 'the connection closed');
    port = await run.restart();
    const watcher = await RawClient.connect(port, { version: 5, clientId: 'watcher', clean: true });
    await watcher.subscribe('wills/#', 1);
    const will = await watcher.receive(3000);
    assert.deepEqual([will.topic, will.payload.toString()], ['wills/willing', 'gone']);
  });
});
