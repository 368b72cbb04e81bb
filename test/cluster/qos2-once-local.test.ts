/**
 * QoS 2 exactly once across a receiving node's crash with `cluster.sessions: local` (docs/cluster.md,
 * "Not done yet" until this): a node with its own SQLite store records the stream entries whose
 * deliveries a commit holds in that same commit. Here its acknowledgements of the entries never
 * reach Redis (the node's bus drops every XACK and XDEL), as when the node is killed right after
 * its commit: restarted under its id on the same store, it reads the entry again and must not
 * deliver the message a second time to the session that holds it [MQTT-4.4.0-1].
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { streamKey } from '../../src/cluster/keys.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { copiesAfterRestart, startNode, unacknowledgedOnB, type TestNode } from '../helpers/cluster.js';
import type * as pkt from '../helpers/packets.js';
import { destroyAllClients } from '../helpers/raw-client.js';
import { startRedis } from '../helpers/redis-server.js';
import { WAIT_MS } from '../interop/support.js';

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  const connect = (clientId: string): pkt.ConnectOptions =>
    version === 5
      ? { version, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } }
      : { version, clientId, clean: false };

  void describe(`QoS 2 across a receiving node's crash with its own store, MQTT ${v}`, () => {
    void it('records the delivered stream entries in the commit of their deliveries: the node restarted on its store delivers the message once [MQTT-4.4.0-1]', async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const dir = mkdtempSync(join(tmpdir(), 'fennec-local-'));
      const admin = new Redis(redis.url);
      const stores: SqliteStore[] = [];
      redis.beforeStop(async () => {
        admin.disconnect();
        await Promise.all(stores.map((store) => store.close()));
        rmSync(dir, { recursive: true, force: true });
      });
      const localNode = async (): Promise<TestNode> => {
        const store = await SqliteStore.open(dir);
        stores.push(store);
        return startNode(redis, 'node-b', { store });
      };
      const nodeA = await startNode(redis, 'node-a');
      const nodeB = await localNode();
      const clientId = `once-local-${version}`;
      // The subscriber gets the PUBLISH once its delivery is committed; it acknowledges nothing.
      const { publisher, first } = await unacknowledgedOnB(nodeA, nodeB, connect(clientId));
      const pending = (await admin.xpending(streamKey('node-b'), 'fennec')) as [number, ...unknown[]];
      assert.equal(pending[0], 1, 'the entry stays pending: its acknowledgement never reached Redis');

      // node-b goes away with its acknowledgements lost; it restarts on the same store.
      await nodeB.broker.close();
      await stores.shift()!.close();
      const restarted = await localNode();
      const copies = await copiesAfterRestart(nodeA, restarted, publisher, connect(clientId));
      assert.equal(
        copies.length,
        1,
        `"once" delivered ${copies.length} times after the restart (sent again with DUP only)`,
      );
      assert.equal(copies[0]!.dup, true, 'the unacknowledged PUBLISH is resent with DUP [MQTT-4.4.0-1]');
      assert.equal(copies[0]!.packetId, first.packetId, 'with its packet identifier');
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const left = (await admin.xpending(streamKey('node-b'), 'fennec')) as [number, ...unknown[]];
        if (left[0] === 0) break;
        assert.ok(Date.now() < deadline, 'the entry read again is acknowledged');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
  });
}
