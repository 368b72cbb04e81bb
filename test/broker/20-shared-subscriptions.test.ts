// 20: shared subscriptions, `$share/{ShareName}/{filter}` (MQTT 5.0 section 4.8.2), from 5.0 and,
// as Mosquitto and EMQX allow, 3.1.1 clients: one copy per group, spread over its members, next to
// the normal subscribers; granted QoS per member; no retained messages on subscribing; what happens
// to a member's unacknowledged messages when it goes; No Local; UNSUBSCRIBE. The ids are 5.0's:
// 3.1.1 has no shared subscriptions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import * as pkt from '../helpers/packets.js';
import type { PublishIn } from '../helpers/parse.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, startBroker, waitUntil } from '../helpers/broker.js';

/** Reads every PUBLISH already received (acknowledging QoS 1 ones); resolves with them. */
async function takeReceived(client: RawClient): Promise<PublishIn[]> {
  const got: PublishIn[] = [];
  while (client.unread.length > 0) got.push(await client.receive());
  return got;
}

/** Number of PUBLISH packets received and not yet read. */
function unreadPublishes(client: RawClient): number {
  return client.unread.filter((p) => p.type === 'publish').length;
}

for (const v of VERSIONS) {
  /** CONNECT options of a session that ends with its connection. */
  const clean = (clientId: string): pkt.ConnectOptions => ({ version: v, clientId, clean: true });
  /** CONNECT options of a session that outlives its connection. */
  /** With `cleanStart`, the previous session ends (for 3.1.1, the new one then ends with its connection). */
  const persistent = (clientId: string, cleanStart = false): pkt.ConnectOptions => ({
    version: v,
    clientId,
    clean: cleanStart,
    ...(v === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });

  describe(`20 shared subscriptions (v${v})`, () => {
    it(`[MQTT-4.8.2-1] [MQTT-4.8.2-2] $share/{ShareName}/{filter} is granted its QoS; an empty ShareName, one with '+' or '#', or no filter after it is ${v === 5 ? 'a malformed packet' : 'refused, a well-formed 3.1.1 filter'} (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, clean('member'));
      assert.deepEqual(await client.subscribe(['$share/g/a/+', '$share/g/#'], 1), [1, 1]);
      for (const filter of ['$share//a', '$share/g', '$share/g/', '$share/+/a', '$share/g+/a', '$share/#/a']) {
        // '$share/g+/a' and '$share/#/a' break the wildcard rules of 3.1.1 too (see 31-filters)
        const malformed = v === 5 || filter.includes('g+') || filter.includes('#');
        if (!malformed) {
          assert.deepEqual(await client.subscribe(filter, 1), [0x80], filter);
          continue;
        }
        const other = await RawClient.connect(port, clean('malformed'));
        other.send(pkt.subscribe(v, 1, [filter]));
        if (v === 5) assert.equal((await other.next('disconnect')).reasonCode, 0x81, filter);
        await other.closed();
      }
    });

    if (v === 5) {
      it('CONNACK says Shared Subscription Available (v5)', async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.connect(port, clean('c'));
        assert.equal(client.connack.properties.sharedSubscriptionAvailable, 1);
      });
    }

    it(`each of 100 QoS 1 messages goes to exactly one of 3 members, every member gets some, and a normal subscriber gets all 100 (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const members = [
        await RawClient.connect(port, clean('m1')),
        await RawClient.connect(port, clean('m2')),
        await RawClient.connect(port, clean('m3')),
      ];
      for (const member of members) assert.deepEqual(await member.subscribe('$share/workers/jobs/+', 1), [1]);
      const watcher = await RawClient.connect(port, clean('watcher'));
      await watcher.subscribe('jobs/#', 1);
      const pub = await RawClient.connect(port, clean('pub'));
      for (let i = 0; i < 100; i++) await pub.publish({ topic: 'jobs/x', payload: String(i), qos: 1 });

      await waitUntil(() => members.reduce((n, m) => n + unreadPublishes(m), 0) >= 100, '100 shared deliveries');
      await waitUntil(() => unreadPublishes(watcher) >= 100, 'the watcher has all 100');
      const shares = await Promise.all(members.map(takeReceived));
      const seen = shares.flat().map((p) => p.payload.toString());
      assert.equal(seen.length, 100);
      assert.deepEqual(
        [...seen].sort((a, b) => Number(a) - Number(b)),
        Array.from({ length: 100 }, (_, i) => String(i)),
        'every message once to the group',
      );
      for (const [i, share] of shares.entries()) assert.ok(share.length > 0, `member ${i + 1} got none`);
      for (const p of shares.flat()) assert.equal(p.qos, 1);
      const all = (await takeReceived(watcher)).map((p) => p.payload.toString());
      assert.equal(all.length, 100);
      for (const client of [...members, watcher]) await client.expectNothing(100);
    });

    it(`[MQTT-4.8.2-3] each member gets messages at the QoS granted to its own subscription (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const low = await RawClient.connect(port, clean('low'));
      const high = await RawClient.connect(port, clean('high'));
      assert.deepEqual(await low.subscribe('$share/g/q', 0), [0]);
      assert.deepEqual(await high.subscribe('$share/g/q', 2), [2]);
      const pub = await RawClient.connect(port, clean('pub'));
      for (let i = 0; i < 6; i++) await pub.publish({ topic: 'q', payload: String(i), qos: 1 });
      await waitUntil(() => unreadPublishes(low) + unreadPublishes(high) >= 6, '6 deliveries');
      const toLow = await takeReceived(low);
      const toHigh = await takeReceived(high);
      assert.equal(toLow.length + toHigh.length, 6);
      assert.ok(toLow.length > 0 && toHigh.length > 0, `spread ${toLow.length}/${toHigh.length}`);
      for (const p of toLow) assert.equal(p.qos, 0);
      for (const p of toHigh) assert.equal(p.qos, 1);
    });

    it(`a client with a shared and a non-shared subscription matching one message gets two copies (MQTT 5.0 section 4.8.2) (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, clean('both'));
      await client.subscribe(['$share/g/d/#', 'd/#'], 1);
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 'd/1', payload: 'x', qos: 1 });
      assert.equal((await client.receive()).payload.toString(), 'x');
      assert.equal((await client.receive()).payload.toString(), 'x');
      await client.expectNothing(100);
    });

    it(`two groups with the same filter each get one copy, and other ShareNames are other groups (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const a = await RawClient.connect(port, clean('a'));
      const b = await RawClient.connect(port, clean('b'));
      await a.subscribe('$share/one/s', 1);
      await b.subscribe('$share/two/s', 1);
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 's', payload: 'x', qos: 1 });
      assert.equal((await a.receive()).payload.toString(), 'x');
      assert.equal((await b.receive()).payload.toString(), 'x');
      await a.expectNothing(100);
      await b.expectNothing(0);
    });

    it(`no retained message is sent on subscribing to a shared subscription (MQTT 5.0 section 4.8.2), though later messages are (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 'r/1', payload: 'kept', qos: 1, retain: true });
      // A normal subscriber does get it: the retained message is there to be (not) sent.
      const normal = await RawClient.connect(port, clean('normal'));
      await normal.subscribe('r/#', 1);
      assert.equal((await normal.receive()).payload.toString(), 'kept');
      const member = await RawClient.connect(port, clean('member'));
      assert.deepEqual(await member.subscribe('$share/g/r/#', 1), [1]);
      await member.expectNothing(200);
      await pub.publish({ topic: 'r/1', payload: 'live', qos: 1 });
      const live = await member.receive();
      assert.equal(live.payload.toString(), 'live');
      assert.equal(live.retain, false);
    });

    it(`a clean member that goes with QoS 1 messages unacknowledged: another member gets them (MQTT 5.0 section 4.8.2) (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const quitter = await RawClient.connect(port, clean('quitter'));
      const stayer = await RawClient.connect(port, clean('stayer'));
      await quitter.subscribe('$share/g/w', 1);
      await stayer.subscribe('$share/g/w', 1);
      const pub = await RawClient.connect(port, clean('pub'));
      for (let i = 0; i < 6; i++) await pub.publish({ topic: 'w', payload: String(i), qos: 1 });
      await waitUntil(() => unreadPublishes(quitter) + unreadPublishes(stayer) >= 6, '6 deliveries');
      // The quitter never acknowledges what it got, then its connection (and clean session) ends.
      const lost = quitter.unread.filter((p): p is PublishIn => p.type === 'publish').map((p) => p.payload.toString());
      assert.ok(lost.length > 0, 'the quitter got some');
      const kept = (await takeReceived(stayer)).map((p) => p.payload.toString());
      quitter.destroy();
      await waitUntil(
        () => unreadPublishes(stayer) >= lost.length,
        `the stayer gets the ${lost.length} unacknowledged`,
      );
      const again = await takeReceived(stayer);
      assert.deepEqual(
        again.map((p) => p.payload.toString()),
        lost,
      );
      for (const p of again) assert.equal(p.qos, 1);
      assert.equal(kept.length + again.length, 6);
      await stayer.expectNothing(100);
    });

    it(`[MQTT-4.8.2-5] a QoS 2 message in flight to a member whose session ends is not sent to another member (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const quitter = await RawClient.connect(port, clean('quitter'));
      await quitter.subscribe('$share/g/w', 2);
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 'w', payload: 'once', qos: 2 });
      assert.equal((await quitter.next('publish')).qos, 2);
      const other = await RawClient.connect(port, clean('other'));
      await other.subscribe('$share/g/w', 2);
      quitter.destroy();
      await other.expectNothing(300);
    });

    if (v === 5) {
      it('[MQTT-4.8.2-6] a message a member refuses with PUBACK 0x80 is discarded, not sent to another member, even when that member goes (v5)', async (t) => {
        const { port } = await startBroker(t);
        const refuser = await RawClient.connect(port, clean('refuser'));
        await refuser.subscribe('$share/g/w', 1);
        const pub = await RawClient.connect(port, clean('pub'));
        await pub.publish({ topic: 'w', payload: 'no', qos: 1 });
        const message = await refuser.next('publish');
        refuser.send(pkt.puback(5, message.packetId, 0x80));
        await refuser.ping();
        const other = await RawClient.connect(port, clean('other'));
        await other.subscribe('$share/g/w', 1);
        refuser.destroy();
        await other.expectNothing(300);
      });
    }

    it(`[MQTT-4.8.2-4] a member whose session persists keeps its unacknowledged messages: not sent to another member, sent again (DUP) when it returns; meanwhile new messages skip it (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const away = await RawClient.connect(port, persistent('away'));
      await away.subscribe('$share/g/w', 2);
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 'w', payload: 'q2', qos: 2 });
      await pub.publish({ topic: 'w', payload: 'q1', qos: 1 });
      const first = await away.next('publish');
      const second = await away.next('publish');
      assert.deepEqual([first.qos, second.qos], [2, 1]);
      const present = await RawClient.connect(port, clean('present'));
      await present.subscribe('$share/g/w', 1);
      away.destroy();
      await present.expectNothing(300);
      // While it is offline, new messages go to the member that is online.
      for (let i = 0; i < 4; i++) await pub.publish({ topic: 'w', payload: `new${i}`, qos: 1 });
      await waitUntil(() => unreadPublishes(present) >= 4, 'the online member gets all 4');
      assert.deepEqual(
        (await takeReceived(present)).map((p) => p.payload.toString()),
        ['new0', 'new1', 'new2', 'new3'],
      );
      const back = await RawClient.connect(port, persistent('away'));
      assert.equal(back.connack.sessionPresent, true);
      const resent = [await back.next('publish'), await back.next('publish')];
      assert.deepEqual(
        resent.map((p) => [p.payload.toString(), p.qos, p.dup, p.packetId]),
        [
          ['q2', 2, true, first.packetId],
          ['q1', 1, true, second.packetId],
        ],
      );
      await present.expectNothing(100);
    });

    it(`a persistent member whose session is ended by a clean start hands its unacknowledged QoS 1 messages to another member (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const away = await RawClient.connect(port, persistent('away'));
      await away.subscribe('$share/g/w', 1);
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 'w', payload: 'held', qos: 1 });
      assert.equal((await away.next('publish')).payload.toString(), 'held');
      const present = await RawClient.connect(port, clean('present'));
      await present.subscribe('$share/g/w', 1);
      away.destroy();
      await present.expectNothing(200);
      const fresh = await RawClient.connect(port, persistent('away', true));
      assert.equal(fresh.connack.sessionPresent, false);
      assert.equal((await present.receive()).payload.toString(), 'held');
      await fresh.expectNothing(100);
    });

    it(`round robin passes over a member whose in-flight window is full (v${v})`, async (t) => {
      const { port } = await startBroker(t, { maxInflightMessages: 1 });
      const stuck = await RawClient.connect(port, clean('stuck'));
      const quick = await RawClient.connect(port, clean('quick'));
      await stuck.subscribe('$share/g/w', 1);
      await quick.subscribe('$share/g/w', 1);
      const pub = await RawClient.connect(port, clean('pub'));
      let quickGot = 0;
      for (let i = 0; i < 10; i++) {
        await pub.publish({ topic: 'w', payload: String(i), qos: 1 });
        await waitUntil(() => unreadPublishes(stuck) + quickGot + unreadPublishes(quick) === i + 1, `delivery ${i}`);
        if (quick.unread.length > 0) {
          await quick.receive();
          quickGot++;
          await quick.ping();
        }
      }
      assert.equal(unreadPublishes(stuck), 1, 'the member that never acknowledges got only its first');
      assert.equal(quickGot, 9);
    });

    it(`sharedSubscriptionStrategy 'least-inflight' picks the member with the fewest unacknowledged messages (v${v})`, async (t) => {
      const { port } = await startBroker(t, { sharedSubscriptionStrategy: 'least-inflight' });
      const slow = await RawClient.connect(port, clean('slow'));
      const fast = await RawClient.connect(port, clean('fast'));
      await slow.subscribe('$share/g/w', 1);
      await fast.subscribe('$share/g/w', 1);
      const pub = await RawClient.connect(port, clean('pub'));
      let fastGot = 0;
      for (let i = 0; i < 10; i++) {
        await pub.publish({ topic: 'w', payload: String(i), qos: 1 });
        await waitUntil(() => unreadPublishes(slow) + fastGot + unreadPublishes(fast) === i + 1, `delivery ${i}`);
        if (fast.unread.length > 0) {
          await fast.receive();
          fastGot++;
          await fast.ping();
        }
      }
      assert.equal(unreadPublishes(slow), 1, 'the member that never acknowledges got only one');
      assert.equal(fastGot, 9);
    });

    it(`UNSUBSCRIBE from $share/g/f removes that member only; the group ends with its last member (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const leaver = await RawClient.connect(port, clean('leaver'));
      const member = await RawClient.connect(port, clean('member'));
      await leaver.subscribe('$share/g/u', 1);
      await member.subscribe('$share/g/u', 1);
      const codes = await leaver.unsubscribe('$share/g/u');
      if (v === 5) assert.deepEqual(codes, [0]);
      const pub = await RawClient.connect(port, clean('pub'));
      for (let i = 0; i < 4; i++) await pub.publish({ topic: 'u', payload: String(i), qos: 1 });
      await waitUntil(() => unreadPublishes(member) >= 4, 'the remaining member gets all 4');
      assert.equal((await takeReceived(member)).length, 4);
      await leaver.expectNothing(100);
      await member.unsubscribe('$share/g/u');
      assert.equal(broker.subscriptions.size, 0, 'no group left in the index');
      const code = await pub.publish({ topic: 'u', payload: 'nobody', qos: 1 });
      if (v === 5) assert.equal(code, 0x10, 'No matching subscribers');
      await member.expectNothing(100);
    });

    it(`subscribing to the same shared subscription again changes its QoS but does not make a second membership: one UNSUBSCRIBE leaves (MQTT 5.0 section 4.8.2) (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const member = await RawClient.connect(port, clean('member'));
      await member.subscribe('$share/g/again', 0);
      assert.deepEqual(await member.subscribe('$share/g/again', 1), [1]);
      const pub = await RawClient.connect(port, clean('pub'));
      await pub.publish({ topic: 'again', payload: 'x', qos: 1 });
      assert.equal((await member.receive()).qos, 1);
      await member.expectNothing(100);
      await member.unsubscribe('$share/g/again');
      assert.equal(broker.subscriptions.size, 0, 'no group left in the index');
    });

    if (v === 5) {
      it('a member gets its own Subscription Identifier with a shared delivery (v5)', async (t) => {
        const { port } = await startBroker(t);
        const member = await RawClient.connect(port, clean('member'));
        await member.subscribe('$share/g/id', 1, { subscriptionIdentifier: 7 });
        const pub = await RawClient.connect(port, clean('pub'));
        await pub.publish({ topic: 'id', payload: 'x', qos: 1 });
        assert.deepEqual((await member.receive()).properties.subscriptionIdentifiers, [7]);
      });
    }

    if (v === 5) {
      it('[MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error: DISCONNECT 0x82 and close (v5)', async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.connect(port, clean('c'));
        client.send(pkt.subscribe(5, 1, [{ topic: '$share/g/n', qos: 1, noLocal: true }]));
        assert.equal((await client.next('disconnect')).reasonCode, 0x82);
        await client.closed();
      });
    }
  });
}

