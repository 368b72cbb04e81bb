/**
 * A raw MQTT client for black-box broker tests: it writes the bytes it is given and parses what
 * comes back with the test-side parser of ./parse.ts, so the broker is seen only from the wire.
 * Every wait has a timeout that fails the test with what was expected and what came instead.
 */
import { AssertionError } from 'node:assert';
import { connect as netConnect, type Socket } from 'node:net';
import * as pkt from './packets.js';
import type { ConnectOptions, ProtocolVersion, PublishOptions, QoS, SubscriptionRequest } from './packets.js';
import {
  describePacket,
  PacketStream,
  type ConnackIn,
  type PublishIn,
  type ReceivedOf,
  type ReceivedPacket,
  type ReceivedType,
} from './parse.js';

/** Default wait for a packet or a close, in ms. */
export const DEFAULT_TIMEOUT_MS = 2000;

/** Every client not yet destroyed, so a test's cleanup can release them all. */
const openClients = new Set<RawClient>();

/** Destroys every raw client still open. */
export function destroyAllClients(): void {
  for (const client of openClients) client.destroy();
}

type Check<T> = () => T | undefined;

export class RawClient {
  /** How received packets are parsed; set it when the broker is expected to answer in another version. */
  readonly stream: PacketStream;
  private readonly inbox: ReceivedPacket[] = [];
  private readonly listeners = new Set<() => void>();
  private isClosed = false;
  private failure: Error | undefined;
  private lastPacketId = 0;

