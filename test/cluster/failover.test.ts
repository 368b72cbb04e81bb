/**
 * Fail-over end to end (docs/cluster.md, "Guarantees"): three `fennec broker` nodes in child
 * processes on one real Redis. Persistent-session subscribers (MQTT 3.1.1 clean=false, 5.0 with a
 * session expiry) on node a receive QoS 1 and 2 messages a publisher on node b sends while they are
 * connected, offline, holding acknowledgements, and while a is frozen; a is killed with SIGKILL.
 * Nobody calls `adoptSessions`: the survivor that declares the death adopts the sessions on its
 * own (the `onNodeDead` wiring of RedisBus); leases make b the adopter in one test and c in the
 * other. The subscribers resume on node c (handed over by b, or adopted there) with Session Present
 * 1 and every acknowledged message, including those published on b and c throughout the death,
 * QoS 2 once; messages published after the death reach them too, and the will of a client of a goes
 * out once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { nodesKey, streamKey, willsKey } from '../../src/cluster/keys.js';
import { ownerKey } from '../../src/cluster/keys.js';
import { LEASE_MS, NodeProcess, routesKnown, setUp, sleep, subscriber, until } from '../helpers/cluster-process.js';

/** What a persistent subscriber saw, across its connections (one client id). */
interface Subscriber {
  clientId: string;
  version: 4 | 5;
  /** Messages handed to the application ('message' events: QoS 1 at PUBLISH, QoS 2 at PUBREL), by payload. */
  delivered: Map<string, number>;
  /** Payloads of PUBLISH packets that arrived with DUP set. */
  resent: Set<string>;
  /** Payloads of PUBLISH packets that arrived while acknowledgements were held back. */
  held: string[];
  /** While true, no PUBLISH is acknowledged (MQTT.js reads nothing more until it is). */
  hold: boolean;
}

type Connect = (url: string, sub: Subscriber) => Promise<{ client: mqtt.MqttClient; sessionPresent: boolean }>;

