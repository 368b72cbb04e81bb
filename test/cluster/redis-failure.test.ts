// Redis unreachable: clients of one node keep exchanging messages, and are acknowledged; QoS 1/2
// messages for other nodes wait for Redis, and once it has been gone longer than
// cluster.unavailable_ack_ms a 5.0 publisher is refused with 0x97 while a 3.1.1 one is not read
// from; the node logs one line per change of the link, counts each, and re-synchronizes its routes
// and retained messages when Redis returns, even a Redis that lost everything.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorWithReasonCode } from 'mqtt';
import { capturingLogger } from '../helpers/log.js';
import { startRedis } from '../helpers/redis-server.js';
import { startCluster, startNode, untilReadFrom, waitForRoute, type TestNode } from '../helpers/cluster.js';

/** Waits until `check` holds, up to `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Settles `promise` within `ms`: 'pending' when it did not. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms))]);
}

/** The reason code of a refused publish (MQTT.js rejects with ErrorWithReasonCode). */
async function refusal(promise: Promise<unknown>): Promise<number | undefined> {
  try {
    await promise;
    return undefined;
  } catch (err) {
    if (err instanceof ErrorWithReasonCode) return err.code;
    throw err;
  }
}

const fastLink = { unavailableAckMs: 300, pingIntervalMs: 50, pingTimeoutMs: 500 };

