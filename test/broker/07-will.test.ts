// 07: Will messages: published when the connection ends without a clean DISCONNECT (network
// failure, keep-alive timeout, protocol error, takeover), never after one; its QoS and retain flag.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, startBroker } from '../helpers/broker.js';

for (const v of VERSIONS) {
  /** CONNECT options of a client with a will on `will/<clientId>`. */
  const withWill = (clientId: string, will: Partial<pkt.WillOptions> = {}): pkt.ConnectOptions => ({
    version: v,
    clientId,
    will: { topic: `will/${clientId}`, payload: `${clientId} is gone`, ...will },
  });

  /** A subscriber to every will, at QoS 2. */
  async function watcher(port: number): Promise<RawClient> {
    const sub = await RawClient.connect(port, { version: v, clientId: 'watcher' });
    await sub.subscribe('will/#', 2);
    return sub;
  }

  describe(`07 will (v${v})`, () => {
    it(`${cite(v, 'MQTT-3.1.2-8', 'MQTT-3.1.2-7 MQTT-3.1.2-8')} the will is published when the network connection fails (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await watcher(port);
      const client = await RawClient.connect(port, withWill('dropped'));
      await sub.expectNothing(50);
      client.destroy();
      const will = await sub.next('publish');
      assert.equal(will.topic, 'will/dropped');
      assert.equal(will.payload.toString(), 'dropped is gone');
      assert.equal(will.qos, 0);
      await sub.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-3.1.2-8 MQTT-3.1.2-24', 'MQTT-3.1.2-8 MQTT-3.1.2-22')} the will is published when the keep-alive runs out (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await watcher(port);
      const client = await RawClient.connect(port, { ...withWill('silent'), keepAlive: 1 });
      const will = await sub.next('publish', 3000);
      assert.equal(will.topic, 'will/silent');
      if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, 0x8d);
      await client.closed();
    });

    it(`${cite(v, 'MQTT-3.1.2-8 MQTT-4.8.0-1', 'MQTT-3.1.2-8 MQTT-4.13.1-1')} the will is published when the broker closes the connection for a protocol error (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await watcher(port);
      const client = await RawClient.connect(port, withWill('faulty'));
      client.send(pkt.connect(withWill('faulty')));
      if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, 0x82);
      await client.closed();
      assert.equal((await sub.next('publish')).topic, 'will/faulty');
    });

    it(`${cite(v, 'MQTT-3.14.4-3 MQTT-3.1.2-10', 'MQTT-3.14.4-3 MQTT-3.1.2-10')} no will is published after a DISCONNECT${v === 5 ? ' with reason 0x00' : ''} (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await watcher(port);
      const client = await RawClient.connect(port, withWill('polite'));
      await client.disconnect();
      await sub.expectNothing(200);
    });

    it(`${cite(v, 'MQTT-3.1.2-17', 'MQTT-3.1.2-15')} a will with Will Retain 1 is published with its QoS and retained (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await watcher(port);
      const client = await RawClient.connect(port, withWill('keeper', { qos: 1, retain: true }));
      client.destroy();
      const will = await sub.receive();
      assert.equal(will.qos, 1, 'the will QoS, not the subscription maximum');
      const late = await RawClient.connect(port, { version: v, clientId: 'late' });
      await late.subscribe('will/keeper', 2);
      const retained = await late.receive();
      assert.equal(retained.retain, true);
      assert.equal(retained.qos, 1);
      assert.equal(retained.payload.toString(), 'keeper is gone');
    });

    it(`${cite(v, 'MQTT-3.1.2-16', 'MQTT-3.1.2-14')} a will with Will Retain 0 is published at its QoS and not retained (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await watcher(port);
      const client = await RawClient.connect(port, withWill('fleeting', { qos: 2 }));
      client.destroy();
      const will = await sub.receive();
      assert.equal(will.qos, 2);
      assert.equal(will.retain, false);
      const late = await RawClient.connect(port, { version: v, clientId: 'late' });
      await late.subscribe('will/fleeting', 2);
      await late.expectNothing(150);
    });

    it(`${cite(v, 'MQTT-3.1.4-2 MQTT-3.1.2-8', 'MQTT-3.1.4-3 MQTT-3.1.2-8')} the will of a client whose session is taken over is published (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await watcher(port);
      const first = await RawClient.connect(port, withWill('twin'));
      await RawClient.connect(port, { version: v, clientId: 'twin' });
      if (v === 5) assert.equal((await first.next('disconnect')).reasonCode, 0x8e);
      await first.closed();
      assert.equal((await sub.next('publish')).payload.toString(), 'twin is gone');
      await sub.expectNothing(100);
    });

    if (v === 5) {
      it('[MQTT-3.1.2-8] DISCONNECT with reason 0x04 (Disconnect with Will Message) publishes the will (v5)', async (t) => {
        const { port } = await startBroker(t);
        const sub = await watcher(port);
        const client = await RawClient.connect(port, withWill('asked'));
        await client.disconnect(0x04);
        assert.equal((await sub.next('publish')).topic, 'will/asked');
      });

      it('[MQTT-3.1.3-10] [MQTT-3.3.2-17] [MQTT-3.3.2-18] the will is published with its will properties, user properties in order (v5)', async (t) => {
        const { port } = await startBroker(t);
        const sub = await watcher(port);
        const userProperties: [string, string][] = [
          ['b', '2'],
          ['a', '1'],
          ['b', '3'],
        ];
        const client = await RawClient.connect(
          port,
          withWill('described', {
            properties: {
              contentType: 'text/plain',
              payloadFormatIndicator: 1,
              responseTopic: 'reply/here',
              userProperties,
            },
          }),
        );
        client.destroy();
        const will = await sub.next('publish');
        assert.equal(will.properties.contentType, 'text/plain');
        assert.equal(will.properties.payloadFormatIndicator, 1);
        assert.equal(will.properties.responseTopic, 'reply/here');
        assert.deepEqual(will.properties.userProperties, userProperties);
        assert.equal(will.properties.willDelayInterval, undefined, 'Will Delay is not a PUBLISH property');
      });
    }
  });
}
