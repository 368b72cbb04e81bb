/**
 * One network connection of the client: the Duplex, its decoder and the Link that encodes within
 * the broker's limits and times keep-alive. It is the SessionSink the client's Session writes to.
 * It opens with CONNECT and CONNACK (`handshake`), then hands every packet to the client; it closes
 * once, with the reason, when the stream ends, a packet is malformed, or the PINGRESP is late.
 */
import type { Duplex } from 'node:stream';
import { Decoder, type ConnackPacket, type ConnectPacket, type Packet } from '../protocol/index.js';
import { Link } from '../session/link.js';
import type { SessionSink } from '../session/types.js';
import { hex, MqttClientError } from './errors.js';

export interface WireHandlers {
  /** A packet arrived (after CONNACK). */
  packet(packet: Packet): void;
  /** The stream can take more after being full. */
  drain(): void;
  /** The wire closed, for `reason`; called once. */
  closed(reason: MqttClientError): void;
}

export class Wire implements SessionSink {
  readonly link = new Link();
  private readonly decoder: Decoder;
  private handlers: WireHandlers | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private connackWaiter: ((packet: ConnackPacket) => void) | undefined;
  private closeReason: MqttClientError | undefined;
  /** Packets read after CONNACK and before `start` (a kept session's queue comes with CONNACK). */
  private early: Packet[] | undefined;

  constructor(
    private readonly stream: Duplex,
    version: 4 | 5,
  ) {
    this.link.version = version;
    this.decoder = new Decoder({ protocolVersion: version });
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('drain', () => this.handlers?.drain());
    stream.on('error', (err) => this.close(this.lost(`the link failed: ${err.message}`, err)));
    stream.on('end', () => this.close(this.lost('the broker closed the link')));
    stream.on('close', () => this.close(this.lost('the link closed')));
  }

  /** Whether the wire has closed. */
  get closed(): boolean {
    return this.closeReason !== undefined;
  }

  writable(): boolean {
    return this.closeReason === undefined && !this.stream.writableNeedDrain;
  }

  /** Writes one encoded packet; `done` is called once the stream has taken it. */
  write(buf: Buffer, done?: (err?: Error | null) => void): void {
    if (this.closeReason !== undefined) {
      done?.(this.closeReason);
      return;
    }
    this.stream.write(buf, done);
    this.link.sent();
  }

  /** Encodes `packet` within the broker's limits and writes it; false when it is too large to send. */
  send(packet: Packet, done?: (err?: Error | null) => void): boolean {
    const buf = this.link.encode(packet);
    if (buf === undefined) return false;
    this.write(buf, done);
    return true;
  }

