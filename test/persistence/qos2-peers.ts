// The two ends of QoS 2 flows for the exactly-once crash test, written against the protocol as a
// correct client must behave, and keeping their session state across reconnects (the test process
// outlives the broker it kills):
// - QoS2Sender: a persistent publisher; after a reconnect it re-sends every PUBLISH not yet
//   PUBREC'd (DUP, same packet id) and every PUBREL not yet PUBCOMP'd [MQTT-4.4.0-1].
// - QoS2Receiver: a persistent subscriber with the spec's "method B": it hands a message to the
//   application when the PUBLISH arrives and, until PUBREL, answers a PUBLISH with the same packet id
//   with PUBREC only [MQTT-4.3.3-9] (5.0) [MQTT-4.3.3-2] (3.1.1). What it hands over is `delivered`:
//   a message there twice was delivered twice, whatever the broker did to make it happen.
import { connect as netConnect, type Socket } from 'node:net';
import { Decoder, encode, type Packet, type ProtocolVersion } from '../../src/protocol/index.js';

/** One persistent client over a socket that can be replaced after a broker restart. */
abstract class Peer {
  private socket: Socket | undefined;
  /** Resolves with Session Present once CONNACK came on the current socket. */
  protected connected: Promise<boolean> | undefined;
  private onConnack: ((present: boolean) => void) | undefined;
  /** Protocol errors seen (unexpected packets, refused CONNECTs): the test asserts none. */
  readonly errors: string[] = [];

  constructor(
    readonly clientId: string,
    readonly version: ProtocolVersion,
  ) {}

  /** Connects (clean start off, session kept an hour) and resolves with Session Present. */
  connect(port: number): Promise<boolean> {
    this.drop();
    const socket = netConnect({ port, host: '127.0.0.1', noDelay: true });
    const decoder = new Decoder({ protocolVersion: this.version });
    this.socket = socket;
    this.connected = new Promise<boolean>((resolve, reject) => {
      this.onConnack = resolve;
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`${this.clientId}: closed before CONNACK`)));
    });
    this.connected.catch(() => undefined);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      try {
        decoder.feed(chunk, (packet) => this.receive(packet));
      } catch (err) {
        this.errors.push(`${this.clientId}: ${(err as Error).message}`);
        socket.destroy();
      }
    });
    this.write({
      type: 'connect',
      protocolVersion: this.version,
      protocolName: 'MQTT',
      clientId: this.clientId,
      clean: false,
      keepAlive: 0,
      properties: this.version === 5 ? { sessionExpiryInterval: 3600 } : undefined,
    });
    return this.connected;
  }

  /** Forgets the current socket (the broker died, or the client goes offline). */
  drop(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  /** Sends DISCONNECT and closes: the session stays on the broker. */
  disconnect(): void {
    this.write({ type: 'disconnect', reasonCode: 0 });
    this.socket?.end();
    this.socket = undefined;
  }

  protected write(packet: Packet): void {
    if (this.socket === undefined || this.socket.destroyed) return;
    this.socket.write(encode(packet, this.version));
  }

  private receive(packet: Packet): void {
    if (packet.type === 'connack') {
      if (packet.reasonCode !== 0) this.errors.push(`${this.clientId}: CONNACK ${packet.reasonCode}`);
      this.onConnack?.(packet.sessionPresent);
      this.afterConnack(packet.sessionPresent);
      return;
    }
    this.handle(packet);
  }

  protected abstract afterConnack(sessionPresent: boolean): void;
  protected abstract handle(packet: Packet): void;
}

export class QoS2Sender extends Peer {
  private nextId = 1;
  /** Packet id -> payload of PUBLISHes awaiting PUBREC. */
  private readonly unacknowledged = new Map<number, string>();
  /** Packet ids whose PUBREL awaits PUBCOMP. */
  private readonly released = new Set<number>();
  /** Payloads the broker accepted (PUBREC with success): each must reach every subscriber. */
  readonly acknowledged = new Set<string>();
  private sent = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(
    clientId: string,
    version: ProtocolVersion,
    readonly topic: string,
  ) {
    super(clientId, version);
  }

  /** QoS 2 flows not yet complete. */
  get open(): number {
    return this.unacknowledged.size + this.released.size;
  }

