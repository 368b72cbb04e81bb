// The client library against the real Fennec broker on port 0: connect, subscribe, publish and
// receive through the async iterator at every QoS, for 3.1.1 and 5.0; refusals with their reason
// codes; end(). Every client is ended and every broker closed when its test ends.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from '../../src/client/index.js';
import { connect, MqttClientError, type ClientMessage, type ClientOptions } from '../../src/client/index.js';
import { VERSIONS, startBroker, type CleanupContext } from '../helpers/broker.js';

/** A connected client, ended after the test. */
async function client(t: CleanupContext, port: number, options: ClientOptions = {}): Promise<MqttClient> {
  const c = await connect(`mqtt://127.0.0.1:${port}`, { reconnect: false, ...options });
  t.after(() => c.end());
  return c;
}

/** The next message of `iterator`, failing after `ms`. */
async function nextMessage(iterator: AsyncIterator<ClientMessage>, ms = 2_000): Promise<ClientMessage> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no message within ${ms} ms`)), ms);
  });
  try {
    const result = await Promise.race([iterator.next(), timeout]);
    assert.equal(result.done, false, 'the iterator ended');
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`'s rejection, which must be an MqttClientError. */
async function rejection(promise: Promise<unknown>): Promise<MqttClientError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof MqttClientError, `an MqttClientError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

for (const v of VERSIONS) {
  void describe(`client round trip (v${v})`, () => {
    for (const qos of [0, 1, 2] as const) {
      void it(`subscribes at QoS ${qos}, publishes at QoS ${qos}, and reads the message from the async iterator (v${v})`, async (t) => {
        const { port } = await startBroker(t);
        const subscriber = await client(t, port, { protocolVersion: v });
        const publisher = await client(t, port, { protocolVersion: v });
        assert.deepEqual(await subscriber.subscribe({ topicFilter: 'sensors/#', qos }), [qos]);
        const messages = subscriber.messages('sensors/+/temp');
        await publisher.publish('sensors/a/temp', '21.5', { qos });
        const message = await nextMessage(messages);
        assert.equal(message.topic, 'sensors/a/temp');
        assert.equal(message.payload.toString(), '21.5');
        assert.equal(message.qos, qos);
      });
    }

    void it(`delivers a QoS 2 message to the application exactly once, and completes PUBREC/PUBREL/PUBCOMP (v${v}) [MQTT-4.3.3-1]`, async (t) => {
      const { port } = await startBroker(t);
      const subscriber = await client(t, port, { protocolVersion: v });
      const publisher = await client(t, port, { protocolVersion: v });
      await subscriber.subscribe({ topicFilter: 'once', qos: 2 });
      const seen: string[] = [];
      subscriber.on('message', (m) => seen.push(m.payload.toString()));
      const messages = subscriber.messages('once');
      await publisher.publish('once', 'a', { qos: 2 });
      await publisher.publish('once', 'b', { qos: 2 });
      assert.equal((await nextMessage(messages)).payload.toString(), 'a');
      assert.equal((await nextMessage(messages)).payload.toString(), 'b');
      assert.deepEqual(seen, ['a', 'b']);
    });

    void it(`reports a SUBACK failure code for a refused filter, and grants the others (v${v})`, async (t) => {
      const { port } = await startBroker(t, {
        hooks: { authorizeSubscribe: (_client, filter) => !filter.startsWith('secret/') },
      });
      const c = await client(t, port, { protocolVersion: v });
      const codes = await c.subscribe([{ topicFilter: 'open/#', qos: 1 }, 'secret/#']);
      assert.deepEqual(codes, [1, v === 5 ? 0x87 : 0x80]);
    });

    void it(`unsubscribes: UNSUBACK's reason codes (none in 3.1.1), and no more messages for the filter (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const c = await client(t, port, { protocolVersion: v });
      await c.subscribe(['gone', 'kept']);
      assert.deepEqual(await c.unsubscribe('gone'), v === 5 ? [0] : []);
      const messages = c.messages();
      await c.publish('gone', 'x', { qos: 1 });
      await c.publish('kept', 'y', { qos: 1 });
      assert.equal((await nextMessage(messages)).topic, 'kept');
    });

    void it(`refuses the connection with the CONNACK's reason code (v${v})`, async (t) => {
      const { port } = await startBroker(t, { allowAnonymous: false });
      const err = await rejection(connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: v, reconnect: false }));
      assert.equal(err.code, 'ERR_CLIENT_REFUSED');
      assert.equal(err.reasonCode, v === 5 ? 0x87 : 5);
    });

    void it(`end() sends DISCONNECT, so the broker publishes no will, and ends the iterators (v${v}) [MQTT-3.14.4-3]`, async (t) => {
      const { port } = await startBroker(t);
      const watcher = await client(t, port, { protocolVersion: v });
      await watcher.subscribe('wills/#');
      const c = await connect(`mqtt://127.0.0.1:${port}`, {
        protocolVersion: v,
        reconnect: false,
        will: { topic: 'wills/c', payload: 'gone' },
      });
      const messages = c.messages();
      await c.end();
      assert.deepEqual(await messages.next(), { value: undefined, done: true });
      const watched = watcher.messages('wills/#');
      const late = await Promise.race([watched.next(), new Promise((r) => setTimeout(() => r('none'), 200))]);
      assert.equal(late, 'none', 'no will after DISCONNECT');
      assert.equal((await rejection(c.publish('t', 'x', { qos: 1 }))).code, 'ERR_CLIENT_CLOSED');
    });
  });
}

void describe('client publish refusals (v5)', () => {
  void it('a QoS 1 publish the broker refuses rejects with PUBACK 0x87 and its reason code [MQTT-3.4.2-1]', async (t) => {
    const { port } = await startBroker(t, { hooks: { authorizePublish: (_client, topic) => topic !== 'forbidden' } });
    const c = await client(t, port);
    const err = await rejection(c.publish('forbidden', 'x', { qos: 1 }));
    assert.equal(err.code, 'ERR_CLIENT_PUBLISH_REFUSED');
    assert.equal(err.reasonCode, 0x87);
    await c.publish('allowed', 'x', { qos: 1 });
  });

  void it('a QoS 2 publish the broker refuses rejects with PUBREC 0x87, and the flow ends there [MQTT-4.3.3-4]', async (t) => {
    const { port } = await startBroker(t, { hooks: { authorizePublish: () => false } });
    const c = await client(t, port);
    const err = await rejection(c.publish('any', 'x', { qos: 2 }));
    assert.equal(err.reasonCode, 0x87);
  });

  void it("refuses a publish larger than the broker's Maximum Packet Size before sending it [MQTT-3.1.2-24]", async (t) => {
    const { port } = await startBroker(t, { maximumPacketSize: 100 });
    const c = await client(t, port);
    const err = await rejection(c.publish('big', Buffer.alloc(200), { qos: 1 }));
    assert.equal(err.code, 'ERR_CLIENT_TOO_LARGE');
    assert.equal(err.reasonCode, 0x95);
    assert.equal(c.connected, true, 'the link stays up');
  });

  void it('a publish to a topic with wildcards rejects with the topic error, and a publish after end() with ERR_CLIENT_CLOSED', async (t) => {
    const { port } = await startBroker(t);
    const c = await client(t, port);
    await assert.rejects(c.publish('a/+', 'x'), { code: 'ERR_INVALID_TOPIC_NAME' });
    await c.end();
    assert.equal((await rejection(c.publish('t', 'x'))).code, 'ERR_CLIENT_CLOSED');
  });
});
