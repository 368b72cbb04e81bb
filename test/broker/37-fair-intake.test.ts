// 37: fair intake. 64 publishers that keep their sockets full of QoS 1 PUBLISHes must not starve a
// well-behaved publisher/subscriber pair: each connection handles a bounded number of packets per
// turn of the event loop (src/broker/intake.ts), so the pair's round trips stay short while the flood
// goes on. The bound is generous (seconds, for a loaded machine): without the budget the pair waits
// behind whole socket chunks of every flooder, turn after turn.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { sleep, startBroker } from '../helpers/broker.js';

const FLOODERS = 64;
const SAMPLES = 30;
const BOUND_MS = 1500;

/** A publisher that writes QoS 1 PUBLISHes as fast as its socket takes them, and ignores its PUBACKs. */
async function flooder(port: number, i: number): Promise<{ stop: () => void; socket: Socket }> {
  const socket = netConnect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  socket.write(pkt.connect({ version: 4, clientId: `flood-${i}` }));
  const payload = Buffer.alloc(64, 0x66);
  const burst = Buffer.concat(
    Array.from({ length: 1000 }, (_, n) =>
      pkt.publish(4, { topic: `flood/${i}`, payload, qos: 1, packetId: (n % 65_535) + 1 }),
    ),
  );
  let running = true;
  const pump = (): void => {
    while (running && socket.write(burst));
  };
  socket.on('drain', pump);
  pump();
  return {
    socket,
    stop: () => {
      running = false;
      socket.destroy();
    },
  };
}

describe('37 fair intake', () => {
  it('with 64 publishers flooding QoS 1, a well-behaved publisher/subscriber pair keeps its latency bounded', async (t) => {
    const { broker, port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 4, clientId: 'good-sub' });
    await sub.subscribe('good/t', 1);
    const pub = await RawClient.connect(port, { version: 4, clientId: 'good-pub' });
    const flooders = await Promise.all(Array.from({ length: FLOODERS }, (_, i) => flooder(port, i)));
    t.after(() => flooders.forEach((f) => f.stop()));
    // The flood is on once the broker has taken a good share of it.
    const deadline = Date.now() + 10_000;
    while (broker.counters.traffic.publishReceived[1] < FLOODERS * 1000) {
      assert.ok(Date.now() < deadline, 'the flood did not start');
      await sleep(20);
    }
    const latencies: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const started = performance.now();
      pub.send(pkt.publish(4, { topic: 'good/t', payload: `m${i}`, qos: 1, packetId: i + 1 }));
      const message = await sub.receive(30_000);
      latencies.push(performance.now() - started);
      assert.equal(message.payload.toString(), `m${i}`);
      sub.send(pkt.puback(4, message.packetId));
      assert.equal((await pub.next('puback', 30_000)).packetId, i + 1);
    }
    const floodHandled = broker.counters.traffic.publishReceived[1];
    for (const f of flooders) f.stop();
    latencies.sort((a, b) => a - b);
    const worst = latencies[latencies.length - 1]!;
    t.diagnostic(
      `round trips under flood: median ${latencies[SAMPLES >> 1]!.toFixed(0)} ms, worst ${worst.toFixed(0)} ms; flood PUBLISHes handled ${floodHandled}`,
    );
    assert.ok(worst < BOUND_MS, `a message took ${worst.toFixed(0)} ms to go through under the flood`);
    // Without fair intake the typical round trip itself was over a second (1.2 to 2.9 s measured).
    const median = latencies[SAMPLES >> 1]!;
    assert.ok(median < BOUND_MS / 3, `half the messages took ${median.toFixed(0)} ms or more under the flood`);
  });
});
