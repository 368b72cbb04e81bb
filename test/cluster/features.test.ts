// Across the nodes of a cluster: wildcards, MQTT 3.1.1 and 5.0 clients mixed (5.0 properties kept),
// nothing sent to a node without a matching subscription, routes withdrawn on unsubscribe, and
// retained messages shared by every node, including one that joins later.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { startCluster, startNode, waitForRoute, type TestNode } from '../helpers/cluster.js';
import { streamKey } from '../../src/cluster/keys.js';
import type { TestClient } from '../interop/support.js';

/** How many entries were ever added to the stream of `node` (XINFO STREAM entries-added). */
async function entriesAdded(redis: TestRedis, node: TestNode): Promise<number> {
  const client = new Redis(redis.url);
  try {
    const info = (await client.call('XINFO', 'STREAM', streamKey(node.bus.nodeId))) as unknown[];
    const at = info.indexOf('entries-added');
    return Number(info[at + 1]);
  } finally {
    client.disconnect();
  }
}

/** Waits until `check` holds, up to 5 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

void describe('cluster features', () => {
  void it('matches wildcards across nodes for 3.1.1 and 5.0 clients mixed, keeping 5.0 properties', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 3);
    const [one, two, three] = nodes as [TestNode, TestNode, TestNode];
    const v5 = await two.clients.connect({ protocolVersion: 5, clientId: 'v5-sub' });
    await v5.client.subscribeAsync('home/+/temp', { qos: 1 });
    await waitForRoute(nodes, two, 'home/+/temp');
    const v4 = await three.clients.connect({ protocolVersion: 4, clientId: 'v4-sub' });
    await v4.client.subscribeAsync('home/#', { qos: 2 });
    await waitForRoute(nodes, three, 'home/#');
    const pub5 = await one.clients.connect({ protocolVersion: 5, clientId: 'v5-pub' });
    const pub4 = await one.clients.connect({ protocolVersion: 4, clientId: 'v4-pub' });
    await pub5.client.publishAsync('home/kitchen/temp', '21', {
      qos: 2,
      properties: { userProperties: { unit: 'C' }, contentType: 'text/plain', correlationData: Buffer.from([0, 255]) },
    });
    await pub4.client.publishAsync('home/kitchen/humidity', '40', { qos: 1 });
    const [temp] = await v5.inbox.waitFor(1);
    assert.equal(temp?.topic, 'home/kitchen/temp');
    assert.equal(temp?.packet.qos, 1, 'min(publish QoS 2, granted QoS 1)');
    assert.deepEqual({ ...temp?.packet.properties?.userProperties }, { unit: 'C' });
    assert.equal(temp?.packet.properties?.contentType, 'text/plain');
    assert.deepEqual(temp?.packet.properties?.correlationData, Buffer.from([0, 255]));
    const got = await v4.inbox.waitFor(2);
    assert.deepEqual(
      got.map((m) => [m.topic, m.payload, m.packet.qos]),
      [
        ['home/kitchen/temp', '21', 2],
        ['home/kitchen/humidity', '40', 1],
      ],
    );
    // humidity matches nothing on node 2: it got only the temperature
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(v5.inbox.messages.length, 1);
    assert.equal(two.bus.counters.received, 1, 'node 2 was sent only the message it routes');
  });

  void it('sends nothing to the stream of a node with no matching subscription, and stops after unsubscribe', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 3);
    const [one, two, three] = nodes as [TestNode, TestNode, TestNode];
    const sub = await two.clients.connect({ protocolVersion: 5, clientId: 'sub' });
    await sub.client.subscribeAsync('only/two', { qos: 1 });
    await waitForRoute(nodes, two, 'only/two');
    const other = await three.clients.connect({ protocolVersion: 4, clientId: 'other' });
    await other.client.subscribeAsync('elsewhere/#', { qos: 1 });
    await waitForRoute(nodes, three, 'elsewhere/#');
    const pub = await one.clients.connect({ protocolVersion: 4, clientId: 'pub' });
    for (let i = 0; i < 10; i++) await pub.client.publishAsync('only/two', `m${i}`, { qos: 1 });
    await sub.inbox.waitFor(10);
    assert.equal(await entriesAdded(redis, two), 10);
    assert.equal(await entriesAdded(redis, three), 0, 'node 3 matches nothing: its stream got no entry');
    assert.equal(three.bus.counters.received, 0);
    await sub.client.unsubscribeAsync('only/two');
    await until(() => !one.bus.knowsRoute(two.bus.nodeId, 'only/two'), 'the route to be withdrawn');
    const forwarded = one.bus.counters.forwarded;
    await pub.client.publishAsync('only/two', 'after', { qos: 1 });
    assert.equal(one.bus.counters.forwarded, forwarded, 'no node routes only/two any more');
    assert.equal(await entriesAdded(redis, two), 10);
  });

  void it('shares retained messages: set on one node, read by a subscriber on another and by a node that joins later; cleared everywhere', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 2);
    const [one, two] = nodes as [TestNode, TestNode];
    const pub = await one.clients.connect({ protocolVersion: 5, clientId: 'pub' });
    await pub.client.publishAsync('status/door', 'open', { qos: 1, retain: true });
    await until(() => two.broker.retained.has('status/door'), 'node 2 to hold the retained message');
    const sub = await two.clients.connect({ protocolVersion: 4, clientId: 'sub' });
    await sub.client.subscribeAsync('status/+', { qos: 1 });
    const [retained] = await sub.inbox.waitFor(1);
    assert.equal(retained?.payload, 'open');
    assert.equal(retained?.packet.retain, true);
    const three = await startNode(redis, 'node-3');
    assert.ok(three.broker.retained.has('status/door'), 'a node that joins reads the retained messages');
    await pub.client.publishAsync('status/door', '', { qos: 1, retain: true });
    await until(
      () => !two.broker.retained.has('status/door') && !three.broker.retained.has('status/door'),
      'the clear to reach every node',
    );
  });
});

void describe('shared subscriptions in a cluster (docs/cluster.md#shared-subscriptions)', () => {
  void it('delivers each message to one member of the group in the whole cluster, round robin between the nodes with members', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 3);
    const [one, two, three] = nodes as [TestNode, TestNode, TestNode];
    const members: TestClient[] = [];
    for (const [node, name] of [
      [two, 'a'],
      [two, 'b'],
      [three, 'c'],
    ] as const) {
      const member = await node.clients.connect({ protocolVersion: 5, clientId: `member-${name}` });
      await member.client.subscribeAsync('$share/workers/jobs', { qos: 1 });
      members.push(member);
    }
    await waitForRoute(nodes, two, '$share/workers/jobs');
    await waitForRoute(nodes, three, '$share/workers/jobs');
    const pub = await one.clients.connect({ protocolVersion: 4, clientId: 'pub' });
    for (let i = 0; i < 10; i++) await pub.client.publishAsync('jobs', `j${i}`, { qos: 1 });
    const onTwo = (): number => members[0]!.inbox.messages.length + members[1]!.inbox.messages.length;
    await until(() => onTwo() + members[2]!.inbox.messages.length === 10, 'the group to get every job');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const payloads = members.flatMap((m) => m.inbox.messages.map((message) => message.payload)).sort();
    assert.deepEqual(payloads, Array.from({ length: 10 }, (_, i) => `j${i}`).sort(), 'each job once in the cluster');
    assert.equal(onTwo(), 5, 'node 2 serves every other job, each to one of its two members');
    assert.equal(members[2]!.inbox.messages.length, 5, 'node 3 serves the others');
  });
});
