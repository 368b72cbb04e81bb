// 37: fair intake and the close. A publisher that writes its PUBLISHes and a DISCONNECT in one write
// and closes its socket at once has most of them held back for later turns of the event loop
// (src/broker/intake.ts: at most 64 per turn); the socket's close then arrives before those turns.
// Every packet the broker received before the close is still handled, in order, before the close is:
// the client sent them (a DISCONNECT comes last and the close after it), the transport delivered them
// in order, and the broker forwards each publisher's messages in the order it received them. The will
// follows the same order: discarded by a DISCONNECT queued behind the held PUBLISHes, published after
// them when the connection closes without one. The closing connection's backlog keeps its share per
// turn: it goes on over the next turns rather than all at once.
import { describe, it } from 'node:test';
import assert, { AssertionError } from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { describePacket } from '../helpers/parse.js';
import { VERSIONS, cite, startBroker } from '../helpers/broker.js';
import type { Broker } from '../../src/broker/broker.js';
import { READ_BUDGET } from '../../src/broker/intake.js';

/** PUBLISH packets in the one write: many turns' worth of the intake's share. */
const COUNT = 1000;
/** How long one message may take to arrive before the test reports how many did (ms; a loaded machine). */
const WAIT_MS = 10_000;

/** How the publisher's socket ends after its one write. */
type Ending = 'end' | 'destroy';

