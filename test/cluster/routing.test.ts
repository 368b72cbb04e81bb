// Routing across the nodes of a cluster on a real Redis: a message published on one node reaches
// the matching subscribers of every node, at its QoS, in the publisher's order; a node with no
// matching subscription receives nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startRedis } from '../helpers/redis-server.js';
import { startCluster, waitForRoute } from '../helpers/cluster.js';

void describe('cluster routing', () => {
  for (const version of [4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      void it(`delivers a QoS ${qos} message published on node 1 to subscribers on nodes 2 and 3, in order (MQTT ${version === 5 ? '5.0' : '3.1.1'})`, async (t) => {
        const redis = await startRedis(t);
        if (redis === undefined) return;
        const nodes = await startCluster(redis, 3);
        const [one, two, three] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
        const subscribers = [];
        for (const node of [two, three]) {
          const sub = await node.clients.connect({ protocolVersion: version, clientId: `sub-${node.bus.nodeId}` });
          await sub.client.subscribeAsync('cluster/+/data', { qos });
          await waitForRoute(nodes, node, 'cluster/+/data');
          subscribers.push(sub);
        }
        const pub = await one.clients.connect({ protocolVersion: version, clientId: 'pub' });
        const count = 20;
        for (let i = 0; i < count; i++) await pub.client.publishAsync('cluster/x/data', `m${i}`, { qos });
        for (const sub of subscribers) {
          const got = await sub.inbox.waitFor(count);
          assert.deepEqual(
            got.map((m) => m.payload),
            Array.from({ length: count }, (_, i) => `m${i}`),
          );
          assert.ok(got.every((m) => m.packet.qos === qos));
        }
        assert.equal(one.bus.counters.received, 0, 'node 1 has no subscriber: nothing was sent to it');
      });
    }
  }
});
