/**
 * A session's backlog spooled beyond its memory queue moves with it (docs/cluster.md, "Sessions"):
 * an offline persistent session on node-1 whose queue (`max_queued_messages` 10) overflowed to
 * node-1's spool (in the Redis store, under node-1's namespace) is taken over by a client connecting
 * to node-2. The hand-over moves the spool's keys with the session, numbers kept; node-2 reads the
 * rows back as the client drains; the client receives every message, in order, for MQTT 3.1.1 and 5.0.
 * Real redis-server, in-process nodes with Redis stores, raw clients that acknowledge one by one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { persistent as persistentSession, startSessionNode, until } from '../helpers/cluster.js';
import * as pkt from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { startRedis } from '../helpers/redis-server.js';
import { WAIT_MS } from '../interop/support.js';

const MESSAGES = 120;

for (const version of [4, 5] as const) {
  const v = version === 5 ? '5.0' : '3.1.1';
  const persistent = (clientId: string): pkt.ConnectOptions => persistentSession(version, clientId);

  void describe(`a spooled backlog at a takeover across nodes, MQTT ${v}`, () => {
    void it('moves with the session: every message spooled on the old node reaches the client on the new one, in order', async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const options = { maxQueuedMessages: 10, maxInflightMessages: 5 };
      const n1 = await startSessionNode(redis, 'node-1', options);
      const n2 = await startSessionNode(redis, 'node-2', options);
      const clientId = `backlog-${version}`;
      const first = await RawClient.connect(n1.port, persistent(clientId));
      await first.subscribe('b/#', 1);
      await first.disconnect();
      await until('node-1 saw the subscriber go', () => !n1.broker.clients.has(clientId));
      const publisher = await RawClient.connect(n1.port, { version, clientId: `pub-${version}` });
      for (let i = 0; i < MESSAGES; i++) await publisher.publish({ topic: 'b/x', qos: 1, payload: `m-${i}` });
      await until('node-1 spooled what its queue does not hold', () => n1.broker.spool.size.messages === MESSAGES - 10);

      const next = await RawClient.connect(n2.port, persistent(clientId), WAIT_MS);
      assert.equal(next.connack.sessionPresent, true, 'Session Present 1 on the new node');
      assert.equal(n1.broker.spool.size.messages, 0, "node-1's spool let the backlog go");
      assert.ok(n2.broker.spool.size.messages > 0, 'node-2 holds the backlog in its spool');
      const received: string[] = [];
      while (received.length < MESSAGES) {
        const publish = await next.next('publish', WAIT_MS);
        received.push(publish.payload.toString());
        next.send(pkt.puback(version, publish.packetId));
      }
      assert.deepEqual(
        received,
        Array.from({ length: MESSAGES }, (_, i) => `m-${i}`),
        'every message once, in order',
      );
    });
  });
}
