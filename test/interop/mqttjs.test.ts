// MQTT.js, the most used JavaScript client, against a real Fennec broker on a free port: every
// test runs for MQTT 3.1.1 and 5.0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions } from 'mqtt';
import type { Broker } from '../../src/broker/broker.js';
import { ClientPool, openFileLimit, startBroker, waitForBrokerEvent, WAIT_MS, type TestClient } from './support.js';

interface Version {
  protocolVersion: 4 | 5;
  name: string;
  /** Spec statement ids, in brackets, as the two standards number them. */
  ids: {
    deliveryQoS: string;
    retainedOnSubscribe: string;
    retainFlagOnLiveForward: string;
    will: string;
    offlineMessages: string;
    ordering: string;
    qos2NoDuplicate: string;
  };
  /** CONNECT options that make a session outlive its connection. */
  persistent: IClientOptions;
}

const versions: Version[] = [
  {
    protocolVersion: 4,
    name: 'MQTT 3.1.1',
    ids: {
      deliveryQoS: '[MQTT-3.8.4-6]',
      retainedOnSubscribe: '[MQTT-3.3.1-6] [MQTT-3.3.1-8]',
      retainFlagOnLiveForward: '[MQTT-3.3.1-9]',
      will: '[MQTT-3.1.2-8]',
      offlineMessages: '[MQTT-3.1.2-4] [MQTT-3.1.2-5]',
      ordering: '[MQTT-4.6.0-6]',
      qos2NoDuplicate: '[MQTT-4.3.3-2]',
    },
    persistent: { clean: false },
  },
  {
    protocolVersion: 5,
    name: 'MQTT 5.0',
    ids: {
      deliveryQoS: '[MQTT-3.8.4-8]',
      retainedOnSubscribe: '[MQTT-3.3.1-9]',
      retainFlagOnLiveForward: '[MQTT-3.3.1-12]',
      will: '[MQTT-3.1.2-8]',
      offlineMessages: '[MQTT-3.1.2-5] [MQTT-3.1.2-23]',
      ordering: '[MQTT-4.6.0-5]',
      qos2NoDuplicate: '[MQTT-4.3.3-10]',
    },
    persistent: { clean: false, properties: { sessionExpiryInterval: 300 } },
  },
];

/** Index of the first place where `payloads` is not "0", "1", ... `count - 1`, or -1. */
function firstOutOfOrder(payloads: readonly string[], count: number): number {
  for (let i = 0; i < Math.max(payloads.length, count); i++) if (payloads[i] !== String(i)) return i;
  return -1;
}

/** Runs `task` over `items` with at most `batch` running at once. */
async function inBatches<T, R>(items: readonly T[], batch: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += batch) {
    results.push(...(await Promise.all(items.slice(i, i + batch).map(task))));
  }
  return results;
}

