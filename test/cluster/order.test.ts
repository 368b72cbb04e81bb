// Per-publisher order across a publisher's connections (docs/cluster.md, "Order across a
// publisher's connections"): a publisher acknowledged by node 1 that then connects to node 2 has
// its new messages delivered by node 2 only after the older ones, which cross Redis through node
// 2's stream. Node 2 reads its stream one entry at a time here, so that a backlog waits in it when
// the publisher arrives. Real redis-server, in-process nodes, MQTT.js clients.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { streamKey } from '../../src/cluster/keys.js';
import { startRedis } from '../helpers/redis-server.js';
import { startNode, startSessionNode, untilReadFrom, waitForRoute, type TestNode } from '../helpers/cluster.js';
import type { Received } from '../interop/support.js';

/** Messages node 1 sends to node 2's stream before the publisher moves. */
const BACKLOG = 1500;

/** Settles `promise` within `ms`: 'pending' when it did not. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);
}

/** The sequence numbers of `received` (payloads `N`), in the order they came. */
function sequence(received: readonly Received[]): number[] {
  return received.map((m) => Number(m.payload));
}

const modes = [
  { name: 'local sessions', start: startNode },
  { name: 'cluster-wide sessions (claim on CONNECT)', start: startSessionNode },
] as const;

void describe('per-publisher order across a publisher connections', () => {
  for (const mode of modes) {
    void it(`delivers what a publisher published through node 1 (acknowledged) before what it then publishes through node 2, whose stream still held the older ones; ${mode.name}`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      const one = await mode.start(redis, 'node-1');
      const two = await mode.start(redis, 'node-2', {}, { readBatch: 1 });
      const sub = await two.clients.connect({ protocolVersion: 5, clientId: 'sub' });
      await sub.client.subscribeAsync('order/#', { qos: 1 });
      await waitForRoute([one, two], two, 'order/#');
      const first = await one.clients.connect({ protocolVersion: 5, clientId: 'pub' });
      const acks: Promise<unknown>[] = [];
      for (let i = 1; i <= BACKLOG; i++) acks.push(first.client.publishAsync('order/a', String(i), { qos: 1 }));
      await Promise.all(acks);
      await one.clients.end(first.client);
      // The precondition that makes the test mean something: entries still wait in node 2's stream.
      const probe = new Redis(redis.url);
      t.after(() => probe.disconnect());
      const waiting = await probe.xlen(streamKey('node-2'));
      assert.ok(waiting > 0, `entries wait in node 2's stream when the publisher moves (${waiting})`);
      const second = await two.clients.connect({ protocolVersion: 5, clientId: 'pub' });
      await second.client.publishAsync('order/b', String(BACKLOG + 1), { qos: 1 });
      const got = sequence(await sub.inbox.waitFor(BACKLOG + 1, 30_000));
      const firstOutOfOrder = got.findIndex((n, i) => n !== i + 1);
      assert.equal(
        firstOutOfOrder,
        -1,
        `delivered in the publisher's order (message ${got[firstOutOfOrder]} came at position ${firstOutOfOrder + 1}; ${waiting} were waiting)`,
      );
    });
  }

  void it("[MQTT-4.6.0-6] a session handed over while entries for it still wait in the old owner's stream gets them before what the new owner receives for it afterwards", async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    // node 1 reads its stream one entry at a time: a backlog waits there at the hand-over.
    const one = await startSessionNode(redis, 'node-1', {}, { readBatch: 1 });
    const two = await startSessionNode(redis, 'node-2');
    const three = await startSessionNode(redis, 'node-3');
    const persistent = {
      protocolVersion: 5 as const,
      clientId: 'moving',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    };
    const before = await one.clients.connect(persistent);
    await before.client.subscribeAsync('order/#', { qos: 1 });
    await waitForRoute([one, two, three], one, 'order/#');
    const publisher = await three.clients.connect({ protocolVersion: 5, clientId: 'pub-3' });
    const acks: Promise<unknown>[] = [];
    for (let i = 1; i <= BACKLOG; i++) acks.push(publisher.client.publishAsync('order/a', String(i), { qos: 1 }));
    await Promise.all(acks);
    const probe = new Redis(redis.url);
    t.after(() => probe.disconnect());
    const waiting = await probe.xlen(streamKey('node-1'));
    assert.ok(waiting > 0, `entries wait in node 1's stream at the hand-over (${waiting})`);
    // Taken over on node 2; node 3 publishes on at once, to node 2's route.
    const after = await two.clients.connect(persistent);
    await waitForRoute([one, two, three], two, 'order/#');
    await publisher.client.publishAsync('order/b', String(BACKLOG + 1), { qos: 1 });
    const received = (): number[] => [...before.inbox.messages, ...after.inbox.messages].map((m) => Number(m.payload));
    const deadline = Date.now() + 30_000;
    while (!received().includes(BACKLOG + 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const got = after.inbox.messages.map((m) => Number(m.payload));
    const last = got.indexOf(BACKLOG + 1);
    assert.ok(last >= 0, 'the message published after the hand-over arrived');
    const later = got
      .slice(last + 1)
      .filter((n) => n <= BACKLOG && !before.inbox.messages.some((m) => Number(m.payload) === n));
    assert.deepEqual(later, [], `older messages came after the newer one (${waiting} entries were waiting)`);
  });

  void it('holds the publishes of a client that connects while Redis is unreachable until the node has read its stream (it cannot know what waits there); clients connected before keep publishing', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes: TestNode[] = [await startNode(redis, 'node-1'), await startNode(redis, 'node-2')];
    const two = nodes[1]!;
    const sub = await two.clients.connect({ protocolVersion: 5, clientId: 'sub' });
    await sub.client.subscribeAsync('local/#', { qos: 1 });
    const before = await two.clients.connect({ protocolVersion: 5, clientId: 'before' });
    await untilReadFrom(before);
    const deadline = Date.now() + 5000;
    while (!two.bus.idle && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    redis.pause();
    try {
      await before.client.publishAsync('local/before', 'from before', { qos: 1 });
      const late = await two.clients.connect({ protocolVersion: 5, clientId: 'late' });
      const held = late.client.publishAsync('local/late', 'from late', { qos: 1 });
      assert.equal(await within(held, 500), 'pending', 'the late client is not answered while Redis is away');
      assert.deepEqual(
        (await sub.inbox.waitFor(1)).map((m) => m.payload),
        ['from before'],
      );
      assert.equal(sub.inbox.messages.length, 1, 'the late client is not read from');
      redis.resume();
      await held;
    } finally {
      redis.resume();
    }
    assert.deepEqual(
      (await sub.inbox.waitFor(2)).map((m) => m.payload),
      ['from before', 'from late'],
    );
  });
});
