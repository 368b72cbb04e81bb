/**
 * A persistent session outlives its node (docs/cluster.md, "Sessions"): node-1 is a real
 * `fennec broker` process, killed with SIGKILL; node-2 (in process) adopts its sessions and the
 * messages that waited in its stream, and the client resumes on node-2 with every acknowledged
 * QoS 1/2 message, QoS 2 once. A node that stops answering loses a session after the hand-over
 * timeout, for MQTT 3.1.1 and 5.0.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  adminClient,
  copyMarked,
  offlineSession,
  persistent,
  startProcessNode,
  startSessionNode,
  until,
  type TestNode,
} from '../helpers/cluster.js';
import { encodeMessage } from '../../src/cluster/codec.js';
import * as pkt from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { startRedis } from '../helpers/redis-server.js';
import { WAIT_MS } from '../interop/support.js';

/**
 * Receives on `client` until every payload of `expected` came; acknowledges each; returns the count
 * of each, and adds to `resent` the payloads that came with DUP.
 */
async function receiveAll(
  client: RawClient,
  version: 4 | 5,
  expected: readonly string[],
  resent = new Set<string>(),
): Promise<Map<string, number>> {
  const got = new Map<string, number>();
  const awaitingRelease = new Set<number>();
  while (expected.some((payload) => !got.has(payload)) || awaitingRelease.size > 0) {
    const packet = await client.next(WAIT_MS);
    if (packet.type === 'pubrel') {
      awaitingRelease.delete(packet.packetId);
      client.send(pkt.pubcomp(version, packet.packetId));
      continue;
    }
    assert.equal(packet.type, 'publish');
    if (packet.type !== 'publish') break;
    const payload = packet.payload.toString();
    if (packet.dup) resent.add(payload);
    got.set(payload, (got.get(payload) ?? 0) + 1);
    if (packet.qos === 1) client.send(pkt.puback(version, packet.packetId));
    else {
      awaitingRelease.add(packet.packetId);
      client.send(pkt.pubrec(version, packet.packetId));
    }
  }
  return got;
}

