/**
 * QoS 2 exactly once across a receiving node's crash (docs/cluster.md, "Fault injection", issue 15):
 * a node with cluster-wide sessions acknowledges the stream entries it delivered in the same Redis
 * commit as the deliveries. The acknowledgements a node sends after its commit never reach Redis
 * here (the node's bus drops every XACK and XDEL it would send on its own), as when the node is
 * killed right after the commit: the entry must still not be pending, and the node restarted under
 * its id must not deliver the message a second time to the session that holds it [MQTT-4.4.0-1].
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { streamKey } from '../../src/cluster/keys.js';
import {
  adminClient,
  copiesAfterRestart,
  startSessionNode,
  unacknowledgedOnB,
  type TestNode,
} from '../helpers/cluster.js';
import type * as pkt from '../helpers/packets.js';
import { destroyAllClients } from '../helpers/raw-client.js';
import { startRedis } from '../helpers/redis-server.js';

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  const connect = (clientId: string): pkt.ConnectOptions =>
    version === 5
      ? { version, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } }
      : { version, clientId, clean: false };

  void describe(`QoS 2 across a receiving node's crash after its commit, MQTT ${v}`, () => {
    void it('commits the stream acknowledgement with the delivery, and the node restarted delivers the message once [MQTT-4.4.0-1]', async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const admin = adminClient(redis);
      const nodeA: TestNode = await startSessionNode(redis, 'node-a');
      const nodeB: TestNode = await startSessionNode(redis, 'node-b');
      const clientId = `once-${version}`;
      // The subscriber gets the PUBLISH once its delivery is committed; it acknowledges nothing.
      const { publisher, first } = await unacknowledgedOnB(nodeA, nodeB, connect(clientId));
      const pending = (await admin.xpending(streamKey('node-b'), 'fennec')) as [number, ...unknown[]];
      assert.equal(pending[0], 0, 'no entry of node-b stays pending once its delivery is committed');

      // node-b goes away with the acknowledgements it would send after its commit lost; it restarts.
      await nodeB.broker.close();
      const restarted: TestNode = await startSessionNode(redis, 'node-b');
      const copies = await copiesAfterRestart(nodeA, restarted, publisher, connect(clientId));
      assert.equal(
        copies.length,
        1,
        `"once" delivered ${copies.length} times after the restart (sent again with DUP only)`,
      );
      assert.equal(copies[0]!.dup, true, 'the unacknowledged PUBLISH is resent with DUP [MQTT-4.4.0-1]');
      assert.equal(copies[0]!.packetId, first.packetId, 'with its packet identifier');
    });
  });
}