void describe('cluster with Redis unreachable', () => {
  void it('delivers and acknowledges between clients of one node while Redis is paused, 3.1.1 and 5.0, QoS 0/1/2', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 2);
    const [one, two] = nodes as [TestNode, TestNode];
    // A subscriber on node 2 keeps a QoS 1 message of node 1 waiting for Redis meanwhile.
    const remote = await two.clients.connect({ protocolVersion: 5, clientId: 'remote' });
    await remote.client.subscribeAsync('remote/#', { qos: 1 });
    await waitForRoute(nodes, two, 'remote/#');
    const sub4 = await one.clients.connect({ protocolVersion: 4, clientId: 'local-sub-4' });
    const sub5 = await one.clients.connect({ protocolVersion: 5, clientId: 'local-sub-5' });
    await sub4.client.subscribeAsync('local/#', { qos: 2 });
    await sub5.client.subscribeAsync('local/#', { qos: 2 });
    const waiting = await one.clients.connect({ protocolVersion: 4, clientId: 'waiting-pub' });
    const pub4 = await one.clients.connect({ protocolVersion: 4, clientId: 'pub-4' });
    const pub5 = await one.clients.connect({ protocolVersion: 5, clientId: 'pub-5' });
    await untilReadFrom(waiting, pub4, pub5);
    await until(() => one.bus.idle, 'node 1 to have written its routes');
    redis.pause();
    const crossing = waiting.client.publishAsync('remote/x', 'waits', { qos: 1 });
    for (const qos of [0, 1, 2] as const) {
      await pub4.client.publishAsync(`local/4/${qos}`, `v4 qos ${qos}`, { qos });
      await pub5.client.publishAsync(`local/5/${qos}`, `v5 qos ${qos}`, { qos });
    }
    for (const sub of [sub4, sub5]) {
      const got = await sub.inbox.waitFor(6);
      assert.deepEqual(got.map((m) => m.payload).sort(), [
        'v4 qos 0',
        'v4 qos 1',
        'v4 qos 2',
        'v5 qos 0',
        'v5 qos 1',
        'v5 qos 2',
      ]);
    }
    assert.equal(await within(crossing, 300), 'pending', 'the message for node 2 waits for Redis');
    redis.resume();
    await crossing;
    const [received] = await remote.inbox.waitFor(1);
    assert.equal(received?.payload, 'waits');
  });

  void it('refuses QoS 1/2 for other nodes with 0x97 to 5.0 publishers once Redis is gone longer than unavailable_ack_ms; 3.1.1 publishers wait unread', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const { logger, lines } = capturingLogger('info');
    const one = await startNode(redis, 'node-1', { logger }, fastLink);
    const two = await startNode(redis, 'node-2', {}, fastLink);
    const nodes = [one, two];
    const sub = await two.clients.connect({ protocolVersion: 5, clientId: 'sub' });
    await sub.client.subscribeAsync('remote/#', { qos: 2 });
    await waitForRoute(nodes, two, 'remote/#');
    const local = await one.clients.connect({ protocolVersion: 5, clientId: 'local-sub' });
    await local.client.subscribeAsync('local', { qos: 1 });
    // Connected and read from before: a client is not read from until the node has read its stream
    // as it stood at the CONNECT, which needs Redis (test/cluster/order.test.ts).
    const pub5 = await one.clients.connect({ protocolVersion: 5, clientId: 'pub-5' });
    const pub4 = await one.clients.connect({ protocolVersion: 4, clientId: 'pub-4' });
    await untilReadFrom(pub5, pub4);
    await until(() => one.bus.idle, 'node 1 to have written its routes');
    redis.pause();
    await until(() => one.bus.stats().linkDownMs >= fastLink.unavailableAckMs, 'the link down long enough');
    assert.equal(one.bus.state, 'down');
    assert.equal(await refusal(pub5.client.publishAsync('remote/a', 'refused 1', { qos: 1 })), 0x97);
    assert.equal(await refusal(pub5.client.publishAsync('remote/b', 'refused 2', { qos: 2 })), 0x97);
    // A message for this node alone is still taken, and acknowledged.
    await pub5.client.publishAsync('local', 'still here', { qos: 1 });
    assert.equal((await local.inbox.waitFor(1))[0]?.payload, 'still here');
    const held = pub4.client.publishAsync('remote/c', 'held', { qos: 1 });
    assert.equal(await within(held, 500), 'pending', 'a 3.1.1 publisher is not answered');
    assert.ok(one.bus.counters.refusedUnavailable >= 3);
    redis.resume();
    await held;
    const got = await sub.inbox.waitFor(1);
    assert.deepEqual(
      got.map((m) => m.payload),
      ['held'],
    );
    // Nothing refused was delivered: the held message was the only one to cross.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sub.inbox.messages.length, 1);
    await until(() => one.bus.state === 'up', 'the link back');
    // One line per change, down and back in turn (a loaded machine may add a flap of its own).
    const link = lines.filter((line) => /^cluster: Redis link/.test(String(line.msg)));
    const down = [
      40,
      'cluster: Redis link down (no answer to PING within N ms); QoS 1/2 acknowledgements that need Redis are withheld',
    ];
    const back = [30, 'cluster: Redis link back after N ms'];
    assert.deepEqual(
      link.map((line) => [line.level, String(line.msg).replace(/\d+ ms/g, 'N ms')]),
      link.map((_, i) => (i % 2 === 0 ? down : back)),
    );
    assert.ok(link.length >= 2);
    assert.equal(one.bus.counters.linkDown, link.length / 2);
    assert.equal(one.bus.counters.linkUp, link.length / 2);
  });

  void it('re-announces its routes and writes its retained messages back to a Redis that came back empty', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const nodes = await startCluster(redis, 2);
    const [one, two] = nodes as [TestNode, TestNode];
    const sub = await two.clients.connect({ protocolVersion: 5, clientId: 'sub' });
    await sub.client.subscribeAsync('after/#', { qos: 1 });
    await waitForRoute(nodes, two, 'after/#');
    const pub = await one.clients.connect({ protocolVersion: 4, clientId: 'pub' });
    await pub.client.publishAsync('state/kept', 'retained before', { qos: 1, retain: true });
    // Redis loses everything: routes, streams, retained messages.
    await redis.restart(true, true);
    await until(() => one.bus.state === 'up' && two.bus.state === 'up', 'both links back');
    // Node 2 announced its route again; node 1, which re-read the routes, sends to it.
    await until(() => one.bus.knowsRoute('node-2', 'after/#'), 'node 1 to learn node 2 route again');
    await pub.client.publishAsync('after/restart', 'crossed', { qos: 1 });
    assert.equal((await sub.inbox.waitFor(1))[0]?.payload, 'crossed');
    // The retained message the nodes hold was written back: a node that joins now reads it.
    const late = await startNode(redis, 'node-3');
    const reader = await late.clients.connect({ protocolVersion: 5, clientId: 'late' });
    await reader.client.subscribeAsync('state/#', { qos: 1 });
    const [retained] = await reader.inbox.waitFor(1);
    assert.equal(retained?.payload, 'retained before');
    assert.equal(retained?.packet.retain, true);
  });
});
