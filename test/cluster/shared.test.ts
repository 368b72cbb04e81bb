// Shared subscriptions across the nodes of a cluster on a real Redis (docs/cluster.md#shared-subscriptions):
// each message reaches one member of a group in the whole cluster, whether the group has members on
// one, two or three nodes and whether it is published on a node with members or without; the
// members share the messages; plain subscribers on every node still get every message; a node whose
// last member left is no longer chosen.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startRedis } from '../helpers/redis-server.js';
import { Redis } from 'ioredis';
import { startCluster, startSessionNode, waitForRoute, type TestNode } from '../helpers/cluster.js';
import { encodeMessage } from '../../src/cluster/codec.js';
import { streamKey } from '../../src/cluster/keys.js';
import type { TestClient } from '../interop/support.js';

const GROUP = '$share/workers/jobs/+';

interface Member {
  node: TestNode;
  client: TestClient;
}

/** Connects one member of `filter` per entry of `on`, MQTT 5.0 and 3.1.1 alternately, at QoS 1. */
async function members(on: readonly TestNode[], prefix: string, filter = GROUP): Promise<Member[]> {
  const out: Member[] = [];
  for (const [i, node] of on.entries()) {
    const client = await node.clients.connect({ protocolVersion: i % 2 === 0 ? 5 : 4, clientId: `${prefix}-${i}` });
    await client.client.subscribeAsync(filter, { qos: 1 });
    out.push({ node, client });
  }
  return out;
}

/** Publishes `count` QoS 1 messages `PREFIX-i` on `jobs/PREFIX` from a new client of `node`, each acknowledged. */
async function publish(node: TestNode, prefix: string, count: number): Promise<string[]> {
  const pub = await node.clients.connect({ protocolVersion: 5, clientId: `pub-${prefix}` });
  const sent: string[] = [];
  for (let i = 0; i < count; i++) {
    await pub.client.publishAsync(`jobs/${prefix}`, `${prefix}-${i}`, { qos: 1 });
    sent.push(`${prefix}-${i}`);
  }
  return sent;
}

/** Every payload the group's members received, sorted. */
function receivedBy(group: readonly Member[]): string[] {
  return group.flatMap((m) => m.client.inbox.messages.map((message) => message.payload)).sort();
}

