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
import { adminClient, persistent, startSessionNode, until } from '../helpers/cluster.js';
import * as pkt from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { startRedis } from '../helpers/redis-server.js';
import { WAIT_MS } from '../interop/support.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The payloads of the QoS 1 PUBLISH packets `client` receives until every one of `expected` came, each acknowledged. */
async function receiveAll(client: RawClient, version: 4 | 5, expected: readonly string[]): Promise<string[]> {
  const got: string[] = [];
  while (expected.some((payload) => !got.includes(payload))) {
    const packet = await client.next('publish', WAIT_MS);
    got.push(packet.payload.toString());
    if (packet.qos > 0) client.send(pkt.puback(version, packet.packetId));
  }
  return got;
}

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
      for (const clientId of [first, second]) {
        const subscriber = await RawClient.connect(node1.port, persistent(version, clientId));
        await subscriber.subscribe('hold/#', 1);
        subscriber.send(pkt.disconnect(version));
        await subscriber.closed();
      }
      await until('node-3 to know the route', () => node3.bus.knowsRoute('node-1', 'hold/#'));

      // node-2 installs the second session only when told: its hand-over done, its install pending.
      const claim = node2.store.claim.bind(node2.store);
      let open: () => void = () => undefined;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let held = false;
      node2.store.claim = async (...args) => {
        const result = await claim(...args);
        if (args[0] === second && result.kind === 'moved') {
          held = true;
          await gate;
        }
        return result;
      };
      const resuming = RawClient.connect(node2.port, persistent(version, second), WAIT_MS * 2);
      await until('the second session to be handed over to node-2', () => held);
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
      open();
      const resumedSecond = await resuming;
      assert.equal(resumedSecond.connack.sessionPresent, true);
      assert.deepEqual(await receiveAll(resumedSecond, version, ['between']), ['between']);
      assert.deepEqual(await receiveAll(resumedFirst, version, ['between']), ['between']);
      await until(
        'node-1 to withdraw the route once both are installed',
        async () => (await admin.smembers('{fennec}:routes:node-1')).length === 0,
      );
    });
  });
}
