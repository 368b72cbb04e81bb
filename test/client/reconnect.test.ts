// The client's reliability against the real broker: reconnect after the link is cut, unacknowledged
// QoS 1/2 messages sent again with DUP and QoS 2 completed exactly once, the subscriptions made again
// after Session Present 0, the offline queue and its limit, and the PINGRESP deadline on a link that
// stays open but carries nothing. Links break in a proxy between client and broker (test/client/proxy.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Broker } from '../../src/broker/broker.js';
import type { MqttClientError } from '../../src/client/index.js';
import { connect, type ClientMessage, type ClientOptions, type MqttClient } from '../../src/client/index.js';
import type { PublishPacket } from '../../src/protocol/index.js';
import { VERSIONS, cite, sleep, startBroker, waitUntil, type CleanupContext } from '../helpers/broker.js';
import { Proxy } from './proxy.js';

const FAST_RECONNECT = { minDelayMs: 20, maxDelayMs: 100 };

async function client(t: CleanupContext, port: number, options: ClientOptions): Promise<MqttClient> {
  const c = await connect(`mqtt://127.0.0.1:${port}`, { reconnect: FAST_RECONNECT, ...options });
  t.after(() => c.end());
  return c;
}

/** A persistent session in either version. */
function persistent(v: 4 | 5, clientId: string): ClientOptions {
  return v === 5
    ? { protocolVersion: 5, clientId, clean: true, sessionExpiryInterval: 300 }
    : { protocolVersion: 4, clientId, clean: false };
}

/** Collects the payloads of `c`'s messages. */
function collect(c: MqttClient): string[] {
  const seen: string[] = [];
  c.on('message', (m: ClientMessage) => seen.push(m.payload.toString()));
  return seen;
}

/** Resolves with the next `event` of `c`, failing after `ms`. */
async function next(c: MqttClient, event: 'connect' | 'offline', ms = 5_000): Promise<unknown[]> {
  return once(c, event, { signal: AbortSignal.timeout(ms) });
}

