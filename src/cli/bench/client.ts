/**
 * The load client of `fennec bench`: MQTT over node:net with Fennec's codec, no client library.
 * It does only what a load run needs (CONNECT, SUBSCRIBE, PUBLISH with both sides of the QoS 1 and
 * 2 acks, PINGREQ, DISCONNECT) and allocates little per message: a publisher copies a PUBLISH
 * encoded once into one buffer per batch, and acks read in one chunk go out in one write.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { Decoder, encode, encodePublish, type Packet, type QoS } from '../../protocol/index.js';

/** What a client reports to the thread that runs it. */
export interface ClientEvents {
  /** A PUBLISH arrived: its payload (a view into the read chunk) and the time it was read, ns since the run's base. */
  onMessage(client: LoadClient, payload: Buffer, nowNs: number): void;
  /** A chunk read held final acks (PUBACK or PUBCOMP) of a publisher's PUBLISHes: slots of its window are free. */
  onAcked(client: LoadClient): void;
  /** The connection failed or closed while the run was not stopping it. */
  onLost(client: LoadClient, reason: string): void;
}

/** A clock shared by all threads of the process: ns since `baseNs`, as a number. */
export type Clock = () => number;

/** Bytes buffered for acks before they are written, whatever the chunk. */
const ACK_BUFFER_BYTES = 4096;
/** Every ack this client sends is 4 bytes: the 5.0 reason code 0 is left out (section 3.4.2.1). */
const ACK_BYTES = 4;
const ACK_FIRST_BYTE = { puback: 0x40, pubrec: 0x50, pubrel: 0x62, pubcomp: 0x70 } as const;

export class LoadClient {
  readonly clientId: string;
  /** Global publisher index, -1 for other clients. */
  readonly publisherIndex: number;
  /** PUBLISHes that have not got their final ack. */
  inflight = 0;
  /** Smallest of the window asked for and the broker's 5.0 Receive Maximum. */
  window: number;
  /** Messages sent, warm-up included. */
  sent = 0;
  /** Set once the run stops this client, so that its closing is not counted as an error. */
  closing = false;

  private socket: Socket | undefined;
  private readonly decoder: Decoder;
  private readonly version: 4 | 5;
  private pending: ((packet: Packet) => void) | undefined;
  /** Made on the first ack, and the id table by preparePublish: a conn run opens thousands of idle clients. */
  private ackBuffer: Buffer | undefined;
  private ackLength = 0;
  /** Final acks read in the current chunk. */
  private acked = 0;
  /** Packet identifiers in use, so that a slow ack never sees its id reused. */
  private idsInUse = new Uint8Array(0);
  private nextId = 1;
  /** A PUBLISH encoded once; each message copies it and writes its id, time and sequence in place. */
  private template: Buffer | undefined;
  private payloadOffset = 0;

  constructor(
    clientId: string,
    publisherIndex: number,
    version: 4 | 5,
    window: number,
    private readonly events: ClientEvents,
    private readonly clock: Clock,
  ) {
    this.clientId = clientId;
    this.publisherIndex = publisherIndex;
    this.version = version;
    this.window = window;
    this.decoder = new Decoder({ protocolVersion: version });
  }

  /** Bytes waiting in the socket's buffer in user space. */
  get writableLength(): number {
    return this.socket?.writableLength ?? 0;
  }

  /** Opens the connection and completes CONNECT / CONNACK; rejects with one line when either fails. */
  async connect(host: string, port: number, keepAliveSeconds: number): Promise<void> {
    const socket = connectTcp({ host, port, noDelay: true });
    this.socket = socket;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.removeAllListeners('error');
    socket.on('error', (err) => this.lost(err.message));
    socket.on('close', () => this.lost('connection closed by the broker'));
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    const connack = await this.request(
      encode(
        {
          type: 'connect',
          protocolName: 'MQTT',
          protocolVersion: this.version,
          clean: true,
          keepAlive: keepAliveSeconds,
          clientId: this.clientId,
        },
        this.version,
      ),
    );
    if (connack.type !== 'connack') throw new Error(`expected CONNACK, got ${connack.type.toUpperCase()}`);
    if (connack.reasonCode !== 0)
      throw new Error(`CONNACK refused the client with code 0x${connack.reasonCode.toString(16)}`);
    const receiveMaximum = connack.properties?.receiveMaximum;
    if (receiveMaximum !== undefined) this.window = Math.min(this.window, receiveMaximum);
  }

