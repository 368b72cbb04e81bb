/**
 * Connection benchmark: PUBLISH packets per second through the broker's real `Connection`s (decoder,
 * handlers, router, sessions, corked writes) with no sockets: one publisher whose stream is fed
 * chunks of encoded QoS 0 and QoS 1 PUBLISH packets, and 10 subscribers whose streams discard what they
 * are sent. It measures what the per-packet work of a connection costs, such as the traffic counters
 * of `broker.counters` (messages and bytes in and out by QoS) that $SYS and /metrics read.
 *
 * Figures only, never assertions. Run with `npx tsc -p . && node dist/bench/connection.js` (about 10 s).
 */
import { Duplex } from 'node:stream';
import { Broker } from '../src/broker/broker.js';
import { encode, type Packet } from '../src/protocol/index.js';

const SUBSCRIBERS = 10;
const PACKETS_PER_CHUNK = 100;
const ROUNDS = 5;
const TIME_PER_ROUND_MS = 1000;

/** A stream the broker reads from (`feed`) and writes to (discarded, `written` counts bytes). */
class MemoryStream extends Duplex {
  written = 0;
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written += chunk.length;
    callback();
  }
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    for (const { chunk } of chunks) this.written += chunk.length;
    callback();
  }
  feed(buf: Buffer): void {
    this.push(buf);
  }
}

function connect(clientId: string): Packet {
  return { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clientId, clean: true, keepAlive: 0 };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function main(): Promise<void> {
  const broker = new Broker({ allowAnonymous: true });
  const subscribers: MemoryStream[] = [];
  const loopback = { remoteAddress: '127.0.0.1', localAddress: '127.0.0.1' };
  for (let i = 0; i < SUBSCRIBERS; i++) {
    const stream = new MemoryStream();
    broker.handle(stream, loopback);
    stream.feed(encode(connect(`sub-${i}`), 4));
    const subscription = { topicFilter: 'bench/#', qos: 0, noLocal: false, retainAsPublished: false } as const;
    stream.feed(encode({ type: 'subscribe', packetId: 1, subscriptions: [{ ...subscription, retainHandling: 0 }] }, 4));
    subscribers.push(stream);
  }
  const publisher = new MemoryStream();
  broker.handle(publisher, loopback);
  publisher.feed(encode(connect('publisher'), 4));
  await tick();
  const publish = (qos: 0 | 1, packetId: number): Buffer =>
    encode(
      {
        type: 'publish',
        topic: 'bench/kitchen/temperature',
        payload: Buffer.alloc(64, 1),
        qos,
        retain: false,
        dup: false,
        packetId: qos === 0 ? 0 : packetId,
      },
      4,
    );
  const chunks = [0, 1].map((qos) =>
    Buffer.concat(Array.from({ length: PACKETS_PER_CHUNK }, (_, i) => publish(qos as 0 | 1, i + 1))),
  );
  console.log(
    'round  PUBLISH in per second (half QoS 0, half QoS 1; 10 QoS 0 subscribers each)  bytes out per second  CPU ns per PUBLISH',
  );
  for (let round = 0; round < ROUNDS; round++) {
    let packets = 0;
    const writtenBefore = subscribers.reduce((sum, s) => sum + s.written, 0);
    const cpuBefore = process.cpuUsage();
    const start = process.hrtime.bigint();
    const end = start + BigInt(TIME_PER_ROUND_MS) * 1_000_000n;
    let now = start;
    while (now < end) {
      for (const chunk of chunks) publisher.feed(chunk);
      packets += 2 * PACKETS_PER_CHUNK;
      // Let the connections read and write what was fed, as the event loop would.
      await tick();
      now = process.hrtime.bigint();
    }
    const seconds = Number(now - start) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    // CPU time per PUBLISH in, its 10 deliveries included: steadier than the rate on a shared machine.
    const cpuNs = ((cpu.user + cpu.system) * 1000) / packets;
    const bytesOut = (subscribers.reduce((sum, s) => sum + s.written, 0) - writtenBefore) / seconds;
    console.log(
      `${String(round + 1).padStart(5)}  ${Math.round(packets / seconds)
        .toLocaleString('en')
        .padStart(10)}  ${Math.round(bytesOut).toLocaleString('en').padStart(15)}  ${cpuNs.toFixed(0).padStart(6)}`,
    );
  }
  await broker.close();
}

await main();
