// What the client does with what the broker's CONNACK allows (5.0): topic aliases sent when its
// Topic Alias Maximum allows (seen through a recording proxy), Maximum QoS and Retain Available
// checked before publishing; a CONNACK with Session Present 1 after a clean start closes the link;
// and connect()'s AbortSignal.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import {
  connect,
  MqttClientError,
  type ClientMessage,
  type ClientOptions,
  type MqttClient,
} from '../../src/client/index.js';
import { Decoder, encode, type Packet, type PublishPacket } from '../../src/protocol/index.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { startBroker, waitUntil, type CleanupContext } from '../helpers/broker.js';
import { Proxy } from './proxy.js';

async function client(t: CleanupContext, port: number, options: ClientOptions): Promise<MqttClient> {
  const c = await connect(`mqtt://127.0.0.1:${port}`, { reconnect: { minDelayMs: 20, maxDelayMs: 50 }, ...options });
  t.after(() => c.end());
  return c;
}

/** A publisher through a recording proxy, and a subscriber to `al/#` with what it receives. */
async function setup(t: CleanupContext, broker: BrokerOptions, options: ClientOptions) {
  const { port } = await startBroker(t, broker);
  const subscriber = await client(t, port, {});
  await subscriber.subscribe({ topicFilter: 'al/#', qos: 1 });
  const topics: string[] = [];
  subscriber.on('message', (m: ClientMessage) => topics.push(`${m.topic}=${m.payload.toString()}`));
  const proxy = await Proxy.start(t, port, 5);
  const publisher = await client(t, proxy.port, options);
  return { publisher, proxy, topics };
}

/** [topic, alias] of the PUBLISHes of connection `n` through `proxy`. */
function aliases(proxy: Proxy, n: number): [string, number | undefined][] {
  return proxy.sent[n]!.filter((p): p is PublishPacket => p.type === 'publish').map((p) => [
    p.topic,
    p.properties?.topicAlias,
  ]);
}

