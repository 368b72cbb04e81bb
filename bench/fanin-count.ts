/**
 * Fan-in load of a fixed size: P publishers each send N PUBLISH packets (64 B payload by default) on
 * `fc/<i>` to one subscriber of `fc/+`, over raw sockets, then it stops. A fixed number of messages
 * (where mqload runs for a fixed time) is what instruction counts per message need: run the broker
 * under `valgrind --tool=callgrind` twice, with two counts, and divide the difference of its
 * instructions by the difference of the messages (bench/fanin-instructions.sh does that).
 *
 * Publishers write as fast as the broker reads (QoS 0: TCP back-pressure only, in 64 KiB writes;
 * QoS 1: at most `--window` PUBLISHes without their PUBACK), as mqload does; the subscriber
 * acknowledges QoS 1 deliveries in one write per read. Prints one line `FANIN ...` with the counts,
 * the elapsed time and, with `--broker-pid`, the broker's CPU time per message from /proc (a
 * secondary figure: it moves with the load of a shared machine; instruction counts do not much).
 *
 *   node dist/bench/fanin-count.js --port P [--qos 0|1] [--pubs 8] [--count N] [--payload 64]
 *     [--window 64] [--version 4|5] [--broker-pid PID]
 */
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    qos: { type: 'string', default: '0' },
    pubs: { type: 'string', default: '8' },
    count: { type: 'string', default: '20000' },
    payload: { type: 'string', default: '64' },
    window: { type: 'string', default: '64' },
    version: { type: 'string', default: '4' },
    'broker-pid': { type: 'string' },
    'idle-ms': { type: 'string', default: '3000' },
  },
});
const PORT = Number(args.port);
const QOS = Number(args.qos);
const PUBS = Number(args.pubs);
const COUNT = Number(args.count);
const PAYLOAD = Buffer.alloc(Number(args.payload), 0x61);
const WINDOW = Number(args.window);
const V5 = args.version === '5';
const IDLE_MS = Number(args['idle-ms']);

/** A Variable Byte Integer. */
function vbi(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

function packet(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...vbi(body.length)]), body]);
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
}

function connectPacket(clientId: string): Buffer {
  const head = Buffer.concat([str('MQTT'), Buffer.from([V5 ? 5 : 4, 0x02, 0x01, 0x2c])]);
  return packet(0x10, Buffer.concat([head, V5 ? Buffer.from([0]) : Buffer.alloc(0), str(clientId)]));
}

function publishPacket(topic: string, packetId: number): Buffer {
  const id = QOS > 0 ? Buffer.from([packetId >> 8, packetId & 0xff]) : Buffer.alloc(0);
  const props = V5 ? Buffer.from([0]) : Buffer.alloc(0);
  return packet(0x30 | (QOS << 1), Buffer.concat([str(topic), id, props, PAYLOAD]));
}

/** Calls `onPacket(first, buf, bodyStart, end)` for each whole packet of the stream. */
function framer(onPacket: (first: number, buf: Buffer, body: number, end: number) => void): (chunk: Buffer) => void {
  let held = Buffer.alloc(0);
  return (chunk) => {
    const buf = held.length > 0 ? Buffer.concat([held, chunk]) : chunk;
    let offset = 0;
    for (;;) {
      let remaining = 0;
      let multiplier = 1;
      let i = offset + 1;
      let complete = false;
      while (i < buf.length && i <= offset + 4) {
        const byte = buf[i++]!;
        remaining += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || i + remaining > buf.length) break;
      onPacket(buf[offset]!, buf, i, i + remaining);
      offset = i + remaining;
    }
    held = offset < buf.length ? Buffer.from(buf.subarray(offset)) : Buffer.alloc(0);
  };
}

function open(clientId: string): Promise<{ socket: Socket; first: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = connect(PORT, '127.0.0.1');
    socket.setNoDelay(true);
    socket.once('error', reject);
    socket.write(connectPacket(clientId));
    socket.once('data', (first) => resolve({ socket, first }));
  });
}