  /** Subscribes to `filter` at `qos`; rejects when the broker refuses it. */
  async subscribe(filter: string, qos: QoS): Promise<void> {
    const suback = await this.request(
      encode(
        {
          type: 'subscribe',
          packetId: 1,
          subscriptions: [{ topicFilter: filter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
        },
        this.version,
      ),
    );
    if (suback.type !== 'suback') throw new Error(`expected SUBACK, got ${suback.type.toUpperCase()}`);
    const code = suback.reasonCodes[0] ?? 0x80;
    if (code >= 0x80) throw new Error(`SUBACK refused ${filter} with code 0x${code.toString(16)}`);
  }

  /** Prepares the PUBLISH this client sends: `payloadBytes` bytes, filled with `x` after the header. */
  preparePublish(topic: string, qos: QoS, payloadBytes: number): void {
    const payload = Buffer.alloc(payloadBytes, 'x');
    payload.writeUInt32LE(this.publisherIndex, 8);
    this.template = encodePublish(
      { type: 'publish', topic, payload, qos, retain: false, dup: false, packetId: qos > 0 ? 1 : 0 },
      this.version,
    );
    this.payloadOffset = this.template.length - payloadBytes;
    if (qos > 0) this.idsInUse = new Uint8Array(65_536);
  }

  /**
   * Writes `count` PUBLISHes in one buffer, stamped with `nowNs`; returns how many were written
   * (fewer when free packet identifiers run out).
   */
  publish(count: number, nowNs: number, qos: QoS): number {
    const template = this.template;
    if (template === undefined || this.socket === undefined || count <= 0) return 0;
    const size = template.length;
    const batch = Buffer.allocUnsafe(size * count);
    let written = 0;
    for (; written < count; written++) {
      const start = written * size;
      template.copy(batch, start);
      if (qos > 0) {
        const id = this.takeId();
        if (id === 0) break;
        // The id sits right before the payload in a 3.1.1 PUBLISH and before the properties in 5.0.
        const idOffset = this.payloadOffset - (this.version === 5 ? 3 : 2);
        batch[start + idOffset] = id >> 8;
        batch[start + idOffset + 1] = id & 0xff;
        this.inflight++;
      }
      const payload = start + this.payloadOffset;
      batch.writeDoubleLE(nowNs, payload);
      batch.writeUInt32LE(this.sent++ >>> 0, payload + 12);
    }
    if (written > 0) this.socket.write(written === count ? batch : batch.subarray(0, written * size));
    return written;
  }

  /** Sends PINGREQ, so that an idle run outlives the keep-alive. */
  ping(): void {
    this.socket?.write(PINGREQ);
  }

  /** Calls `listener` once the socket's buffer has been written out. */
  onDrain(listener: () => void): void {
    this.socket?.on('drain', listener);
  }

  /** Sends DISCONNECT and closes; resolves once the socket is closed. */
  async close(): Promise<void> {
    this.closing = true;
    const socket = this.socket;
    if (socket === undefined || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end(encode({ type: 'disconnect', reasonCode: 0 }, this.version));
      // A broker that does not close its side within a second is not waited for.
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }

  private takeId(): number {
    for (let tries = 0; tries < 65_535; tries++) {
      const id = this.nextId;
      this.nextId = id === 65_535 ? 1 : id + 1;
      if (this.idsInUse[id] === 0) {
        this.idsInUse[id] = 1;
        return id;
      }
    }
    return 0;
  }

  private request(bytes: Buffer): Promise<Packet> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer from the broker within 10 s')), 10_000);
      this.pending = (packet) => {
        clearTimeout(timer);
        this.pending = undefined;
        resolve(packet);
      };
      this.socket?.once('close', () => reject(new Error('connection closed by the broker')));
      this.socket?.write(bytes);
    });
  }

  private lost(reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.socket?.destroy();
    this.events.onLost(this, reason);
  }

  private read(chunk: Buffer): void {
    const nowNs = this.clock();
    try {
      this.decoder.feed(chunk, (packet) => this.handle(packet, nowNs));
    } catch (err) {
      this.lost(err instanceof Error ? err.message : String(err));
      return;
    }
    this.flushAcks();
    // Once per chunk rather than per ack, so that the slots freed go out as one batch in one write.
    if (this.acked > 0) {
      this.acked = 0;
      this.events.onAcked(this);
    }
  }

  private handle(packet: Packet, nowNs: number): void {
    switch (packet.type) {
      case 'publish':
        if (packet.qos === 1) this.queueAck(ACK_FIRST_BYTE.puback, packet.packetId);
        else if (packet.qos === 2) this.queueAck(ACK_FIRST_BYTE.pubrec, packet.packetId);
        this.events.onMessage(this, packet.payload, nowNs);
        return;
      case 'pubrel':
        this.queueAck(ACK_FIRST_BYTE.pubcomp, packet.packetId);
        return;
      case 'pubrec':
        this.queueAck(ACK_FIRST_BYTE.pubrel, packet.packetId);
        return;
      case 'puback':
      case 'pubcomp':
        if (this.idsInUse[packet.packetId] === 1) {
          this.idsInUse[packet.packetId] = 0;
          this.inflight--;
          this.acked++;
        }
        return;
      case 'connack':
      case 'suback':
        this.pending?.(packet);
        return;
      case 'pingresp':
      case 'unsuback':
        return;
      case 'disconnect':
        this.lost(`DISCONNECT from the broker with reason code 0x${packet.reasonCode.toString(16)}`);
        return;
      case 'connect':
      case 'subscribe':
      case 'unsubscribe':
      case 'pingreq':
      case 'auth':
        this.lost(`unexpected ${packet.type.toUpperCase()} from the broker`);
        return;
      default: {
        const never: never = packet;
        throw new Error(`unknown packet ${String(never)}`);
      }
    }
  }

  private queueAck(first: number, packetId: number): void {
    if (this.ackLength + ACK_BYTES > ACK_BUFFER_BYTES) this.flushAcks();
    const buf = (this.ackBuffer ??= Buffer.allocUnsafe(ACK_BUFFER_BYTES));
    const at = this.ackLength;
    buf[at] = first;
    buf[at + 1] = 2;
    buf[at + 2] = packetId >> 8;
    buf[at + 3] = packetId & 0xff;
    this.ackLength = at + ACK_BYTES;
  }

  private flushAcks(): void {
    if (this.ackLength === 0 || this.ackBuffer === undefined) return;
    // A copy: the ack buffer is reused while the socket may still hold what it was given.
    this.socket?.write(Buffer.from(this.ackBuffer.subarray(0, this.ackLength)));
    this.ackLength = 0;
  }
}

const PINGREQ = Buffer.from([0xc0, 0x00]);