  /** Publishes the next message, `prefix-n`. */
  publish(prefix: string): void {
    const packetId = this.nextId;
    this.nextId = this.nextId === 0xffff ? 1 : this.nextId + 1;
    const payload = `${prefix}-${this.sent++}`;
    this.unacknowledged.set(packetId, payload);
    this.writePublish(packetId, payload, false);
  }

  /** Resolves once fewer than `window` flows are open. */
  async room(window: number): Promise<void> {
    while (this.open >= window) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private writePublish(packetId: number, payload: string, dup: boolean): void {
    this.write({
      type: 'publish',
      topic: this.topic,
      payload: Buffer.from(payload),
      qos: 2,
      retain: false,
      dup,
      packetId,
      properties: undefined,
    });
  }

  protected afterConnack(sessionPresent: boolean): void {
    if (!sessionPresent) {
      // The broker holds none of our flows: messages PUBREC'd are its own; the rest go again as new.
      this.released.clear();
    }
    for (const [packetId, payload] of this.unacknowledged) this.writePublish(packetId, payload, sessionPresent);
    for (const packetId of this.released) this.write({ type: 'pubrel', packetId, reasonCode: 0 });
  }

  protected handle(packet: Packet): void {
    if (packet.type === 'pubrec') {
      const payload = this.unacknowledged.get(packet.packetId);
      if (payload !== undefined) {
        this.unacknowledged.delete(packet.packetId);
        if (packet.reasonCode >= 0x80) this.errors.push(`${this.clientId}: PUBREC ${packet.reasonCode}`);
        else {
          this.acknowledged.add(payload);
          this.released.add(packet.packetId);
        }
      }
      if (this.released.has(packet.packetId)) this.write({ type: 'pubrel', packetId: packet.packetId, reasonCode: 0 });
    } else if (packet.type === 'pubcomp') {
      this.released.delete(packet.packetId);
      for (const wake of this.waiters.splice(0)) wake();
    } else if (packet.type !== 'disconnect') {
      this.errors.push(`${this.clientId}: unexpected ${packet.type}`);
    }
  }
}

export class QoS2Receiver extends Peer {
  /** Packet ids of PUBLISHes handed to the application whose PUBREL has not come. */
  private readonly held = new Set<number>();
  /** Every payload handed to the application, in order: what "delivered" means. */
  readonly delivered: string[] = [];
  private readonly counts = new Map<string, number>();

  protected afterConnack(sessionPresent: boolean): void {
    // [MQTT-3.2.2-5] (5.0) / 3.1.1 section 3.2.2.2: a new session holds none of the old ids
    if (!sessionPresent) this.held.clear();
  }

  /** Payloads handed to the application more than once. */
  duplicates(): string[] {
    return [...this.counts].filter(([, n]) => n > 1).map(([payload]) => payload);
  }

  has(payload: string): boolean {
    return this.counts.has(payload);
  }

  protected handle(packet: Packet): void {
    if (packet.type === 'publish') {
      if (packet.qos !== 2) {
        this.errors.push(`${this.clientId}: PUBLISH at QoS ${packet.qos}`);
        return;
      }
      if (!this.held.has(packet.packetId)) {
        const payload = packet.payload.toString();
        this.held.add(packet.packetId);
        this.delivered.push(payload);
        this.counts.set(payload, (this.counts.get(payload) ?? 0) + 1);
      }
      this.write({ type: 'pubrec', packetId: packet.packetId, reasonCode: 0 });
    } else if (packet.type === 'pubrel') {
      this.held.delete(packet.packetId);
      this.write({ type: 'pubcomp', packetId: packet.packetId, reasonCode: 0 });
    } else if (packet.type === 'suback') {
      this.subacked = true;
    } else if (packet.type !== 'disconnect') {
      this.errors.push(`${this.clientId}: unexpected ${packet.type}`);
    }
    for (const wake of this.waiters.splice(0)) wake();
  }

  private readonly waiters: (() => void)[] = [];
  private subacked = false;

  /** Subscribes to `filter` at QoS 2 and waits for SUBACK (which the broker sends after commit). */
  async subscribe(filter: string): Promise<void> {
    await this.connected;
    this.subacked = false;
    this.write({
      type: 'subscribe',
      packetId: 1,
      subscriptions: [{ topicFilter: filter, qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    while (!this.subacked) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Resolves once `done()` holds, re-checked on each packet; rejects after `timeoutMs`. */
  async until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`${this.clientId}: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }
}