function cpuTicks(pid: string | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function main(): Promise<void> {
  const total = PUBS * COUNT;
  let received = 0;
  let lastArrival = Date.now();
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const sub = await open(`fc-sub-${process.pid}`);
  const subscribed = new Promise<void>((resolve) => {
    const onPacket = (first: number, buf: Buffer, body: number): void => {
      const type = first >> 4;
      if (type === 9) resolve();
      if (type !== 3) return;
      received++;
      lastArrival = Date.now();
      if (((first >> 1) & 3) > 0) {
        const topicLength = buf.readUInt16BE(body);
        const id = buf.readUInt16BE(body + 2 + topicLength);
        acks.push(0x40, 0x02, id >> 8, id & 0xff);
      }
      if (received === total) done();
    };
    let acks: number[] = [];
    const feed = framer(onPacket);
    sub.socket.on('data', (chunk: Buffer) => {
      feed(chunk);
      if (acks.length > 0) {
        sub.socket.write(Buffer.from(acks));
        acks = [];
      }
    });
  });
  const subscribe = Buffer.concat([
    Buffer.from([0, 1]),
    V5 ? Buffer.from([0]) : Buffer.alloc(0),
    str('fc/+'),
    Buffer.from([QOS]),
  ]);
  sub.socket.write(packet(0x82, subscribe));
  await subscribed;
  const pubs = await Promise.all(Array.from({ length: PUBS }, (_, i) => open(`fc-pub-${process.pid}-${i}`)));
  const ticksBefore = cpuTicks(args['broker-pid']);
  const started = process.hrtime.bigint();
  pubs.forEach(({ socket }, i) => (QOS === 0 ? sendOpen(socket, i) : sendWindowed(socket, i)));
  const idle = setInterval(() => {
    if (Date.now() - lastArrival > IDLE_MS) done();
  }, 100);
  await finished;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuMs = (cpuTicks(args['broker-pid']) - ticksBefore) * 10;
  clearInterval(idle);
  const perMessage =
    args['broker-pid'] === undefined ? '' : ` broker_cpu_us_per_msg=${((cpuMs * 1000) / received).toFixed(3)}`;
  console.log(
    `FANIN qos=${QOS} version=${V5 ? 5 : 4} pubs=${PUBS} sent=${total} received=${received} seconds=${seconds.toFixed(3)} msgs_per_s=${Math.round(received / seconds)}${perMessage}`,
  );
  for (const { socket } of pubs) socket.destroy();
  sub.socket.destroy();
}

/** QoS 0: writes the publisher's packets in 64 KiB runs while the socket takes them. */
function sendOpen(socket: Socket, index: number): void {
  const one = publishPacket(`fc/${index}`, 0);
  const perWrite = Math.max(1, Math.floor(65536 / one.length));
  const run = Buffer.concat(Array.from({ length: perWrite }, () => one));
  let left = COUNT;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, perWrite);
      left -= n;
      if (!socket.write(n === perWrite ? run : run.subarray(0, n * one.length))) {
        socket.once('drain', pump);
        return;
      }
    }
  };
  pump();
}

/** QoS 1: at most WINDOW PUBLISHes without their PUBACK; each read's PUBACKs release that many more. */
function sendWindowed(socket: Socket, index: number): void {
  const topic = `fc/${index}`;
  let sent = 0;
  const more = (n: number): void => {
    const parts: Buffer[] = [];
    for (let i = 0; i < n && sent < COUNT; i++) parts.push(publishPacket(topic, (sent++ % 65535) + 1));
    if (parts.length > 0) socket.write(Buffer.concat(parts));
  };
  let acked = 0;
  const feed = framer((first) => {
    if (first >> 4 === 4) acked++;
  });
  socket.on('data', (chunk: Buffer) => {
    acked = 0;
    feed(chunk);
    more(acked);
  });
  more(WINDOW);
}

await main();
