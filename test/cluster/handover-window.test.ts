// A message published during a hand-over (docs/cluster.md, "Sessions", step 4): a publisher on a
// third node publishes numbered QoS 1 messages without pause while a persistent session moves back
// and forth between nodes 1 and 2. The old owner keeps the session's routes until the new owner says
// it installed the session, and forwards what reaches it for the session meanwhile; every
// acknowledged message reaches the session. Real redis-server, in-process nodes with Redis stores,
// MQTT.js clients, 3.1.1 and 5.0.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startRedis } from '../helpers/redis-server.js';
import { startSessionNode, waitForRoute, type TestNode } from '../helpers/cluster.js';
import type { IClientOptions } from 'mqtt';
import type { TestClient } from '../interop/support.js';

/** Times the session moves. */
const MOVES = 8;

/** MQTT.js options of a persistent session for `clientId`. */
function persistentOptions(version: 4 | 5, clientId: string): IClientOptions {
  return version === 5
    ? { protocolVersion: version, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } }
    : { protocolVersion: version, clientId, clean: false };
}

/** Connects the session MOVES times, 60 ms apart, to `nodes` in turn (each connection added to `connections`). */
async function moveBackAndForth(
  connections: TestClient[],
  nodes: readonly [TestNode, TestNode],
  options: IClientOptions,
): Promise<void> {
  for (let move = 0; move < MOVES; move++) {
    await new Promise((resolve) => setTimeout(resolve, 60));
    connections.push(await nodes[move % 2]!.clients.connect(options));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}

for (const version of [4, 5] as const) {
  void describe(`a session handed over while a third node publishes, MQTT ${version === 5 ? '5.0' : '3.1.1'}`, () => {
    void it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] every QoS 1 message acknowledged to the publisher during repeated takeovers reaches the session`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      const nodes: TestNode[] = [];
      for (const id of ['node-1', 'node-2', 'node-3']) nodes.push(await startSessionNode(redis, id));
      const [one, two, three] = nodes as [TestNode, TestNode, TestNode];
      const persistent = persistentOptions(version, `mover-${version}`);
      const connections: TestClient[] = [await one.clients.connect(persistent)];
      await connections[0]!.client.subscribeAsync('window/#', { qos: 1 });
      await waitForRoute(nodes, one, 'window/#');

      const publisher = await three.clients.connect({ protocolVersion: version, clientId: `pub-${version}` });
      const acknowledged: number[] = [];
      let publishing = true;
      const publishes = (async () => {
        for (let n = 1; publishing; n++) {
          await publisher.client.publishAsync('window/n', String(n), { qos: 1 });
          acknowledged.push(n);
        }
      })();
      await moveBackAndForth(connections, [two, one], persistent);
      publishing = false;
      await publishes;
      assert.ok(acknowledged.length > MOVES, `messages were published throughout (${acknowledged.length})`);

      // What any of the session's connections received: a message in flight at a takeover comes
      // again on the next connection (QoS 1, at least once).
      const received = (): Set<number> =>
        new Set(connections.flatMap((c) => c.inbox.messages.map((m) => Number(m.payload))));
      const deadline = Date.now() + 10_000;
      while (acknowledged.some((n) => !received().has(n)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const missing = acknowledged.filter((n) => !received().has(n));
      assert.deepEqual(missing, [], `of ${acknowledged.length} acknowledged messages, these never reached the session`);
    });

    void it(`[MQTT-4.3.3-2] QoS 2 messages published on the nodes the session moves between, during the moves, each reach it once`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      const nodes: TestNode[] = [];
      for (const id of ['node-1', 'node-2']) nodes.push(await startSessionNode(redis, id));
      const [one, two] = nodes as [TestNode, TestNode];
      const persistent = persistentOptions(version, `mover-q2-${version}`);
      const connections: TestClient[] = [await one.clients.connect(persistent)];
      await connections[0]!.client.subscribeAsync('window/#', { qos: 2 });
      await waitForRoute(nodes, one, 'window/#');

      // One publisher on each node: the old owner sends back what the new owner also sent its held route.
      const publishers = await Promise.all(
        nodes.map((node, i) => node.clients.connect({ protocolVersion: version, clientId: `pub-${i}-${version}` })),
      );
      const acknowledged: string[] = [];
      let publishing = true;
      const publishes = publishers.map(async (publisher, i) => {
        for (let n = 1; publishing; n++) {
          await publisher.client.publishAsync(`window/${i}`, `${i}-${n}`, { qos: 2 });
          acknowledged.push(`${i}-${n}`);
        }
      });
      await moveBackAndForth(connections, [two, one], persistent);
      publishing = false;
      await Promise.all(publishes);

      // New deliveries (no DUP) of each message over all the session's connections: exactly one.
      const fresh = (): Map<string, number> => {
        const counts = new Map<string, number>();
        for (const m of connections.flatMap((c) => c.inbox.messages)) {
          if (!m.packet.dup) counts.set(m.payload, (counts.get(m.payload) ?? 0) + 1);
        }
        return counts;
      };
      const deadline = Date.now() + 10_000;
      while (acknowledged.some((p) => !fresh().has(p)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      const counts = fresh();
      const twice = [...counts].filter(([, n]) => n > 1).map(([p]) => p);
      assert.deepEqual(twice, [], `of ${acknowledged.length} acknowledged QoS 2 messages, these came twice`);
    });
  });
}
