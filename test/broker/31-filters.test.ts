// 31: a Topic Filter against the standard's rules is a Malformed Packet, not a refusal. A SUBSCRIBE or
// UNSUBSCRIBE carrying one closes the connection (3.1.1 section 4.8; 5.0 DISCONNECT 0x81 first) and
// gets no SUBACK / UNSUBACK. A filter that is well formed but refused (longer or deeper than the
// broker's limits, not authorized) still gets its SUBACK code, and the connection stays. Run for
// MQTT 3.1, 3.1.1 and 5.0: the filter rules are the same in all three.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { cite, startBroker } from '../helpers/broker.js';

type Version = 3 | 4 | 5;

/** 5.0: DISCONNECT 0x81 Malformed Packet, then the close; 3.1 and 3.1.1: the close alone, and no packet. */
async function expectMalformed(client: RawClient, v: Version): Promise<void> {
  if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, 0x81);
  await client.closed();
}

/** The SUBACK failure code: 0x80 in 3.1.1 (and 3.1, which has none but closes on nothing), `v5` in 5.0. */
const refused = (v: Version, v5: number): number => (v === 5 ? v5 : 0x80);

/** Spec id in the version under test; 3.1 follows 3.1.1's numbering. */
const idOf = (v: Version, v311: string, v5: string): string => cite(v === 5 ? 5 : 4, v311, v5);

