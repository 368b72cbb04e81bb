/**
 * A raw MQTT client over WebSocket for black-box tests: it sends the frames it is given, exactly as
 * given (so a test decides how packets fall into frames), and parses what comes back with the
 * test-side parser. It records whether every frame the broker sent was binary.
 */
import { AssertionError } from 'node:assert';
import { WebSocket, type ClientOptions } from 'ws';
import { describePacket, PacketStream, type ReceivedOf, type ReceivedPacket, type ReceivedType } from './parse.js';
import type { ProtocolVersion } from './packets.js';
import { DEFAULT_TIMEOUT_MS } from './raw-client.js';

export class WsRawClient {
  readonly stream: PacketStream;
  private readonly inbox: ReceivedPacket[] = [];
  private readonly waiters = new Set<() => void>();
  /** Whether a text frame ever came from the broker. */
  textFrameReceived = false;
  /** The close code the broker sent, once closed. */
  closeCode: number | undefined;

  private constructor(
    readonly socket: WebSocket,
    version: ProtocolVersion,
  ) {
    this.stream = new PacketStream(version);
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) this.textFrameReceived = true;
      this.inbox.push(...this.stream.push(data));
      this.notify();
    });
    socket.on('error', () => undefined);
    socket.on('close', (code: number) => {
      this.closeCode = code;
      this.notify();
    });
  }

  /** Opens a WebSocket to `url` offering `protocols` (default `mqtt`); resolves once it is open. */
  static open(
    url: string,
    version: ProtocolVersion = 4,
    protocols: string[] = ['mqtt'],
    options: ClientOptions = {},
  ): Promise<WsRawClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, protocols, options);
      socket.once('open', () => resolve(new WsRawClient(socket, version)));
      socket.once('error', reject);
      socket.once('unexpected-response', (_request, response) =>
        reject(new Error(`HTTP ${response.statusCode} instead of an upgrade`)),
      );
    });
  }

  /** Sends each buffer as one binary frame. */
  sendFrames(...frames: Buffer[]): void {
    for (const frame of frames) this.socket.send(frame, { binary: true });
  }

  private notify(): void {
    for (const wake of this.waiters) wake();
  }

  /** The next packet, of `type` when given; fails on another packet, a close or the timeout. */
  next<T extends ReceivedType>(type: T, timeoutMs?: number): Promise<ReceivedOf<T>>;
  next(type?: undefined, timeoutMs?: number): Promise<ReceivedPacket>;
  next<T extends ReceivedType>(type?: T, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ReceivedOf<T> | ReceivedPacket> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const packet = this.inbox.shift();
        if (packet !== undefined) {
          finish();
          if (type === undefined || packet.type === type) resolve(packet);
          else reject(new AssertionError({ message: `expected ${type}, got ${describePacket(packet)}` }));
        } else if (this.closeCode !== undefined) {
          finish();
          reject(
            new AssertionError({ message: `expected ${type ?? 'a packet'}, the WebSocket closed (${this.closeCode})` }),
          );
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new AssertionError({ message: `expected ${type ?? 'a packet'} within ${timeoutMs} ms` }));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Resolves with the close code once the broker has closed the WebSocket; fails on the timeout. */
  closed(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<number> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.closeCode === undefined) return;
        finish();
        resolve(this.closeCode);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new AssertionError({ message: `the WebSocket stayed open for ${timeoutMs} ms` }));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  close(): void {
    this.socket.terminate();
  }
}