async function rejection(promise: Promise<unknown>): Promise<MqttClientError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof MqttClientError, `an MqttClientError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

void describe('client topic aliases (v5)', () => {
  void it('sends the second PUBLISH to a topic with its alias and an empty topic, and it is delivered under its name [MQTT-3.2.2-17] [MQTT-3.3.2-9]', async (t) => {
    const { publisher, proxy, topics } = await setup(t, { topicAliasMaximum: 5 }, { topicAliases: true });
    await publisher.publish('al/x', '1', { qos: 1 });
    await publisher.publish('al/x', '2', { qos: 1 });
    await publisher.publish('al/y', '3', { qos: 0 });
    await publisher.publish('al/y', '4', { qos: 1 });
    assert.deepEqual(aliases(proxy, 0), [
      ['al/x', 1],
      ['', 1],
      ['al/y', 2],
      ['', 2],
    ]);
    await waitUntil(() => topics.length === 4, 'the four arrived');
    assert.deepEqual(topics, ['al/x=1', 'al/x=2', 'al/y=3', 'al/y=4']);
  });

  void it('assigns no more aliases than the option allows: a new topic takes the alias of the least recently used one', async (t) => {
    const { publisher, proxy, topics } = await setup(t, { topicAliasMaximum: 5 }, { topicAliases: 2 });
    for (const topic of ['al/x', 'al/y', 'al/x', 'al/z', 'al/x', 'al/y'])
      await publisher.publish(topic, topic, { qos: 1 });
    assert.deepEqual(aliases(proxy, 0), [
      ['al/x', 1],
      ['al/y', 2],
      ['', 1],
      // al/y was used least recently: al/z takes its alias, setting it anew at the broker
      ['al/z', 2],
      ['', 1],
      ['al/y', 2],
    ]);
    await waitUntil(() => topics.length === 6, 'the six arrived');
    assert.deepEqual(topics, ['al/x=al/x', 'al/y=al/y', 'al/x=al/x', 'al/z=al/z', 'al/x=al/x', 'al/y=al/y']);
  });

  void it('sends no alias when the broker gave Topic Alias Maximum 0 [MQTT-3.2.2-18]', async (t) => {
    const { publisher, proxy } = await setup(t, { topicAliasMaximum: 0 }, { topicAliases: true });
    await publisher.publish('al/x', '1', { qos: 1 });
    await publisher.publish('al/x', '2', { qos: 1 });
    assert.deepEqual(aliases(proxy, 0), [
      ['al/x', undefined],
      ['al/x', undefined],
    ]);
  });

  void it('starts every connection without aliases: after a reconnect the topic is sent again with its alias [MQTT-3.3.2-7]', async (t) => {
    const { publisher, proxy, topics } = await setup(t, { topicAliasMaximum: 5 }, { topicAliases: true });
    await publisher.publish('al/x', '1', { qos: 1 });
    const back = once(publisher, 'connect');
    proxy.cut();
    await back;
    await publisher.publish('al/x', '2', { qos: 1 });
    await publisher.publish('al/x', '3', { qos: 1 });
    assert.deepEqual(aliases(proxy, 1), [
      ['al/x', 1],
      ['', 1],
    ]);
    await waitUntil(() => topics.length === 3, 'the three arrived');
    assert.deepEqual(topics, ['al/x=1', 'al/x=2', 'al/x=3']);
  });
});

void describe("client checks of the broker's CONNACK (v5)", () => {
  void it('rejects a publish above the Maximum QoS of CONNACK with ERR_CLIENT_QOS_NOT_SUPPORTED, sending nothing [MQTT-3.2.2-11]', async (t) => {
    const { publisher, proxy } = await setup(t, { maximumQoS: 1 }, {});
    const err = await rejection(publisher.publish('al/q', 'x', { qos: 2 }));
    assert.equal(err.code, 'ERR_CLIENT_QOS_NOT_SUPPORTED');
    assert.equal(err.reasonCode, 0x9b);
    await publisher.publish('al/q', 'y', { qos: 1 });
    assert.deepEqual(aliases(proxy, 0), [['al/q', undefined]], 'only the QoS 1 one was sent');
    assert.equal(publisher.connected, true);
  });

  void it('rejects a retained publish after Retain Available 0 with ERR_CLIENT_RETAIN_NOT_SUPPORTED, sending nothing [MQTT-3.2.2-14]', async (t) => {
    const { publisher, proxy } = await setup(t, { retainAvailable: false }, {});
    const err = await rejection(publisher.publish('al/r', 'x', { qos: 1, retain: true }));
    assert.equal(err.code, 'ERR_CLIENT_RETAIN_NOT_SUPPORTED');
    assert.equal(err.reasonCode, 0x9a);
    await publisher.publish('al/r', 'y', { qos: 1 });
    assert.equal(aliases(proxy, 0).length, 1);
    assert.equal(publisher.connected, true);
  });
});

/** A server that answers every CONNECT with `connack` and records what it receives. */
async function fakeBroker(
  t: CleanupContext,
  version: 4 | 5,
  connack: Packet | undefined,
): Promise<{ port: number; received: Packet[] }> {
  const received: Packet[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = new Decoder({ protocolVersion: version });
    socket.on('data', (chunk: Buffer) =>
      decoder.feed(chunk, (p) => {
        received.push(p);
        if (p.type === 'connect' && connack !== undefined) socket.write(encode(connack, version));
      }),
    );
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as net.AddressInfo).port, received };
}

for (const v of [4, 5] as const) {
  void it(`closes the connection when a clean start gets Session Present 1, and connect() rejects (v${v})${v === 5 ? ' [MQTT-3.2.2-4]' : ''}`, async (t) => {
    const { port, received } = await fakeBroker(t, v, { type: 'connack', sessionPresent: true, reasonCode: 0 });
    const err = await rejection(connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: v, clean: true }));
    assert.equal(err.code, 'ERR_CLIENT_CONNECT');
    assert.equal(err.reasonCode, 0x82);
    if (v === 5) {
      await waitUntil(() => received.some((p) => p.type === 'disconnect'), 'the DISCONNECT came');
      assert.equal((received.find((p) => p.type === 'disconnect') as { reasonCode: number }).reasonCode, 0x82);
    }
  });
}

void describe('client connect() AbortSignal', () => {
  void it('rejects with ERR_CLIENT_ABORTED when the signal fires while CONNACK is awaited, and closes the attempt', async (t) => {
    const { port, received } = await fakeBroker(t, 5, undefined);
    const controller = new AbortController();
    const connecting = connect(`mqtt://127.0.0.1:${port}`, { signal: controller.signal, connectTimeoutMs: 10_000 });
    await waitUntil(() => received.length === 1, 'the CONNECT came');
    controller.abort(new Error('user gave up'));
    const err = await rejection(connecting);
    assert.equal(err.code, 'ERR_CLIENT_ABORTED');
    assert.equal((err.cause as Error).message, 'user gave up');
  });

  void it('rejects at once with ERR_CLIENT_ABORTED when the signal has already fired', async (t) => {
    const { port } = await startBroker(t);
    const err = await rejection(connect(`mqtt://127.0.0.1:${port}`, { signal: AbortSignal.abort() }));
    assert.equal(err.code, 'ERR_CLIENT_ABORTED');
  });
});