describe('20 shared subscriptions (mixed versions)', () => {
  it('a 3.1.1 member and a 5.0 member share one group, each in its own protocol version', async (t) => {
    const { port } = await startBroker(t);
    const old = await RawClient.connect(port, { version: 4, clientId: 'v4' });
    const neu = await RawClient.connect(port, { version: 5, clientId: 'v5' });
    await old.subscribe('$share/g/m', 1);
    await neu.subscribe('$share/g/m', 1);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    for (let i = 0; i < 10; i++) await pub.publish({ topic: 'm', payload: String(i), qos: 1 });
    await waitUntil(() => unreadPublishes(old) + unreadPublishes(neu) >= 10, '10 deliveries');
    const toOld = await takeReceived(old);
    const toNew = await takeReceived(neu);
    assert.ok(toOld.length > 0 && toNew.length > 0, `spread ${toOld.length}/${toNew.length}`);
    // Each parser reads its own version: a 5.0 PUBLISH read as 3.1.1 would show its properties as payload.
    const payloads = [...toOld, ...toNew].map((p) => p.payload.toString()).sort((a, b) => Number(a) - Number(b));
    assert.deepEqual(
      payloads,
      Array.from({ length: 10 }, (_, i) => String(i)),
    );
  });

  it('MQTT.js clients (3.1.1 and 5.0) subscribed to $share/... share 20 messages, each once', async (t) => {
    const { port } = await startBroker(t);
    const clients: MqttClient[] = [];
    t.after(() => Promise.all(clients.map((c) => c.endAsync(true))));
    const connect = async (clientId: string, protocolVersion: 4 | 5): Promise<MqttClient> => {
      const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        clientId,
        protocolVersion,
        reconnectPeriod: 0,
      });
      clients.push(client);
      return client;
    };
    const received: string[][] = [[], []];
    const members = [await connect('js-member-4', 4), await connect('js-member-5', 5)];
    for (const [i, member] of members.entries()) {
      member.on('message', (_topic, payload) => received[i]!.push(payload.toString()));
      const granted = await member.subscribeAsync('$share/js/jobs/#', { qos: 1 });
      assert.equal(granted[0]?.qos, 1);
    }
    const publisher = await connect('js-pub', 5);
    for (let i = 0; i < 20; i++) await publisher.publishAsync('jobs/a', String(i), { qos: 1 });
    await waitUntil(() => received[0]!.length + received[1]!.length >= 20, '20 messages', 3000);
    const all = [...received[0]!, ...received[1]!].sort((a, b) => Number(a) - Number(b));
    assert.deepEqual(
      all,
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    assert.ok(received[0]!.length > 0 && received[1]!.length > 0, 'both members got some');
  });
});