  private constructor(
    readonly socket: Socket,
    readonly version: ProtocolVersion,
  ) {
    this.stream = new PacketStream(version);
    openClients.add(this);
    socket.on('data', (chunk: Buffer) => {
      if (this.failure !== undefined) return;
      try {
        this.inbox.push(...this.stream.push(chunk));
      } catch (err) {
        this.failure = err instanceof Error ? err : new Error(String(err));
      }
      this.notify();
    });
    // A reset (the broker destroyed the socket) counts as a close, not a failure.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.isClosed = true;
      openClients.delete(this);
      this.notify();
    });
  }

  /** Opens a TCP connection to the broker; nothing is sent yet. `version` says how to parse replies. */
  static open(port: number, version: ProtocolVersion = 4, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ port, host, noDelay: true });
      const onError = (err: Error): void => reject(err);
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new RawClient(socket, version));
      });
    });
  }

  /**
   * Opens a connection, sends CONNECT and waits for a successful CONNACK.
   * Resolves with the client and the CONNACK.
   */
  static async connect(
    port: number,
    options: ConnectOptions = {},
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<RawClient & { connack: ConnackIn }> {
    const client = await RawClient.open(port, options.version ?? 4);
    client.send(pkt.connect(options));
    const connack = await client.next('connack', timeoutMs);
    if (connack.reasonCode !== 0) {
      client.destroy();
      throw new AssertionError({ message: `CONNECT refused: ${describePacket(connack)}` });
    }
    return Object.assign(client, { connack });
  }

  /** Whether the broker (or this side) has closed the connection. */
  get closedYet(): boolean {
    return this.isClosed;
  }

  /** Packets received and not yet read. */
  get unread(): readonly ReceivedPacket[] {
    return this.inbox;
  }

  /** A new packet identifier, 1 to 65,535, counting up. */
  packetId(): number {
    this.lastPacketId = this.lastPacketId === 0xffff ? 1 : this.lastPacketId + 1;
    return this.lastPacketId;
  }

  /** Writes raw bytes (one or more packets, or any part of one). */
  send(...chunks: Buffer[]): void {
    if (this.socket.destroyed) return;
    for (const chunk of chunks) this.socket.write(chunk);
  }

  /** Stops reading from the socket (a subscriber that never reads). */
  stopReading(): void {
    this.socket.pause();
  }

  /**
   * The next packet from the broker. With `type`, fails when the next packet is of another type.
   * Fails on timeout, on a close, and on bytes that are not a packet a broker may send.
   */
  next(timeoutMs?: number): Promise<ReceivedPacket>;
  next<T extends ReceivedType>(type: T, timeoutMs?: number): Promise<ReceivedOf<T>>;
  next<T extends ReceivedType>(
    typeOrTimeout?: T | number,
    timeoutMs = DEFAULT_TIMEOUT_MS,
  ): Promise<ReceivedPacket | ReceivedOf<T>> {
    const type = typeof typeOrTimeout === 'string' ? typeOrTimeout : undefined;
    const timeout = typeof typeOrTimeout === 'number' ? typeOrTimeout : timeoutMs;
    const wanted = type === undefined ? 'a packet' : type.toUpperCase();
    return this.waitFor(
      () => {
        const packet = this.inbox.shift();
        if (packet !== undefined) {
          if (type !== undefined && packet.type !== type) {
            throw new AssertionError({ message: `expected ${wanted}, got ${describePacket(packet)}` });
          }
          return packet;
        }
        if (this.failure !== undefined) throw this.failure;
        if (this.isClosed) throw new AssertionError({ message: `the connection closed while waiting for ${wanted}` });
        return undefined;
      },
      timeout,
      () => {
        throw new AssertionError({ message: `no ${wanted} within ${timeout} ms` });
      },
    );
  }

  /**
   * Resolves when the broker has closed the connection. Fails on timeout, and when a packet
   * arrives first (read expected packets, such as a 5.0 DISCONNECT, with `next` before).
   */
  closed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    return this.waitFor(
      () => {
        const packet = this.inbox[0];
        if (packet !== undefined) {
          throw new AssertionError({ message: `expected the connection to close, got ${describePacket(packet)}` });
        }
        if (this.failure !== undefined) throw this.failure;
        return this.isClosed ? true : undefined;
      },
      timeoutMs,
      () => {
        throw new AssertionError({ message: `the broker did not close the connection within ${timeoutMs} ms` });
      },
    ).then(() => undefined);
  }

  /** Waits `ms` and fails if any packet arrives or the connection closes meanwhile. */
  expectNothing(ms = 200): Promise<void> {
    return this.waitFor(
      () => {
        const packet = this.inbox[0];
        if (packet !== undefined) {
          throw new AssertionError({ message: `expected nothing, got ${describePacket(packet)}` });
        }
        if (this.failure !== undefined) throw this.failure;
        if (this.isClosed) throw new AssertionError({ message: 'expected nothing, but the connection closed' });
        return undefined;
      },
      ms,
      () => undefined,
    ).then(() => undefined);
  }

  /** Sends SUBSCRIBE and waits for its SUBACK; resolves with the reason codes. */
  async subscribe(
    subscriptions: string | SubscriptionRequest | readonly (string | SubscriptionRequest)[],
    qos: QoS = 0,
    props?: pkt.Properties,
  ): Promise<number[]> {
    const list = Array.isArray(subscriptions)
      ? (subscriptions as readonly (string | SubscriptionRequest)[])
      : [subscriptions as string | SubscriptionRequest];
    const requests = list.map((s) => (typeof s === 'string' ? { topic: s, qos } : s));
    const id = this.packetId();
    this.send(pkt.subscribe(this.version, id, requests, props));
    const suback = await this.next('suback');
    if (suback.packetId !== id) {
      throw new AssertionError({ message: `SUBACK has packet id ${suback.packetId}, SUBSCRIBE had ${id}` });
    }
    return suback.reasonCodes;
  }

  /** Sends UNSUBSCRIBE and waits for its UNSUBACK; resolves with the 5.0 reason codes. */
  async unsubscribe(filters: string | readonly string[]): Promise<number[]> {
    const id = this.packetId();
    this.send(pkt.unsubscribe(this.version, id, typeof filters === 'string' ? [filters] : filters));
    const unsuback = await this.next('unsuback');
    if (unsuback.packetId !== id) {
      throw new AssertionError({ message: `UNSUBACK has packet id ${unsuback.packetId}, UNSUBSCRIBE had ${id}` });
    }
    return unsuback.reasonCodes;
  }

  /**
   * Publishes and completes the publisher's side of the QoS flow: nothing for QoS 0, PUBACK for
   * QoS 1, PUBREC then PUBREL then PUBCOMP for QoS 2. Resolves with the reason code of the
   * PUBACK or PUBREC (0 for QoS 0).
   */
  async publish(options: Omit<PublishOptions, 'packetId'>): Promise<number> {
    const qos = options.qos ?? 0;
    if (qos === 0) {
      this.send(pkt.publish(this.version, options));
      return 0;
    }
    const id = this.packetId();
    this.send(pkt.publish(this.version, { ...options, packetId: id }));
    if (qos === 1) {
      const puback = await this.next('puback');
      if (puback.packetId !== id)
        throw new AssertionError({ message: `PUBACK for ${puback.packetId}, expected ${id}` });
      return puback.reasonCode;
    }
    const pubrec = await this.next('pubrec');
    if (pubrec.packetId !== id) throw new AssertionError({ message: `PUBREC for ${pubrec.packetId}, expected ${id}` });
    this.send(pkt.pubrel(this.version, id));
    const pubcomp = await this.next('pubcomp');
    if (pubcomp.packetId !== id)
      throw new AssertionError({ message: `PUBCOMP for ${pubcomp.packetId}, expected ${id}` });
    return pubrec.reasonCode;
  }

  /**
   * Waits for a PUBLISH and completes the receiver's side of its QoS flow (PUBACK; or PUBREC,
   * PUBREL from the broker, PUBCOMP). Resolves with the PUBLISH.
   */
  async receive(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<PublishIn> {
    const message = await this.next('publish', timeoutMs);
    if (message.qos === 1) this.send(pkt.puback(this.version, message.packetId));
    if (message.qos === 2) {
      this.send(pkt.pubrec(this.version, message.packetId));
      const pubrel = await this.next('pubrel', timeoutMs);
      if (pubrel.packetId !== message.packetId) {
        throw new AssertionError({ message: `PUBREL for ${pubrel.packetId}, expected ${message.packetId}` });
      }
      this.send(pkt.pubcomp(this.version, message.packetId));
    }
    return message;
  }

  /**
   * Sends PINGREQ and waits for PINGRESP. The broker handles one connection's packets in order,
   * so everything sent before (QoS 0 PUBLISHes included) has been processed when this resolves.
   */
  async ping(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    this.send(pkt.pingreq());
    await this.next('pingresp', timeoutMs);
  }

  /** Sends a DISCONNECT (5.0: with `reasonCode` and `props`) and waits for the broker to close. */
  async disconnect(reasonCode = 0, props?: pkt.Properties): Promise<void> {
    this.send(pkt.disconnect(this.version, reasonCode, props));
    await this.closed();
  }

  /** Closes the socket at once, as a network failure would (no DISCONNECT). */
  destroy(): void {
    this.socket.destroy();
    openClients.delete(this);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Runs `check` now and after every event until it returns a value or throws, or `timeoutMs` passes. */
  private waitFor<T>(check: Check<T>, timeoutMs: number, onTimeout: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.listeners.delete(attempt);
      };
      const attempt = (): void => {
        let value: T | undefined;
        try {
          value = check();
        } catch (err) {
          finish();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (value !== undefined) {
          finish();
          resolve(value);
        }
      };
      this.listeners.add(attempt);
      const timer = setTimeout(() => {
        finish();
        try {
          resolve(onTimeout() as T);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      }, timeoutMs);
      attempt();
    });
  }
}
