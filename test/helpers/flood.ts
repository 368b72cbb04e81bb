/**
 * Fast MQTT 3.1.1 peers for volume tests (the spool tests, bench/spool.ts): a publisher that keeps a
 * window of QoS 1 PUBLISHes open and counts the PUBACKs in order, and a subscriber that can stop
 * reading (its socket's receive window fills) and, reading again, acknowledges each PUBLISH and
 * hands over its payload. Packets are framed by hand: the test parser would be the bottleneck.
 */
import { connect as netConnect, type Socket } from 'node:net';
import * as pkt from './packets.js';

/** A connected socket that has had its CONNACK (3.1.1, accepted). */
async function open(port: number, clientId: string, clean: boolean): Promise<Socket> {
  const socket = netConnect({ port, host: '127.0.0.1', noDelay: true });
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(pkt.connect({ version: 4, clientId, clean, keepAlive: 0 }));
  const connack = await readBytes(socket, 4);
  if (connack[0] !== 0x20 || connack[3] !== 0) throw new Error(`CONNECT refused: ${connack.toString('hex')}`);
  return socket;
}

/** The next `n` bytes the socket receives (nothing else is read meanwhile). */
function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk]);
      if (got.length < n) return;
      socket.off('data', onData);
      socket.off('close', onClose);
      // Paused, so that nothing after these bytes is emitted before the next reader listens.
      socket.pause();
      if (got.length > n) socket.unshift(got.subarray(n));
      resolve(got.subarray(0, n));
    };
    const onClose = (): void => reject(new Error('connection closed'));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}

/** Splits MQTT packets out of a byte stream; `onPacket` gets the first byte and the body. */
class Framer {
  private pending: Buffer = Buffer.alloc(0);
  constructor(private readonly onPacket: (first: number, body: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    for (;;) {
      if (buf.length - offset < 2) break;
      let length = 0;
      let multiplier = 1;
      let i = offset + 1;
      let complete = false;
      while (i < buf.length && i < offset + 5) {
        const byte = buf[i++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete || buf.length - i < length) break;
      this.onPacket(buf[offset]!, buf.subarray(i, i + length));
      offset = i + length;
    }
    buf = buf.subarray(offset);
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }
}

/** A QoS 1 PUBLISH (3.1.1) of `payload` to `topic` with `packetId`. */
export function publishPacket(topic: string, packetId: number, payload: Buffer): Buffer {
  return pkt.publish(4, { topic, payload, qos: 1, packetId });
}

export class FloodPublisher {
  /** PUBACKs received, in order. */
  acked = 0;
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    const framer = new Framer((first) => {
      if (first >> 4 === 4) this.acked++;
      for (const wake of this.waiters.splice(0)) wake();
    });
    socket.on('data', (chunk: Buffer) => framer.push(chunk));
    socket.on('close', () => {
      for (const wake of this.waiters.splice(0)) wake();
    });
    socket.resume();
  }

  static async connect(port: number, clientId: string): Promise<FloodPublisher> {
    return new FloodPublisher(await open(port, clientId, true));
  }

  /**
   * Publishes messages `from` to `to - 1` (`make(i)` gives each payload) to `topic` at QoS 1, with at
   * most `window` unacknowledged; resolves once all are acknowledged, or when `stop()` says so (then
   * with the count acknowledged). Counts of `acked` start from `from`.
   */
  async publish(
    topic: string,
    from: number,
    to: number,
    make: (i: number) => Buffer,
    window = 500,
    stop: () => boolean = () => false,
  ): Promise<number> {
    this.acked = from;
    let sent = from;
    while (this.acked < to && !this.socket.destroyed) {
      if (stop()) break;
      const chunk: Buffer[] = [];
      while (sent < to && sent - this.acked < window) {
        chunk.push(publishPacket(topic, (sent % 65_535) + 1, make(sent)));
        sent++;
      }
      if (chunk.length > 0) this.socket.write(Buffer.concat(chunk));
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.acked;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export class FloodSubscriber {
  /** Payloads received, in order. */
  onMessage: (payload: Buffer) => void = () => undefined;
  private constructor(readonly socket: Socket) {
    const framer = new Framer((first, body) => {
      if (first >> 4 !== 3) return;
      const qos = (first >> 1) & 3;
      const topicLength = body.readUInt16BE(0);
      let offset = 2 + topicLength;
      if (qos > 0) {
        const id = body.readUInt16BE(offset);
        offset += 2;
        acks.push(Buffer.from([0x40, 0x02, id >> 8, id & 0xff]));
      }
      this.onMessage(body.subarray(offset));
    });
    let acks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      if (acks.length > 0) {
        socket.write(Buffer.concat(acks));
        acks = [];
      }
    });
    socket.resume();
  }

  /** Connects as `clientId` (`clean` or not) and subscribes to `filter` at QoS 1. */
  static async connect(port: number, clientId: string, clean: boolean, filter?: string): Promise<FloodSubscriber> {
    const socket = await open(port, clientId, clean);
    if (filter !== undefined) {
      socket.write(pkt.subscribe(4, 1, [{ topic: filter, qos: 1 }]));
      const suback = await readBytes(socket, 5);
      if (suback[0] !== 0x90 || suback[4] !== 1) throw new Error(`SUBSCRIBE refused: ${suback.toString('hex')}`);
    }
    return new FloodSubscriber(socket);
  }

  /** Stops reading: the socket's receive buffer fills, then the broker's window. */
  stopReading(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
