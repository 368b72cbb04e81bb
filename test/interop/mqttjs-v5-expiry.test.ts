// MQTT.js with MQTT 5.0 against Fennec: a session with a Session Expiry Interval is resumed before it
// runs out and gone after, and a message carries its remaining Message Expiry Interval.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import { startBroker, sleep, waitUntil } from '../helpers/broker.js';

/** An MQTT.js client (5.0, no reconnection), its CONNACK, and every PUBLISH it received from the start. */
interface Connected {
  client: MqttClient;
  connack: IConnackPacket;
  received: IPublishPacket[];
}

/** Connects MQTT.js and resolves once CONNACK arrives; fails after 2 s. */
function connect(port: number, options: IClientOptions): Promise<Connected> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, ...options });
  const received: IPublishPacket[] = [];
  client.on('message', (_topic, _payload, packet) => received.push(packet));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no CONNACK within 2 s')), 2000);
    client.once('connect', (connack) => {
      clearTimeout(timer);
      resolve({ client, connack, received });
    });
    client.once('error', reject);
  });
}

describe('MQTT.js 5.0: session and message expiry', () => {
  it('[MQTT-3.1.2-23] [MQTT-4.1.0-2] MQTT.js resumes a session with a 1 s expiry within the second, and finds it gone after (MQTT 5.0)', async (t) => {
    const { broker, port } = await startBroker(t);
    const clients: MqttClient[] = [];
    t.after(() => {
      for (const c of clients) c.end(true);
    });
    const options: IClientOptions = { clientId: 'mqttjs-exp', clean: false, properties: { sessionExpiryInterval: 1 } };
    const first = await connect(port, options);
    clients.push(first.client);
    await first.client.subscribeAsync('mqttjs/#', { qos: 1 });
    await first.client.endAsync();
    const pub = await connect(port, { clientId: 'mqttjs-pub' });
    clients.push(pub.client);
    await pub.client.publishAsync('mqttjs/x', 'while away', { qos: 1, properties: { messageExpiryInterval: 30 } });

    const second = await connect(port, options);
    clients.push(second.client);
    assert.equal(second.connack.sessionPresent, true);
    await waitUntil(() => second.received.length > 0, 'MQTT.js has received the queued message');
    const message = second.received[0]!;
    assert.equal(message.payload.toString(), 'while away');
    const left = message.properties?.messageExpiryInterval;
    assert.ok(left !== undefined && left <= 30 && left >= 29, `remaining expiry ${String(left)}`);
    await second.client.endAsync();

    await waitUntil(() => !broker.sessions.has('mqttjs-exp'), 'the session has expired', 2500);
    await sleep(50);
    const third = await connect(port, options);
    clients.push(third.client);
    assert.equal(third.connack.sessionPresent, false);
  });
});
