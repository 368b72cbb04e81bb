// 36: the spool. QoS 1/2 messages beyond a session's memory queue go to disk and come back in
// order; past the disk limits `queue_overflow` applies and is counted; a 5.0 publisher whose message
// no subscriber could take gets 0x97. (The 200,000-message slow subscriber and its crash variant:
// test/persistence/spool.test.ts.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { MemoryStore } from '../../src/store/memory.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { VERSIONS, startBroker, waitUntil } from '../helpers/broker.js';
import { capturingLogger } from '../helpers/log.js';

/** A 100-byte payload that carries `i`. */
function payload(i: number): Buffer {
  const buf = Buffer.alloc(100, 0x2e);
  buf.write(String(i).padStart(8, '0'));
  return buf;
}

/** A payload of `size` bytes (at least 8) that carries `i`. */
function sized(i: number, size: number): Buffer {
  const buf = Buffer.alloc(size, 0x2e);
  buf.write(String(i).padStart(8, '0'));
  return buf;
}

function index(p: Buffer): number {
  return Number(p.subarray(0, 8).toString());
}

/** Reads `count` messages, acknowledging each; returns their indexes. */
async function receiveAll(client: RawClient, count: number): Promise<number[]> {
  const got: number[] = [];
  for (let i = 0; i < count; i++) got.push(index((await client.receive(5000)).payload));
  return got;
}

/** What this process's open file descriptors point to that names `file` (Linux /proc). */
function openHandlesOf(file: string): string[] {
  const targets: string[] = [];
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith(file)) targets.push(target);
    } catch {
      // Closed between the listing and the read.
    }
  }
  return targets;
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