for (const v of VERSIONS) {
  void describe(`client reconnect (v${v})`, () => {
    void it(`re-sends an unacknowledged QoS 1 PUBLISH with DUP after reconnect, and it is delivered (v${v}) ${cite(v, 'MQTT-4.4.0-1', 'MQTT-4.4.0-1')}`, async (t) => {
      const { port } = await startBroker(t);
      const subscriber = await client(t, port, { protocolVersion: v });
      await subscriber.subscribe({ topicFilter: 'q1', qos: 1 });
      const seen = collect(subscriber);
      const proxy = await Proxy.start(t, port, v);
      const publisher = await client(t, proxy.port, persistent(v, 'pub-q1'));
      proxy.holdUpstream();
      const published = publisher.publish('q1', 'in flight', { qos: 1 });
      await sleep(50);
      assert.deepEqual(seen, [], 'the PUBLISH did not get through');
      proxy.cut();
      await published;
      const again = proxy.sent[1]!.find((p): p is PublishPacket => p.type === 'publish');
      assert.equal(again?.dup, true, 'sent again with DUP');
      assert.equal(again?.packetId, 1, 'with the same packet id');
      await waitUntil(() => seen.length === 1, 'the subscriber has the message');
      assert.deepEqual(seen, ['in flight']);
    });

    void it(`completes a QoS 2 PUBLISH whose PUBREC was lost exactly once after reconnect (v${v}) ${cite(v, 'MQTT-4.3.3-2', 'MQTT-4.3.3-9')}`, async (t) => {
      const { port } = await startBroker(t);
      const subscriber = await client(t, port, { protocolVersion: v });
      await subscriber.subscribe({ topicFilter: 'q2', qos: 2 });
      const seen = collect(subscriber);
      const proxy = await Proxy.start(t, port, v);
      const publisher = await client(t, proxy.port, persistent(v, 'pub-q2'));
      proxy.holdDownstream();
      const published = publisher.publish('q2', 'once', { qos: 2 });
      await waitUntil(() => seen.length === 1, 'the broker routed the message');
      proxy.cut();
      await published;
      assert.equal(proxy.sent[1]!.find((p) => p.type === 'publish')?.type, 'publish', 'the PUBLISH was sent again');
      await sleep(100);
      assert.deepEqual(seen, ['once'], 'delivered exactly once');
    });

    void it(`receives a QoS 2 message exactly once when its PUBREC was lost and the broker sends it again (v${v}) ${cite(v, 'MQTT-4.3.3-2', 'MQTT-4.3.3-9')}`, async (t) => {
      const { port } = await startBroker(t);
      const proxy = await Proxy.start(t, port, v);
      const subscriber = await client(t, proxy.port, persistent(v, 'sub-q2'));
      await subscriber.subscribe({ topicFilter: 'in2', qos: 2 });
      const seen = collect(subscriber);
      const publisher = await client(t, port, { protocolVersion: v });
      proxy.holdUpstream();
      await publisher.publish('in2', 'once', { qos: 2 });
      await waitUntil(() => seen.length === 1, 'the subscriber has the message');
      proxy.cut();
      await next(subscriber, 'connect');
      await publisher.publish('in2', 'next', { qos: 2 });
      await waitUntil(() => seen.length === 2, 'the next message arrived');
      assert.deepEqual(seen, ['once', 'next']);
    });

    void it(`subscribes again by itself when a reconnect gets Session Present 0 from a restarted broker (v${v})`, async (t) => {
      const first = new Broker({ host: '127.0.0.1', port: 0 });
      const { port } = await first.listen();
      const c = await client(t, port, persistent(v, 'resub'));
      assert.deepEqual(await c.subscribe({ topicFilter: 'after/#', qos: 1 }), [1]);
      const reconnected = next(c, 'connect');
      await first.close();
      const second = new Broker({ host: '127.0.0.1', port });
      await second.listen();
      t.after(() => second.close());
      const [info] = (await reconnected) as [{ sessionPresent: boolean }];
      assert.equal(info.sessionPresent, false);
      const publisher = await client(t, port, { protocolVersion: v });
      const messages = c.messages('after/#');
      // The client's own SUBSCRIBE went right after CONNACK; once a later SUBSCRIBE is acknowledged, it is in force
      await waitUntil(() => c.connected, 'connected');
      await c.subscribe('sync');
      await publisher.publish('after/x', 'back', { qos: 1 });
      const m = await Promise.race([messages.next(), sleep(2_000).then(() => assert.fail('no message'))]);
      assert.equal(m.done, false);
      assert.equal(m.value.payload.toString(), 'back');
    });

    void it(`queues QoS 1 publishes while offline up to maxQueuedMessages, refuses the rest, and sends the queue on reconnect (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const subscriber = await client(t, port, { protocolVersion: v });
      await subscriber.subscribe({ topicFilter: 'queued', qos: 1 });
      const seen = collect(subscriber);
      const proxy = await Proxy.start(t, port, v);
      const publisher = await client(t, proxy.port, {
        ...persistent(v, 'queuer'),
        maxQueuedMessages: 2,
        reconnect: { minDelayMs: 300, maxDelayMs: 300 },
      });
      const offline = next(publisher, 'offline');
      proxy.cut();
      await offline;
      const queued = [publisher.publish('queued', 'a', { qos: 1 }), publisher.publish('queued', 'b', { qos: 1 })];
      await assert.rejects(publisher.publish('queued', 'c', { qos: 1 }), { code: 'ERR_CLIENT_QUEUE_FULL' });
      await assert.rejects(publisher.publish('queued', 'd', { qos: 0 }), { code: 'ERR_CLIENT_OFFLINE' });
      assert.equal(publisher.queuedCount, 2);
      await Promise.all(queued);
      await waitUntil(() => seen.length === 2, 'both queued messages arrived');
      assert.deepEqual(seen, ['a', 'b']);
    });

    void it(`sends a SUBSCRIBE made while offline once the link is back, and resolves with its SUBACK (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const proxy = await Proxy.start(t, port, v);
      const c = await client(t, proxy.port, { protocolVersion: v, reconnect: { minDelayMs: 200, maxDelayMs: 200 } });
      const offline = next(c, 'offline');
      proxy.cut();
      await offline;
      assert.equal(c.connected, false);
      assert.deepEqual(await c.subscribe({ topicFilter: 'late', qos: 1 }), [1]);
      const seen = collect(c);
      const publisher = await client(t, port, { protocolVersion: v });
      await publisher.publish('late', 'here', { qos: 1 });
      await waitUntil(() => seen.length === 1, 'the message arrived');
    });

    void it(`finds a link that carries nothing by its PINGRESP deadline while the application keeps publishing, and reconnects (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const proxy = await Proxy.start(t, port, v);
      const c = await client(t, proxy.port, { protocolVersion: v, keepAlive: 1 });
      // The broker still hears the client (so its own 1.5 x Keep Alive never runs out); the client hears nothing
      proxy.holdDownstream();
      const offline = next(c, 'offline', 4_000);
      const publishing = setInterval(() => void c.publish('noise', 'x').catch(() => undefined), 100);
      t.after(() => clearInterval(publishing));
      const started = Date.now();
      const [reason] = (await offline) as [MqttClientError];
      assert.equal(reason.code, 'ERR_CLIENT_DISCONNECTED');
      assert.equal(reason.reasonCode, 0x8d);
      assert.ok(Date.now() - started < 3_500, 'within Keep Alive for the PINGREQ and Keep Alive for the PINGRESP');
      await next(c, 'connect');
      clearInterval(publishing);
    });
  });
}

void describe('client flow control (v5)', () => {
  void it("has no more QoS 1 PUBLISHes unacknowledged than the broker's Receive Maximum; the rest wait in the queue [MQTT-3.3.4-9]", async (t) => {
    const { port } = await startBroker(t, { receiveMaximum: 2 });
    const proxy = await Proxy.start(t, port, 5);
    const c = await client(t, proxy.port, persistent(5, 'windowed'));
    proxy.holdDownstream();
    const published = ['a', 'b', 'c', 'd'].map((p) => c.publish('w', p, { qos: 1 }));
    await sleep(100);
    assert.equal(proxy.sent[0]!.filter((p) => p.type === 'publish').length, 2);
    assert.equal(c.queuedCount, 2);
    proxy.cut();
    await Promise.all(published);
  });
});

void describe('client reconnect backoff', () => {
  void it('waits at least minDelayMs between attempts when the broker refuses at once, never a tight loop', async (t) => {
    const { broker, port } = await startBroker(t);
    const proxy = await Proxy.start(t, port, 5);
    const c = await client(t, proxy.port, { reconnect: { minDelayMs: 100, maxDelayMs: 400 } });
    broker.hooks.add({ authenticate: () => ({ ok: false, reasonCode: 0x87, reasonString: 'go away' }) });
    const attempts: number[] = [];
    c.on('reconnect', () => attempts.push(Date.now()));
    const refused: MqttClientError[] = [];
    c.on('error', (err) => refused.push(err));
    proxy.cut();
    await sleep(900);
    assert.ok(refused.length >= 1, 'the refusal is reported');
    assert.equal(refused[0]!.reasonCode, 0x87);
    assert.equal(refused[0]!.reasonString, 'go away');
    for (let i = 1; i < attempts.length; i++)
      assert.ok(attempts[i]! - attempts[i - 1]! >= 95, 'no attempt sooner than minDelayMs');
    assert.ok(attempts.length <= 8, `at most one attempt per 100 ms, got ${attempts.length}`);
  });
});
