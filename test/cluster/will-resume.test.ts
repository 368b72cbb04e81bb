/**
 * The will of a session that moves between nodes (docs/cluster.md, "Node liveness", wills): the node
 * the session moves to (taken over from a live node, or claimed from a dead one) decides on the will
 * the old node's record holds. Resumed within the Will Delay Interval: never published
 * [MQTT-3.1.3-9]; started clean, or a session not stored (it ends): published now [MQTT-3.1.2-8]; no delay: published
 * when the connection is taken over [MQTT-3.1.4-3]. Real redis-server; in-process nodes with Redis
 * stores, and `fennec broker` child processes for the node killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { isAlive } from '../../src/cluster/lease.js';
import { startSessionNode, waitForRoute } from '../helpers/cluster.js';
import { LEASE_MS, NodeProcess, routesKnown, setUp, sleep, subscriber, until } from '../helpers/cluster-process.js';
import { startRedis } from '../helpers/redis-server.js';

/** CONNECT options of a 5.0 client with a persistent session and a will to `topic` after `delay` seconds. */
function withWill(clientId: string, topic: string, delay: number, clean = false, expiry = 3600): mqtt.IClientOptions {
  return {
    clientId,
    protocolVersion: 5,
    clean,
    properties: { sessionExpiryInterval: expiry },
    will: { topic, payload: Buffer.from(clientId), qos: 1, retain: false, properties: { willDelayInterval: delay } },
  };
}

void describe('the will of a session that moves to another node', () => {
  void it('[MQTT-3.1.3-9] a client of a SIGKILLed node that resumes on another node within the delay cancels its will; one that starts clean has it published at once', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const doomed = await NodeProcess.start(redis, 'doomed', LEASE_MS);
    const survivor = await NodeProcess.start(redis, 'alive', LEASE_MS);
    const watcher = await subscriber(connect, survivor.url, 'watcher', 'resume/#');
    await routesKnown(connect, doomed.url, 'resume/probe', [watcher]);
    // Delays far longer than a death takes to handle: a will published before them was ended, not timed.
    await connect(doomed.url, withWill('resumer', 'resume/resumer', 12));
    await connect(doomed.url, withWill('restarter', 'resume/restarter', 120));
    await until(async () => (await inspect.hlen('{fennec}:wills:doomed')) === 2, 'both wills are recorded in Redis');
    const killedAt = Date.now();
    await doomed.kill('SIGKILL');
    await until(async () => !(await isAlive(inspect, 'doomed')), 'the lease of the killed node is gone');

    const resumed = await connect(survivor.url, withWill('resumer', 'resume/resumer-again', 0));
    assert.equal(resumed.connected, true);
    const restarted = await connect(survivor.url, withWill('restarter', 'resume/restarter-again', 0, true));
    assert.equal(restarted.connected, true);
    await until(
      () => watcher.received.some(({ payload }) => payload === 'restarter'),
      'the will of the session started clean (ended) is published',
    );
    // Past the resumed session's will delay, from the kill and from the declaration of the death.
    await until(() => survivor.declared('doomed') === 1, 'the survivor declared the death');
    await sleep(Math.max(0, killedAt + 12_000 + 4 * LEASE_MS - Date.now()));
    assert.deepEqual(
      watcher.received.map(({ payload }) => payload),
      ['restarter'],
      `only the will of the session that ended, once\n${survivor.log()}`,
    );
    assert.equal(await inspect.hlen('{fennec}:wills:doomed'), 0, 'no record of the dead node is left');
  });

  void it('[MQTT-3.1.4-3] a connection taken over from another node: a will without delay goes out, one with a delay is dropped when the session is resumed [MQTT-3.1.3-9] and published when it starts clean [MQTT-3.1.2-8]', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const clients: mqtt.MqttClient[] = [];
    redis.beforeStop(async () => void (await Promise.all(clients.map((client) => client.endAsync(true)))));
    const connect = async (url: string, options: mqtt.IClientOptions): Promise<mqtt.MqttClient> => {
      const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...options });
      clients.push(client);
      return client;
    };
    const n1 = await startSessionNode(redis, 'node-1');
    const n2 = await startSessionNode(redis, 'node-2');
    const watcher = await connect(n2.url, { clientId: 'watcher', protocolVersion: 5 });
    const received: string[] = [];
    watcher.on('message', (_topic, payload) => received.push(payload.toString()));
    await watcher.subscribeAsync('over/#', { qos: 1 });
    await waitForRoute([n1, n2], n2, 'over/#');

    // Connected on node-1, then taken over by a connection to node-2.
    await connect(n1.url, withWill('instant', 'over/instant', 0));
    await connect(n1.url, withWill('kept', 'over/kept', 2));
    await connect(n1.url, withWill('fresh', 'over/fresh', 60));
    // A session that ends with its connection (expiry 0): taken over, it ends, and its will goes out.
    await connect(n1.url, withWill('fleeting', 'over/fleeting', 60, true, 0));
    // Offline on node-1, its will waiting out its delay there, then connecting to node-2.
    const away = await connect(n1.url, withWill('away', 'over/away', 60));
    const awayClean = await connect(n1.url, withWill('away-clean', 'over/away-clean', 60));
    away.stream.destroy();
    awayClean.stream.destroy();
    await until(() => n1.broker.clients.size === 4, 'node-1 saw both connections lost');

    const kept = await connect(n2.url, withWill('kept', 'over/kept-2', 1));
    await connect(n2.url, withWill('instant', 'over/instant-2', 0));
    await connect(n2.url, withWill('fresh', 'over/fresh-2', 0, true));
    await connect(n2.url, withWill('fleeting', 'over/fleeting-2', 0, true, 0));
    await connect(n2.url, withWill('away', 'over/away-2', 0));
    await connect(n2.url, withWill('away-clean', 'over/away-clean-2', 0, true));
    await until(
      () => ['instant', 'fresh', 'fleeting', 'away-clean'].every((payload) => received.includes(payload)),
      'the wills without delay and of the sessions started clean are published',
    );
    // Past the 2 s delay of the will of `kept`, resumed on node-2.
    await sleep(3000);
    assert.deepEqual([...received].sort(), ['away-clean', 'fleeting', 'fresh', 'instant'], 'each once, and no other');

    // The resumed session's new will, recorded by node-2, still goes out when its connection is lost.
    kept.stream.destroy();
    await until(() => received.includes('kept'), 'the will of the connection to node-2 is published');
    await sleep(500);
    assert.equal(received.filter((payload) => payload === 'kept').length, 1);
  });
});