for (const v of VERSIONS) {
  const persistent = (clientId: string) => ({
    version: v,
    clientId,
    clean: false,
    ...(v === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });

  describe(`36 spool (v${v})`, () => {
    it(`an offline subscriber's messages beyond max_queued_messages are spooled and delivered in order (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxQueuedMessages: 10, maxInflightMessages: 5 });
      const sub = await RawClient.connect(port, persistent('spool-sub'));
      await sub.subscribe('s/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'spool-pub' });
      for (let i = 0; i < 200; i++) assert.equal(await pub.publish({ topic: 's/a', payload: payload(i), qos: 1 }), 0);
      assert.equal(broker.counters.dropped['queue-full'], 0);
      assert.deepEqual(broker.spool.size, { messages: 190, bytes: 19_000, sessions: 1 });
      const back = await RawClient.connect(port, persistent('spool-sub'));
      assert.deepEqual(await receiveAll(back, 200), range(0, 200));
      await back.expectNothing(100);
      assert.equal(broker.spool.size.messages, 0);
    });

    it(`[MQTT-4.6.0-6] messages published while a returning subscriber's spool is read back come after it, in order (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxQueuedMessages: 10, maxInflightMessages: 20 });
      const sub = await RawClient.connect(port, persistent('spool-late'));
      await sub.subscribe('s/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'spool-late-pub' });
      for (let i = 0; i < 100; i++) assert.equal(await pub.publish({ topic: 's/a', payload: payload(i), qos: 1 }), 0);
      assert.equal(broker.spool.size.messages, 90);
      // The window (20) is wider than the queue (10): the queue empties while the spool is read back,
      // and a message published then went out at once, ahead of the spooled ones.
      const back = await RawClient.connect(port, persistent('spool-late'));
      const publishing = (async () => {
        for (let i = 100; i < 150; i++) await pub.publish({ topic: 's/a', payload: payload(i), qos: 1 });
      })();
      assert.deepEqual(await receiveAll(back, 150), range(0, 150));
      await publishing;
      await back.expectNothing(100);
    });

    it(`a clean session's spool is deleted when the session ends (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxQueuedMessages: 5, maxInflightMessages: 5 });
      const sub = await RawClient.connect(port, { version: v, clientId: 'clean-sub' });
      await sub.subscribe('c/#', 1);
      sub.stopReading();
      const pub = await RawClient.connect(port, { version: v, clientId: 'clean-pub' });
      // Never acknowledged: 5 in flight, 5 in the memory queue, 10 spooled.
      for (let i = 0; i < 20; i++) await pub.publish({ topic: 'c/a', payload: payload(i), qos: 1 });
      assert.equal(broker.spool.size.messages, 10);
      sub.destroy();
      await waitUntil(() => broker.spool.size.messages === 0, 'the ended session to leave the spool', 3000);
    });

    it(`past max_spooled_bytes_per_session, drop_newest refuses the newest messages, counts them and logs once (v${v})`, async (t) => {
      const { logger, lines } = capturingLogger('warn');
      const { broker, port } = await startBroker(t, {
        maxQueuedMessages: 10,
        maxSpooledBytesPerSession: 1000,
        logger,
      });
      const sub = await RawClient.connect(port, persistent('limit-sub'));
      await sub.subscribe('l/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'limit-pub' });
      for (let i = 0; i < 25; i++) await pub.publish({ topic: 'l/a', payload: payload(i), qos: 1 });
      assert.equal(broker.counters.dropped['spool-session-full'], 5);
      assert.equal(broker.sessions.get('limit-sub')?.dropped['spool-session-full'], 5);
      const logged = lines.filter(
        (line) => line['clientId'] === 'limit-sub' && line['reason'] === 'spool-session-full',
      );
      assert.equal(logged.length, 1, 'logged once a minute per session');
      const back = await RawClient.connect(port, persistent('limit-sub'));
      assert.deepEqual(await receiveAll(back, 20), range(0, 20));
      await back.expectNothing(100);
    });

    it(`past max_spooled_bytes_per_session, drop_oldest drops the oldest spooled messages and counts them (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, {
        maxQueuedMessages: 10,
        maxSpooledBytesPerSession: 1000,
        queueOverflow: 'drop_oldest',
      });
      const sub = await RawClient.connect(port, persistent('oldest-sub'));
      await sub.subscribe('o/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'oldest-pub' });
      for (let i = 0; i < 25; i++) assert.equal(await pub.publish({ topic: 'o/a', payload: payload(i), qos: 1 }), 0);
      assert.equal(broker.counters.dropped['spool-session-full'], 5);
      const back = await RawClient.connect(port, persistent('oldest-sub'));
      // The memory queue's 10, then the spool's newest 10: 10 to 14 made room.
      assert.deepEqual(await receiveAll(back, 20), [...range(0, 10), ...range(15, 25)]);
      await back.expectNothing(100);
    });

    it(`drop_oldest frees the exact size of what it drops: with messages of varied sizes the byte limit holds exactly, and the counts come back to 0 (v${v})`, async (t) => {
      const limit = 1000;
      const { broker, port } = await startBroker(t, {
        maxQueuedMessages: 10,
        maxSpooledBytesPerSession: limit,
        queueOverflow: 'drop_oldest',
      });
      const sub = await RawClient.connect(port, persistent('exact-sub'));
      await sub.subscribe('e/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'exact-pub' });
      // The model: the memory queue takes 10; the spool is a FIFO whose oldest leave to make room.
      const spool: { i: number; size: number }[] = [];
      let spooled = 0;
      let dropped = 0;
      for (let i = 0; i < 80; i++) {
        const size = 8 + ((i * 73) % 310);
        assert.equal(await pub.publish({ topic: 'e/a', payload: sized(i, size), qos: 1 }), 0);
        if (i < 10) continue;
        while (spooled + size > limit) {
          spooled -= spool.shift()!.size;
          dropped++;
        }
        spool.push({ i, size });
        spooled += size;
        assert.equal(broker.spool.size.bytes, spooled, `spooled bytes after message ${i}`);
        assert.ok(broker.spool.size.bytes <= limit);
      }
      assert.equal(broker.counters.dropped['spool-session-full'], dropped);
      assert.equal(broker.spool.size.messages, spool.length);
      const back = await RawClient.connect(port, persistent('exact-sub'));
      const expected = [...range(0, 10), ...spool.map((entry) => entry.i)];
      assert.deepEqual(await receiveAll(back, expected.length), expected);
      await back.expectNothing(100);
      assert.deepEqual(broker.spool.size, { messages: 0, bytes: 0, sessions: 0 });
    });

    it(`past max_spool_bytes (all sessions), the policy applies and is counted as spool-full (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxQueuedMessages: 2, maxSpoolBytes: 1000 });
      for (const id of ['a', 'b']) {
        const sub = await RawClient.connect(port, persistent(`all-${id}`));
        await sub.subscribe('all/#', 1);
        await sub.disconnect();
      }
      const pub = await RawClient.connect(port, { version: v, clientId: 'all-pub' });
      // Each message goes to both: 2 in each memory queue, then 10 spooled in all (5 each).
      for (let i = 0; i < 9; i++) await pub.publish({ topic: 'all/x', payload: payload(i), qos: 1 });
      assert.equal(broker.counters.dropped['spool-full'], 4);
      assert.equal(broker.spool.size.bytes, 1000);
      for (const id of ['a', 'b']) {
        const back = await RawClient.connect(port, persistent(`all-${id}`));
        assert.deepEqual(await receiveAll(back, 7), range(0, 7));
        await back.expectNothing(100);
        await back.disconnect();
      }
    });

    it(`a disk with less free space than spool_min_free_bytes takes nothing: the policy applies, counted as spool-full (v${v})`, async (t) => {
      // Asks for far more free space than the disk has: whatever is on it, the spool may not grow.
      const { broker, port } = await startBroker(t, { maxQueuedMessages: 2, spoolMinFreeBytes: 2 ** 52 });
      const sub = await RawClient.connect(port, persistent('reserve-sub'));
      await sub.subscribe('reserve/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'reserve-pub' });
      for (let i = 0; i < 5; i++) await pub.publish({ topic: 'reserve/x', payload: payload(i), qos: 1 });
      assert.equal(broker.counters.dropped['spool-full'], 3);
      assert.equal(broker.spool.size.bytes, 0);
      const back = await RawClient.connect(port, persistent('reserve-sub'));
      assert.deepEqual(await receiveAll(back, 2), range(0, 2));
      await back.expectNothing(100);
      await back.disconnect();
    });

    if (v === 5) {
      it('a 5.0 publisher whose message no subscriber could take gets PUBACK 0x97 Quota exceeded, and PUBREC 0x97 for QoS 2; one that some subscriber took gets 0x00', async (t) => {
        const { port } = await startBroker(t, { maxQueuedMessages: 1, maxSpooledBytesPerSession: 100 });
        const full = await RawClient.connect(port, persistent('full-sub'));
        await full.subscribe('q/#', 2);
        await full.disconnect();
        const pub = await RawClient.connect(port, { version: 5, clientId: 'q-pub' });
        assert.equal(await pub.publish({ topic: 'q/a', payload: payload(0), qos: 1 }), 0); // memory queue
        assert.equal(await pub.publish({ topic: 'q/a', payload: payload(1), qos: 1 }), 0); // spool
        assert.equal(await pub.publish({ topic: 'q/a', payload: payload(2), qos: 1 }), 0x97);
        assert.equal(await pub.publish({ topic: 'q/a', payload: payload(3), qos: 2 }), 0x97);
        const other = await RawClient.connect(port, persistent('other-sub'));
        await other.subscribe('q/#', 1);
        await other.disconnect();
        assert.equal(await pub.publish({ topic: 'q/a', payload: payload(4), qos: 1 }), 0);
      });
    }

    it(`with a store, spooled messages of a persistent session survive a broker restart, after its queue, in order (v${v})`, async (t) => {
      const store = new MemoryStore();
      const options: BrokerOptions = { host: '127.0.0.1', port: 0, sysInterval: 0, store, maxQueuedMessages: 10 };
      let broker = new Broker(options);
      let { port } = await broker.listen();
      t.after(async () => {
        destroyAllClients();
        await broker.close();
      });
      const sub = await RawClient.connect(port, persistent('restart-sub'));
      await sub.subscribe('r/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'restart-pub' });
      for (let i = 0; i < 60; i++) await pub.publish({ topic: 'r/a', payload: payload(i), qos: 1 });
      destroyAllClients();
      await broker.close();
      broker = new Broker(options);
      ({ port } = await broker.listen());
      assert.equal(broker.spool.size.messages, 50);
      const back = await RawClient.connect(port, persistent('restart-sub'));
      assert.deepEqual(await receiveAll(back, 60), range(0, 60));
      await back.expectNothing(100);
    });

    it(`without a store the spool is a temporary file unlinked as soon as it is open: only the process holds it, until the broker closes (v${v})`, async (t) => {
      const broker = new Broker({ host: '127.0.0.1', port: 0, sysInterval: 0, maxQueuedMessages: 1 });
      const { port } = await broker.listen();
      t.after(async () => {
        destroyAllClients();
        await broker.close();
      });
      const sub = await RawClient.connect(port, persistent('tmp-sub'));
      await sub.subscribe('t/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'tmp-pub' });
      for (let i = 0; i < 5; i++) await pub.publish({ topic: 't/a', payload: payload(i), qos: 1 });
      assert.equal(broker.spool.size.messages, 4);
      const file = broker.spool.file;
      assert.ok(file !== undefined);
      assert.equal(existsSync(dirname(file)), false, 'neither the file nor its directory has a name on the disk');
      assert.deepEqual(openHandlesOf(file), [`${file} (deleted)`], 'the process holds the unlinked file open');
      const back = await RawClient.connect(port, persistent('tmp-sub'));
      assert.deepEqual(await receiveAll(back, 5), range(0, 5), 'and reads it back');
      destroyAllClients();
      await broker.close();
      assert.deepEqual(openHandlesOf(file), [], 'closing the broker lets go of the file');
    });
  });
}