/** Connects `sub` (clean=false; 5.0 with a one-hour session expiry) to `url`, recording what arrives. */
function connector(clients: mqtt.MqttClient[]): Connect {
  return (url, sub) =>
    new Promise((resolve, reject) => {
      const client = mqtt.connect(url, {
        clientId: sub.clientId,
        protocolVersion: sub.version,
        clean: false,
        ...(sub.version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
        reconnectPeriod: 0,
        connectTimeout: 10_000,
      });
      // MQTT.js takes this option from 5.0 clients only; set here, it holds back 3.1.1 acknowledgements too.
      client.options.customHandleAcks = (_topic, payload, packet: mqtt.IPublishPacket, ack) => {
        const text = payload.toString();
        if (text === 'probe') return void ack(0);
        if (packet.dup) sub.resent.add(text);
        if (sub.hold) sub.held.push(text);
        else ack(0);
      };
      clients.push(client);
      client.on('message', (_topic, payload) => {
        const text = payload.toString();
        if (text !== 'probe') sub.delivered.set(text, (sub.delivered.get(text) ?? 0) + 1);
      });
      client.once('connect', (connack) => resolve({ client, sessionPresent: connack.sessionPresent }));
      client.once('error', reject);
      client.once('close', () => reject(new Error(`${sub.clientId}: connection closed before CONNACK`)));
    });
}

function persistentSubscriber(clientId: string, version: 4 | 5): Subscriber {
  return { clientId, version, delivered: new Map(), resent: new Set(), held: [], hold: false };
}

/** Publishes `count` QoS 1 and `count` QoS 2 messages `PREFIX-qQOS-I` to `fo/x`, each acknowledged; returns the payloads. */
async function publishBoth(publisher: mqtt.MqttClient, prefix: string, count: number): Promise<string[]> {
  const sent: string[] = [];
  for (let i = 0; i < count; i++) {
    for (const qos of [1, 2] as const) {
      const payload = `${prefix}-q${qos}-${i}`;
      await publisher.publishAsync('fo/x', payload, { qos });
      sent.push(payload);
    }
  }
  return sent;
}

const missing = (sub: Subscriber, sent: readonly string[]): string[] =>
  sent.filter((payload) => !sub.delivered.has(payload));

/**
 * The lease of the survivor meant not to adopt, in ms: its reaper waits that long without a lease
 * before it handles a death, so the other survivor (LEASE_MS) is the one that declares it.
 */
const SLOW_LEASE_MS = 5000;

void describe('cluster fail-over without a hand-made adoption', () => {
  for (const adopter of ['b', 'c'] as const) {
    const resumeOn = adopter === 'c' ? 'the adopting node' : 'the node the adopter hands them over to';
    void it(`[MQTT-3.1.2-5] [MQTT-3.2.2-3] [MQTT-4.4.0-1] [MQTT-3.1.2-8] a SIGKILLed node: the survivor ${adopter} adopts its persistent 3.1.1 and 5.0 sessions; they resume on c (${resumeOn}) with every acknowledged QoS 1/2 message (QoS 2 once), later messages too, and its client's will goes out once`, async (t) => {
      const setup = await setUp(t);
      if (setup === undefined) return;
      const { redis, inspect, connect } = setup;
      const clients: mqtt.MqttClient[] = [];
      redis.beforeStop(async () => void (await Promise.all(clients.map((client) => client.endAsync(true)))));
      const connectSub = connector(clients);
      const a = await NodeProcess.start(redis, 'a', LEASE_MS);
      const b = await NodeProcess.start(redis, 'b', adopter === 'b' ? LEASE_MS : SLOW_LEASE_MS);
      const c = await NodeProcess.start(redis, 'c', adopter === 'c' ? LEASE_MS : SLOW_LEASE_MS);
      const subs = [persistentSubscriber('fo-v4', 4), persistentSubscriber('fo-v5', 5)];

      // The subscribers on a; the publisher on b knows their route once a probe reaches both.
      const onA = await Promise.all(subs.map((sub) => connectSub(a.url, sub)));
      for (const { client } of onA) await client.subscribeAsync('fo/#', { qos: 2 });
      const probes = onA.map(({ client }) => {
        const seen = { received: [] as { payload: string }[] };
        client.on('message', (_topic, payload) => seen.received.push({ payload: payload.toString() }));
        return seen;
      });
      await routesKnown(connect, b.url, 'fo/probe', probes);
      const publisher = await connect(b.url, { clientId: 'fo-publisher', protocolVersion: 5 });
      const onC = await connect(c.url, { clientId: 'fo-publisher-c', protocolVersion: 4 });
      // A client of a with a will, and a watcher on c that a's node knows about.
      const watcher = await subscriber(connect, c.url, 'fo-watcher', 'fo-will/#');
      await routesKnown(connect, a.url, 'fo-will/probe', [watcher]);
      await connect(a.url, {
        clientId: 'fo-will',
        protocolVersion: 4,
        will: { topic: 'fo-will/gone', payload: Buffer.from('fo-will gone'), qos: 1, retain: false },
      });
      await until(async () => (await inspect.hlen(willsKey('a'))) === 1, 'the will is recorded in Redis');

      // 1. Connected: delivered and acknowledged on a.
      const acknowledgedOnA = await publishBoth(publisher, 'connected', 2);
      await until(() => subs.every((sub) => missing(sub, acknowledgedOnA).length === 0), 'delivered on a');
      // 2. Offline: queued in a's store, once a has read its stream.
      for (const { client } of onA) await client.endAsync();
      const queued = await publishBoth(publisher, 'offline', 2);
      await until(async () => (await inspect.xlen(streamKey('a'))) === 0, 'a read its stream');
      // 3. Back on a, session present, holding acknowledgements: what a sends stays in flight.
      for (const sub of subs) sub.hold = true;
      const again = await Promise.all(subs.map((sub) => connectSub(a.url, sub)));
      for (const { sessionPresent } of again) assert.equal(sessionPresent, true, 'session present on a');
      const inflight = await publishBoth(publisher, 'inflight', 2);
      await until(() => subs.every((sub) => sub.held.length > 0), 'each subscriber holds a message in flight');
      // 4. a frozen: acknowledged by b, left waiting in a's stream when a dies.
      a.signal('SIGSTOP');
      const waiting = await publishBoth(publisher, 'waiting', 2);
      await a.kill('SIGKILL');
      // Through the death, its declaration and the adoption: publishers on both survivors, paced so
      // that the sessions' queues (max_queued_messages, 1000) hold everything.
      let publishing = true;
      const through = [publisher, onC].map(async (client, p) => {
        const sent: string[] = [];
        for (let i = 0; publishing && i < 200; i++) {
          sent.push(...(await publishBoth(client, `through-${p}-${i}`, 1)));
          await sleep(25);
        }
        return sent;
      });

      // No adoptSessions by hand: wait until a survivor declared the death and took the sessions.
      await until(async () => {
        if ((await inspect.sismember(nodesKey, 'a')) === 1) return false;
        const owners = await Promise.all(subs.map((sub) => inspect.hget(ownerKey(sub.clientId), 'node')));
        return owners.every((owner) => owner !== null && owner !== 'a');
      }, 'a declared dead and its sessions moved');
      const declarers = [b, c].filter((node) => node.declared('a') === 1).map((node) => node.nodeId);
      assert.deepEqual(declarers, [adopter], `one survivor, ${adopter}, declared the death: ${declarers.join(', ')}`);
      // 5. Published after the death, the subscribers still away.
      const afterDeath = await publishBoth(publisher, 'after-death', 2);
      await sleep(LEASE_MS);
      publishing = false;
      const throughDeath = (await Promise.all(through)).flat();

      // Resumed on c (which may or may not be the survivor that adopted).
      for (const sub of subs) sub.hold = false;
      const resumedOnC = await Promise.all(subs.map((sub) => connectSub(c.url, sub)));
      for (const [i, { sessionPresent }] of resumedOnC.entries()) {
        assert.equal(sessionPresent, true, `${subs[i]!.clientId}: session present on c [MQTT-3.2.2-3]`);
      }
      const expected = [...queued, ...inflight, ...waiting, ...throughDeath, ...afterDeath];
      await until(
        () => subs.every((sub) => missing(sub, expected).length === 0),
        `every acknowledged message delivered on c (adopted by ${adopter})`,
        15_000,
      ).catch((err: unknown) => {
        const gaps = subs.map((sub) => {
          const lost = missing(sub, expected);
          return `${sub.clientId} misses ${lost.length}: ${lost.slice(0, 12).join(' ')}`;
        });
        throw new Error(`${String(err)}: ${gaps.join('; ')}\n${b.log()}\n${c.log()}`);
      });
      // 6. Published once resumed on c.
      const resumed = await publishBoth(publisher, 'resumed', 2);
      await until(() => subs.every((sub) => missing(sub, resumed).length === 0), 'later messages delivered on c');
      // Time for a copy to come, were one due.
      await sleep(2 * LEASE_MS);

      for (const sub of subs) {
        // [MQTT-4.4.0-1]: what a had sent and not had acknowledged is sent again, with DUP.
        for (const payload of sub.held)
          assert.ok(sub.resent.has(payload), `${sub.clientId}: ${payload} resent with DUP`);
        for (const payload of [...acknowledgedOnA, ...expected, ...resumed]) {
          const count = sub.delivered.get(payload) ?? 0;
          assert.ok(count >= 1, `${sub.clientId}: ${payload} delivered`);
          if (payload.includes('-q2-')) assert.equal(count, 1, `${sub.clientId}: QoS 2 ${payload} delivered once`);
        }
      }
      // [MQTT-3.1.2-8]: the will of a's client, once.
      await until(() => watcher.received.length >= 1, 'the will arrived');
      assert.deepEqual(
        watcher.received.map(({ payload }) => payload),
        ['fo-will gone'],
        'the will once',
      );
    });
  }
});
