// 14: slow readers: a subscriber that never reads does not make the broker buffer without bound
// (QoS 0 is dropped past maxOutgoingBufferBytes, QoS 1/2 waits in a bounded queue), and the other
// subscribers keep receiving promptly.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, startBroker } from '../helpers/broker.js';

const KiB = 1024;

for (const v of VERSIONS) {
  describe(`14 backpressure (v${v})`, () => {
    it(`a subscriber that never reads holds at most maxOutgoingBufferBytes (+ one packet) in the broker while 20 MB of QoS 0 flows, and a normal subscriber still gets its messages promptly (v${v})`, async (t) => {
      const limit = 256 * KiB;
      const payloadSize = 10 * KiB;
      const count = 2000;
      // The publisher pings after each batch as a barrier, far more often than max_control_packet_rate allows.
      const { broker, port } = await startBroker(t, { maxOutgoingBufferBytes: limit, maxControlPacketRate: 0 });
      const slow = await RawClient.connect(port, { version: v, clientId: 'slow' });
      await slow.subscribe('flood/#', 0);
      slow.stopReading();
      const fast = await RawClient.connect(port, { version: v, clientId: 'fast' });
      await fast.subscribe('flood/#', 1);
      let fastReceived = 0;
      let sentinelAt = 0;
      const fastDone = (async () => {
        for (;;) {
          const message = await fast.receive(10_000);
          if (message.topic === 'flood/end') {
            sentinelAt = Date.now();
            return;
          }
          fastReceived++;
        }
      })();

      const slowConnection = broker.clients.get('slow');
      assert.ok(slowConnection !== undefined);
      let maxBuffered = 0;
      const sample = (): void => {
        maxBuffered = Math.max(maxBuffered, slowConnection.stream.writableLength);
      };
      broker.on('published', sample);
      t.after(() => broker.off('published', sample));

      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const payload = Buffer.alloc(payloadSize, 0x61);
      // 10 x 10 KiB per batch stays under the 256 KiB limit, so the normal subscriber (read by this
      // same process between batches) is never counted a slow reader even on a loaded machine.
      const batch = 10;
      for (let sent = 0; sent < count; sent += batch) {
        const chunk: Buffer[] = [];
        for (let i = 0; i < batch; i++) chunk.push(pkt.publish(v, { topic: 'flood/data', payload }));
        pub.send(Buffer.concat(chunk));
        // Let the socket drain between batches, as a real publisher's writes would.
        await pub.ping(10_000);
      }
      const sentAt = Date.now();
      await pub.publish({ topic: 'flood/end', payload: 'end', qos: 1 });
      await fastDone;

      const session = broker.sessions.get('slow');
      assert.ok(session !== undefined);
      const packetSize = payloadSize + 64;
      assert.ok(maxBuffered <= limit + packetSize, `the slow reader's socket held ${maxBuffered} bytes`);
      assert.ok(session.dropped['slow-reader'] > 0, 'QoS 0 messages to the slow reader were dropped');
      assert.ok(fastReceived >= count * 0.9, `the normal subscriber got ${fastReceived} of ${count}`);
      assert.ok(
        sentinelAt - sentAt < 2000,
        `the normal subscriber got the last message ${sentinelAt - sentAt} ms late`,
      );
    });

    it(`without a spool, QoS 1 messages for a subscriber that never reads wait in a queue bounded by maxQueuedMessages; the rest are dropped and counted (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, {
        maxOutgoingBufferBytes: 64 * KiB,
        maxInflightMessages: 20,
        maxQueuedMessages: 50,
        maxSpoolBytes: 0, // no spool: the memory queue alone (test/broker/36-spool.test.ts spools)
      });
      const slow = await RawClient.connect(port, { version: v, clientId: 'slow' });
      await slow.subscribe('flood/#', 1);
      slow.stopReading();
      const fast = await RawClient.connect(port, { version: v, clientId: 'fast' });
      await fast.subscribe('flood/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const payload = Buffer.alloc(4 * KiB, 0x62);
      const count = 500;
      let fastReceived = 0;
      const fastDone = (async () => {
        while (fastReceived < count) {
          const message = await fast.receive(5000);
          assert.equal(message.payload.length, payload.length);
          fastReceived++;
        }
      })();
      for (let i = 0; i < count; i++) await pub.publish({ topic: 'flood/q1', payload, qos: 1 });
      await fastDone;
      const session = broker.sessions.get('slow');
      assert.ok(session !== undefined);
      assert.ok(session.inflightCount <= 20, `${session.inflightCount} in flight`);
      assert.equal(session.queuedCount, 50);
      assert.equal(session.dropped['queue-full'], count - session.inflightCount - session.queuedCount);
      const connection = broker.clients.get('slow');
      assert.ok(connection !== undefined);
      assert.ok(connection.stream.writableLength <= 64 * KiB + 20 * (4 * KiB + 64));
    });
  });
}
