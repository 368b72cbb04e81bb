// 29: the broker's limits: each one refuses or slows only the client that passes it, with the
// reason code the protocol has for it, and is counted in broker.counters.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import * as pkt from '../helpers/packets.js';
import { frame, str, u16, u8 } from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, startBroker, waitUntil } from '../helpers/broker.js';

for (const v of VERSIONS) {
  describe(`29 limits (v${v})`, () => {
    it(`max_connections: one connection over it gets CONNACK ${v === 5 ? '0x89 Server busy' : '3 Server unavailable'} and is closed (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxConnections: 2 });
      await RawClient.connect(port, { version: v, clientId: 'a' });
      await RawClient.connect(port, { version: v, clientId: 'b' });
      const third = await RawClient.open(port, v);
      third.send(pkt.connect({ version: v, clientId: 'c' }));
      const connack = await third.next('connack');
      assert.equal(connack.reasonCode, v === 5 ? 0x89 : 3);
      assert.equal(connack.sessionPresent, false);
      await third.closed();
      assert.equal(broker.counters.limits.maxConnections, 1);
      assert.equal(broker.clients.has('c'), false);
    });

    it(`max_connections_per_address: one more from the same address gets CONNACK ${v === 5 ? '0x97 Quota exceeded' : '3'}, and past twice the limit a socket is closed unread (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxConnectionsPerAddress: 2 });
      await RawClient.connect(port, { version: v, clientId: 'a' });
      const b = await RawClient.connect(port, { version: v, clientId: 'b' });
      const refused = await RawClient.open(port, v);
      const alsoRefused = await RawClient.open(port, v);
      // Four sockets from 127.0.0.1 are open: a fifth, twice the limit, is a flood and is closed at once.
      const flood = await RawClient.open(port, v);
      await flood.closed();
      refused.send(pkt.connect({ version: v, clientId: 'c' }));
      assert.equal((await refused.next('connack')).reasonCode, v === 5 ? 0x97 : 3);
      await refused.closed();
      alsoRefused.destroy();
      assert.equal(broker.counters.limits.maxConnectionsPerAddress, 3);
      // Once those are gone, the address is under its limit again.
      await waitUntil(() => broker.connectionCount === 2, 'the refused connections are gone');
      await b.disconnect();
      await waitUntil(() => broker.connectionCount === 1, 'b is gone');
      await RawClient.connect(port, { version: v, clientId: 'c' });
    });

    it(`max_queued_bytes without a spool: a QoS 1 message that would take an offline session's queue past its bytes is dropped and counted (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxQueuedBytes: 250, maxSpoolBytes: 0 }); // no spool: the memory queue alone
      const sub = await RawClient.connect(port, {
        version: v,
        clientId: 'sub',
        clean: false,
        ...(v === 5 ? { properties: { sessionExpiryInterval: 60 } } : {}),
      });
      await sub.subscribe('q/#', 1);
      await sub.disconnect();
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      for (let i = 0; i < 4; i++) await pub.publish({ topic: 'q/x', payload: Buffer.alloc(100, 0x30 + i), qos: 1 });
      const session = broker.sessions.get('sub')!;
      assert.equal(session.queuedCount, 2);
      assert.equal(session.queuedBytes, 200);
      assert.equal(broker.counters.dropped['queue-bytes-full'], 2);
      const back = await RawClient.connect(port, { version: v, clientId: 'sub', clean: false });
      assert.equal((await back.receive()).payload[0], 0x30);
      assert.equal((await back.receive()).payload[0], 0x31);
      await back.expectNothing(100);
      assert.equal(session.queuedBytes, 0);
    });

    it(`max_subscriptions_per_client: a filter beyond it gets SUBACK ${v === 5 ? '0x97 Quota exceeded' : '0x80'}, while replacing a subscription is allowed (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxSubscriptionsPerClient: 2 });
      const client = await RawClient.connect(port, { version: v, clientId: 's' });
      assert.deepEqual(await client.subscribe(['a', 'b', 'c'], 1), [1, 1, v === 5 ? 0x97 : 0x80]);
      assert.deepEqual(await client.subscribe('a', 0), [0]);
      assert.equal(broker.counters.limits.maxSubscriptionsPerClient, 1);
      await client.unsubscribe('b');
      assert.deepEqual(await client.subscribe('c', 1), [1]);
    });

    it(`max_topic_length and max_topic_levels: a longer or deeper filter gets SUBACK ${v === 5 ? '0x8F' : '0x80'} (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxTopicLength: 10, maxTopicLevels: 3 });
      const client = await RawClient.connect(port, { version: v, clientId: 's' });
      const refused = v === 5 ? 0x8f : 0x80;
      assert.deepEqual(await client.subscribe(['a/b/c', 'abcdefghijk', 'a/b/c/d', '0123456789'], 0), [
        0,
        refused,
        refused,
        0,
      ]);
      assert.equal(broker.counters.limits.maxTopicLength, 1);
      assert.equal(broker.counters.limits.maxTopicLevels, 1);
    });

    for (const [what, topic] of [
      ['longer than max_topic_length', 'abcdefghijk'],
      ['deeper than max_topic_levels', 'a/b/c/d'],
    ] as const) {
      it(`a PUBLISH topic ${what} closes the connection${v === 5 ? ' after DISCONNECT 0x90 Topic Name invalid' : ''} (v${v})`, async (t) => {
        const { broker, port } = await startBroker(t, { maxTopicLength: 10, maxTopicLevels: 3 });
        const client = await RawClient.connect(port, { version: v, clientId: 'p' });
        client.send(pkt.publish(v, { topic, payload: 'x', qos: 1, packetId: 1 }));
        if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, 0x90);
        await client.closed();
        const counted = broker.counters.limits.maxTopicLength + broker.counters.limits.maxTopicLevels;
        assert.equal(counted, 1);
      });
    }

    it(`a will topic deeper than max_topic_levels is refused${v === 5 ? ' with CONNACK 0x90' : ' by closing the connection'} (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxTopicLevels: 3 });
      const client = await RawClient.open(port, v);
      client.send(pkt.connect({ version: v, clientId: 'w', will: { topic: 'a/b/c/d', payload: 'gone' } }));
      if (v === 5) assert.equal((await client.next('connack')).reasonCode, 0x90);
      await client.closed();
      assert.equal(broker.counters.limits.maxTopicLevels, 1);
    });

    it(`tcp_keepalive_ms: accepted TCP sockets get TCP keep-alive with that initial delay (v${v})`, async (t) => {
      const calls: [Socket, boolean | undefined, number | undefined][] = [];
      // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be restored, and called with its socket
      const original = Socket.prototype.setKeepAlive;
      Socket.prototype.setKeepAlive = function (this: Socket, enable?: boolean, initialDelay?: number) {
        calls.push([this, enable, initialDelay]);
        return original.call(this, enable, initialDelay);
      };
      t.after(() => {
        Socket.prototype.setKeepAlive = original;
      });
      const { port } = await startBroker(t, { tcpKeepAliveMs: 12_345 });
      const client = await RawClient.connect(port, { version: v, clientId: 'ka', keepAlive: 0 });
      const accepted = calls.filter(([socket]) => socket.remotePort === client.socket.localPort);
      assert.deepEqual(
        accepted.map(([, enable, delay]) => [enable, delay]),
        [[true, 12_345]],
      );
    });

    it(`max_publish_rate: a client publishing faster is slowed, not cut off, and every message arrives in order (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxPublishRate: 20 });
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('rate/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const started = Date.now();
      // 40 messages at once: the bucket holds 20, the other 20 come at 20 per second.
      const burst: Buffer[] = [];
      for (let i = 1; i <= 40; i++)
        burst.push(pkt.publish(v, { topic: 'rate/x', payload: String(i), qos: 1, packetId: i }));
      pub.send(Buffer.concat(burst));
      for (let i = 1; i <= 40; i++) assert.equal((await sub.receive(3000)).payload.toString(), String(i));
      for (let i = 1; i <= 40; i++) assert.equal((await pub.next('puback')).packetId, i);
      // Throttled: 20 messages over the bucket at 20/s need most of a second (a floor, not a benchmark).
      assert.ok(Date.now() - started >= 500, `40 messages took ${Date.now() - started} ms`);
      assert.ok(broker.counters.limits.maxPublishRate >= 1);
      await pub.ping();
    });

    it(`a client held back by max_publish_rate longer than its keep alive is not timed out (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxPublishRate: 2 });
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('held/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub', keepAlive: 1 });
      // 2 pass at once, the other 4 come at 2 per second: 2 s held, past 1.5 x keep alive.
      const burst: Buffer[] = [];
      for (let i = 1; i <= 6; i++)
        burst.push(pkt.publish(v, { topic: 'held/x', payload: String(i), qos: 1, packetId: i }));
      pub.send(Buffer.concat(burst));
      for (let i = 1; i <= 6; i++) assert.equal((await sub.receive(3000)).payload.toString(), String(i));
      for (let i = 1; i <= 6; i++) assert.equal((await pub.next('puback')).packetId, i);
      assert.ok(broker.clients.has('pub'), 'still connected');
    });

    it(`max_publish_bytes_rate: a client sending more payload bytes per second is slowed and loses nothing (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxPublishBytesRate: 10_000 });
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('bytes/#', 0);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const started = Date.now();
      const burst: Buffer[] = [];
      for (let i = 0; i < 20; i++) burst.push(pkt.publish(v, { topic: 'bytes/x', payload: Buffer.alloc(1000, i) }));
      pub.send(Buffer.concat(burst));
      for (let i = 0; i < 20; i++) assert.equal((await sub.receive(3000)).payload[0], i);
      assert.ok(Date.now() - started >= 500, `20,000 bytes took ${Date.now() - started} ms`);
      assert.ok(broker.counters.limits.maxPublishBytesRate >= 1);
    });

    it(`max_control_packet_rate: one PINGREQ too many in a second ${v === 5 ? 'gets DISCONNECT 0x97 Quota exceeded' : 'closes the connection'} (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxControlPacketRate: 5 });
      const other = await RawClient.connect(port, { version: v, clientId: 'other' });
      const client = await RawClient.connect(port, { version: v, clientId: 'pinger' });
      client.send(Buffer.concat(Array.from({ length: 6 }, () => pkt.pingreq())));
      for (let i = 0; i < 5; i++) await client.next('pingresp');
      if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, 0x97);
      await client.closed();
      assert.equal(broker.counters.limits.maxControlPacketRate, 1);
      await other.ping();
    });

    it(`max_control_packet_rate: SUBSCRIBE and UNSUBSCRIBE count too; at the rate nothing happens (v${v})`, async (t) => {
      const { port } = await startBroker(t, { maxControlPacketRate: 4 });
      const client = await RawClient.connect(port, { version: v, clientId: 'subber' });
      await client.subscribe('a', 0);
      await client.unsubscribe('a');
      await client.subscribe('b', 0);
      await client.ping();
      client.send(pkt.subscribe(v, 9, ['c']));
      if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, 0x97);
      await client.closed();
    });

    it(`packet_timeout_ms: a packet left half sent closes the connection${v === 5 ? ' after DISCONNECT 0x8D' : ''}, even with keep alive 0 (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { packetTimeoutMs: 200 });
      const client = await RawClient.connect(port, { version: v, clientId: 'loris', keepAlive: 0 });
      const bytes = pkt.publish(v, { topic: 'a/b', payload: 'half', qos: 1, packetId: 1 });
      client.send(bytes.subarray(0, 5));
      if (v === 5) assert.equal((await client.next('disconnect', 2000)).reasonCode, 0x8d);
      await client.closed(2000);
      assert.equal(broker.counters.limits.packetTimeoutMs, 1);
    });

    it(`packet_timeout_ms: complete packets sent slowly, and a packet completed in time, keep the connection open (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { packetTimeoutMs: 300 });
      const client = await RawClient.connect(port, { version: v, clientId: 'steady', keepAlive: 0 });
      const bytes = pkt.publish(v, { topic: 'a/b', payload: 'slow', qos: 1, packetId: 1 });
      client.send(bytes.subarray(0, 4));
      await new Promise((resolve) => setTimeout(resolve, 150));
      client.send(bytes.subarray(4), pkt.pingreq().subarray(0, 1));
      await new Promise((resolve) => setTimeout(resolve, 150));
      // Counted from the start of the PINGREQ, not of the PUBLISH: 150 ms, under the limit.
      client.send(pkt.pingreq().subarray(1));
      assert.equal((await client.next('puback')).packetId, 1);
      await client.next('pingresp');
      await client.expectNothing(400);
      assert.equal(broker.counters.limits.packetTimeoutMs, 0);
    });

    it(`a malformed packet is logged once, at info, without its payload (v${v})`, async (t) => {
      const lines: string[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(
            ...chunk
              .toString()
              .split('\n')
              .filter((line) => line.length > 0),
          );
          done();
        },
      });
      const logger = pino({ level: 'trace' }, sink);
      const { port } = await startBroker(t, { logger, maxTopicLevels: 3 });
      const secret = 'PAYLOAD-SECRET-7c1f';
      const client = await RawClient.connect(port, { version: v, clientId: 'bad' });
      // QoS 3 is malformed [MQTT-3.3.1-4]: the payload follows the topic.
      client.send(frame(0x36, str('a/b'), u16(1), ...(v === 5 ? [u8(0)] : []), Buffer.from(secret)));
      if (v === 5) await client.next('disconnect');
      await client.closed();
      const other = await RawClient.connect(port, { version: v, clientId: 'deep' });
      other.send(pkt.publish(v, { topic: 'a/b/c/d', payload: secret }));
      if (v === 5) await other.next('disconnect');
      await other.closed();
      await waitUntil(() => lines.filter((line) => line.includes('"event":"disconnected"')).length === 2, 'logged');
      const entries = lines.map((line) => JSON.parse(line) as { level: number; event?: string; clientId?: string });
      const bad = entries.filter((e) => e.event === 'disconnected' && e.clientId === 'bad');
      assert.equal(bad.length, 1, 'logged once');
      assert.equal(bad[0]!.level, 30, 'at info');
      for (const line of lines) assert.ok(!line.includes(secret), `a log line holds the payload: ${line}`);
    });
  });
}
