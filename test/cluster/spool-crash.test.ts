/**
 * A spooled backlog outlives a killed node (docs/cluster.md, "Sessions", issue 15): node-1, a real
 * `fennec broker` process with cluster-wide sessions and `max_queued_messages` 10, holds an offline
 * persistent session that receives 120 QoS 1 messages, each acknowledged to the publisher; 110 of
 * them are beyond the memory queue, in the Redis store's spool. node-1 is killed with SIGKILL (no
 * close of any kind), then (a) the client connects to node-2 (in process), which claims the session
 * from the dead node with its spool, or (a') node-2 adopts the dead node's sessions, or (b) node-1 is started again under its id and the client
 * connects there: either way every one of the 120 arrives, in order [MQTT-4.6.0-6], for MQTT 3.1.1
 * and 5.0. Real redis-server; raw clients that acknowledge one by one.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';
import {
  adminClient,
  persistent as persistentSession,
  startProcessNode,
  startSessionNode,
} from '../helpers/cluster.js';
import * as pkt from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { WAIT_MS } from '../interop/support.js';

const MESSAGES = 120;
const QUEUED = 10;

/** Node `nodeId` as a `fennec broker` process, its memory queues 10 deep; `start()` runs it (again), on a new port. */
function processNode(
  t: TestContext,
  redis: TestRedis,
  nodeId: string,
): () => Promise<{ child: ChildProcess; port: number }> {
  return () => startProcessNode(t, redis, nodeId, `limits:\n  max_queued_messages: ${QUEUED}\n`);
}

/** Kills `child` with SIGKILL and waits for it to be gone. */
async function kill(child: ChildProcess): Promise<void> {
  const gone = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await gone;
}

/** Receives MESSAGES publishes on `client`, acknowledging each; returns their payloads in order. */
async function receiveAll(client: RawClient, version: 4 | 5): Promise<string[]> {
  const received: string[] = [];
  while (received.length < MESSAGES) {
    const publish = await client.next('publish', WAIT_MS);
    received.push(publish.payload.toString());
    client.send(pkt.puback(version, publish.packetId));
  }
  await client.expectNothing(300);
  return received;
}

const expected = Array.from({ length: MESSAGES }, (_, i) => `m-${i}`);

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  const persistent = (clientId: string): pkt.ConnectOptions => persistentSession(version, clientId);

  /** Node-1 started, an offline session on it holding 120 acknowledged messages, 110 of them spooled; then killed. */
  async function backlogThenCrash(
    t: TestContext,
    redis: TestRedis,
    clientId: string,
  ): Promise<() => Promise<{ child: ChildProcess; port: number }>> {
    const start = processNode(t, redis, 'node-1');
    const node1 = await start();
    const first = await RawClient.connect(node1.port, persistent(clientId));
    await first.subscribe('b/#', 1);
    await first.disconnect();
    const publisher = await RawClient.connect(node1.port, { version, clientId: `pub-${clientId}` });
    // Each PUBACK comes once the delivery (queued, or spooled beyond the queue) is in Redis.
    for (let i = 0; i < MESSAGES; i++) await publisher.publish({ topic: 'b/x', qos: 1, payload: `m-${i}` });
    publisher.destroy();
    await kill(node1.child);
    return start;
  }

  void describe(`a spooled backlog when its node is killed, MQTT ${v}`, () => {
    void it('(a) the client resumes on another node, which claims the session from the dead node: all 120 messages, in order [MQTT-4.6.0-6]', async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node2 = await startSessionNode(redis, 'node-2', { maxQueuedMessages: QUEUED });
      const clientId = `crash-a-${version}`;
      await backlogThenCrash(t, redis, clientId);
      assert.equal(
        await admin.zcard(`{fennec}:store:node-1:spool:${clientId}`),
        MESSAGES - QUEUED,
        "the backlog beyond the memory queue is in node-1's spool in Redis",
      );
      // Its lease gone (as some time after the kill): the claim takes the session from the dead node at once.
      await admin.del('{fennec}:lease:node-1');
      const resumed = await RawClient.connect(node2.port, persistent(clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true, 'Session Present 1 on node-2');
      assert.equal(await admin.exists(`{fennec}:store:node-1:spool:${clientId}`), 0, 'the spool left node-1');
      assert.deepEqual(await receiveAll(resumed, version), expected, 'every message once, in order');
      assert.equal(node2.broker.spool.size.messages, 0, "node-2's spool is drained");
    });

    void it("(a') another node adopts the dead node's sessions, spools included; the client resumes there: all 120 messages, in order [MQTT-4.6.0-6]", async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const node2 = await startSessionNode(redis, 'node-2', { maxQueuedMessages: QUEUED });
      const clientId = `crash-adopted-${version}`;
      await backlogThenCrash(t, redis, clientId);
      // A reaper adopts once the lease is gone: gone at once here.
      await admin.del('{fennec}:lease:node-1');
      const adopted = await node2.bus.adoptSessions('node-1');
      assert.equal(adopted.sessions, 1);
      assert.equal(node2.broker.spool.size.messages, MESSAGES - QUEUED, "node-2's spool took the backlog over");
      const resumed = await RawClient.connect(node2.port, persistent(clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true, 'Session Present 1 on node-2');
      assert.deepEqual(await receiveAll(resumed, version), expected, 'every message once, in order');
    });

    void it('(b) node-1 restarted under its id: the client resumes there with all 120 messages, in order [MQTT-4.6.0-6]', async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const clientId = `crash-b-${version}`;
      const start = await backlogThenCrash(t, redis, clientId);
      const node1 = await start();
      const resumed = await RawClient.connect(node1.port, persistent(clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true, 'Session Present 1 on node-1 restarted');
      assert.deepEqual(await receiveAll(resumed, version), expected, 'every message once, in order');
    });

    void it('(c) node-1 restarted with messages waiting in its stream, more published while the client resumes: all of them, in order [MQTT-4.6.0-6]', async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const node2 = await startSessionNode(redis, 'node-2', { maxQueuedMessages: QUEUED });
      const clientId = `crash-c-${version}`;
      const start = await backlogThenCrash(t, redis, clientId);
      // Published on node-2 while node-1 is down: they wait in node-1's stream.
      const publisher = await RawClient.connect(node2.port, { version, clientId: `pub2-${clientId}` });
      const later: string[] = [];
      for (let i = 0; i < 30; i++) {
        await publisher.publish({ topic: 'b/x', qos: 1, payload: `w-${i}` });
        later.push(`w-${i}`);
      }
      const node1 = await start();
      const resumed = await RawClient.connect(node1.port, persistent(clientId), WAIT_MS);
      assert.equal(resumed.connack.sessionPresent, true, 'Session Present 1 on node-1 restarted');
      const all = [...expected, ...later];
      for (let i = 0; i < 30; i++) all.push(`r-${i}`);
      const publishing = (async () => {
        for (let i = 0; i < 30; i++) await publisher.publish({ topic: 'b/x', qos: 1, payload: `r-${i}` });
      })();
      const received: string[] = [];
      while (received.length < all.length) {
        const publish = await resumed.next('publish', WAIT_MS);
        received.push(publish.payload.toString());
        resumed.send(pkt.puback(version, publish.packetId));
      }
      await publishing;
      assert.deepEqual(received, all, 'every message once, in order');
    });
  });
}
