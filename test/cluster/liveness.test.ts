// Node liveness: `fennec broker` nodes in child processes on one real Redis, each holding a lease.
// A node killed with SIGKILL is declared dead by one survivor, which removes its routes and
// publishes its clients' wills exactly once, after their delay; a node frozen for less than its
// lease is not declared dead; a dead node started again under its id rejoins.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAlive } from '../../src/cluster/lease.js';
import { startNode } from '../helpers/cluster.js';
import { LEASE_MS, NodeProcess, routesKnown, setUp, sleep, subscriber, until } from '../helpers/cluster-process.js';

void describe('cluster node liveness', () => {
  void it("[MQTT-3.1.2-8] publishes the will of a SIGKILLed node's client exactly once, from one of three survivors", async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const doomed = await NodeProcess.start(redis, 'doomed', LEASE_MS);
    const survivors = [
      await NodeProcess.start(redis, 'alive-1', LEASE_MS),
      await NodeProcess.start(redis, 'alive-2', LEASE_MS),
      await NodeProcess.start(redis, 'alive-3', LEASE_MS),
    ];
    const subs = await Promise.all(survivors.map((node, i) => subscriber(connect, node.url, `watcher-${i}`, 'will/#')));
    await routesKnown(connect, doomed.url, 'will/probe', subs);
    // 3.1.1 and 5.0 clients with a will and no delay, QoS 1 and 0
    await connect(doomed.url, {
      clientId: 'v4-client',
      protocolVersion: 4,
      will: { topic: 'will/v4', payload: Buffer.from('v4 gone'), qos: 1, retain: false },
    });
    await connect(doomed.url, {
      clientId: 'v5-client',
      protocolVersion: 5,
      will: { topic: 'will/v5', payload: Buffer.from('v5 gone'), qos: 0, retain: false },
    });
    await until(async () => (await inspect.hlen('{fennec}:wills:doomed')) === 2, 'both wills are recorded in Redis');
    await doomed.kill('SIGKILL');
    await until(() => subs.every(({ received }) => received.length >= 2), 'every survivor subscriber got both wills');
    // Time for a second publication, were there one: several more leases and checks.
    await sleep(4 * LEASE_MS);
    for (const { received } of subs) {
      assert.deepEqual(received.map(({ payload }) => payload).sort(), ['v4 gone', 'v5 gone'], 'each will once');
    }
    const declarations = survivors.map((node) => node.declared('doomed'));
    assert.equal(
      declarations.reduce((a, b) => a + b, 0),
      1,
      `one survivor declared the death: ${declarations.join(', ')}`,
    );
    assert.equal(await inspect.hlen('{fennec}:wills:doomed'), 0, 'the wills are gone from Redis');
    assert.equal(await inspect.sismember('{fennec}:nodes', 'doomed'), 0, 'the dead node left fennec:nodes');
  });

  void it('[MQTT-3.1.3-9] publishes a 5.0 will of a dead node after its Will Delay Interval, or when the session expires first', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const doomed = await NodeProcess.start(redis, 'doomed', LEASE_MS);
    const survivor = await NodeProcess.start(redis, 'alive', LEASE_MS);
    const sub = await subscriber(connect, survivor.url, 'watcher', 'delayed/#');
    await routesKnown(connect, doomed.url, 'delayed/probe', [sub]);
    // Delay 6 s, longer than it takes to declare the node dead (at most 2.3 leases and a check).
    await connect(doomed.url, {
      clientId: 'will-delay',
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 600 },
      will: {
        topic: 'delayed/will',
        payload: Buffer.from('after delay'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 6 },
      },
    });
    // Will delay 60 s, session expiry 3 s: the session ends first, and the will goes out then.
    await connect(doomed.url, {
      clientId: 'expiry-first',
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 3 },
      will: {
        topic: 'delayed/expiry',
        payload: Buffer.from('at expiry'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 60 },
      },
    });
    await until(async () => (await inspect.hlen('{fennec}:wills:doomed')) === 2, 'both wills are recorded in Redis');
    const killedAt = Date.now();
    await doomed.kill('SIGKILL');
    await until(() => sub.received.length >= 2, 'both wills arrived', 30_000);
    const at = Object.fromEntries(sub.received.map(({ payload, at: time }) => [payload, time - killedAt]));
    assert.ok(at['after delay']! >= 6000, `the will waited out its 6 s delay (arrived after ${at['after delay']} ms)`);
    assert.ok(
      at['at expiry']! >= 3000,
      `the will waited out the 3 s session expiry (arrived after ${at['at expiry']} ms)`,
    );
    assert.ok(at['at expiry']! < 30_000, `the will did not wait its 60 s delay (arrived after ${at['at expiry']} ms)`);
    await sleep(2 * LEASE_MS);
    assert.equal(sub.received.length, 2, 'each will once');
  });

  void it('[MQTT-3.1.2-10] publishes no will of a client that disconnected normally before its node died', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const doomed = await NodeProcess.start(redis, 'doomed', LEASE_MS);
    const survivor = await NodeProcess.start(redis, 'alive', LEASE_MS);
    const sub = await subscriber(connect, survivor.url, 'watcher', 'bye/#');
    await routesKnown(connect, doomed.url, 'bye/probe', [sub]);
    for (const version of [4, 5] as const) {
      const polite = await connect(doomed.url, {
        clientId: `polite-${version}`,
        protocolVersion: version,
        will: { topic: `bye/polite-${version}`, payload: Buffer.from('polite'), qos: 1, retain: false },
      });
      await polite.endAsync();
    }
    // The control: a client still connected when the node dies, whose will does go out.
    await connect(doomed.url, {
      clientId: 'control',
      will: { topic: 'bye/control', payload: Buffer.from('control'), qos: 1, retain: false },
    });
    // Redis has the record of the control, and no more those of the clients gone (their nodes write in order).
    await until(async () => {
      const records = await inspect.hvals('{fennec}:wills:doomed');
      return records.length === 1 && records[0]!.startsWith('{"c":"control"');
    }, 'only the connected client has a will in Redis');
    await doomed.kill('SIGKILL');
    await until(() => sub.received.length >= 1, 'the control will arrived');
    await sleep(2 * LEASE_MS);
    assert.deepEqual(
      sub.received.map(({ payload }) => payload),
      ['control'],
      survivor.log() + doomed.log(),
    );
  });

  void it('does not declare dead a node frozen (SIGSTOP) for less than its lease', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const lease = 2000;
    const paused = await NodeProcess.start(redis, 'paused', lease);
    const watchers = [
      await NodeProcess.start(redis, 'watcher-1', lease),
      await NodeProcess.start(redis, 'watcher-2', lease),
    ];
    const sub = await subscriber(connect, watchers[0]!.url, 'watcher', 'pause/#');
    await connect(paused.url, {
      clientId: 'frozen-client',
      will: { topic: 'pause/will', payload: Buffer.from('should not'), qos: 1, retain: false },
    });
    const onPaused = await subscriber(connect, paused.url, 'on-paused', 'pause/#');
    await routesKnown(connect, watchers[1]!.url, 'pause/probe', [sub, onPaused]);
    paused.signal('SIGSTOP');
    await sleep(lease / 2);
    paused.signal('SIGCONT');
    // Long enough for a death to have been declared, had the pause been taken for one.
    await sleep(3 * lease);
    assert.equal(watchers[0]!.declared('paused') + watchers[1]!.declared('paused'), 0, 'nobody declared it dead');
    assert.deepEqual(sub.received, [], "its client's will was not published");
    assert.equal(await inspect.sismember('{fennec}:nodes', 'paused'), 1);
    assert.equal(await isAlive(inspect, 'paused'), true, 'it holds its lease');
    // Its routes stand: a message published elsewhere still reaches its subscriber.
    await connect(watchers[1]!.url, { clientId: 'after-pause' }).then((c) =>
      c.publishAsync('pause/after', 'after', { qos: 1 }),
    );
    await until(
      () => onPaused.received.some(({ payload }) => payload === 'after'),
      'the paused node still gets messages',
    );
  });

  void it('declares dead a node frozen for longer than its lease, which announces itself again when it thaws and never publishes that will again', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const zombie = await NodeProcess.start(redis, 'zombie', LEASE_MS);
    const survivor = await NodeProcess.start(redis, 'alive', LEASE_MS);
    const sub = await subscriber(connect, survivor.url, 'watcher', 'z/#');
    const onZombie = await subscriber(connect, zombie.url, 'on-zombie', 'z/#');
    await routesKnown(connect, survivor.url, 'z/probe', [sub, onZombie]);
    const frozen = await connect(zombie.url, {
      clientId: 'frozen-client',
      will: { topic: 'z/will', payload: Buffer.from('frozen'), qos: 1, retain: false },
    });
    await until(async () => (await inspect.hlen('{fennec}:wills:zombie')) === 1, 'the will is recorded in Redis');
    zombie.signal('SIGSTOP');
    await until(() => survivor.declared('zombie') === 1, 'the survivor declared it dead');
    await until(() => sub.received.length === 1, "its client's will went out");
    zombie.signal('SIGCONT');
    await until(async () => (await inspect.sismember('{fennec}:nodes', 'zombie')) === 1, 'it is back in fennec:nodes');
    assert.match(zombie.log(), /this node lost its lease/);
    // Its routes are back: a message published on the survivor reaches its subscriber again.
    const publisher = await connect(survivor.url, { clientId: 'publisher' });
    await until(async () => {
      await publisher.publishAsync('z/again', 'again', { qos: 0 });
      await sleep(100);
      return onZombie.received.some(({ payload }) => payload === 'again');
    }, 'the thawed node gets messages again');
    // Its client's connection now breaks without DISCONNECT: that will went out once already.
    frozen.stream.destroy();
    await sleep(2 * LEASE_MS);
    assert.deepEqual(sub.received.filter(({ payload }) => payload === 'frozen').length, 1, 'the will once');
  });

  void it('calls onNodeDead once with the dead node, and counts the death and the will in the bus counters', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const doomed = await NodeProcess.start(redis, 'doomed', LEASE_MS);
    const dead: string[] = [];
    // The survivor runs in this process, so that its hook and counters can be read.
    const survivor = await startNode(
      redis,
      'alive',
      {},
      { leaseMs: LEASE_MS, onNodeDead: (node) => void dead.push(node) },
    );
    const sub = await subscriber(connect, survivor.url, 'watcher', 'hook/#');
    await routesKnown(connect, doomed.url, 'hook/probe', [sub]);
    await subscriber(connect, doomed.url, 'on-doomed', 'hook/#');
    await until(() => survivor.bus.knowsRoute('doomed', 'hook/#'), 'the survivor knows the route of the doomed node');
    await connect(doomed.url, {
      clientId: 'hooked',
      will: { topic: 'hook/will', payload: Buffer.from('hooked'), qos: 1, retain: false },
    });
    await until(async () => (await inspect.hlen('{fennec}:wills:doomed')) === 1, 'the will is recorded in Redis');
    await doomed.kill('SIGKILL');
    await until(() => sub.received.length === 1, 'the will arrived');
    assert.deepEqual(dead, ['doomed']);
    assert.equal(survivor.bus.counters.nodesDeclaredDead, 1);
    assert.equal(survivor.bus.counters.deadNodeWills, 1);
    assert.equal(survivor.bus.knowsRoute('doomed', 'hook/#'), false, 'the survivor dropped its routes');
  });

  void it('removes the routes of a dead node: no more entries are appended to its stream', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const doomed = await NodeProcess.start(redis, 'doomed', LEASE_MS);
    const survivor = await NodeProcess.start(redis, 'alive', LEASE_MS);
    const onDoomed = await subscriber(connect, doomed.url, 'on-doomed', 'route/#');
    const onSurvivor = await subscriber(connect, survivor.url, 'on-survivor', 'route/#');
    await routesKnown(connect, survivor.url, 'route/probe', [onDoomed, onSurvivor]);
    assert.equal(await inspect.scard('{fennec}:routes:doomed'), 1);
    await doomed.kill('SIGKILL');
    await until(
      async () => (await inspect.sismember('{fennec}:nodes', 'doomed')) === 0,
      'the dead node left fennec:nodes',
    );
    assert.equal(await inspect.exists('{fennec}:routes:doomed'), 0, 'its route set is gone');
    const publisher = await connect(survivor.url, { clientId: 'publisher' });
    // The reset notice reaches the survivor through pub/sub; its local subscriber proves each publish went through.
    await sleep(500);
    const before = await inspect.xlen('{fennec}:stream:doomed');
    for (let i = 0; i < 20; i++) await publisher.publishAsync('route/after', `after-${i}`, { qos: 1 });
    await until(() => onSurvivor.received.length >= 20, 'the survivor delivered its own messages');
    assert.equal(await inspect.xlen('{fennec}:stream:doomed'), before, 'nothing more for the dead node');
  });

  void it('lets a dead node started again under its node id rejoin: lease, routes, and messages from the others', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const phoenix = await NodeProcess.start(redis, 'phoenix', LEASE_MS);
    const survivor = await NodeProcess.start(redis, 'alive', LEASE_MS);
    await phoenix.kill('SIGKILL');
    await until(() => survivor.declared('phoenix') === 1, 'the survivor declared it dead');
    await phoenix.spawn();
    assert.equal(await inspect.sismember('{fennec}:nodes', 'phoenix'), 1, 'back in fennec:nodes');
    assert.equal(await inspect.exists('{fennec}:lease:phoenix'), 1, 'holding its lease');
    const sub = await subscriber(connect, phoenix.url, 'reborn', 'back/#');
    await routesKnown(connect, survivor.url, 'back/probe', [sub]);
    const publisher = await connect(survivor.url, { clientId: 'publisher' });
    await publisher.publishAsync('back/one', 'one', { qos: 1 });
    await until(() => sub.received.some(({ payload }) => payload === 'one'), 'a message from the survivor');
    // Not declared dead again while it runs.
    await sleep(3 * LEASE_MS);
    assert.equal(survivor.declared('phoenix'), 1);
    assert.equal(await inspect.sismember('{fennec}:nodes', 'phoenix'), 1);
  });

  void it('[MQTT-3.1.2-8] publishes once, itself, the will left by its previous run when a killed node restarts before it is declared dead', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const lease = 3000;
    const phoenix = await NodeProcess.start(redis, 'phoenix', lease);
    const survivor = await NodeProcess.start(redis, 'alive', lease);
    const sub = await subscriber(connect, survivor.url, 'watcher', 'left/#');
    await routesKnown(connect, phoenix.url, 'left/probe', [sub]);
    await connect(phoenix.url, {
      clientId: 'left-behind',
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 600 },
      will: {
        topic: 'left/will',
        payload: Buffer.from('left'),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 2 },
      },
    });
    await until(async () => (await inspect.hlen('{fennec}:wills:phoenix')) === 1, 'the will is recorded in Redis');
    await phoenix.kill('SIGKILL');
    const restartedAt = Date.now();
    await phoenix.spawn();
    await until(() => sub.received.length >= 1, 'the will arrived');
    assert.ok(sub.received[0]!.at - restartedAt >= 2000, 'after its delay');
    await sleep(2 * lease);
    assert.deepEqual(
      sub.received.map(({ payload }) => payload),
      ['left'],
      'once',
    );
    assert.equal(survivor.declared('phoenix'), 0, 'never declared dead');
  });
});
