/**
 * Sessions claimed from a node that does not answer (docs/cluster.md, "Sessions"): a frozen or dead
 * owner cannot hand a session over, so the node a client connects to takes it, and what waited for
 * the session where it was must still reach it. Found by the fault run with subscribers reconnecting
 * to random nodes (`npm run soak -- --subscribers random`). node-1 is a real `fennec broker`
 * process (frozen with SIGSTOP, killed with SIGKILL); the others are in process. MQTT 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';
import type { Redis } from 'ioredis';
import {
  adminClient,
  appendMarked,
  appendPlain,
  copyMarked,
  firstEntry,
  gateInstall,
  offlineSession,
  persistent,
  receiveAcknowledged,
  receiveUntilQuiet,
  slowReader,
  startProcessNode,
  startSessionNode,
  until,
  type TestNode,
} from '../helpers/cluster.js';
import { RedisBus } from '../../src/cluster/redis-bus.js';
import { LEFT_CUTOFF_MS, RedisStore } from '../../src/cluster/redis-store.js';
import { Broker } from '../../src/broker/broker.js';
import * as pkt from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { WAIT_MS } from '../interop/support.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** An offline persistent session of `clientId` on the node at `port`, subscribed to k/#, with 3 QoS 1 messages queued. */
async function offlineWithQueue(port: number, version: 4 | 5, clientId: string): Promise<string[]> {
  await offlineSession(port, version, clientId, 'k/#', 1);
  const publisher = await RawClient.connect(port, { version, clientId: `p-${clientId}` });
  const sent: string[] = [];
  for (let i = 0; i < 3; i++) {
    await publisher.publish({ topic: 'k/x', qos: 1, payload: `queued-${i}` });
    sent.push(`queued-${i}`);
  }
  publisher.destroy();
  return sent;
}

type ProcessNode = { child: ChildProcess; port: number };
type SessionNode = TestNode & { store: RedisStore };

/**
 * Redis, an admin client, node-1 (a process, to be frozen or killed), and the session nodes of
 * `ids`; undefined when Redis is missing (the test is skipped).
 */
async function processNodeAnd<const Ids extends readonly string[]>(
  t: TestContext,
  ids: Ids,
): Promise<({ redis: TestRedis; admin: Redis; node1: ProcessNode } & Record<Ids[number], SessionNode>) | undefined> {
  const redis = await startRedis(t);
  if (redis === undefined) return undefined;
  t.after(destroyAllClients);
  const admin = adminClient(redis);
  const node1 = await startProcessNode(t, redis, 'node-1');
  const nodes: Record<string, SessionNode> = {};
  for (const id of ids) nodes[id] = await startSessionNode(redis, id.replace('node', 'node-'));
  return { redis, admin, node1, ...(nodes as Record<Ids[number], SessionNode>) };
}

/** Redis, an admin client, node-1 (a process), node-2 and node-3 (session nodes). */
const processAndTwoNodes = (t: TestContext) => processNodeAnd(t, ['node2', 'node3'] as const);

/**
 * Redis, an admin client, node-1 (a process, to be frozen or killed) holding the offline session of
 * `clientId` subscribed to `k/#` at `qos`, and node-2 (a session node) that knows node-1's route.
 */
async function sessionOnProcessNode(t: TestContext, version: 4 | 5, clientId: string, qos: 1 | 2) {
  const nodes = await processNodeAnd(t, ['node2'] as const);
  if (nodes === undefined) return undefined;
  const { node1, node2 } = nodes;
  await offlineSession(node1.port, version, clientId, 'k/#', qos);
  await until("node-2 to learn node-1's route", () => node2.bus.knowsRoute('node-1', 'k/#'));
  return nodes;
}

/**
 * Publishes 'once' (QoS 2, on k/x) through the node at `port` while node-1 is frozen, and returns
 * the entry it made in node-1's stream (as a node the session left would forward it, marked); node-1
 * then runs again and reads it.
 */
async function entryWhileFrozen(admin: Redis, node1: ProcessNode, port: number, version: 4 | 5): Promise<Buffer[]> {
  node1.child.kill('SIGSTOP');
  const publisher = await RawClient.connect(port, { version, clientId: `p2-${version}` });
  await publisher.publish({ topic: 'k/x', qos: 2, payload: 'once' });
  const entry = await firstEntry(admin, 'node-1');
  node1.child.kill('SIGCONT');
  return entry;
}

/**
 * Kills node-1 and starts it again under its id, appends `entry` to its stream marked for session
 * `clientId` (as a node the session left forwards one), waits until node-1 read it, and returns the
 * client connected again to node-1 (Session Present checked).
 */
async function markedAfterRestart(
  t: TestContext,
  { redis, admin, node1 }: { redis: TestRedis; admin: Redis; node1: ProcessNode },
  version: 4 | 5,
  clientId: string,
  entry: Buffer[],
): Promise<RawClient> {
  node1.child.kill('SIGKILL');
  const again = await startProcessNode(t, redis, 'node-1');
  await appendMarked(admin, 'node-1', clientId, entry);
  await until('node-1 to read it', async () => (await admin.xlen('{fennec}:stream:node-1')) === 0);
  const resumed = await RawClient.connect(again.port, persistent(version, clientId), WAIT_MS);
  assert.equal(resumed.connack.sessionPresent, true);
  return resumed;
}

/**
 * Holds the claims of `clientId` by `node` once their answer came (the session moved there), at the
 * look-up of its wills, before anything else, until `open()`; `reached` once one is held.
 */
function gateAfterAnswer(node: TestNode, clientId: string): { reached: boolean; open: () => void } {
  const links = node.bus.sessions!.links!;
  const willsMoved = links.willsMoved.bind(links);
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const gate = { reached: false, open };
  links.willsMoved = async (clientIds) => {
    if (clientIds.includes(clientId)) {
      gate.reached = true;
      await opened;
    }
    return willsMoved(clientIds);
  };
  return gate;
}

/** Receives PUBLISH packets on `client`, acknowledging QoS 1, until nothing comes for 500 ms; returns their payloads. */
async function receiveQoS1UntilQuiet(client: RawClient, version: 4 | 5): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    const packet = await client.next('publish', 500).catch(() => undefined);
    if (packet === undefined) return got;
    got.push(packet.payload.toString());
    client.send(pkt.puback(version, packet.packetId));
  }
}