for (const v of VERSIONS) {
  /**
   * `count` PUBLISH packets to `topic` at `qos`, payloads m0, m1... (padded with dots to `width`
   * bytes), then `tail` (a DISCONNECT or nothing).
   */
  function burst(topic: string, qos: pkt.QoS, tail: Buffer[], count = COUNT, width = 0): Buffer {
    const packets: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const payload = `m${i}`.padEnd(width, '.');
      packets.push(pkt.publish(v, { topic, payload, qos, ...(qos > 0 ? { packetId: i + 1 } : {}) }));
    }
    return Buffer.concat([...packets, ...tail]);
  }

  /**
   * Writes `bytes` in one write, then half-closes the socket (`end`: FIN, still reading) or destroys
   * it once the bytes are with the kernel (`destroy`: before the broker has read them, let alone answered).
   */
  function writeAndClose(client: RawClient, bytes: Buffer, ending: Ending): void {
    if (ending === 'end') client.socket.end(bytes);
    else client.socket.write(bytes, () => client.socket.destroy());
  }

  /** Resolves once the broker has closed the connection of `clientId` (will handled, session detached). */
  function closedOnBroker(broker: Broker, clientId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        broker.off('clientDisconnected', listener);
        reject(new AssertionError({ message: `the broker did not close ${clientId} within ${WAIT_MS} ms` }));
      }, WAIT_MS);
      const listener = (client: { clientId: string }): void => {
        if (client.clientId !== clientId) return;
        clearTimeout(timer);
        broker.off('clientDisconnected', listener);
        resolve();
      };
      broker.on('clientDisconnected', listener);
    });
  }

  /** Receives `count` messages on `topic` (acknowledging them), failing with how many arrived in order. */
  async function receiveAll(sub: RawClient, topic: string, count = COUNT, width = 0): Promise<void> {
    for (let i = 0; i < count; i++) {
      let message;
      try {
        message = await sub.receive(WAIT_MS);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new AssertionError({ message: `${i} of ${count} messages arrived, then: ${why}` });
      }
      assert.equal(message.topic, topic, `message ${i}`);
      const expected = `m${i}`.padEnd(width, '.');
      assert.equal(message.payload.toString(), expected, `message ${i} of ${count}: out of order or lost`);
    }
  }

  /** After the publisher's connection is closed on the broker, the subscriber has been sent everything. */
  async function nothingMore(sub: RawClient, closed: Promise<void>): Promise<void> {
    await closed;
    // PINGRESP follows whatever the broker wrote to the subscriber before it.
    await sub.ping();
    const extra = sub.unread.filter((p) => p.type === 'publish');
    assert.equal(extra.length, 0, `unexpected PUBLISH after the burst: ${extra.map(describePacket).join(', ')}`);
  }

  const order = cite(v, 'MQTT-4.6.0-6 MQTT-3.14.4-1 MQTT-7.1.1-1', 'MQTT-4.6.0-5 MQTT-3.14.4-2 MQTT-4.2.0-1');

  describe(`37 fair intake: the publisher closes right after sending (v${v})`, () => {
    for (const ending of ['end', 'destroy'] as const) {
      it(`${order} QoS 0 PUBLISHes sent with a DISCONNECT in one write, the socket ${ending === 'end' ? 'half-closed' : 'destroyed'} at once, all reach the subscriber in order (v${v})`, async (t) => {
        const { broker, port } = await startBroker(t);
        const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
        await sub.subscribe('close/q0', 0);
        const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
        const closed = closedOnBroker(broker, 'pub');
        writeAndClose(pub, burst('close/q0', 0, [pkt.disconnect(v)]), ending);
        await receiveAll(sub, 'close/q0');
        await nothingMore(sub, closed);
      });
    }

    for (const qos of [1, 2] as const) {
      it(`${order} QoS ${qos} PUBLISHes the broker read before the socket was destroyed all reach a QoS 1 subscriber once, in order (v${v})`, async (t) => {
        const { broker, port } = await startBroker(t);
        const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
        // QoS 1 to the subscriber: its acknowledgements keep up with a burst (a QoS 2 exchange takes turns).
        await sub.subscribe('close/q', 1);
        const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
        const closed = closedOnBroker(broker, 'pub');
        writeAndClose(pub, burst('close/q', qos, [pkt.disconnect(v)]), 'destroy');
        await receiveAll(sub, 'close/q');
        await nothingMore(sub, closed);
      });
    }

    it(`${order} PUBLISHes held behind an asynchronous authorization hook when the socket is destroyed all reach the subscriber in order (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, {
        hooks: { authorizePublish: () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 5)) },
      });
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('close/hook', 0);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const closed = closedOnBroker(broker, 'pub');
      writeAndClose(pub, burst('close/hook', 0, [pkt.disconnect(v)], 20), 'destroy');
      await receiveAll(sub, 'close/hook', 20);
      await nothingMore(sub, closed);
    });

    it(`${order} PUBLISHes held by maxPublishRate when the socket is destroyed all reach the subscriber in order, at the rate (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxPublishRate: 100 });
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('close/rate', 0);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      const closed = closedOnBroker(broker, 'pub');
      writeAndClose(pub, burst('close/rate', 0, [pkt.disconnect(v)], 150), 'destroy');
      await receiveAll(sub, 'close/rate', 150);
      await nothingMore(sub, closed);
      assert.ok(broker.counters.limits.maxPublishRate >= 1, 'the rate limit never held the publisher');
    });

    it(`${order} PUBLISHes the broker's socket had read ahead, unhandled while paused, when a reset destroyed it are all delivered in order (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      // A listener of the test's own hands its sockets to broker.handle, so that the test can reset
      // the broker's side: destroy it with an error, as a TCP reset does.
      let brokerSide: Socket | undefined;
      const server = createServer((socket) => {
        brokerSide = socket;
        broker.handle(socket, { remoteAddress: socket.remoteAddress, localAddress: socket.localAddress });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      t.after(() => server.close());
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('close/reset', 1);
      const pub = await RawClient.connect((server.address() as AddressInfo).port, { version: v, clientId: 'pub' });
      const closed = closedOnBroker(broker, 'pub');
      // 200 KB: more than the broker reads at once, and more than its socket reads ahead while paused.
      pub.send(burst('close/reset', 1, [], COUNT, 200));
      const deadline = Date.now() + WAIT_MS;
      while (!(brokerSide!.isPaused() && brokerSide!.readableLength > 0)) {
        assert.ok(Date.now() < deadline, 'the broker never held bytes read ahead');
        await new Promise((resolve) => setImmediate(resolve));
      }
      const decodedBefore = broker.counters.traffic.publishReceived[1];
      brokerSide!.destroy(new Error('reset by the test'));
      await closed;
      const decoded = broker.counters.traffic.publishReceived[1];
      assert.ok(decoded > decodedBefore, `the ${brokerSide!.readableLength} bytes read ahead were not decoded`);
      await receiveAll(sub, 'close/reset', decoded, 200);
      await nothingMore(sub, closed);
    });

    it(`${cite(v, 'MQTT-3.14.4-3 MQTT-3.1.2-10', 'MQTT-3.14.4-3 MQTT-3.1.2-10')} a DISCONNECT behind held PUBLISHes discards the will only after them, and the will is not published (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe(['close/will-q0', 'will/#'], 0);
      const pub = await RawClient.connect(port, {
        version: v,
        clientId: 'pub',
        will: { topic: 'will/pub', payload: 'pub is gone' },
      });
      const closed = closedOnBroker(broker, 'pub');
      writeAndClose(pub, burst('close/will-q0', 0, [pkt.disconnect(v)]), 'destroy');
      await receiveAll(sub, 'close/will-q0');
      await nothingMore(sub, closed);
    });

    it(`${cite(v, 'MQTT-3.1.2-8', 'MQTT-3.1.2-8')} a connection closed without DISCONNECT behind held PUBLISHes publishes its will after them (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe(['close/lost-q0', 'will/#'], 0);
      const pub = await RawClient.connect(port, {
        version: v,
        clientId: 'pub',
        will: { topic: 'will/pub', payload: 'pub is gone' },
      });
      const closed = closedOnBroker(broker, 'pub');
      writeAndClose(pub, burst('close/lost-q0', 0, []), 'destroy');
      await receiveAll(sub, 'close/lost-q0');
      const will = await sub.next('publish', WAIT_MS);
      assert.equal(will.topic, 'will/pub');
      assert.equal(will.payload.toString(), 'pub is gone');
      await nothingMore(sub, closed);
    });

    it(`${cite(v, 'MQTT-3.1.0-2', 'MQTT-3.1.0-2 MQTT-4.13.1-1')} a second CONNECT held behind PUBLISHes closes that connection after them, and the broker goes on (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('close/broken', 0);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      // Handled turns after it was read: an error there once was a promise rejection nobody handled.
      pub.send(burst('close/broken', 0, [pkt.connect({ version: v, clientId: 'pub' })]));
      await receiveAll(sub, 'close/broken');
      if (v === 5) assert.equal((await pub.next('disconnect', WAIT_MS)).reasonCode, 0x82);
      await pub.closed(WAIT_MS);
      const other = await RawClient.connect(port, { version: v, clientId: 'other' });
      await other.ping();
    });

    it(`the backlog of a closed connection is handled over several turns, at most its share per turn (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('close/fair', 0);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      // The broker runs in this process: count the messages it routes between two check phases.
      let routed = 0;
      broker.on('published', (message) => {
        if (message.topic === 'close/fair') routed++;
      });
      const perTurn: number[] = [];
      let seen = 0;
      let sampling = true;
      const sample = (): void => {
        if (routed > seen) perTurn.push(routed - seen);
        seen = routed;
        if (sampling) setImmediate(sample);
      };
      setImmediate(sample);
      t.after(() => {
        sampling = false;
      });
      const closed = closedOnBroker(broker, 'pub');
      writeAndClose(pub, burst('close/fair', 0, [pkt.disconnect(v)]), 'destroy');
      await receiveAll(sub, 'close/fair');
      await closed;
      sampling = false;
      // The last turn's messages, when no sample has run since.
      if (routed > seen) perTurn.push(routed - seen);
      t.diagnostic(`messages routed per turn: ${perTurn.join(' ')}`);
      // One sample per turn of the event loop; a sample can fall between the intake's turns, so a
      // turn seen here may hold two of its shares, never the whole backlog.
      const most = Math.max(...perTurn);
      assert.ok(most <= 2 * READ_BUDGET, `${most} messages of the closed connection routed in one turn`);
      assert.ok(perTurn.length >= COUNT / (2 * READ_BUDGET), `the backlog went in ${perTurn.length} turns`);
    });
  });
}
