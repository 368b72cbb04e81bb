// 35: $SYS topics: the values after known traffic (exact counts), retained and published again every
// sys_interval, readable only where the ACL allows, never publishable by clients; client events.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, startBroker, waitUntil } from '../helpers/broker.js';
import { Acl, aclHooks } from '../../src/auth/acl.js';
import { LoadAverage } from '../../src/broker/sys.js';
import type { PublishIn } from '../helpers/parse.js';

/** Reads PUBLISH packets until one arrives on `topic`, and returns its payload as text. */
async function payloadOf(client: RawClient, topic: string): Promise<string> {
  for (;;) {
    const publish = await client.next('publish');
    if (publish.topic === topic) return publish.payload.toString();
  }
}

/** Every retained $SYS message a new subscription to `$SYS/broker/#` gets, by topic. */
async function sysSnapshot(client: RawClient): Promise<Map<string, string>> {
  const seen = new Map<string, string>();
  let publish: PublishIn;
  // The retained messages arrive at once; 300 ms of silence after them ends the snapshot.
  for (;;) {
    try {
      publish = await client.next('publish', 300);
    } catch {
      return seen;
    }
    seen.set(publish.topic.slice('$SYS/broker/'.length), publish.payload.toString());
  }
}

for (const v of VERSIONS) {
  describe(`35 $SYS (v${v})`, () => {
    it(`publishes exact message, packet and byte counts after known traffic, retained (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { sysInterval: 0 });
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('t/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const sent = [
        { topic: 't/a', payload: 'abc', qos: 0 },
        { topic: 't/a', payload: 'abcd', qos: 0 },
        { topic: 't/r', payload: 'kept', qos: 0, retain: true },
        { topic: 't/b', payload: 'x', qos: 1, packetId: 1 },
        { topic: 't/b', payload: 'yz', qos: 1, packetId: 2 },
      ] as const;
      for (const options of sent) await pub.publish(options);
      // Each PUBLISH the subscriber gets: QoS 0, 0, 0 (retain cleared live), then QoS 1, acknowledged.
      const delivered: number[] = [];
      for (let i = 0; i < sent.length; i++) {
        const publish = await sub.next('publish');
        const request = sent[i]!;
        const size = pkt.publish(v, { topic: request.topic, payload: request.payload, qos: request.qos, packetId: 1 });
        delivered.push(size.length);
        if (publish.qos === 1) sub.send(pkt.puback(v, publish.packetId));
      }
      // Packets in: 2 CONNECT, 1 SUBSCRIBE, 5 PUBLISH, 2 PUBACK.
      await waitUntil(() => broker.counters.traffic.packetsReceived === 10, 'the PUBACKs are read');
      broker.sys.publish();

      const published = sent.map((options) => pkt.publish(v, options).length);
      const bytesIn =
        pkt.connect({ version: v, clientId: 'sub' }).length +
        pkt.subscribe(v, 1, [{ topic: 't/#', qos: 1 }]).length +
        pkt.connect({ version: v, clientId: 'pub' }).length +
        published.reduce((a, b) => a + b, 0) +
        2 * pkt.puback(v, 1).length;

      const monitor = await RawClient.connect(port, { version: v, clientId: 'monitor' });
      await monitor.subscribe('$SYS/broker/#');
      const sys = await sysSnapshot(monitor);
      const expected: Record<string, string> = {
        version: `fennec version ${(JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version}`,
        'clients/connected': '2',
        'clients/total': '2',
        'clients/disconnected': '0',
        'clients/maximum': '2',
        'messages/received': '10',
        // Out: 2 CONNACK, 1 SUBACK, 5 PUBLISH, 2 PUBACK.
        'messages/sent': '10',
        'publish/messages/received': '5',
        'publish/messages/sent': '5',
        'publish/messages/dropped': '0',
        'publish/bytes/received': String(published.reduce((a, b) => a + b, 0)),
        'publish/bytes/sent': String(delivered.reduce((a, b) => a + b, 0)),
        'bytes/received': String(bytesIn),
        'subscriptions/count': '1',
        'retained messages/count': '1',
        'store/messages/count': '1',
      };
      for (const [topic, value] of Object.entries(expected))
        assert.equal(sys.get(topic), value, `$SYS/broker/${topic}`);
      assert.match(sys.get('uptime') ?? '', /^\d+ seconds$/);
      assert.ok(
        Number(sys.get('bytes/sent')) > Number(expected['publish/bytes/sent']),
        'bytes/sent counts every packet',
      );
      assert.ok(
        Number(sys.get('heap/current')) > 0 && Number(sys.get('heap/maximum')) >= Number(sys.get('heap/current')),
      );
      for (const name of ['messages/received', 'messages/sent', 'publish/received', 'bytes/sent', 'connections']) {
        for (const span of ['1min', '5min', '15min']) {
          assert.match(sys.get(`load/${name}/${span}`) ?? '', /^\d+\.\d\d$/, `load/${name}/${span}`);
        }
      }
    });

    it(`publishes the spool's messages and bytes, and drops by reason (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, {
        sysInterval: 0,
        maxQueuedMessages: 2,
        maxSpooledBytesPerSession: 300,
      });
      const sub = await RawClient.connect(port, {
        version: v,
        clientId: 'spooled',
        clean: false,
        ...(v === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}),
      });
      await sub.subscribe('s/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      // 2 in the memory queue, 3 of 100 bytes in the spool, 3 past max_spooled_bytes_per_session.
      for (let i = 0; i < 8; i++) await pub.publish({ topic: 's/x', payload: Buffer.alloc(100, i), qos: 1 });
      broker.sys.publish();
      const monitor = await RawClient.connect(port, { version: v, clientId: 'monitor' });
      await monitor.subscribe('$SYS/broker/#');
      const sys = await sysSnapshot(monitor);
      const expected: Record<string, string> = {
        'spool/messages': '3',
        'spool/bytes': '300',
        'publish/messages/dropped': '3',
        'publish/messages/dropped/spool-session-full': '3',
        'publish/messages/dropped/spool-full': '0',
        'publish/messages/dropped/queue-full': '0',
        'publish/messages/dropped/offline-qos0': '0',
      };
      for (const [topic, value] of Object.entries(expected))
        assert.equal(sys.get(topic), value, `$SYS/broker/${topic}`);
    });

    it(`refuses a client's PUBLISH under $SYS/broker/ and routes nothing (v${v})`, async (t) => {
      const { port } = await startBroker(t, { sysInterval: 0 });
      const reader = await RawClient.connect(port, { version: v, clientId: 'reader' });
      await reader.subscribe('$SYS/#');
      const client = await RawClient.connect(port, { version: v, clientId: 'spoofer' });
      const code = await client.publish({ topic: '$SYS/broker/uptime', payload: '1 seconds', qos: 1 });
      assert.equal(code, v === 5 ? 0x87 : 0, 'PUBACK says not authorized (3.1.1 has no way to say it)');
      await reader.expectNothing();
    });

    it(`gives $SYS only to clients the ACL lets read it (v${v})`, async (t) => {
      const acl = Acl.parse(['user alice', 'topic read #', 'user admin', 'topic read $SYS/#'].join('\n'), 'sys.acl');
      const { broker, port } = await startBroker(t, { sysInterval: 0, hooks: aclHooks(acl) });
      const alice = await RawClient.connect(port, { version: v, clientId: 'alice', username: 'alice' });
      assert.deepEqual(await alice.subscribe(['#', '$SYS/broker/uptime']), [0, v === 5 ? 0x87 : 0x80]);
      const admin = await RawClient.connect(port, { version: v, clientId: 'admin', username: 'admin' });
      assert.deepEqual(await admin.subscribe('$SYS/broker/clients/connected'), [0]);
      broker.sys.publish();
      assert.equal(await payloadOf(admin, '$SYS/broker/clients/connected'), '2');
      await alice.expectNothing();
    });

    it(`publishes again every sys_interval, only what changed (v${v})`, async (t) => {
      const { port } = await startBroker(t, { sysInterval: 1 });
      const monitor = await RawClient.connect(port, { version: v, clientId: 'monitor' });
      await monitor.subscribe(['$SYS/broker/uptime', '$SYS/broker/version']);
      const first = await monitor.next('publish');
      const second = await monitor.next('publish');
      assert.deepEqual([first.topic, second.topic].sort(), ['$SYS/broker/uptime', '$SYS/broker/version']);
      // One second later the uptime has changed and is published again; the version has not.
      const next = await monitor.next('publish', 3000);
      assert.equal(next.topic, '$SYS/broker/uptime');
      assert.match(next.payload.toString(), /^[1-9]\d* seconds$/);
    });

    it(`with sys_events, publishes each client's connection and disconnection (v${v})`, async (t) => {
      const { port } = await startBroker(t, { sysInterval: 0, sysEvents: true });
      const monitor = await RawClient.connect(port, { version: v, clientId: 'monitor' });
      await monitor.subscribe('$SYS/broker/clients/#');
      const client = await RawClient.connect(port, { version: v, clientId: 'device-7', username: 'dev' });
      const connected = await monitor.next('publish');
      assert.equal(connected.topic, '$SYS/broker/clients/device-7/connected');
      assert.equal(connected.retain, false);
      const event = JSON.parse(connected.payload.toString()) as Record<string, unknown>;
      assert.equal(event['clientId'], 'device-7');
      assert.equal(event['username'], 'dev');
      assert.equal(event['protocolVersion'], v);
      client.destroy();
      const disconnected = await monitor.next('publish');
      assert.equal(disconnected.topic, '$SYS/broker/clients/device-7/disconnected');
    });
  });
}

describe('35 $SYS load averages', () => {
  it("moves each average toward the rate per minute as Mosquitto's calc_load does", () => {
    const load = new LoadAverage(0);
    load.update(60, 60);
    // 60 events in 60 s is 60 per minute; after one minute each average holds 60 * (1 - e^(-1 / minutes)).
    assert.deepEqual(
      load.values.map((value) => value.toFixed(2)),
      ['37.93', '10.88', '3.87'],
    );
    load.update(60, 60);
    // No events for a minute: each decays by e^(-1 / minutes).
    assert.deepEqual(
      load.values.map((value) => value.toFixed(2)),
      [
        (37.93 * Math.exp(-1)).toFixed(2),
        (10.875 * Math.exp(-1 / 5)).toFixed(2),
        (3.873 * Math.exp(-1 / 15)).toFixed(2),
      ],
    );
  });
});
