/**
 * The will of a dead node's client, at least once across the death of the survivor publishing it
 * (docs/cluster.md, "Node liveness", wills): a survivor takes the will's record, then dies before
 * its publication reaches anyone; the record stays, marked taken by a taker that lost its lease, and
 * the next node to handle the dead node publishes it, once. The survivor runs in this process so
 * that it can be stopped at that exact point: its will publication cuts its connections to Redis
 * instead (no lease renewed, no claim renewed, nothing more written), as a SIGKILL there would.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BusHost } from '../../src/broker/bus.js';
import { willsKey } from '../../src/cluster/keys.js';
import type { RedisBus } from '../../src/cluster/redis-bus.js';
import { startNode } from '../helpers/cluster.js';
import { DEATH_MS, LEASE_MS, NodeProcess, setUp, sleep, subscriber, until } from '../helpers/cluster-process.js';

/** The parts of a RedisBus this test reaches into: its host, and its connections to Redis. */
interface BusInsides {
  host: BusHost;
  command: { disconnect(): void };
  subscriber: { disconnect(): void };
  reader: { disconnect(): void };
}

/** Makes `bus` die, as far as Redis can tell, at the moment it would publish a will it took. */
function dieWhenPublishingAWill(bus: RedisBus, died: () => void): void {
  const insides = bus as unknown as BusInsides;
  insides.host.publishWill = () => {
    for (const redis of [insides.command, insides.subscriber, insides.reader]) redis.disconnect();
    died();
  };
}

void describe('the will of a dead node, at least once', () => {
  void it('[MQTT-3.1.2-8] a survivor that took a will and died before publishing it leaves it to the next node, which publishes it once', async (t) => {
    const setup = await setUp(t);
    if (setup === undefined) return;
    const { redis, inspect, connect } = setup;
    const doomed = await NodeProcess.start(redis, 'doomed', LEASE_MS);
    const taker = await startNode(redis, 'taker', {}, { leaseMs: LEASE_MS });
    let tookAt: number | undefined;
    dieWhenPublishingAWill(taker.bus, () => (tookAt = Date.now()));
    await connect(doomed.url, {
      clientId: 'orphan',
      will: { topic: 'orphan/will', payload: Buffer.from('orphan gone'), qos: 1, retain: false },
    });
    await until(async () => (await inspect.hlen(willsKey('doomed'))) === 1, 'the will is recorded in Redis');
    await doomed.kill('SIGKILL');
    await until(() => tookAt !== undefined, 'the survivor took the will and died');
    assert.equal(taker.bus.counters.deadNodeWills, 1, 'it counted the will it was about to publish');
    assert.equal(await inspect.hlen(willsKey('doomed')), 1, 'the record stays while its taker has not published it');

    // The next node: it finds the dead node's will not all out, and the taker without its lease.
    const heir = await NodeProcess.start(redis, 'heir', LEASE_MS);
    const watcher = await subscriber(connect, heir.url, 'watcher', 'orphan/#');
    await until(
      () => watcher.received.some(({ payload }) => payload === 'orphan gone'),
      'the next node published the will',
      2 * DEATH_MS,
    );
    await sleep(4 * LEASE_MS);
    assert.deepEqual(
      watcher.received.map(({ payload }) => payload),
      ['orphan gone'],
      `once\n${heir.log()}`,
    );
    assert.equal(await inspect.hlen(willsKey('doomed')), 0, 'the record is gone once published');
    assert.equal(await inspect.zscore('{fennec}:dead', 'doomed'), null, 'the dead node has no will left');
  });
});
