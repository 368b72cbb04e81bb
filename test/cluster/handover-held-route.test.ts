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
import {
  adminClient,
  gateInstall,
  offlineSession,
  persistent,
  receiveAcknowledged,
  receiveUntilQuiet,
  slowReader,
  startSessionNode,
  until,
} from '../helpers/cluster.js';
import type { Redis } from 'ioredis';
import * as pkt from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { startRedis } from '../helpers/redis-server.js';
import { WAIT_MS } from '../interop/support.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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
      for (const clientId of [first, second]) await offlineSession(node1.port, version, clientId, 'hold/#', 1);
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
      assert.deepEqual(await receiveAcknowledged(resumedSecond, version, ['between']), ['between']);
      assert.deepEqual(await receiveAcknowledged(resumedFirst, version, ['between']), ['between']);
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
      await offlineSession(node1.port, version, clientId, 'keep/#', 2);
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
      await offlineSession(node1.port, version, clientId, 'order/#', 1);
      await until('node-2 to know the route', () => node2.bus.knowsRoute('node-1', 'order/#'));
      // node-1 reads its stream slowly: each batch is acknowledged 400 ms late.
      slowReader(node1.bus, 400);

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
      await offlineSession(node1.port, version, clientId, 'dup/#', 2);
      // A subscriber of the same filter on node-2: node-3 sends there too.
      const local = await RawClient.connect(node2.port, { version, clientId: `local-${version}` });
      await local.subscribe('dup/#', 0);
      await until('node-3 to know both routes', () =>
        ['node-1', 'node-2'].every((node) => node3.bus.knowsRoute(node, 'dup/#')),
      );
      // node-2 reads its stream slowly: each batch is acknowledged 400 ms late.
      slowReader(node2.bus, 400);
      const publisher = await RawClient.connect(node3.port, { version, clientId: `p-${version}` });
      await publisher.publish({ topic: 'dup/x', qos: 2, payload: 'first' });
      // node-2 is in its pause: it reads this one 400 ms late; node-1 delivers it to the session at once.
      await publisher.publish({ topic: 'dup/x', qos: 2, payload: 'second' });
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      assert.equal(resumed.connack.sessionPresent, true);
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 1000), ['first', 'second']);
    });
  });
}

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  describe(`a message the new owner publishes once a session is handed over to it, MQTT ${v}`, () => {
    it(`[MQTT-4.3.3-2] is not sent back to it by the old owner, which still holds the session's route (a copy waiting in its stream would reach the session again after its restart)`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const node1 = await startSessionNode(redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2');
      const clientId = `sent-back-${version}`;
      await offlineSession(node1.port, version, clientId, 'back/#', 2);
      await until('node-2 to know the route', () => node2.bus.knowsRoute('node-1', 'back/#'));
      // node-1 keeps the session's route (it never hears the install) and records what it appends
      // to node-2's stream for the session.
      node1.bus.sessions!.links!.installed = () => undefined;
      const outbox = (node1.bus as unknown as { outbox: { push(command: unknown[], durable?: boolean): void } }).outbox;
      const push = outbox.push.bind(outbox);
      const sentBack: string[] = [];
      outbox.push = (command, durable) => {
        if (command[0] === 'XADD' && command[1] === '{fennec}:stream:node-2' && command.includes(clientId)) {
          sentBack.push(String(command[command.indexOf('m') + 1]));
        }
        push(command, durable);
      };
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      assert.equal(node2.bus.knowsRoute('node-1', 'back/#'), true, "node-1's route is held");
      const publisher = await RawClient.connect(node2.port, { version, clientId: `p-${version}` });
      await publisher.publish({ topic: 'back/x', qos: 2, payload: 'mine' });
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 500), ['mine']);
      await node1.bus.caughtUp();
      assert.deepEqual(sentBack, [], 'nothing sent back');
    });
  });
}

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  describe(`a message the new owner publishes while it holds a session handed over to it, MQTT ${v}`, () => {
    for (const routes of ['', ', no other node subscribing to it'] as const) {
      it(`[MQTT-4.3.2-${version === 5 ? 4 : 2}] is acknowledged to its publisher only once the session's store has it (the old owner does not send it back: a crash of the new owner before would lose it)${routes}`, async (t) => {
        const redis = await startRedis(t);
        if (redis === undefined) return;
        t.after(destroyAllClients);
        const admin = adminClient(redis);
        const node1 = await startSessionNode(redis, 'node-1');
        const node2 = await startSessionNode(redis, 'node-2');
        const clientId = `own-${version}`;
        await offlineSession(node1.port, version, clientId, 'own/#', 1);
        await until('node-2 to know the route', () => node2.bus.knowsRoute('node-1', 'own/#'));
        // node-1 does not answer node-2's flush: node-2 holds the session for 1 s before it installs it.
        const sessions1 = node1.bus.sessions!;
        const notice = sessions1.notice.bind(sessions1);
        sessions1.notice = (text) => {
          if (!text.includes('"op":"flush"')) notice(text);
        };
        const resuming = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
        await until('node-2 to hold the session', () => node2.bus.sessions!.holdsTopic('own/x'));
        // As when the old owner's routes are gone already (it died, and was declared dead).
        if (routes !== '') node2.bus.sessions!.links!.forgetRoutes('node-1');
        const stored = async (payload: string): Promise<boolean> =>
          (await admin.hvalsBuffer('{fennec}:store:node-2:msgs')).some((value) => value.includes(payload));
        const publisher = await RawClient.connect(node2.port, { version, clientId: `p-${version}` });
        const other = await RawClient.connect(node2.port, { version, clientId: `o-${version}` });
        const mine = publisher.publish({ topic: 'own/x', qos: 1, payload: 'mine' });
        await sleep(100);
        // Another publisher's, while the node waits for the claim's store: the same.
        await other.publish({ topic: 'own/x', qos: 1, payload: 'other' });
        assert.equal(await stored('other'), true, "in node-2's store when acknowledged");
        await mine;
        assert.equal(await stored('mine'), true, "in node-2's store when acknowledged");
        const resumed = await resuming;
        assert.equal(resumed.connack.sessionPresent, true);
        const all = ['mine', 'other'];
        assert.deepEqual(await receiveAcknowledged(resumed, version, all), all);
        await resumed.expectNothing(300);
      });
    }
  });
}