  /**
   * Sends CONNECT and waits for CONNACK, at most `timeoutMs`. Rejects with ERR_CLIENT_CONNECT when
   * the link closes or the time passes first; the wire is then closed.
   */
  handshake(connect: ConnectPacket, timeoutMs: number): Promise<ConnackPacket> {
    return new Promise<ConnackPacket>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.close(new MqttClientError('ERR_CLIENT_CONNECT', `no CONNACK within ${timeoutMs} ms`));
      }, timeoutMs);
      this.handlers = {
        packet: () => undefined,
        drain: () => undefined,
        closed: (reason) => {
          clearTimeout(timer);
          reject(
            reason.code === 'ERR_CLIENT_CONNECT'
              ? reason
              : new MqttClientError('ERR_CLIENT_CONNECT', `before CONNACK: ${reason.message}`, { cause: reason }),
          );
        },
      };
      this.connackWaiter = (connack) => {
        clearTimeout(timer);
        resolve(connack);
      };
      if (!this.send(connect)) this.close(new MqttClientError('ERR_CLIENT_CONNECT', 'CONNECT cannot be encoded'));
    });
  }

  /** From CONNACK on, packets go to `handlers`, and keep-alive runs on the Link's agreed Keep Alive. */
  start(handlers: WireHandlers): void {
    this.handlers = handlers;
    this.scheduleKeepAlive();
    const early = this.early;
    if (early === undefined || early.length === 0) {
      this.early = undefined;
      return;
    }
    // Handed over after connect() has resolved to the application, so that the listeners it adds
    // then see what a kept session delivered at once; packets read meanwhile join the list
    setImmediate(() => {
      this.early = undefined;
      for (const packet of early) if (this.closeReason === undefined) this.handlers?.packet(packet);
    });
  }

  /**
   * Sends a PINGREQ when one is due, and closes the wire when a PINGRESP is late. One timer, set
   * for the nearer of the two moments; packets sent meanwhile only move the PINGREQ, so the timer
   * may fire early and then sets itself again.
   */
  private scheduleKeepAlive(): void {
    if (this.closeReason !== undefined) return;
    const link = this.link;
    const answerIn = link.pingResponseRemaining();
    let wait: number | undefined;
    if (answerIn !== undefined) {
      if (answerIn <= 0) {
        this.close(this.lost(`no PINGRESP within ${Math.max(link.keepAlive, 1)} s`, undefined, 0x8d));
        return;
      }
      wait = answerIn;
    } else {
      const dueIn = link.pingDueIn();
      if (dueIn === undefined) return;
      if (dueIn <= 0) {
        // [MQTT-3.1.2-23] (3.1.1) [MQTT-3.1.2-20] (5.0): nothing sent for Keep Alive: PINGREQ
        this.send({ type: 'pingreq' });
        link.pingSent();
        wait = link.pingResponseRemaining();
      } else {
        wait = dueIn;
      }
    }
    this.keepAliveTimer = setTimeout(() => this.scheduleKeepAlive(), wait);
    this.keepAliveTimer.unref();
  }

  /** The PINGRESP came: the deadline ends, and the next PINGREQ is timed from the last packet sent. */
  pingAnswered(): void {
    this.link.pingAnswered();
    clearTimeout(this.keepAliveTimer);
    this.scheduleKeepAlive();
  }

  private onData(chunk: Buffer): void {
    if (this.closeReason !== undefined) return;
    this.link.received();
    try {
      this.decoder.feed(chunk, (packet) => this.onPacket(packet));
    } catch (err) {
      const reasonCode = err instanceof MqttClientError ? undefined : (err as { reasonCode?: number }).reasonCode;
      // 5.0 section 4.13: a malformed packet or protocol error is answered with DISCONNECT and its reason code
      if (this.link.version === 5 && reasonCode !== undefined) this.send({ type: 'disconnect', reasonCode });
      this.close(
        err instanceof MqttClientError
          ? err
          : this.lost(`the broker broke the protocol: ${(err as Error).message}`, err, reasonCode),
      );
    }
  }

  private onPacket(packet: Packet): void {
    if (this.closeReason !== undefined) return;
    const waiter = this.connackWaiter;
    if (waiter !== undefined) {
      this.connackWaiter = undefined;
      if (packet.type !== 'connack') {
        this.close(new MqttClientError('ERR_CLIENT_CONNECT', `the broker sent ${packet.type} before CONNACK`));
        return;
      }
      this.early = [];
      waiter(packet);
      return;
    }
    if (this.early !== undefined) this.early.push(packet);
    else this.handlers?.packet(packet);
  }

  /** Closes the wire for `reason` (once): the stream is destroyed and the handlers told. */
  close(reason: MqttClientError): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    clearTimeout(this.keepAliveTimer);
    this.stream.destroy();
    this.handlers?.closed(reason);
  }

  /** Ends the wire after a last packet (DISCONNECT): the stream is ended so the packet is flushed. */
  finish(last: Packet, reason: MqttClientError): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.closeReason !== undefined) {
        resolve();
        return;
      }
      const buf = this.link.encode(last);
      // A stream that does not close after end() in time is destroyed, which closes it
      const timer = setTimeout(() => this.stream.destroy(), 1_000);
      timer.unref();
      this.stream.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (buf !== undefined) this.stream.write(buf);
      this.stream.end();
      this.closeReason = reason;
      clearTimeout(this.keepAliveTimer);
      this.handlers?.closed(reason);
    });
  }

  private lost(message: string, cause?: unknown, reasonCode?: number): MqttClientError {
    return new MqttClientError(
      'ERR_CLIENT_DISCONNECTED',
      reasonCode === undefined ? message : `${message} (${hex(reasonCode)})`,
      {
        ...(reasonCode === undefined ? {} : { reasonCode }),
        ...(cause === undefined ? {} : { cause }),
      },
    );
  }
}
