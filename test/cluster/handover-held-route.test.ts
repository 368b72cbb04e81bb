/**
 * The route an old owner holds back during hand-overs (docs/cluster.md, "Sessions", step 4), when
 * two sessions with the same filter leave it one after the other: the route goes only once both new
 * owners installed their session. Found by the fault run with subscribers reconnecting to random
 * nodes (`npm run soak -- --subscribers random`): the first install withdrew the route the second
 * session still needed, and what a third node published then reached neither copy of that session.
 * Real redis-server, in-process nodes with Redis stores, MQTT 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminClient, persistent, startSessionNode, until } from '../helpers/cluster.js';
import type { Redis } from 'ioredis';
import type { RedisStore } from '../../src/cluster/redis-store.js';
import * as pkt from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { startRedis } from '../helpers/redis-server.js';
import { WAIT_MS } from '../interop/support.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The payloads of the QoS 1 PUBLISH packets `client` receives until every one of `expected` came, each acknowledged. */
async function receiveAll(client: RawClient, version: 4 | 5, expected: readonly string[]): Promise<string[]> {
  const got: string[] = [];
  while (expected.some((payload) => !got.includes(payload))) {
    const packet = await client.next('publish', WAIT_MS);
    got.push(packet.payload.toString());
    if (packet.qos > 0) client.send(pkt.puback(version, packet.packetId));
  }
  return got;
}

/**
 * Holds the claims of `clientId` by `store`'s node once the session moved there (handed over to it),
 * before it is installed, until `open()`; `reached` once one is held.
 */
