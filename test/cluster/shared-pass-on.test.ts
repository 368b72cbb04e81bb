// A shared group whose chosen node just lost its last member (docs/cluster.md#shared-subscriptions):
// the publishing node chose it before the route notice of the member's leaving reached it; that node
// passes the message on to another node with members instead of dropping it. Real redis-server,
// in-process nodes, MQTT.js clients.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startRedis } from '../helpers/redis-server.js';
import { startCluster, waitForRoute, type TestNode } from '../helpers/cluster.js';
import { encodeMessage } from '../../src/cluster/codec.js';
import type { TestClient } from '../interop/support.js';
import { streamKey } from '../../src/cluster/keys.js';

const GROUP = '$share/workers/jobs/+';

/** Waits until `check` holds, up to 10 s. */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

void describe('a shared group whose chosen node lost its last member', () => {
  void it('passes a message it was chosen for to a node that still has a member, not to its plain subscribers again', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 3);
    const [, two, three] = nodes as [TestNode, TestNode, TestNode];
    const leaving = await two.clients.connect({ protocolVersion: 5, clientId: 'leaving' });
    await leaving.client.subscribeAsync(GROUP, { qos: 1 });
    const staying = await three.clients.connect({ protocolVersion: 4, clientId: 'staying' });
    await staying.client.subscribeAsync(GROUP, { qos: 1 });
    // A plain subscriber on node 3: the message passed on is for the group alone there.
    const plain = await three.clients.connect({ protocolVersion: 5, clientId: 'plain' });
    await plain.client.subscribeAsync('jobs/+', { qos: 1 });
    await waitForRoute(nodes, two, GROUP);
    await waitForRoute(nodes, three, GROUP);
    await leaving.client.unsubscribeAsync(GROUP);
    await until("node 2's member gone", () => !two.bus.routes.hasLocal(GROUP));
    // What node 1 sends when it chose node 2 for the group before it learnt that the member left.
    const probe = new Redis(redis.url);
    t.after(() => probe.disconnect());
    const message = encodeMessage({
      topic: 'jobs/late',
      payload: Buffer.from('chosen too late'),
      qos: 1,
      retain: false,
      properties: undefined,
      publisherId: 'pub',
      receivedAt: Date.now(),
    });
    await probe.xadd(streamKey('node-2'), '*', 'i', 'node-1/test/1', 'm', message, 'g', GROUP);
    const [got] = await staying.inbox.waitFor(1);
    assert.equal(got?.payload, 'chosen too late');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(staying.inbox.messages.length, 1, 'the member got it once');
    assert.equal(plain.inbox.messages.length, 0, 'the plain subscriber of node 3 was not sent it');
    assert.equal(leaving.inbox.messages.length, 0);
  });

  void it('delivers every acknowledged QoS 1 message to a member while members leave the node chosen in turn', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 3);
    const [one, two, three] = nodes as [TestNode, TestNode, TestNode];
    const staying = await three.clients.connect({ protocolVersion: 5, clientId: 'staying' });
    await staying.client.subscribeAsync(GROUP, { qos: 1 });
    await waitForRoute(nodes, three, GROUP);
    const publisher = await one.clients.connect({ protocolVersion: 5, clientId: 'pub' });
    const acknowledged: string[] = [];
    let publishing = true;
    // Eight publishes in flight at once, so that some are on their way while a member leaves.
    const lanes = Array.from({ length: 8 }, async (_, lane) => {
      for (let n = 0; publishing; n++) {
        const payload = `${lane}-${n}`;
        await publisher.client.publishAsync('jobs/x', payload, { qos: 1 });
        acknowledged.push(payload);
      }
    });
    const members: TestClient[] = [];
    for (let round = 0; round < 6; round++) {
      const member = await two.clients.connect({ protocolVersion: 5, clientId: `member-${round}` });
      members.push(member);
      await member.client.subscribeAsync(GROUP, { qos: 1 });
      await until('node 1 to choose node 2 too', () => one.bus.knowsRoute('node-2', GROUP));
      await new Promise((resolve) => setTimeout(resolve, 40));
      await member.client.unsubscribeAsync(GROUP);
    }
    publishing = false;
    await Promise.all(lanes);
    const received = (): Set<string> =>
      new Set([staying, ...members].flatMap((c) => c.inbox.messages.map((m) => m.payload)));
    await until('every acknowledged message to reach a member', () =>
      acknowledged.every((p) => received().has(p)),
    ).catch(() => undefined);
    const missing = acknowledged.filter((p) => !received().has(p));
    assert.deepEqual(missing, [], `of ${acknowledged.length} acknowledged messages, these reached no member`);
  });
});