for (const version of versions) {
  const { ids } = version;

  void describe(`MQTT.js (${version.name}) against Fennec`, () => {
    let broker: Broker;
    let url = '';
    const pool = new ClientPool(() => url);
    let serial = 0;
    /** A client id unique in this file. */
    const clientId = (role: string): string => `mqttjs-v${version.protocolVersion}-${role}-${++serial}`;
    const connect = (role: string, options: IClientOptions = {}): Promise<TestClient> =>
      pool.connect({ protocolVersion: version.protocolVersion, clientId: clientId(role), ...options });

    before(async () => {
      ({ broker, url } = await startBroker());
    });

    after(async () => {
      await pool.closeAll();
      await broker.close();
    });

    for (const qos of [0, 1, 2] as const) {
      void it(`delivers a QoS ${qos} message to a QoS ${qos} subscriber at QoS ${qos}, acknowledging it as QoS ${qos} requires ${ids.deliveryQoS} [MQTT-3.3.4-1]`, async () => {
        const topic = `qos/${qos}/v${version.protocolVersion}`;
        const subscriber = await connect('sub');
        const granted = await subscriber.client.subscribeAsync(topic, { qos });
        assert.equal(granted[0]?.qos, qos);
        const publisher = await connect('pub');
        await publisher.client.publishAsync(topic, `hello at ${qos}`, { qos });
        const [message] = await subscriber.inbox.waitFor(1);
        assert.equal(message?.topic, topic);
        assert.equal(message?.payload, `hello at ${qos}`);
        assert.equal(message?.packet.qos, qos);
        // A QoS 1 publish on another topic follows, so every acknowledgement of the first has arrived.
        await publisher.client.publishAsync(`${topic}/then`, 'then', { qos: 1 });
        const acks = [[], ['puback'], ['pubrec', 'pubcomp']][qos]!;
        assert.deepEqual(publisher.received.slice(1), [...acks, 'puback']);
        await pool.end(publisher.client);
        await pool.end(subscriber.client);
      });
    }

    void it(`sends a retained message, with RETAIN set, to a client that subscribes later ${ids.retainedOnSubscribe}`, async () => {
      const topic = `retained/v${version.protocolVersion}`;
      const publisher = await connect('pub');
      await publisher.client.publishAsync(topic, 'kept', { qos: 1, retain: true });
      const latecomer = await connect('late');
      await latecomer.client.subscribeAsync(topic, { qos: 1 });
      const [message] = await latecomer.inbox.waitFor(1);
      assert.equal(message?.payload, 'kept');
      assert.equal(message?.packet.retain, true);
      await pool.end(publisher.client);
      await pool.end(latecomer.client);
    });

    void it(`forwards a retained publish to an existing subscriber with RETAIN cleared ${ids.retainFlagOnLiveForward}`, async () => {
      const topic = `retained-live/v${version.protocolVersion}`;
      const subscriber = await connect('sub');
      await subscriber.client.subscribeAsync(topic, { qos: 1 });
      const publisher = await connect('pub');
      await publisher.client.publishAsync(topic, 'live', { qos: 1, retain: true });
      const [message] = await subscriber.inbox.waitFor(1);
      assert.equal(message?.payload, 'live');
      assert.equal(message?.packet.retain, false);
      await pool.end(publisher.client);
      await pool.end(subscriber.client);
    });

    void it(`publishes the will of a client whose network connection is destroyed ${ids.will}`, async () => {
      const topic = `will/v${version.protocolVersion}`;
      const watcher = await connect('watcher');
      await watcher.client.subscribeAsync(topic, { qos: 1 });
      const victim = await connect('victim', { will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false } });
      victim.client.stream.destroy();
      const [message] = await watcher.inbox.waitFor(1);
      assert.equal(message?.topic, topic);
      assert.equal(message?.payload, 'gone');
      await pool.end(victim.client);
      await pool.end(watcher.client);
    });

    void it('does not publish the will of a client that disconnects normally [MQTT-3.1.2-10] [MQTT-3.14.4-3]', async () => {
      const topic = `will-clean/v${version.protocolVersion}`;
      const watcher = await connect('watcher');
      await watcher.client.subscribeAsync(topic, { qos: 1 });
      const polite = await connect('polite', { will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false } });
      const politeId = polite.client.options.clientId;
      const disconnected = waitForBrokerEvent(broker, 'clientDisconnected', (c) => c.clientId === politeId);
      await pool.disconnect(polite.client);
      await disconnected;
      // Anything the will would have published is routed before this marker.
      const publisher = await connect('pub');
      await publisher.client.publishAsync(topic, 'marker', { qos: 1 });
      const [first] = await watcher.inbox.waitFor(1);
      assert.equal(first?.payload, 'marker');
      await pool.end(publisher.client);
      await pool.end(watcher.client);
    });

    void it(`keeps a persistent session's QoS 1 messages published while it was offline and sends them when it returns ${ids.offlineMessages}`, async () => {
      const topic = `persistent/v${version.protocolVersion}`;
      const id = clientId('persistent');
      const first = await pool.connect({
        protocolVersion: version.protocolVersion,
        clientId: id,
        ...version.persistent,
      });
      await first.client.subscribeAsync(topic, { qos: 1 });
      const offline = waitForBrokerEvent(broker, 'clientDisconnected', (c) => c.clientId === id);
      await pool.disconnect(first.client);
      await offline;
      const publisher = await connect('pub');
      for (let i = 0; i < 5; i++) await publisher.client.publishAsync(topic, `offline ${i}`, { qos: 1 });
      const returning = await pool.connect({
        protocolVersion: version.protocolVersion,
        clientId: id,
        ...version.persistent,
      });
      assert.equal(returning.connack.sessionPresent, true);
      const messages = await returning.inbox.waitFor(5);
      assert.deepEqual(
        messages.map((m) => m.payload),
        [0, 1, 2, 3, 4].map((i) => `offline ${i}`),
      );
      assert.ok(messages.every((m) => m.packet.qos === 1));
      await pool.end(publisher.client);
      await pool.end(returning.client);
    });

    void it(`delivers 10,000 QoS 1 messages from one publisher to each of three subscribers in order, each once ${ids.ordering}`, async () => {
      const count = 10_000;
      const topic = `order/v${version.protocolVersion}`;
      // Ordering is under test, not overflow: every session's queue can hold the whole burst. With the
      // default of 1,000, a burst published faster than the subscribers acknowledge loses the newest.
      const big = await startBroker({ maxQueuedMessages: count });
      const bigPool = new ClientPool(() => big.url);
      try {
        const subscribers = await Promise.all(
          [0, 1, 2].map(() =>
            bigPool.connect({ protocolVersion: version.protocolVersion, clientId: clientId('ordered') }),
          ),
        );
        for (const s of subscribers) await s.client.subscribeAsync(topic, { qos: 1 });
        const publisher = await bigPool.connect({
          protocolVersion: version.protocolVersion,
          clientId: clientId('pub'),
        });
        const indexes = Array.from({ length: count }, (_, i) => i);
        await Promise.all(indexes.map((i) => publisher.client.publishAsync(topic, String(i), { qos: 1 })));
        for (const [n, s] of subscribers.entries()) {
          const dropped = (): string => JSON.stringify(big.broker.sessions.get(s.client.options.clientId!)?.dropped);
          await s.inbox.waitFor(count, 15_000).catch((err: unknown) => {
            throw new Error(`subscriber ${n}: ${(err as Error).message}; dropped by the broker: ${dropped()}`);
          });
          const payloads = s.inbox.messages.map((m) => m.payload);
          const at = firstOutOfOrder(payloads, count);
          assert.equal(at, -1, `subscriber ${n}: message ${at} is ${payloads[at]} (of ${payloads.length})`);
          assert.ok(s.inbox.messages.every((m) => m.packet.qos === 1));
        }
        // Nothing more arrives: a last message is the next one each subscriber sees.
        await publisher.client.publishAsync(topic, 'end', { qos: 1 });
        for (const s of subscribers) {
          const all = await s.inbox.waitFor(count + 1);
          assert.equal(all[count]?.payload, 'end');
        }
      } finally {
        await bigPool.closeAll();
        await big.broker.close();
      }
    });

    void it(`serves 1,000 clients at once, each receiving a message on its own topic and one on a common topic [MQTT-4.5.0-1]`, async () => {
      const count = 1000;
      // Both ends of every connection live in this process.
      const limit = openFileLimit();
      assert.ok(
        limit === undefined || limit > 2 * count + 100,
        `the open-file limit is ${limit}; raise it (ulimit -n) above ${2 * count + 100}`,
      );
      const common = `crowd/v${version.protocolVersion}/all`;
      const own = (i: number): string => `crowd/v${version.protocolVersion}/${i}`;
      const indexes = Array.from({ length: count }, (_, i) => i);
      const crowd = await inBatches(indexes, 100, async (i) => {
        const member = await connect('crowd');
        await member.client.subscribeAsync([own(i), common], { qos: 1 });
        return member;
      });
      assert.equal(broker.clients.size >= count, true);
      const publisher = await connect('pub');
      await inBatches(indexes, 250, (i) => publisher.client.publishAsync(own(i), `for ${i}`, { qos: 1 }));
      await publisher.client.publishAsync(common, 'for everyone', { qos: 1 });
      await inBatches(indexes, 250, async (i) => {
        const messages = await crowd[i]!.inbox.waitFor(2, 10_000);
        assert.deepEqual(
          messages.map((m) => `${m.topic}=${m.payload}`),
          [`${own(i)}=for ${i}`, `${common}=for everyone`],
        );
      });
      await pool.end(publisher.client);
      await inBatches(crowd, 250, (member) => pool.end(member.client));
    });

    void it(`delivers a QoS 2 message exactly once when the publisher sends it again after losing the PUBREC ${ids.qos2NoDuplicate}`, async () => {
      const topic = `exactly-once/v${version.protocolVersion}`;
      const subscriber = await connect('sub');
      await subscriber.client.subscribeAsync(topic, { qos: 2 });
      const publisher = await connect('pub', { ...version.persistent, reconnectPeriod: 50 });
      const publisherId = publisher.client.options.clientId;
      // The connection drops the moment the broker has routed the message, before its PUBREC
      // reaches MQTT.js, which therefore sends the PUBLISH again when it reconnects.
      const cutAfterRouting = (): void => {
        broker.off('published', cutAfterRouting);
        publisher.client.stream.destroy();
      };
      broker.on('published', cutAfterRouting);
      const resent = waitForBrokerEvent(
        broker,
        'clientConnected',
        (c) => c.clientId === publisherId && c.sessionPresent,
        WAIT_MS,
      );
      await publisher.client.publishAsync(topic, 'once', { qos: 2 });
      await resent;
      await publisher.client.publishAsync(topic, 'after', { qos: 2 });
      const messages = await subscriber.inbox.waitFor(2);
      assert.deepEqual(
        messages.map((m) => m.payload),
        ['once', 'after'],
      );
      assert.ok(messages.every((m) => m.packet.qos === 2));
      await pool.end(publisher.client);
      await pool.end(subscriber.client);
    });

    void it('delivers each of 200 QoS 2 messages exactly once, in order, to two subscribers', async () => {
      const count = 200;
      const topic = `qos2-many/v${version.protocolVersion}`;
      const subscribers = await Promise.all([0, 1].map(() => connect('sub')));
      for (const s of subscribers) await s.client.subscribeAsync(topic, { qos: 2 });
      const publisher = await connect('pub');
      const indexes = Array.from({ length: count }, (_, i) => i);
      await inBatches(indexes, 50, (i) => publisher.client.publishAsync(topic, String(i), { qos: 2 }));
      await publisher.client.publishAsync(topic, 'end', { qos: 2 });
      for (const s of subscribers) {
        const messages = await s.inbox.waitFor(count + 1);
        const payloads = messages.map((m) => m.payload);
        assert.equal(payloads[count], 'end');
        assert.equal(firstOutOfOrder(payloads.slice(0, count), count), -1);
        assert.equal(new Set(payloads).size, count + 1);
      }
      await pool.end(publisher.client);
      for (const s of subscribers) await pool.end(s.client);
    });
  });
}