/** Waits until the group has received `count` messages in all, then a moment more for any copy. */
async function settle(group: readonly Member[], count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (receivedBy(group).length < count) {
    if (Date.now() > deadline) throw new Error(`group received ${receivedBy(group).length} of ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
}

/** How many of the group's messages went to members on `node`. */
function onNode(group: readonly Member[], node: TestNode): number {
  return group.filter((m) => m.node === node).reduce((sum, m) => sum + m.client.inbox.messages.length, 0);
}

void describe('shared subscriptions across a cluster (docs/cluster.md#shared-subscriptions)', () => {
  void it('delivers each QoS 1 message to one member in the whole cluster, members on two nodes, published on a node without members and on one with; plain subscribers on every node get all', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 3);
    const [one, two, three] = nodes as [TestNode, TestNode, TestNode];
    const workers = await members([two, two, three], 'worker');
    // A second group on the same filter, with members on nodes 1 and 3: served independently.
    const audit = await members([one, three], 'audit', '$share/audit/jobs/+');
    const plain = await members([one, two, three], 'plain', 'jobs/#');
    for (const node of [two, three]) await waitForRoute(nodes, node, GROUP);
    for (const node of [one, three]) await waitForRoute(nodes, node, '$share/audit/jobs/+');
    for (const node of nodes) await waitForRoute(nodes, node, 'jobs/#');
    const count = 30;
    const sent = [...(await publish(one, 'from1', count)), ...(await publish(two, 'from2', count))].sort();
    await settle(workers, sent.length);
    assert.deepEqual(receivedBy(workers), sent, 'every message once across the group, none twice');
    await settle(audit, sent.length);
    assert.deepEqual(receivedBy(audit), sent, 'the second group also gets each message once');
    // Round robin between the nodes with members, then among a node's members.
    assert.ok(onNode(workers, two) >= count / 2 && onNode(workers, three) >= count / 2, 'both nodes serve the group');
    for (const member of [...workers, ...audit])
      assert.ok(member.client.inbox.messages.length > 0, 'each member served');
    for (const sub of plain) {
      await sub.client.inbox.waitFor(sent.length);
      assert.deepEqual(sub.client.inbox.messages.map((m) => m.payload).sort(), sent, 'plain subscribers get all');
    }
    for (const member of workers) assert.ok(member.client.inbox.messages.every((m) => m.packet.qos === 1));
  });

  void it('delivers each message once with members on all three nodes, published on a member node, in each member’s publisher order', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 3);
    const [one, two, three] = nodes as [TestNode, TestNode, TestNode];
    const workers = await members([one, two, three], 'worker');
    for (const node of nodes) await waitForRoute(nodes, node, GROUP);
    const count = 45;
    const sent = (await publish(one, 'from1', count)).sort();
    await settle(workers, count);
    assert.deepEqual(receivedBy(workers), sent);
    for (const node of nodes) assert.equal(onNode(workers, node), count / 3, 'round robin over three nodes');
    for (const member of workers) {
      const numbers = member.client.inbox.messages.map((m) => Number(m.payload.split('-')[1]));
      assert.deepEqual(
        numbers,
        [...numbers].sort((a, b) => a - b),
        'a member gets its share in the order published',
      );
    }
    assert.equal(two.bus.counters.received + three.bus.counters.received, (count * 2) / 3, 'only chosen nodes sent');
  });

  void it('delivers each message once when the group has members on one node only, from that node and from another', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 2);
    const [one, two] = nodes as [TestNode, TestNode];
    const workers = await members([two, two], 'worker');
    await waitForRoute(nodes, two, GROUP);
    const sent = [...(await publish(one, 'from1', 20)), ...(await publish(two, 'from2', 20))].sort();
    await settle(workers, sent.length);
    assert.deepEqual(receivedBy(workers), sent);
    for (const member of workers) assert.equal(member.client.inbox.messages.length, 20, 'round robin between the two');
    assert.equal(one.bus.counters.forwarded, 20, 'node 1 sent each of its messages to node 2 once');
    assert.equal(two.bus.counters.forwarded, 0, 'node 2 served its own messages');
  });

  void it('stops choosing a node once its last member unsubscribed (the route notice reaches the publisher)', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 3);
    const [one, two, three] = nodes as [TestNode, TestNode, TestNode];
    const workers = await members([two, three], 'worker');
    for (const node of [two, three]) await waitForRoute(nodes, node, GROUP);
    await workers[1]!.client.client.unsubscribeAsync(GROUP);
    const deadline = Date.now() + 5000;
    while (one.bus.knowsRoute(three.bus.nodeId, GROUP)) {
      if (Date.now() > deadline) throw new Error('the route of node 3 was not withdrawn');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const sent = (await publish(one, 'from1', 10)).sort();
    await settle(workers, sent.length);
    assert.deepEqual(receivedBy(workers), sent);
    assert.equal(workers[0]!.client.inbox.messages.length, 10, 'the member left on node 2 gets them all');
    assert.equal(three.bus.counters.received, 0, 'nothing sent to node 3');
  });

  void it('gives the share of a group that waited in a dead node’s stream to a member on the adopting node, and nothing else to it', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const node = await startSessionNode(redis, 'node-1');
    const [worker] = await members([node], 'worker');
    // What a publishing node left in the stream of node `ghost`, dead before reading it: one entry
    // it was chosen to serve the group for, one for its plain subscribers only.
    const client = new Redis(redis.url);
    t.after(() => client.disconnect());
    const entry = (payload: string): Buffer =>
      encodeMessage({
        topic: 'jobs/x',
        payload: Buffer.from(payload),
        qos: 1,
        retain: false,
        properties: undefined,
        publisherId: 'p',
        receivedAt: Date.now(),
        expiresAt: undefined,
      });
    await client.xadd(streamKey('ghost'), '*', 'i', 'p/1/1', 'm', entry('for-group'), 'g', GROUP);
    await client.xadd(streamKey('ghost'), '*', 'i', 'p/1/2', 'm', entry('plain-only'));
    const adopted = await node.bus.adoptSessions('ghost');
    assert.equal(adopted.deliveries, 1);
    const [got] = await worker!.client.inbox.waitFor(1);
    assert.equal(got?.payload, 'for-group');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(worker!.client.inbox.messages.length, 1, 'not the entry the dead node was not chosen for');
  });
});