function gateInstall(store: RedisStore, clientId: string): { reached: boolean; open: () => void } {
  const claim = store.claim.bind(store);
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const gate = { reached: false, open };
  store.claim = async (...args) => {
    const result = await claim(...args);
    if (args[0] === clientId && result.kind === 'moved') {
      gate.reached = true;
      await opened;
    }
    return result;
  };
  return gate;
}

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  describe(`two sessions with one filter handed over from one node, MQTT ${v}`, () => {
    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] the old owner keeps the route until both are installed: a message published between the two installs reaches the second session`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node1 = await startSessionNode(redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2');
      const node3 = await startSessionNode(redis, 'node-3');
      const first = `first-${version}`;
      const second = `second-${version}`;
      for (const clientId of [first, second]) {
        const subscriber = await RawClient.connect(node1.port, persistent(version, clientId));
        await subscriber.subscribe('hold/#', 1);
        subscriber.send(pkt.disconnect(version));
        await subscriber.closed();
      }
      await until('node-3 to know the route', () => node3.bus.knowsRoute('node-1', 'hold/#'));

      // node-2 installs the second session only when told: its hand-over done, its install pending.
      const gate = gateInstall(node2.store, second);
      const resuming = RawClient.connect(node2.port, persistent(version, second), WAIT_MS * 2);
      await until('the second session to be handed over to node-2', () => gate.reached);
      // The first session moves to node-2 and is installed there; node-1 hears it.
      const resumedFirst = await RawClient.connect(node2.port, persistent(version, first));
      assert.equal(resumedFirst.connack.sessionPresent, true);
      await sleep(300);
      assert.deepEqual(
        await admin.smembers('{fennec}:routes:node-1'),
        ['hold/#'],
        'the route is still held for the second session',
      );

      const publisher = await RawClient.connect(node3.port, { version, clientId: `p-${version}` });
      await publisher.publish({ topic: 'hold/x', qos: 1, payload: 'between' });
      gate.open();
      const resumedSecond = await resuming;
      assert.equal(resumedSecond.connack.sessionPresent, true);
      assert.deepEqual(await receiveAll(resumedSecond, version, ['between']), ['between']);
      assert.deepEqual(await receiveAll(resumedFirst, version, ['between']), ['between']);
      await until(
        'node-1 to withdraw the route once both are installed',
        async () => (await admin.smembers('{fennec}:routes:node-1')).length === 0,
      );
    });
  });
}

/** Whether `node`'s stream holds an entry marked for session `clientId` (forwarded to it by a node it left). */
async function markedEntry(admin: Redis, node: string, clientId: string): Promise<boolean> {
  const entries = await admin.xrange(`{fennec}:stream:${node}`, '-', '+');
  return entries.some(([, fields]) =>
    fields.some((value, i) => i % 2 === 0 && value === 's' && fields[i + 1] === clientId),
  );
}

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  describe(`a message forwarded to a session whose claim is under way, MQTT ${v}`, () => {
    it(`[MQTT-4.3.3-2] stays in the new owner's stream until the claim delivered it and the store has it (a crash meanwhile leaves it to the next reader)`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node1 = await startSessionNode(redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2');
      const node3 = await startSessionNode(redis, 'node-3');
      const clientId = `kept-${version}`;
      const subscriber = await RawClient.connect(node1.port, persistent(version, clientId));
      await subscriber.subscribe('keep/#', 2);
      subscriber.send(pkt.disconnect(version));
      await subscriber.closed();
      await until('node-3 to know the route', () => node3.bus.knowsRoute('node-1', 'keep/#'));

      const gate = gateInstall(node2.store, clientId);
      const resuming = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      await until('the session to be handed over to node-2', () => gate.reached);
      const publisher = await RawClient.connect(node3.port, { version, clientId: `p-${version}` });
      await publisher.publish({ topic: 'keep/x', qos: 2, payload: 'held' });
      // node-1 forwards it to node-2, marked for the session, which node-2 holds until the claim ends.
      await until('the forwarded copy in the stream of node-2', () => markedEntry(admin, 'node-2', clientId));
      await node2.bus.caughtUp();
      await sleep(200);
      assert.equal(await markedEntry(admin, 'node-2', clientId), true, 'read, held, not acknowledged');

      gate.open();
      const resumed = await resuming;
      assert.equal(resumed.connack.sessionPresent, true);
      const got = await resumed.next('publish', WAIT_MS);
      assert.equal(got.payload.toString(), 'held');
      await until(
        'the entry to be acknowledged once delivered',
        async () => !(await markedEntry(admin, 'node-2', clientId)),
      );
      resumed.send(pkt.pubrec(version, got.packetId));
      await resumed.next('pubrel', WAIT_MS);
      resumed.send(pkt.pubcomp(version, got.packetId));
      await resumed.expectNothing(300);
    });
  });
}

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  describe(`messages published on the new owner while a session is handed over to it, MQTT ${v}`, () => {
    it(`[MQTT-4.6.0-6] reach the session in the order they were published, those the old owner passes on late included`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const node1 = await startSessionNode(redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2');
      const clientId = `ordered-${version}`;
      const subscriber = await RawClient.connect(node1.port, persistent(version, clientId));
      await subscriber.subscribe('order/#', 1);
      subscriber.send(pkt.disconnect(version));
      await subscriber.closed();
      await until('node-2 to know the route', () => node2.bus.knowsRoute('node-1', 'order/#'));
      // node-1 reads its stream slowly: each batch is acknowledged 400 ms late.
      const reader = (
        node1.bus as unknown as { stream: { options: { acknowledge: (ids: string[]) => Promise<void> } } }
      ).stream.options;
      const acknowledge = reader.acknowledge;
      reader.acknowledge = async (ids) => {
        await sleep(400);
        await acknowledge(ids);
      };

      const gate = gateInstall(node2.store, clientId);
      const resuming = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      await until('the session to be handed over to node-2', () => gate.reached);
      // Published on node-2 before the session is there: through node-1, which passes them on; the
      // second one only after its 400 ms pause.
      const publisher = await RawClient.connect(node2.port, { version, clientId: `p-${version}` });
      await publisher.publish({ topic: 'order/x', qos: 1, payload: 'first' });
      await publisher.publish({ topic: 'order/x', qos: 1, payload: 'second' });
      gate.open();
      const resumed = await resuming;
      assert.equal(resumed.connack.sessionPresent, true);
      await publisher.publish({ topic: 'order/x', qos: 1, payload: 'third' });
      const got: string[] = [];
      while (got.length < 3) {
        const packet = await resumed.next('publish', WAIT_MS);
        got.push(packet.payload.toString());
        resumed.send(pkt.puback(version, packet.packetId));
      }
      assert.deepEqual(got, ['first', 'second', 'third']);
      await resumed.expectNothing(300);
    });
  });
}

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  describe(`a message the new owner reads late from its own stream, while the old owner delivered it to the session, MQTT ${v}`, () => {
    it(`[MQTT-4.3.3-2] reaches the session once, from the records the session brought`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const node1 = await startSessionNode(redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2');
      const node3 = await startSessionNode(redis, 'node-3');
      const clientId = `late-read-${version}`;
      const subscriber = await RawClient.connect(node1.port, persistent(version, clientId));
      await subscriber.subscribe('dup/#', 2);
      subscriber.send(pkt.disconnect(version));
      await subscriber.closed();
      // A subscriber of the same filter on node-2: node-3 sends there too.
      const local = await RawClient.connect(node2.port, { version, clientId: `local-${version}` });
      await local.subscribe('dup/#', 0);
      await until('node-3 to know both routes', () =>
        ['node-1', 'node-2'].every((node) => node3.bus.knowsRoute(node, 'dup/#')),
      );
      // node-2 reads its stream slowly: each batch is acknowledged 400 ms late.
      const reader = (
        node2.bus as unknown as { stream: { options: { acknowledge: (ids: string[]) => Promise<void> } } }
      ).stream.options;
      const acknowledge = reader.acknowledge;
      reader.acknowledge = async (ids) => {
        await sleep(400);
        await acknowledge(ids);
      };
      const publisher = await RawClient.connect(node3.port, { version, clientId: `p-${version}` });
      await publisher.publish({ topic: 'dup/x', qos: 2, payload: 'first' });
      // node-2 is in its pause: it reads this one 400 ms late; node-1 delivers it to the session at once.
      await publisher.publish({ topic: 'dup/x', qos: 2, payload: 'second' });
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      assert.equal(resumed.connack.sessionPresent, true);
      const got: string[] = [];
      for (;;) {
        const packet = await resumed.next(1000).catch(() => undefined);
        if (packet === undefined) break;
        if (packet.type === 'pubrel') {
          resumed.send(pkt.pubcomp(version, packet.packetId));
          continue;
        }
        assert.equal(packet.type, 'publish');
        if (packet.type !== 'publish') break;
        got.push(packet.payload.toString());
        resumed.send(pkt.pubrec(version, packet.packetId));
      }
      assert.deepEqual(got, ['first', 'second']);
    });
  });
}