/** Publishes `count` QoS 1 and `count` QoS 2 messages named `prefix-QOS-I` on `client`, each acknowledged. */
async function publishBoth(client: RawClient, prefix: string, count: number): Promise<string[]> {
  const sent: string[] = [];
  for (let i = 0; i < count; i++) {
    for (const qos of [1, 2] as const) {
      const payload = `${prefix}-q${qos}-${i}`;
      await client.publish({ topic: 'k/x', qos, payload });
      sent.push(payload);
    }
  }
  return sent;
}

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  describe(`persistent sessions of a dead or silent node, MQTT ${v}`, () => {
    for (const online of [false, true]) {
      it(`after node-1 is killed with SIGKILL, node-2 adopts its session${online ? ' (its client connected, acknowledging nothing)' : ''}: every acknowledged QoS 1/2 message is delivered on node-2${online ? ' (those in flight with DUP)' : ''}, QoS 2 once`, async (t) => {
        const redis = await startRedis(t);
        if (redis === undefined) return;
        t.after(destroyAllClients);
        const admin = adminClient(redis);
        const node1 = await startProcessNode(t, redis, 'node-1');
        const node2: TestNode = await startSessionNode(redis, 'node-2');
        const clientId = `adopted-${version}-${online ? 'online' : 'offline'}`;
        const subscriber = await RawClient.connect(node1.port, persistent(version, clientId));
        await subscriber.subscribe('k/#', 2);
        if (!online) {
          subscriber.send(pkt.disconnect(version));
          await subscriber.closed();
        }
        await until("node-2 to learn node-1's route", () => node2.bus.knowsRoute('node-1', 'k/#'));

        // Published on node-1: in its store once acknowledged.
        const onNode1 = await RawClient.connect(node1.port, { version, clientId: `p1-${version}` });
        const sent = await publishBoth(onNode1, 'n1', 3);
        // Published on node-2: through node-1's stream into its store...
        const onNode2 = await RawClient.connect(node2.port, { version, clientId: `p2-${version}` });
        sent.push(...(await publishBoth(onNode2, 'n2-read', 2)));
        await until('node-1 to read its stream', async () => (await admin.xlen('{fennec}:stream:node-1')) === 0);
        // ...and, node-1 frozen, left waiting in its stream when it dies.
        node1.child.kill('SIGSTOP');
        sent.push(...(await publishBoth(onNode2, 'n2-waiting', 3)));
        node1.child.kill('SIGKILL');
        // One of them there twice: also marked for the session, as a node it left would forward it.
        await copyMarked(admin, 'node-1', clientId);
        // The first messages reached the connected client, which acknowledged none of them.
        const inflightPayloads = online
          ? subscriber.unread.flatMap((p) => (p.type === 'publish' ? [p.payload.toString()] : []))
          : [];
        if (online) assert.ok(inflightPayloads.length > 0, 'the connected client had messages in flight');

        // A reaper adopts once the lease is gone (up to 2.3 leases after the kill): gone at once here.
        await admin.del('{fennec}:lease:node-1');
        const adopted = await node2.bus.adoptSessions('node-1');
        assert.equal(adopted.sessions, 1);
        assert.equal(
          adopted.deliveries,
          6,
          "the 6 messages waiting in the dead node's stream reach the adopted session",
        );
        assert.equal(await admin.exists('{fennec}:stream:node-1', '{fennec}:routes:node-1'), 0);

        const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
        assert.equal(resumed.connack.sessionPresent, true);
        const resent = new Set<string>();
        const got = await receiveAll(resumed, version, sent, resent);
        // [MQTT-4.4.0-1]: what was in flight on node-1 is sent again, with DUP [MQTT-3.3.1-1]
        for (const payload of inflightPayloads) assert.ok(resent.has(payload), `${payload} resent with DUP`);
        for (const payload of sent) {
          assert.ok(got.has(payload), `${payload} delivered`);
          if (payload.includes('-q2-')) assert.equal(got.get(payload), 1, `${payload} delivered once`);
        }
        await resumed.expectNothing(300);
        // Its subscription moved too: a new message reaches it.
        await onNode2.publish({ topic: 'k/x', qos: 1, payload: 'later' });
        const later = await resumed.next('publish', WAIT_MS);
        assert.equal(later.payload.toString(), 'later');
      });
    }

    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] a node that does not answer (SIGSTOP) loses the session after the hand-over timeout: the client resumes on node-2 with its queued messages`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const node1 = await startProcessNode(t, redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2', {}, { handoverTimeoutMs: 500 });
      const clientId = `silent-${version}`;
      const subscriber = await RawClient.connect(node1.port, persistent(version, clientId));
      await subscriber.subscribe('k/#', 2);
      subscriber.send(pkt.disconnect(version));
      await subscriber.closed();
      const publisher = await RawClient.connect(node1.port, { version, clientId: `p-${version}` });
      const sent = await publishBoth(publisher, 'queued', 3);
      publisher.destroy();
      // Frozen with its lease still in Redis: asked to hand over, it cannot answer.
      node1.child.kill('SIGSTOP');
      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      assert.equal(node2.bus.sessions?.counters.timedOut, 1);
      const got = await receiveAll(resumed, version, sent);
      for (const payload of sent) if (payload.includes('-q2-')) assert.equal(got.get(payload), 1);
    });

    it(`a message a third node sent to both the dead node and the adopter, read by the adopter before the adoption, reaches the adopted session (QoS 2 once)`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node1 = await startProcessNode(t, redis, 'node-1');
      const node2 = await startSessionNode(redis, 'node-2');
      const node3 = await startSessionNode(redis, 'node-3');
      const clientId = `both-${version}`;
      await offlineSession(node1.port, version, clientId, 'k/#', 2);
      // A subscriber of the same filter on node-2: node-3 sends there too.
      const local = await RawClient.connect(node2.port, { version, clientId: `local-${version}` });
      await local.subscribe('k/#', 2);
      await until('node-3 to know both routes', () =>
        ['node-1', 'node-2'].every((node) => node3.bus.knowsRoute(node, 'k/#')),
      );
      node1.child.kill('SIGSTOP');
      const publisher = await RawClient.connect(node3.port, { version, clientId: `p-${version}` });
      const sent = await publishBoth(publisher, 'both', 2);
      // node-2 read them from its stream, for its own subscriber, before it adopted the session.
      await receiveAll(local, version, sent);
      node1.child.kill('SIGKILL');
      await admin.del('{fennec}:lease:node-1');
      const adopted = await node2.bus.adoptSessions('node-1');
      assert.equal(adopted.sessions, 1);
      assert.equal(adopted.deliveries, sent.length, "the messages of the dead node's stream reach the adopted session");

      const resumed = await RawClient.connect(node2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true);
      const got = await receiveAll(resumed, version, sent);
      for (const payload of sent) if (payload.includes('-q2-')) assert.equal(got.get(payload), 1, `${payload} once`);
      await resumed.expectNothing(300);
    });
  });
}

describe('a dead node that restarts under its id during its adoption', () => {
  it('[MQTT-3.1.2-5] keeps its routes, stream and connected sessions: the late adoption takes nothing, and a message published elsewhere reaches its subscriber', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    t.after(destroyAllClients);
    const admin = adminClient(redis);
    const first = await startProcessNode(t, redis, 'node-1');
    const node2: TestNode = await startSessionNode(redis, 'node-2');
    first.child.kill('SIGKILL');
    // Restarted before the others declared it dead (or while they adopt): it takes its lease first.
    const node1 = await startProcessNode(t, redis, 'node-1');
    const subscriber = await RawClient.connect(node1.port, persistent(5, 'back'));
    await subscriber.subscribe('k/#', 1);
    await until("node-2 to learn node-1's route", () => node2.bus.knowsRoute('node-1', 'k/#'));

    // The adoption a reaper started when it found the first run's lease gone.
    const adopted = await node2.bus.adoptSessions('node-1');
    assert.equal(adopted.sessions, 0, 'nothing of a live node is adopted');
    assert.equal(await admin.sismember('{fennec}:nodes', 'node-1'), 1);
    assert.deepEqual(await admin.smembers('{fennec}:routes:node-1'), ['k/#']);
    assert.equal(await admin.hget('{fennec}:owner:back', 'node'), 'node-1');
    await until("node-2 to know node-1's route again", () => node2.bus.knowsRoute('node-1', 'k/#'));

    const publisher = await RawClient.connect(node2.port, { version: 5, clientId: 'p-back' });
    await publisher.publish({ topic: 'k/x', qos: 1, payload: 'after the late adoption' });
    const got = await subscriber.next('publish', WAIT_MS);
    assert.equal(got.payload.toString(), 'after the late adoption');
  });

  it('[MQTT-3.1.2-5] forwards to the adopter what its stream holds for the sessions the adoption had already moved, past where the adoption read it: each once', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    t.after(destroyAllClients);
    const admin = adminClient(redis);
    const first = await startProcessNode(t, redis, 'node-1');
    const node2 = await startSessionNode(redis, 'node-2');
    const node3 = await startSessionNode(redis, 'node-3');
    await offlineSession(first.port, 5, 'moved-away', 'k/#', 1);
    await until("node-3 to learn node-1's route", () => node3.bus.knowsRoute('node-1', 'k/#'));
    first.child.kill('SIGKILL');
    await admin.del('{fennec}:lease:node-1');
    const publisher = await RawClient.connect(node3.port, { version: 5, clientId: 'p-moved' });
    await publisher.publish({ topic: 'k/x', qos: 1, payload: 'before' });

    // The adoption pauses once the session is installed on node-2, before it removes node-1.
    const links = node2.bus.sessions!.links!;
    const flushRoutes = links.flushRoutes.bind(links);
    let reached: () => void = () => undefined;
    const paused = new Promise<void>((resolve) => (reached = resolve));
    let resume: () => void = () => undefined;
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    links.flushRoutes = async () => {
      links.flushRoutes = flushRoutes;
      reached();
      await resumed;
      return flushRoutes();
    };
    const adoption = node2.bus.adoptSessions('node-1');
    await paused;
    // A node that has not learnt the new route appends to node-1's stream meanwhile.
    const late = { topic: 'k/x', payload: Buffer.from('late'), qos: 1 as const, retain: false };
    const fields = { properties: undefined, publisherId: 'slow', receivedAt: Date.now() };
    await admin.xadd('{fennec}:stream:node-1', '*', 'i', 'slow/1/1', 'm', encodeMessage({ ...late, ...fields }));
    await startProcessNode(t, redis, 'node-1');
    resume();
    assert.equal((await adoption).sessions, 1);

    const back = await RawClient.connect(node2.port, persistent(5, 'moved-away'), WAIT_MS);
    assert.equal(back.connack.sessionPresent, true);
    const got = await receiveAll(back, 5, ['before', 'late']);
    assert.deepEqual([...got.keys()], ['before', 'late']);
    assert.deepEqual([...got.values()], [1, 1]);
    await back.expectNothing(500);
  });
});
