// `fennec broker --workers 2`: messages cross from the worker of the publisher to the worker of the
// subscriber (docs/workers.md): QoS 0, 1 and 2, wildcards, retained messages, shared subscriptions
// with members on both workers, with MQTT.js clients whose ids fall on the worker each test wants.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClientPool } from '../interop/support.js';
import { idOn, workersForSuite, WorkersProcess } from './workers-process.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

void describe('fennec broker --workers 2: routing between workers', () => {
  const pool = workersForSuite();

  for (const qos of [0, 1, 2] as const) {
    void it(`a QoS ${qos} message published on worker 1 reaches a subscriber on worker 2, at QoS ${qos}`, async () => {
      const sub = await pool.connect({ clientId: idOn(1, `sub-q${qos}`) });
      const pub = await pool.connect({ clientId: idOn(0, `pub-q${qos}`) });
      await sub.client.subscribeAsync(`cross/q${qos}`, { qos });
      await pub.client.publishAsync(`cross/q${qos}`, `m${qos}`, { qos });
      const [message] = await sub.inbox.waitFor(1);
      assert.equal(message!.topic, `cross/q${qos}`);
      assert.equal(message!.payload, `m${qos}`);
      assert.equal(message!.packet.qos, qos);
    });
  }

  void it('SUBACK on worker 2 means routed: a QoS 1 message published on worker 1 right after it arrives, every time (no store to wait for)', async (t) => {
    // In memory: no commit delays SUBACK, only the other worker's acknowledgement of the route.
    const memory = await WorkersProcess.start(t, 2, ['--memory']);
    const mpool = new ClientPool(() => memory.url);
    t.after(() => mpool.closeAll());
    const pub = await mpool.connect({ clientId: idOn(0, 'suback-p') });
    for (let i = 0; i < 20; i++) {
      const sub = await mpool.connect({ clientId: idOn(1, `suback-s${i}`) });
      await sub.client.subscribeAsync(`suback/${i}`, { qos: 1 });
      await pub.client.publishAsync(`suback/${i}`, `n${i}`, { qos: 1 });
      assert.equal((await sub.inbox.waitFor(1))[0]!.payload, `n${i}`);
      await mpool.end(sub.client);
    }
  });

  void it('QoS 1 messages from both workers reach subscribers on both, each once, in order per publisher', async () => {
    const subs = [
      await pool.connect({ clientId: idOn(0, 'both-s') }),
      await pool.connect({ clientId: idOn(1, 'both-s') }),
    ];
    const pubs = [
      await pool.connect({ clientId: idOn(0, 'both-p') }),
      await pool.connect({ clientId: idOn(1, 'both-p') }),
    ];
    for (const sub of subs) await sub.client.subscribeAsync('both/+', { qos: 1 });
    const count = 50;
    await Promise.all(
      pubs.map(async (pub, p) => {
        for (let i = 0; i < count; i++) await pub.client.publishAsync(`both/p${p}`, `${i}`, { qos: 1 });
      }),
    );
    for (const sub of subs) {
      const messages = await sub.inbox.waitFor(2 * count);
      await sleep(200);
      assert.equal(sub.inbox.messages.length, 2 * count, 'no copies');
      for (const p of [0, 1]) {
        const seen = messages.filter((m) => m.topic === `both/p${p}`).map((m) => Number(m.payload));
        assert.deepEqual(seen, [...Array(count).keys()]);
      }
    }
  });

  void it('wildcards: + and # subscriptions on worker 2 match topics published on worker 1; others do not', async () => {
    const sub = await pool.connect({ clientId: idOn(1, 'wild-s') });
    const pub = await pool.connect({ clientId: idOn(0, 'wild-p') });
    await sub.client.subscribeAsync(['wild/+/temp', 'deep/#'], { qos: 1 });
    for (const topic of ['wild/a/temp', 'wild/a/b/temp', 'deep', 'deep/x/y', 'other/x']) {
      await pub.client.publishAsync(topic, topic, { qos: 1 });
    }
    const messages = await sub.inbox.waitFor(3);
    await sleep(300);
    assert.deepEqual(
      sub.inbox.messages.map((m) => m.topic).sort(),
      ['deep', 'deep/x/y', 'wild/a/temp'],
      `got ${messages.length}`,
    );
  });

  void it('a retained message set on worker 1 is sent to a new subscriber on worker 2, and cleared from there', async () => {
    const pub = await pool.connect({ clientId: idOn(0, 'ret-p') });
    await pub.client.publishAsync('retained/one', 'kept', { qos: 1, retain: true });
    // The PUBACK came once worker 2 had the retained message too (acknowledged means everywhere).
    const sub = await pool.connect({ clientId: idOn(1, 'ret-s') });
    await sub.client.subscribeAsync('retained/#', { qos: 1 });
    const [message] = await sub.inbox.waitFor(1);
    assert.equal(message!.payload, 'kept');
    assert.equal(message!.packet.retain, true);
    const clearer = await pool.connect({ clientId: idOn(1, 'ret-c') });
    await clearer.client.publishAsync('retained/one', '', { qos: 1, retain: true });
    const late = await pool.connect({ clientId: idOn(0, 'ret-l') });
    await late.client.subscribeAsync('retained/#', { qos: 1 });
    await sleep(300);
    assert.equal(late.inbox.messages.length, 0, 'the retained message cleared on worker 2 is gone on worker 1');
  });

  void it('a shared subscription with members on both workers gets each message once', async () => {
    const members = [
      await pool.connect({ clientId: idOn(0, 'sh-m') }),
      await pool.connect({ clientId: idOn(1, 'sh-m') }),
    ];
    for (const member of members) await member.client.subscribeAsync('$share/g/shared/t', { qos: 1 });
    const pubs = [await pool.connect({ clientId: idOn(0, 'sh-p') }), await pool.connect({ clientId: idOn(1, 'sh-p') })];
    const count = 40;
    for (let i = 0; i < count; i++) await pubs[i % 2]!.client.publishAsync('shared/t', `${i}`, { qos: 1 });
    const deadline = Date.now() + 5000;
    while (members[0]!.inbox.messages.length + members[1]!.inbox.messages.length < count && Date.now() < deadline) {
      await sleep(50);
    }
    await sleep(300);
    const got = members.flatMap((m) => m.inbox.messages.map((x) => Number(x.payload))).sort((a, b) => a - b);
    assert.deepEqual(got, [...Array(count).keys()], 'each message once across the group');
    assert.ok(
      members.every((m) => m.inbox.messages.length > 0),
      'both workers served the group',
    );
  });
});