/**
 * As `sessionOnProcessNode` (QoS 1), node-1 then killed and its lease deleted: dead to the others at
 * once, its stream and records left.
 */
async function sessionOnDeadNode(t: TestContext, version: 4 | 5, clientId: string) {
  const setup = await sessionOnProcessNode(t, version, clientId, 1);
  if (setup === undefined) return undefined;
  setup.node1.child.kill('SIGKILL');
  await setup.admin.del('{fennec}:lease:node-1');
  return setup;
}

/**
 * Redis, an admin client, two session nodes in process (node-2 waits 500 ms for hand-overs), and
 * an offline persistent session of `clientId` on node-1, subscribed to k/# at QoS 1; undefined when
 * Redis is missing (the test is skipped).
 */
async function offlineOnSessionNode(t: TestContext, version: 4 | 5, clientId: string) {
  const redis = await startRedis(t);
  if (redis === undefined) return undefined;
  t.after(destroyAllClients);
  const admin = adminClient(redis);
  const node1 = await startSessionNode(redis, 'node-1');
  const node2 = await startSessionNode(redis, 'node-2', {}, { handoverTimeoutMs: 500 });
  await offlineSession(node1.port, version, clientId, 'k/#', 1);
  return { redis, admin, node1, node2 };
}

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  describe(`a session claimed from a node that does not answer, MQTT ${v}`, () => {
    it(`[MQTT-3.2.2-2] a second CONNECT while the first one's claim still moves the session here finds the session (Session Present 1) with its queued messages`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const node1 = await startProcessNode(t, redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2', {}, { handoverTimeoutMs: 1000 });
      const clientId = `twice-${version}`;
      const sent = await offlineWithQueue(node1.port, version, clientId);

      // node-1 frozen, its lease still valid: the first CONNECT waits for a hand-over that never comes.
      node1.child.kill('SIGSTOP');
      const first = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      first.catch(() => undefined);
      await sleep(400);
      // Redis frozen over the hand-over timeout: the forced claim and the second CONNECT's claim
      // reach it together, and their answers come back one after the other.
      redis.pause();
      await sleep(900);
      const second = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      await sleep(300);
      redis.resume();
      const resumed = await second;
      assert.equal(resumed.connack.sessionPresent, true, 'the second CONNECT finds the session');
      const got = await receiveAcknowledged(resumed, version, sent);
      assert.deepEqual(got, sent);
    });

    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] a node whose hand-over request timed out forces the session only from the owner it asked: a node that took the session meanwhile is asked in turn, and its client is taken over`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node1 = await startProcessNode(t, redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2', {}, { handoverTimeoutMs: 500 });
      const node3 = await startSessionNode(redis, 'node-3', {}, { handoverTimeoutMs: 2000 });
      const clientId = `force-from-${version}`;
      await offlineSession(node1.port, version, clientId, 'k/#', 1);
      // node-1 frozen, its lease still valid: both CONNECTs wait for a hand-over that never comes.
      node1.child.kill('SIGSTOP');
      const third = RawClient.connect(node3.port, persistent(version, clientId), WAIT_MS * 2);
      third.catch(() => undefined);
      await sleep(300);
      // node-2 waits less: it takes the session from node-1 by force, and its client is connected.
      const second = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(second.connack.sessionPresent, true);
      assert.equal(await admin.hget(`{fennec}:owner:${clientId}`, 'node'), 'node-2');
      // node-3's wait ends: node-2 was never asked, so node-3 asks it, and node-2 closes its client.
      const resumed = await third;
      assert.equal(resumed.connack.sessionPresent, true);
      assert.equal(await admin.hget(`{fennec}:owner:${clientId}`, 'node'), 'node-3');
      if (version === 5) assert.equal((await second.next('disconnect', WAIT_MS)).reasonCode, 0x8e);
      await second.closed(WAIT_MS);
      assert.equal(node2.broker.clients.has(clientId), false);
    });

    it(`[MQTT-3.2.2-2] a CONNECT to a node while that node hands the session over to another finds the session (Session Present 1) with its queued messages`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const node1 = await startSessionNode(redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2');
      const clientId = `during-handover-${version}`;
      const sent = await offlineWithQueue(node1.port, version, clientId);
      // node-1's hand-over script waits until the client has come back to node-1.
      let open: () => void = () => undefined;
      const opened = new Promise<void>((resolve) => (open = resolve));
      const handOver = node1.store.handOver.bind(node1.store);
      node1.store.handOver = async (...args) => {
        await opened;
        return handOver(...args);
      };
      const first = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      first.catch(() => undefined);
      await until('node-1 to release the session', () => !node1.broker.sessions.has(clientId));
      const back = RawClient.connect(node1.port, persistent(version, clientId), WAIT_MS * 2);
      await sleep(300);
      open();
      const resumed = await back;
      assert.equal(resumed.connack.sessionPresent, true, 'the session, not a new one');
      assert.deepEqual(await receiveAcknowledged(resumed, version, sent), sent);
    });

    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] an owner killed and restarted under its id while a CONNECT waits for its hand-over hands the session over when asked again, before the timeout`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const first = await startProcessNode(t, redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2', {}, { handoverTimeoutMs: 8000 });
      const clientId = `asked-again-${version}`;
      const sent = await offlineWithQueue(first.port, version, clientId);

      // Killed with its lease still valid: the request of the CONNECT below goes unheard.
      first.child.kill('SIGKILL');
      const resuming = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 3);
      await sleep(300);
      await startProcessNode(t, redis, 'node-1');
      const resumed = await resuming;
      assert.equal(resumed.connack.sessionPresent, true);
      assert.equal(node2.bus.sessions?.counters.timedOut, 0, 'handed over, not taken at the timeout');
      assert.deepEqual(await receiveAcknowledged(resumed, version, sent), sent);
    });

    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] an owner restarted under its id hands a session over only once it reads its stream: what waited there for the session goes with it`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const first = await startProcessNode(t, redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2', {}, { handoverTimeoutMs: 8000 });
      const clientId = `restarting-${version}`;
      await offlineSession(first.port, version, clientId, 'k/#', 1);
      first.child.kill('SIGKILL');
      // Sent to node-1 while it was down, by nodes that knew its route.
      const sent = await appendPlain(admin, 'node-1', 'k/x', ['waiting-0', 'waiting-1', 'waiting-2']);
      // node-1 restarts in this process; its start pauses once it hears the cluster's notices, before
      // it reads its stream, while a CONNECT on node-2 asks it for the session.
      const store1 = await RedisStore.open({ redis: redis.url, nodeId: 'node-1', retained: false });
      redis.beforeStop(() => store1.close());
      const bus1 = new RedisBus({ redis: redis.url, nodeId: 'node-1', store: store1 });
      const paused = bus1 as unknown as { readRetained: () => Promise<void> };
      const readRetained = paused.readRetained.bind(bus1);
      let reached = false;
      let resume: () => void = () => undefined;
      const resumed$ = new Promise<void>((done) => (resume = done));
      paused.readRetained = async () => {
        reached = true;
        await resumed$;
        await readRetained();
      };
      const broker1 = new Broker({ host: '127.0.0.1', port: 0, sysInterval: 0, bus: bus1, store: store1 });
      const listening = broker1.listen();
      redis.beforeStop(async () => {
        await listening.catch(() => undefined);
        await broker1.close();
      });
      await until('node-1 to pause in its start', () => reached);
      const resuming = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      await sleep(300);
      resume();
      await listening;
      const resumed = await resuming;
      assert.equal(resumed.connack.sessionPresent, true);
      assert.deepEqual(await receiveAcknowledged(resumed, version, sent), sent);
    });

    it(`[MQTT-3.2.2-2] a CONNECT waiting for the hand-over of a node killed with its lease still valid takes the session once the lease is gone, not at the hand-over timeout`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const node1 = await startProcessNode(t, redis, 'node-1', '  lease_ms: 1000\n');
      const node2 = await startSessionNode(redis, 'node-2', {}, { handoverTimeoutMs: 20_000 });
      const clientId = `lease-gone-${version}`;
      const sent = await offlineWithQueue(node1.port, version, clientId);
      node1.child.kill('SIGKILL');
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), 15_000);
      assert.equal(resumed.connack.sessionPresent, true);
      assert.equal(node2.bus.sessions?.counters.timedOut, 0, 'taken once the lease was gone, not at the timeout');
      assert.deepEqual(await receiveAcknowledged(resumed, version, sent), sent);
    });

    it(`[MQTT-4.3.3-2] a node restarted under its id whose stream holds a message twice (for the routes, and marked for a session it holds) delivers it to that session once`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node1 = await startProcessNode(t, redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2');
      const clientId = `twice-in-stream-${version}`;
      const subscriber = await RawClient.connect(node1.port, persistent(version, clientId));
      await subscriber.subscribe('k/#', 2);
      subscriber.send(pkt.disconnect(version));
      await subscriber.closed();
      await until("node-2 to learn node-1's route", () => node2.bus.knowsRoute('node-1', 'k/#'));
      node1.child.kill('SIGSTOP');
      const publisher = await RawClient.connect(node2.port, { version, clientId: `p2-${version}` });
      await publisher.publish({ topic: 'k/x', qos: 2, payload: 'once' });
      node1.child.kill('SIGKILL');
      // The same message marked for the session, as a node the session left would forward it.
      await copyMarked(admin, 'node-1', clientId);

      const again = await startProcessNode(t, redis, 'node-1');
      const resumed = await RawClient.connect(again.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      const first = await resumed.next('publish', WAIT_MS);
      assert.equal(first.payload.toString(), 'once');
      resumed.send(pkt.pubrec(version, first.packetId));
      await resumed.next('pubrel', WAIT_MS);
      resumed.send(pkt.pubcomp(version, first.packetId));
      await resumed.expectNothing(500);
    });

    it(`[MQTT-4.3.3-2] a node restarted under its id does not deliver again a message its session holds from before the restart when a copy marked for the session comes after it`, async (t) => {
      const clientId = `held-before-${version}`;
      const setup = await sessionOnProcessNode(t, version, clientId, 2);
      if (setup === undefined) return;
      const { redis, admin, node1, node2 } = setup;
      const entry = await entryWhileFrozen(admin, node1, node2.port, version);
      await until('node-1 to store it', async () => (await admin.xlen('{fennec}:stream:node-1')) === 0);
      // Then the same message marked for the session, as a node the session left would forward it.
      const resumed = await markedAfterRestart(t, { redis, admin, node1 }, version, clientId, entry);
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 500), ['once']);
    });

    it(`[MQTT-4.3.3-2] (3.1.1) [MQTT-4.3.3-12] (5.0) a session handed over with a message queued, completed on the new node, does not get the message again when a copy marked for it comes after`, async (t) => {
      const clientId = `completed-${version}`;
      const setup = await sessionOnProcessNode(t, version, clientId, 2);
      if (setup === undefined) return;
      const { admin, node1, node2 } = setup;
      const entry = await entryWhileFrozen(admin, node1, node2.port, version);
      await until('node-1 to store it', async () => (await admin.xlen('{fennec}:stream:node-1')) === 0);
      // The session moves to node-2 with the message queued; the client completes it there.
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 500), ['once']);
      // Then a copy marked for the session, as the node it left would forward one its stream held.
      await appendMarked(admin, 'node-2', clientId, entry);
      await until('node-2 to read it', async () => (await admin.xlen('{fennec}:stream:node-2')) === 0);
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 500), []);
    });

    it(`[MQTT-4.3.3-2] (3.1.1) [MQTT-4.3.3-12] (5.0) a session that completed a message on a node killed and restarted does not get the message again when a copy marked for it comes after the restart`, async (t) => {
      const clientId = `done-restart-${version}`;
      const setup = await sessionOnProcessNode(t, version, clientId, 2);
      if (setup === undefined) return;
      const { redis, admin, node1, node2 } = setup;
      const subscriber = await RawClient.connect(node1.port, persistent(version, clientId), WAIT_MS);
      assert.equal(subscriber.connack.sessionPresent, true);
      const entry = await entryWhileFrozen(admin, node1, node2.port, version);
      assert.deepEqual(await receiveUntilQuiet(subscriber, version, 500), ['once']);
      await until(
        'the store to keep the completion',
        async () => (await admin.llen(`{fennec}:done:${clientId}`)) === 1,
      );
      const resumed = await markedAfterRestart(t, { redis, admin, node1 }, version, clientId, entry);
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 500), []);
    });

    it(`[MQTT-4.3.3-2] (3.1.1) [MQTT-4.3.3-12] (5.0) a session that completed a message on one node, then moved to another, does not get the message again when a copy marked for it reaches the other`, async (t) => {
      const nodes = await processAndTwoNodes(t);
      if (nodes === undefined) return;
      const { admin, node1, node2, node3 } = nodes;
      const clientId = `done-moved-${version}`;
      await offlineSession(node1.port, version, clientId, 'k/#', 2);
      await until("node-2 to learn node-1's route", () => node2.bus.knowsRoute('node-1', 'k/#'));
      const entry = await entryWhileFrozen(admin, node1, node2.port, version);
      await until('node-1 to store it', async () => (await admin.xlen('{fennec}:stream:node-1')) === 0);
      // Completed on node-2 (the session handed over with the message queued), then moved to node-3.
      const onTwo = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.deepEqual(await receiveUntilQuiet(onTwo, version, 500), ['once']);
      await until(
        'the store to keep the completion',
        async () => (await admin.llen(`{fennec}:done:${clientId}`)) === 1,
      );
      const onThree = await RawClient.connect(node3.port, persistent(version, clientId), WAIT_MS);
      assert.equal(onThree.connack.sessionPresent, true);
      await appendMarked(admin, 'node-3', clientId, entry);
      await until('node-3 to read it', async () => (await admin.xlen('{fennec}:stream:node-3')) === 0);
      assert.deepEqual(await receiveUntilQuiet(onThree, version, 500), []);
    });

    it(`[MQTT-4.6.0-6] a copy marked for an offline session that comes after newer messages of its publishing node is queued before them, in the store too (the node killed and restarted)`, async (t) => {
      const clientId = `late-copy-${version}`;
      const setup = await sessionOnProcessNode(t, version, clientId, 1);
      if (setup === undefined) return;
      const { redis, admin, node1 } = setup;
      await appendPlain(admin, 'node-1', 'k/x', ['m-1', 'm-2'], 1);
      // Then m-0, older, forwarded by a node the session left.
      await appendPlain(admin, 'scratch', 'k/x', ['m-0'], 0);
      await appendMarked(admin, 'node-1', clientId, await firstEntry(admin, 'scratch'));
      await until('node-1 to read them', async () => (await admin.xlen('{fennec}:stream:node-1')) === 0);
      await until(
        'node-1 to store three deliveries',
        async () => (await admin.scard(`{fennec}:store:node-1:dlvof:${clientId}`)) === 3,
      );
      node1.child.kill('SIGKILL');
      const again = await startProcessNode(t, redis, 'node-1');
      const resumed = await RawClient.connect(again.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      assert.deepEqual(await receiveAcknowledged(resumed, version, ['m-0', 'm-1', 'm-2']), ['m-0', 'm-1', 'm-2']);
    });

    it(`[MQTT-4.3.3-2] (3.1.1) [MQTT-4.3.3-12] (5.0) a session that got a copy marked for it does not get the plain copy of the same message that comes after it through its routes`, async (t) => {
      const clientId = `marked-first-${version}`;
      const setup = await sessionOnProcessNode(t, version, clientId, 2);
      if (setup === undefined) return;
      const { admin, node2 } = setup;
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      // The node it left forwards a message marked for it before the publisher's node, which has
      // learnt the new route, appends the same message (one id) to node-2's stream.
      await appendPlain(admin, 'scratch', 'k/x', ['once'], 0, 2);
      await appendMarked(admin, 'node-2', clientId, await firstEntry(admin, 'scratch'));
      await appendPlain(admin, 'node-2', 'k/x', ['once'], 0, 2);
      await until('node-2 to read both', async () => (await admin.xlen('{fennec}:stream:node-2')) === 0);
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 500), ['once']);
    });

    it(`[MQTT-4.6.0-6] a session taken from a dead node gets what the new node published during the claim before what it publishes after, though the dead node's next reader forwards it late`, async (t) => {
      const clientId = `published-meanwhile-${version}`;
      const setup = await sessionOnDeadNode(t, version, clientId);
      if (setup === undefined) return;
      const { admin, node2 } = setup;
      const publisher = await RawClient.connect(node2.port, { version, clientId: `p2-${version}` });
      const gate = gateAfterAnswer(node2, clientId);
      const resuming = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      await until('the claim to have its answer', () => gate.reached);
      // Published meanwhile: node-2 still routes it to node-1's stream (its PUBACK may wait for the install).
      const first = publisher.publish({ topic: 'k/x', qos: 1, payload: 'first' });
      await until('node-2 to append it there', async () => (await admin.xlen('{fennec}:stream:node-1')) === 1);
      // node-1 back under its id would read it first, and forward it marked for the session: taken
      // from the stream here, appended to node-2's stream after the install below.
      const entry = await firstEntry(admin, 'node-1');
      await admin.del('{fennec}:stream:node-1');
      gate.open();
      const resumed = await resuming;
      assert.equal(resumed.connack.sessionPresent, true);
      await first;
      await publisher.publish({ topic: 'k/x', qos: 1, payload: 'second' });
      await appendMarked(admin, 'node-2', clientId, entry);
      await until('node-2 to read it', async () => (await admin.xlen('{fennec}:stream:node-2')) === 0);
      assert.deepEqual(await receiveQoS1UntilQuiet(resumed, version), ['first', 'second']);
    });

    it(`[MQTT-4.6.0-6] a claim from a dead node reads its stream again before the install: what a publishing node appended there meanwhile comes before what the new node delivers after`, async (t) => {
      const clientId = `straggler-${version}`;
      const setup = await sessionOnDeadNode(t, version, clientId);
      if (setup === undefined) return;
      const { admin, node2 } = setup;
      await appendPlain(admin, 'node-1', 'k/x', ['waiting'], 1);
      // Right after node-2's first read of node-1's stream, a node that had not learnt node-2's
      // route appends one more message there.
      const command = (node2.bus.sessions as unknown as { command: Redis }).command;
      const xrange = command.xrangeBuffer.bind(command) as (...args: unknown[]) => Promise<unknown>;
      let appended = false;
      (command as unknown as { xrangeBuffer: (...args: unknown[]) => Promise<unknown> }).xrangeBuffer = async (
        ...args
      ) => {
        const entries = await xrange(...args);
        if (!appended && args[0] === '{fennec}:stream:node-1') {
          appended = true;
          await appendPlain(admin, 'node-1', 'k/x', ['straggler'], 2);
        }
        return entries;
      };
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      assert.equal(appended, true);
      const publisher = await RawClient.connect(node2.port, { version, clientId: `p2-${version}` });
      await publisher.publish({ topic: 'k/x', qos: 1, payload: 'direct' });
      assert.deepEqual(await receiveQoS1UntilQuiet(resumed, version), ['waiting', 'straggler', 'direct']);
    });

    it(`[MQTT-4.6.0-6] a claim from a dead node holds what that node's next reader forwarded to it before the install, even while its own stream reader lags`, async (t) => {
      const clientId = `forwarded-early-${version}`;
      const setup = await sessionOnDeadNode(t, version, clientId);
      if (setup === undefined) return;
      const { admin, node2 } = setup;
      await appendPlain(admin, 'node-1', 'k/x', ['first'], 1);
      // Connected and read from before: a new client's first PUBLISH waits for node-2's stream reader.
      const publisher = await RawClient.connect(node2.port, { version, clientId: `p2-${version}` });
      await publisher.publish({ topic: 'warm/x', qos: 1, payload: 'read from' });
      const gate = gateAfterAnswer(node2, clientId);
      const resuming = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      await until('the claim to have its answer', () => gate.reached);
      // node-1 back under its id takes 'first' from its stream and forwards it, marked for the
      // session, to node-2, whose reader is busy with an entry before it for 1.5 s.
      slowReader(node2.bus, 1500);
      await appendPlain(admin, 'node-2', 'other/x', ['busy'], 9);
      await until(
        'node-2 to take that entry (not acknowledged yet)',
        async () => ((await admin.xpending('{fennec}:stream:node-2', 'fennec')) as [number])[0] === 1,
      );
      const entry = await firstEntry(admin, 'node-1');
      await admin.del('{fennec}:stream:node-1');
      await appendMarked(admin, 'node-2', clientId, entry);
      gate.open();
      const resumed = await resuming;
      assert.equal(resumed.connack.sessionPresent, true);
      await publisher.publish({ topic: 'k/x', qos: 1, payload: 'direct' });
      assert.deepEqual(await receiveQoS1UntilQuiet(resumed, version), ['first', 'direct']);
    });

    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] a CONNECT whose client left while the owner did not answer takes nothing by force: the client, back on the owner, keeps its session there`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node1 = await startProcessNode(t, redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2', {}, { handoverTimeoutMs: 1000 });
      const clientId = `left-waiting-${version}`;
      const sent = await offlineWithQueue(node1.port, version, clientId);
      node1.child.kill('SIGSTOP');
      const waiting = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      waiting.catch(() => undefined);
      await sleep(300);
      // The client gives up waiting and goes (to node-1, once it answers again).
      destroyAllClients();
      await sleep(1500);
      assert.equal(await admin.hget(`{fennec}:owner:${clientId}`, 'node'), 'node-1', 'not taken by force');
      // node-1, back, hears node-2's requests only now, past node-2's wait: it does not answer them.
      node1.child.kill('SIGCONT');
      await sleep(500);
      assert.equal(await admin.hget(`{fennec}:owner:${clientId}`, 'node'), 'node-1', 'not handed over late');
      const back = await RawClient.connect(node1.port, persistent(version, clientId), WAIT_MS);
      assert.equal(back.connack.sessionPresent, true);
      assert.deepEqual(await receiveAcknowledged(back, version, sent), sent);
    });

    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] an owner that heard a hand-over request in time but got to it only after the asking node gave up (its client gone) keeps the session`, async (t) => {
      const clientId = `late-request-${version}`;
      const setup = await offlineOnSessionNode(t, version, clientId);
      if (setup === undefined) return;
      const { admin, node1: owner, node2: asking } = setup;
      // The owner's hand-over first waits 1 s for its own stream (as when Redis is slow).
      const links = owner.bus.sessions!.links!;
      const caughtUp = links.caughtUp.bind(links);
      links.caughtUp = async () => {
        await sleep(1000);
        return caughtUp();
      };
      const waiting = RawClient.connect(asking.port, persistent(version, clientId), WAIT_MS * 2);
      waiting.catch(() => undefined);
      await sleep(300);
      destroyAllClients();
      await sleep(1500);
      links.caughtUp = caughtUp;
      assert.equal(await admin.hget(`{fennec}:owner:${clientId}`, 'node'), 'node-1', 'not handed over late');
      const back = await RawClient.connect(owner.port, persistent(version, clientId), WAIT_MS);
      assert.equal(back.connack.sessionPresent, true);
    });

    it(`[MQTT-3.1.2-5] a session's routes move with it in the claim: messages reach the node that took it even if that node never announces them (it died at once)`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node1 = await startProcessNode(t, redis, 'node-1');
      const node3 = await startSessionNode(redis, 'node-3');
      const clientId = `routes-move-${version}`;
      await offlineWithQueue(node1.port, version, clientId);
      node1.child.kill('SIGKILL');
      await admin.del('{fennec}:lease:node-1');
      // node-2 claims the session and does nothing more: as if it died right after its claim.
      const store2 = await RedisStore.open({ redis: redis.url, nodeId: 'node-2', retained: false });
      redis.beforeStop(() => store2.close());
      const claimed = await store2.claim(clientId, (count) => ({ seq: 0, messageId: 0, count }));
      assert.equal(claimed.kind, 'moved');
      assert.deepEqual(await admin.smembers('{fennec}:routes:node-2'), ['k/#']);
      await until("node-3 to learn node-2's route", () => node3.bus.knowsRoute('node-2', 'k/#'));
      const publisher = await RawClient.connect(node3.port, { version, clientId: `p3-${version}` });
      await publisher.publish({ topic: 'k/x', qos: 1, payload: 'to node-2' });
      assert.equal(await admin.xlen('{fennec}:stream:node-2'), 1);
    });

    it(`[MQTT-3.1.2-5] an owner killed right after handing a session over, before it read what its stream got for the session, forwards that once restarted, but not what came past the cut-off; alive, it forgets the record`, async (t) => {
      const nodes = await processAndTwoNodes(t);
      if (nodes === undefined) return;
      const { redis, admin, node1, node2, node3 } = nodes;
      const clientId = `handed-then-killed-${version}`;
      await offlineSession(node1.port, version, clientId, 'k/#', 1);
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      // Frozen then killed before it read what a node that had not yet learnt the new route sent it.
      node1.child.kill('SIGSTOP');
      const sent = await appendPlain(admin, 'node-1', 'k/x', ['late-0', 'late-1']);
      // Past the cut-off every node sends to node-2 too: what node-1's stream gets then is a copy.
      await sleep(LEFT_CUTOFF_MS + 200);
      await appendPlain(admin, 'node-1', 'k/x', ['copy'], 2);
      node1.child.kill('SIGKILL');
      await startProcessNode(t, redis, 'node-1');
      assert.deepEqual(await receiveAcknowledged(resumed, version, sent), sent);
      await until('node-1 to forget the record', async () => (await admin.hlen('{fennec}:left:node-1')) === 0);
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 500), [], 'the copy is not forwarded');

      // A node that stays alive forgets its record once it forwarded what its stream held.
      const other = `handed-alive-${version}`;
      await offlineSession(node3.port, version, other, 'k/#', 1);
      await RawClient.connect(node2.port, persistent(version, other), WAIT_MS);
      assert.equal(await admin.hlen('{fennec}:left:node-3'), 1, 'recorded by the hand-over');
      await until('node-3 to forget the record', async () => (await admin.hlen('{fennec}:left:node-3')) === 0);
    });

    it(`[MQTT-4.6.0-6] a session handed over by a node that froze before it passed its stream on: the new owner reads that stream itself, what waited there before what it delivers after`, async (t) => {
      const clientId = `unflushed-${version}`;
      const setup = await sessionOnProcessNode(t, version, clientId, 1);
      if (setup === undefined) return;
      const { admin, node1, node2 } = setup;
      const publisher = await RawClient.connect(node2.port, { version, clientId: `p2-${version}` });
      await publisher.publish({ topic: 'warm/x', qos: 1, payload: 'read from' });
      // node-1 hands the session over and answers; then it freezes before the flush request, while
      // a node that had not learnt the new route sends it one more message for the session.
      const gate = gateInstall(node2.store, clientId);
      const resuming = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
      await until('the session to be handed over to node-2', () => gate.reached);
      node1.child.kill('SIGSTOP');
      await appendPlain(admin, 'node-1', 'k/x', ['waiting'], 1);
      gate.open();
      const resumed = await resuming;
      assert.equal(resumed.connack.sessionPresent, true);
      await publisher.publish({ topic: 'k/x', qos: 1, payload: 'direct' });
      assert.deepEqual(await receiveQoS1UntilQuiet(resumed, version), ['waiting', 'direct']);
    });

    it(`[MQTT-3.1.2-5] a session handed over by a node that died before its answer came: the new owner reads what waits for the session in that node's stream`, async (t) => {
      const clientId = `unanswered-${version}`;
      const setup = await sessionOnProcessNode(t, version, clientId, 1);
      if (setup === undefined) return;
      const { redis, admin, node1, node2 } = setup;
      // node-1 runs its hand-over script (done here as node-1) and dies before it answers, or reads
      // what a node that had not learnt the new route sent it meanwhile.
      node1.child.kill('SIGSTOP');
      const store1 = await RedisStore.open({ redis: redis.url, nodeId: 'node-1', retained: false });
      redis.beforeStop(() => store1.close());
      assert.equal(await store1.handOver(clientId, 'node-2', { seq: 1e6, messageId: 1e6, count: 1024 }, []), 'ok');
      const sent = await appendPlain(admin, 'node-1', 'k/x', ['late-0', 'late-1']);
      // Killed, its lease left to run out: no adoption drains its stream meanwhile.
      node1.child.kill('SIGKILL');
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      const got: string[] = [];
      for (let i = 0; i < sent.length; i++) {
        const packet = await resumed.next('publish', 1500);
        got.push(packet.payload.toString());
        resumed.send(pkt.puback(version, packet.packetId));
      }
      assert.deepEqual(got, sent);
    });

    it(`[MQTT-4.3.3-2] (3.1.1) [MQTT-4.3.3-12] (5.0) what reaches a dead node's stream past the cut-off after a claim took a session from it is not forwarded to the session: every node knew the new route by then`, async (t) => {
      const clientId = `claim-cutoff-${version}`;
      const setup = await sessionOnProcessNode(t, version, clientId, 2);
      if (setup === undefined) return;
      const { redis, admin, node1, node2 } = setup;
      node1.child.kill('SIGKILL');
      await admin.del('{fennec}:lease:node-1');
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      // A publishing node that knew both routes sent this to node-2 too: here, only its copy in node-1's stream.
      await sleep(LEFT_CUTOFF_MS + 200);
      await appendPlain(admin, 'node-1', 'k/x', ['copy']);
      await startProcessNode(t, redis, 'node-1');
      await until('node-1 to handle the record', async () => (await admin.hlen('{fennec}:left:node-1')) === 0);
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 500), []);
    });

    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] an owner whose hand-over came too late (the asking node took the session by force meanwhile) passes on what still reaches it for the session`, async (t) => {
      const clientId = `too-late-${version}`;
      const setup = await offlineOnSessionNode(t, version, clientId);
      if (setup === undefined) return;
      const { admin, node1, node2 } = setup;
      // node-1's hand-over script waits until node-2 has taken the session by force.
      let open: () => void = () => undefined;
      const opened = new Promise<void>((resolve) => (open = resolve));
      const handOver = node1.store.handOver.bind(node1.store);
      let handed: string | undefined;
      node1.store.handOver = async (...args) => {
        await opened;
        const result = await handOver(...args);
        handed = result;
        return result;
      };
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      open();
      await until("node-1's hand-over to be lost", () => handed === 'lost');
      await sleep(100);
      // Then node-1's stream gets a message for the session, from a node that had not learnt the new route.
      const sent = await appendPlain(admin, 'node-1', 'k/x', ['late']);
      assert.deepEqual(await receiveAcknowledged(resumed, version, sent), sent);
    });

    for (const then of ['', ', to the node that adopted it since'] as const) {
      it(`[MQTT-3.1.2-5] a node that dies after claiming a session from a dead node, before storing what waited in that node's stream, loses none of it: the dead node, back, forwards it all${then}`, async (t) => {
        const redis = await startRedis(t);
        if (redis === undefined) return;
        t.after(destroyAllClients);
        const admin = adminClient(redis);
        const node1 = await startProcessNode(t, redis, 'node-1');
        const node3 = await startSessionNode(redis, 'node-3');
        const clientId = `claimer-dies-${version}`;
        await offlineSession(node1.port, version, clientId, 'k/#', 1);
        await until("node-3 to learn node-1's route", () => node3.bus.knowsRoute('node-1', 'k/#'));
        // Frozen, then killed: what node-3 publishes meanwhile is acknowledged and waits in node-1's stream.
        node1.child.kill('SIGSTOP');
        const publisher = await RawClient.connect(node3.port, { version, clientId: `p-${version}` });
        const sent: string[] = [];
        for (let i = 0; i < 5; i++) {
          await publisher.publish({ topic: 'k/x', qos: 1, payload: `waiting-${i}` });
          sent.push(`waiting-${i}`);
        }
        node1.child.kill('SIGKILL');
        await admin.del('{fennec}:lease:node-1');
        // node-2 claims the session and dies before it reads node-1's stream or stores anything.
        const store2 = await RedisStore.open({ redis: redis.url, nodeId: 'node-2', retained: false });
        redis.beforeStop(() => store2.close());
        assert.equal((await store2.claim(clientId, (count) => ({ seq: 0, messageId: 0, count }))).kind, 'moved');
        // node-2's sessions adopted by node-3: its stream drained and deleted.
        if (then !== '') assert.equal((await node3.bus.adoptSessions('node-2')).sessions, 1);
        // node-1, restarted, forwards all its stream held for the session to where the session is.
        await startProcessNode(t, redis, 'node-1');
        await until('the record to be handled', async () => (await admin.hlen('{fennec}:left:node-1')) === 0);
        // The session, taken from dead node-2 in turn (or adopted), gets them all.
        const resumed = await RawClient.connect(node3.port, persistent(version, clientId), WAIT_MS);
        assert.equal(resumed.connack.sessionPresent, true);
        assert.deepEqual(await receiveAcknowledged(resumed, version, sent), sent);
        await resumed.expectNothing(300);
      });
    }

    for (const reader of ['its adopter', 'itself, restarted under its id'] as const) {
      it(`[MQTT-3.1.2-5] a session claimed from a dead node gets, in order and once, the acknowledged messages that waited in that node's stream: read by the claim, and what came after forwarded by ${reader}`, async (t) => {
        const nodes = await processAndTwoNodes(t);
        if (nodes === undefined) return;
        const { redis, admin, node1, node2, node3 } = nodes;
        const clientId = `left-${version}-${reader.length}`;
        const subscriber = await RawClient.connect(node1.port, persistent(version, clientId));
        await subscriber.subscribe('k/#', 1);
        subscriber.send(pkt.disconnect(version));
        await subscriber.closed();
        await until("the other nodes to learn node-1's route", () =>
          [node2, node3].every((node) => node.bus.knowsRoute('node-1', 'k/#')),
        );

        // Frozen, then killed: what node-3 publishes meanwhile is acknowledged and waits in node-1's stream.
        node1.child.kill('SIGSTOP');
        const publisher = await RawClient.connect(node3.port, { version, clientId: `p-${version}` });
        const sent: string[] = [];
        const publish = async (payload: string): Promise<void> => {
          await publisher.publish({ topic: 'k/x', qos: 1, payload });
          sent.push(payload);
        };
        for (let i = 0; i < 5; i++) await publish(`waiting-${i}`);
        node1.child.kill('SIGKILL');
        assert.equal(await admin.xlen('{fennec}:stream:node-1'), 5);
        // The first one there twice: also marked for the session, as a node it left would forward it.
        await copyMarked(admin, 'node-1', clientId);
        // Its lease gone (as after its time-to-live): the claim moves the session at once.
        await admin.del('{fennec}:lease:node-1');
        const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
        assert.equal(resumed.connack.sessionPresent, true);
        // Once what the claim read is in node-2's store, the record says up to where it read (and
        // from which of its own messages on the session had them there).
        const end = (await admin.xrevrange('{fennec}:stream:node-1', '+', '-', 'COUNT', 1))[0]?.[0];
        await until('the claim to record what it read', async () => {
          const record = (await admin.hget('{fennec}:left:node-1', clientId)) ?? '';
          return /^node-2\n(\S+) node-2\/\w+\/ \d+ <\d+\nk\/#$/.exec(record)?.[1] === end;
        });
        // A node that has not learnt the new route yet still appends to node-1's stream.
        sent.push(...(await appendPlain(admin, 'node-1', 'k/x', ['late-0', 'late-1', 'late-2'])));
        // And one through the routes every node knows now: node-2's, and node-1's until it is handled.
        await until("node-3 to learn node-2's route", () => node3.bus.knowsRoute('node-2', 'k/#'));
        await publish('after');

        if (reader === 'its adopter') await node3.bus.adoptSessions('node-1');
        else await startProcessNode(t, redis, 'node-1');
        const got = await receiveAcknowledged(resumed, version, sent);
        assert.deepEqual(got.slice(0, 5), sent.slice(0, 5), 'what the claim read comes first, in order');
        assert.deepEqual([...got].sort(), [...sent].sort(), 'each once');
        await until('the record to be forgotten', async () => (await admin.hlen('{fennec}:left:node-1')) === 0);
        await resumed.expectNothing(300);
      });
    }

    it(`[MQTT-4.3.3-2] a message the claiming node publishes once it took a session from a dead node, completed by the session, is not forwarded to it again when the dead node comes back after the claiming node restarted`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node1 = await startProcessNode(t, redis, 'node-1');
      const clientId = `own-after-claim-${version}`;
      await offlineSession(node1.port, version, clientId, 'k/#', 2);
      // A long lease: node-2 does not declare node-1 dead (nor adopt it), and stays alive across its restart.
      const long = '  lease_ms: 600000\n';
      const node2 = await startProcessNode(t, redis, 'node-2', long);
      node1.child.kill('SIGKILL');
      await admin.del('{fennec}:lease:node-1');
      // One message waiting in node-1's stream: the claim reads it, and records up to where.
      const publisher = await RawClient.connect(node2.port, { version, clientId: `p-${version}` });
      await publisher.publish({ topic: 'k/x', qos: 2, payload: 'before' });
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      await until(
        'the claim to record what it read',
        async () =>
          ((await admin.hget('{fennec}:left:node-1', clientId)) ?? '').split('\n')[1]?.startsWith('0-0') === false,
      );
      // Published on node-2, which still knows node-1's route: a copy waits in node-1's stream.
      await publisher.publish({ topic: 'k/x', qos: 2, payload: 'mine' });
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 300), ['before', 'mine']);
      assert.equal(await admin.xlen('{fennec}:stream:node-1'), 2);
      resumed.destroy();
      publisher.destroy();
      node2.child.kill('SIGKILL');
      const again = await startProcessNode(t, redis, 'node-2', long);
      await startProcessNode(t, redis, 'node-1');
      await until('the record to be handled', async () => (await admin.hlen('{fennec}:left:node-1')) === 0);
      await sleep(300);
      const back = await RawClient.connect(again.port, persistent(version, clientId), WAIT_MS);
      assert.equal(back.connack.sessionPresent, true);
      assert.deepEqual(await receiveUntilQuiet(back, version, 500), []);
    });

    it(`[MQTT-4.6.0-6] messages published on the claiming node while it takes the session from a dead node reach the session before later ones, once`, async (t) => {
      const clientId = `claiming-${version}`;
      const setup = await sessionOnProcessNode(t, version, clientId, 2);
      if (setup === undefined) return;
      const { redis, admin, node1, node2 } = setup;
      node1.child.kill('SIGKILL');
      await admin.del('{fennec}:lease:node-1');
      const publisher = await RawClient.connect(node2.port, { version, clientId: `p2-${version}` });
      // Published on node-2 once its claim moved the session there, before it is installed: it goes
      // to node-1's stream (its route is still known), after where that stream ended at the claim.
      const claim = node2.store.claim.bind(node2.store);
      node2.store.claim = async (...args) => {
        const result = await claim(...args);
        if (args[0] === clientId && result.kind === 'moved') {
          await publisher.publish({ topic: 'k/x', qos: 2, payload: 'during' });
        }
        return result;
      };
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      await publisher.publish({ topic: 'k/x', qos: 2, payload: 'after' });
      // node-1 restarted forwards what its stream holds past the claim's end: the copy is dropped.
      await startProcessNode(t, redis, 'node-1');
      await until('the record to be forgotten', async () => (await admin.hlen('{fennec}:left:node-1')) === 0);
      assert.deepEqual(await receiveUntilQuiet(resumed, version, 500), ['during', 'after']);
    });

    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] a node that never answered the hand-over forgets the session once the new owner installed it: its routes go`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node1 = await startSessionNode(redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2', {}, { handoverTimeoutMs: 500 });
      const clientId = `stale-${version}`;
      const subscriber = await RawClient.connect(node1.port, persistent(version, clientId));
      await subscriber.subscribe('k/#', 1);
      subscriber.send(pkt.disconnect(version));
      await subscriber.closed();
      // node-1 hears hand-over requests and never answers them (as if it had come back too late to hear them).
      (node1.bus.sessions as unknown as { handOver: () => Promise<void> }).handOver = () => Promise.resolve();

      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      assert.equal(node2.bus.sessions?.counters.timedOut, 1);
      await until(
        'node-1 to forget the session and withdraw its route',
        async () => (await admin.smembers('{fennec}:routes:node-1')).length === 0,
      );
      const publisher = await RawClient.connect(node1.port, { version, clientId: `p-${version}` });
      await publisher.publish({ topic: 'k/x', qos: 1, payload: 'after' });
      assert.deepEqual(await receiveAcknowledged(resumed, version, ['after']), ['after']);
    });

    for (const where of ['queue', 'spool'] as const) {
      it(`[MQTT-4.3.2-${version === 5 ? 4 : 2}] what a node that never answered the hand-over puts in the ${where} of the session after it was taken (its store write fenced out) reaches the session on its new owner`, async (t) => {
        const redis = await startRedis(t);
        if (redis === undefined) return;
        t.after(destroyAllClients);
        const admin = adminClient(redis);
        // With a memory queue of one message, what comes after the first is spooled.
        const node1 = await startSessionNode(redis, 'node-1', where === 'spool' ? { maxQueuedMessages: 1 } : {});
        const node2 = await startSessionNode(redis, 'node-2', {}, { handoverTimeoutMs: 500 });
        const node3 = await startSessionNode(redis, 'node-3');
        const clientId = `fenced-${where}-${version}`;
        await offlineSession(node1.port, version, clientId, 'k/#', 1);
        await until("node-3 to learn node-1's route", () => node3.bus.knowsRoute('node-1', 'k/#'));
        const publisher = await RawClient.connect(node3.port, { version, clientId: `p-${version}` });
        await publisher.publish({ topic: 'k/x', qos: 1, payload: 'first' });
        (node1.bus.sessions as unknown as { handOver: () => Promise<void> }).handOver = () => Promise.resolve();
        // node-2 takes the session by force, then installs it only when told.
        const gate = gateInstall(node2.store, clientId);
        const resuming = RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS * 2);
        await until('node-2 to take the session', () => gate.reached);
        // node-1 still holds its copy: it reads what node-3 sends there now, and keeps it for that copy.
        await publisher.publish({ topic: 'k/x', qos: 1, payload: 'fenced' });
        await until('node-1 to read it', async () => (await admin.xlen('{fennec}:stream:node-1')) === 0);
        gate.open();
        const resumed = await resuming;
        assert.equal(resumed.connack.sessionPresent, true);
        assert.deepEqual(await receiveAcknowledged(resumed, version, ['first', 'fenced']), ['first', 'fenced']);
        await resumed.expectNothing(300);
      });
    }
  });
}