void describe('MQTT.js across protocol versions and with MQTT 5 topic aliases against Fennec', () => {
  let broker: Broker;
  let url = '';
  const pool = new ClientPool(() => url);
  let serial = 0;
  const connect = (role: string, protocolVersion: 4 | 5, options: IClientOptions = {}): Promise<TestClient> =>
    pool.connect({ protocolVersion, clientId: `mqttjs-mixed-${role}-${++serial}`, ...options });

  before(async () => {
    ({ broker, url } = await startBroker());
  });

  after(async () => {
    await pool.closeAll();
    await broker.close();
  });

  void it('a 3.1.1 subscriber gets what a 5.0 publisher sends, without its properties, and a 5.0 subscriber gets what a 3.1.1 publisher sends', async () => {
    const old = await connect('old', 4);
    const v5 = await connect('new', 5);
    await old.client.subscribeAsync('mixed/#', { qos: 1 });
    await v5.client.subscribeAsync('mixed/#', { qos: 1 });
    const pub5 = await connect('pub5', 5);
    await pub5.client.publishAsync('mixed/from5', 'five', {
      qos: 1,
      properties: { contentType: 'text/plain', userProperties: { k: 'v' } },
    });
    const pub4 = await connect('pub4', 4);
    await pub4.client.publishAsync('mixed/from4', 'four', { qos: 1 });
    const atOld = await old.inbox.waitFor(2);
    assert.deepEqual(
      atOld.map((m) => [m.topic, m.payload]),
      [
        ['mixed/from5', 'five'],
        ['mixed/from4', 'four'],
      ],
    );
    assert.equal(atOld[0]!.packet.properties, undefined);
    const atNew = await v5.inbox.waitFor(2);
    assert.equal(atNew[0]!.packet.properties?.contentType, 'text/plain');
    assert.deepEqual({ ...atNew[0]!.packet.properties?.userProperties }, { k: 'v' });
    assert.deepEqual([atNew[1]!.topic, atNew[1]!.payload], ['mixed/from4', 'four']);
    for (const c of [old, v5, pub5, pub4]) await pool.end(c.client);
  });

  void it('[MQTT-3.3.2-12] [MQTT-3.1.2-26] topic aliases both ways: an MQTT.js publisher that aliases its topics, and an MQTT.js subscriber that accepts 2 aliases, see every topic right', async () => {
    const sub = await connect('sub', 5, { properties: { topicAliasMaximum: 2 } });
    await sub.client.subscribeAsync('alias/#', { qos: 1 });
    const pub = await connect('pub', 5, { autoAssignTopicAlias: true });
    assert.equal(pub.connack.properties?.topicAliasMaximum, 10);
    const topics = ['alias/a', 'alias/b', 'alias/c', 'alias/a', 'alias/b', 'alias/c', 'alias/a'];
    for (const topic of topics) await pub.client.publishAsync(topic, topic, { qos: 1 });
    const messages = await sub.inbox.waitFor(topics.length);
    assert.deepEqual(
      messages.map((m) => m.topic),
      topics,
    );
    assert.ok(messages.every((m) => m.payload === m.topic));
    const publisherConnection = broker.clients.get(pub.client.options.clientId ?? '');
    assert.ok((publisherConnection?.link.incomingAliasCount ?? 0) > 0, 'the publisher used aliases');
    const aliases = messages.map((m) => m.packet.properties?.topicAlias);
    assert.ok(
      aliases.some((a) => a !== undefined),
      'the broker used aliases',
    );
    assert.ok(
      aliases.every((a) => a === undefined || a <= 2),
      `aliases ${aliases.join(', ')} within 2`,
    );
    assert.deepEqual(sub.errors, []);
    assert.deepEqual(pub.errors, []);
    await pool.end(pub.client);
    await pool.end(sub.client);
  });
});
