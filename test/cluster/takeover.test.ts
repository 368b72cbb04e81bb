/**
 * Session takeover across nodes (docs/cluster.md, "Sessions"): a client id connected to one node
 * that connects to another takes its session over, in-flight QoS 1/2 state and queue included,
 * for MQTT 3.1.1 and 5.0. Real redis-server, in-process nodes with Redis stores, raw MQTT clients
 * that acknowledge only when told to.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import * as pkt from '../helpers/packets.js';
import type { PublishIn } from '../helpers/parse.js';
import { startRedis } from '../helpers/redis-server.js';
import { startSessionNode, waitForRoute } from '../helpers/cluster.js';
import { WAIT_MS } from '../interop/support.js';

const versions = [4, 5] as const;

/** A persistent session's CONNECT options for `version`. */
function persistent(version: 4 | 5, clientId: string): pkt.ConnectOptions {
  return version === 5
    ? { version, clientId, clean: false, properties: { sessionExpiryInterval: 3600 } }
    : { version, clientId, clean: false };
}

/** Waits until `check` holds, up to WAIT_MS. */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

for (const version of versions) {
  describe(`session takeover across nodes, MQTT ${version === 5 ? '5.0' : '3.1.1'}`, () => {
    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] the old node closes the connection${version === 5 ? ' with DISCONNECT 0x8E' : ''}; the new one resumes the session: in-flight QoS 1/2 resent with DUP, the released QoS 2 as PUBREL, the queue after; nothing lost, QoS 2 not duplicated; routes move`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      // A window of 4 keeps part of the messages queued behind the in-flight ones.
      const options = { maxInflightMessages: 4 };
      const n1 = await startSessionNode(redis, 'node-1', options);
      const n2 = await startSessionNode(redis, 'node-2', options);
      const clientId = `taker-${version}`;
      const old = await RawClient.connect(n1.port, persistent(version, clientId));
      assert.equal(old.connack.sessionPresent, false);
      await old.subscribe('t/#', 2);
      await waitForRoute([n1, n2], n1, 't/#');
      const publisher = await RawClient.connect(n1.port, { version, clientId: `pub-${version}` });
      const sent: string[] = [];
      for (let i = 0; i < 5; i++) {
        for (const qos of [1, 2] as const) {
          const payload = `q${qos}-${i}`;
          await publisher.publish({ topic: `t/${qos}`, qos, payload });
          sent.push(payload);
        }
      }
      // The old connection takes the first 4 and acknowledges none but one QoS 2 PUBREC.
      const inflight: PublishIn[] = [];
      for (let i = 0; i < 4; i++) inflight.push(await old.next('publish'));
      const released = inflight.find((p) => p.qos === 2)!;
      old.send(pkt.pubrec(version, released.packetId));
      // PUBREC frees a place in the window: a queued message may come before the PUBREL.
      for (;;) {
        const packet = await old.next();
        if (packet.type === 'publish') inflight.push(packet);
        else if (packet.type === 'pubrel') {
          assert.equal(packet.packetId, released.packetId);
          break;
        } else assert.fail(`unexpected ${packet.type}`);
      }

      const next = await RawClient.connect(n2.port, persistent(version, clientId), WAIT_MS);
      assert.equal(next.connack.sessionPresent, true, 'Session Present 1 on the new node');
      if (version === 5) assert.equal((await old.next('disconnect')).reasonCode, 0x8e);
      await old.closed();

      const got = new Map<string, number>();
      const expected = sent.filter((payload) => payload !== released.payload.toString());
      const awaitingRelease = new Set<number>([released.packetId]);
      while (expected.some((payload) => !got.has(payload)) || awaitingRelease.size > 0) {
        const packet = await next.next(WAIT_MS);
        if (packet.type === 'pubrel') {
          assert.ok(awaitingRelease.delete(packet.packetId), `PUBREL ${packet.packetId} expected`);
          next.send(pkt.pubcomp(version, packet.packetId));
          continue;
        }
        assert.equal(packet.type, 'publish');
        if (packet.type !== 'publish') return;
        const payload = packet.payload.toString();
        const wasInflight = inflight.find((p) => p.payload.toString() === payload);
        // [MQTT-4.4.0-1]: unacknowledged PUBLISH packets are sent again, with DUP [MQTT-3.3.1-1] and their packet id
        if (wasInflight !== undefined) {
          assert.equal(packet.dup, true, `${payload} resent with DUP`);
          assert.equal(packet.packetId, wasInflight.packetId, `${payload} resent under its packet id`);
        }
        assert.notEqual(payload, released.payload.toString(), 'a released QoS 2 message is never published again');
        got.set(payload, (got.get(payload) ?? 0) + 1);
        if (packet.qos === 1) next.send(pkt.puback(version, packet.packetId));
        else {
          awaitingRelease.add(packet.packetId);
          next.send(pkt.pubrec(version, packet.packetId));
        }
      }
      for (const payload of sent) {
        if (payload === released.payload.toString()) continue;
        assert.ok(got.has(payload), `${payload} delivered`);
        if (payload.startsWith('q2')) assert.equal(got.get(payload), 1, `${payload} delivered once`);
      }
      await next.expectNothing(300);

      // The routes moved with the session: a message published on the old node reaches it.
      await waitForRoute([n1, n2], n2, 't/#');
      await until('node-2 to learn that node-1 has no t/# route', () => !n2.bus.knowsRoute('node-1', 't/#'));
      await publisher.publish({ topic: 't/after', qos: 1, payload: 'after' });
      const after = await next.next('publish', WAIT_MS);
      assert.equal(after.payload.toString(), 'after');
      next.send(pkt.puback(version, after.packetId));
      assert.equal(n1.broker.sessions.has(clientId), false, 'the old node forgot the session');
      assert.equal(n1.store.counters.fenced, 0, 'the old node wrote nothing after handing it over');
    });

    it(`[MQTT-3.1.4-${version === 5 ? 3 : 2}] a clean session is taken over too: the old connection is closed${version === 5 ? ' with 0x8E' : ''}, the new one starts with Session Present 0`, async (t) => {
      const redis = await startRedis(t);
      if (redis === undefined) return;
      t.after(destroyAllClients);
      const n1 = await startSessionNode(redis, 'node-1');
      const n2 = await startSessionNode(redis, 'node-2');
      const clientId = `clean-${version}`;
      const old = await RawClient.connect(n1.port, { version, clientId });
      await old.subscribe('c/#', 1);
      const next = await RawClient.connect(n2.port, { version, clientId }, WAIT_MS);
      assert.equal(next.connack.sessionPresent, false);
      if (version === 5) assert.equal((await old.next('disconnect')).reasonCode, 0x8e);
      await old.closed();
      await until('node-1 to forget the session', () => !n1.broker.sessions.has(clientId));
      // Connected to node-2 now: a third connection on node-1 takes it back from node-2.
      const again = await RawClient.connect(n1.port, { version, clientId }, WAIT_MS);
      if (version === 5) assert.equal((await next.next('disconnect')).reasonCode, 0x8e);
      await next.closed();
      await again.disconnect();
    });
  });
}