for (const v of [3, 4, 5] as const) {
  const connect = (port: number, clientId: string): Promise<RawClient> =>
    RawClient.connect(port, { version: v, clientId });

  describe(`31 topic filters (v${v})`, () => {
    const malformed: [ids: string, filter: string][] = [
      ['[MQTT-4.7.3-1]', ''],
      [idOf(v, 'MQTT-4.7.1-2', 'MQTT-4.7.1-1'), '#/test/topic'],
      [idOf(v, 'MQTT-4.7.1-2', 'MQTT-4.7.1-1'), 'a/#/b'],
      [idOf(v, 'MQTT-4.7.1-2', 'MQTT-4.7.1-1'), 'a#'],
      [idOf(v, 'MQTT-4.7.1-2', 'MQTT-4.7.1-1'), 'a/b#'],
      [idOf(v, 'MQTT-4.7.1-3', 'MQTT-4.7.1-2'), 'a+'],
      [idOf(v, 'MQTT-4.7.1-3', 'MQTT-4.7.1-2'), 'a/+b/c'],
      [idOf(v, 'MQTT-4.7.1-3', 'MQTT-4.7.1-2'), '++'],
      ['[MQTT-4.7.3-2]', 'a/\u0000/b'],
    ];
    for (const [ids, filter] of malformed) {
      it(`${ids} a SUBSCRIBE with the filter ${JSON.stringify(filter)} is malformed: the connection closes without a SUBACK (v${v})`, async (t) => {
        const { port } = await startBroker(t);
        const client = await connect(port, 'bad-sub');
        client.send(
          pkt.subscribe(v, 1, [
            { topic: 'fine/+', qos: 1 },
            { topic: filter, qos: 1 },
          ]),
        );
        await expectMalformed(client, v);
      });

      it(`${ids} an UNSUBSCRIBE with the filter ${JSON.stringify(filter)} is malformed: the connection closes without an UNSUBACK (v${v})`, async (t) => {
        const { port } = await startBroker(t);
        const client = await connect(port, 'bad-unsub');
        client.send(pkt.unsubscribe(v, 1, ['fine/+', filter]));
        await expectMalformed(client, v);
      });
    }

    it(`${idOf(v, 'MQTT-4.7.1-2', 'MQTT-4.7.1-1')} the well-formed filters of a SUBSCRIBE that also holds a malformed one are not subscribed (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const persistent: pkt.ConnectOptions = {
        version: v,
        clientId: 'half',
        clean: false,
        ...(v === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}),
      };
      const client = await RawClient.connect(port, persistent);
      client.send(
        pkt.subscribe(v, 1, [
          { topic: 'kept/+', qos: 1 },
          { topic: 'x/#/y', qos: 1 },
        ]),
      );
      await expectMalformed(client, v);
      // The session outlives its connection: had 'kept/+' been subscribed, the message would wait for it.
      const publisher = await connect(port, 'pub');
      await publisher.publish({ topic: 'kept/1', payload: 'm', qos: 1 });
      const back = await RawClient.connect(port, persistent);
      // 3.1's CONNACK has no Session Present flag
      if (v !== 3) assert.equal(back.connack.sessionPresent, true);
      await back.expectNothing(200);
    });

    it(`${idOf(v, 'MQTT-4.7.1-2 MQTT-4.7.1-3', 'MQTT-4.7.1-1 MQTT-4.7.1-2')} well-placed wildcards are granted: '#', '+', 'a/+/#', '+/+', '/#' (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await connect(port, 'good');
      assert.deepEqual(await client.subscribe(['#', '+', 'a/+/#', '+/+', '/#'], 1), [1, 1, 1, 1, 1]);
      assert.deepEqual(await client.unsubscribe(['#', 'a/+/#']), v === 5 ? [0, 0] : []);
    });

    it(`a filter longer than maxTopicLength is well formed but refused: SUBACK ${v === 5 ? '0x8F' : '0x80'}, and the connection stays (v${v})`, async (t) => {
      const { port, broker } = await startBroker(t, { maxTopicLength: 64 });
      const client = await connect(port, 'long');
      assert.deepEqual(await client.subscribe(['l'.repeat(65), 'ok'], 1), [refused(v, 0x8f), 1]);
      assert.equal(broker.counters.limits.maxTopicLength, 1);
      if (v === 5) assert.deepEqual(await client.unsubscribe(['l'.repeat(65)]), [0x11]);
      await client.ping();
    });

    it(`a filter deeper than maxTopicLevels is well formed but refused: SUBACK ${v === 5 ? '0x8F' : '0x80'}, and the connection stays (v${v})`, async (t) => {
      const { port, broker } = await startBroker(t, { maxTopicLevels: 4 });
      const client = await connect(port, 'deep');
      assert.deepEqual(await client.subscribe(['a/b/c/d/e', 'a/b/c/d'], 1), [refused(v, 0x8f), 1]);
      assert.equal(broker.counters.limits.maxTopicLevels, 1);
      await client.ping();
    });

    it(`an unauthorized filter is refused: SUBACK ${v === 5 ? '0x87' : '0x80'}, and the connection stays (v${v})`, async (t) => {
      const { port } = await startBroker(t, {
        hooks: { authorizeSubscribe: (_c, filter) => !filter.startsWith('secret') },
      });
      const client = await connect(port, 'denied');
      assert.deepEqual(await client.subscribe(['secret/#', 'open/#'], 1), [refused(v, 0x87), 1]);
      await client.ping();
    });

    it(`with wildcard subscriptions off, a well-placed wildcard is refused: SUBACK ${v === 5 ? '0xA2' : '0x80'}, and the connection stays (v${v})`, async (t) => {
      const { port } = await startBroker(t, { wildcardSubscriptionAvailable: false });
      const client = await connect(port, 'nowild');
      assert.deepEqual(await client.subscribe(['a/+', 'a/b'], 1), [refused(v, 0xa2), 1]);
      await client.ping();
    });

    if (v === 5) {
      for (const filter of [
        '$share//a',
        '$share/g',
        '$share/g/',
        '$share/+/a',
        '$share/g+/a',
        '$share/#/a',
        '$share/g#/a',
      ]) {
        it(`[MQTT-4.8.2-1] [MQTT-4.8.2-2] SUBSCRIBE to ${filter} is malformed: DISCONNECT 0x81, not SUBACK 0x8F (v5)`, async (t) => {
          const { port } = await startBroker(t);
          const client = await connect(port, 'share');
          client.send(pkt.subscribe(v, 1, [filter]));
          await expectMalformed(client, v);
        });
      }

      it('[MQTT-4.8.2-1] UNSUBSCRIBE from $share//a is malformed: DISCONNECT 0x81, not UNSUBACK 0x11 (v5)', async (t) => {
        const { port } = await startBroker(t);
        const client = await connect(port, 'share');
        client.send(pkt.unsubscribe(v, 1, ['$share//a']));
        await expectMalformed(client, v);
      });
    } else {
      // 3.1 and 3.1.1 have no shared subscriptions, so these are well-formed filters there; the broker,
      // which reads `$share/` as a shared subscription from every version, refuses them instead.
      it(`$share filters that only 5.0 forbids ($share//a, $share/g, $share/g/, $share/+/a) are refused with SUBACK 0x80, and the connection stays (v${v})`, async (t) => {
        const { port } = await startBroker(t);
        const client = await connect(port, 'share');
        const filters = ['$share//a', '$share/g', '$share/g/', '$share/+/a', '$share/g/ok'];
        assert.deepEqual(await client.subscribe(filters, 1), [0x80, 0x80, 0x80, 0x80, 1]);
        assert.deepEqual(await client.unsubscribe(['$share//a']), []);
        await client.ping();
      });

      it(`[MQTT-4.7.1-3] $share/g+/a breaks the 3.1.1 wildcard rule as well: the connection closes (v${v})`, async (t) => {
        const { port } = await startBroker(t);
        const client = await connect(port, 'share');
        client.send(pkt.subscribe(v, 1, ['$share/g+/a']));
        await expectMalformed(client, v);
      });
    }
  });
}
