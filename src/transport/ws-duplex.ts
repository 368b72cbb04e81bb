/**
 * One WebSocket as a Duplex of MQTT bytes, so that the broker reads and writes it as it does a TCP
 * socket. Unlike `ws`'s own createWebSocketStream it refuses text frames, as MQTT requires, and
 * writes what one turn of the event loop corked as one binary frame.
 */
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/** WebSocket close code 1003: the endpoint received data of a type it cannot accept. */
const UNSUPPORTED_DATA = 1003;

export class WebSocketDuplex extends Duplex {
  constructor(private readonly webSocket: WebSocket) {
    super({ allowHalfOpen: false });
    webSocket.on('message', (data: Buffer, isBinary: boolean) => {
      // [MQTT-6.0.0-1]: packets come in binary frames only; any other data frame closes the connection
      if (!isBinary) {
        webSocket.close(UNSUPPORTED_DATA, 'MQTT uses binary frames');
        this.destroy(new Error('a WebSocket text frame: MQTT is sent in binary frames only'));
        return;
      }
      // [MQTT-6.0.0-2]: a frame is just bytes: the decoder finds packet boundaries whatever the frames
      // (a packet split over frames, several packets in one), as it does for TCP segments
      if (!this.push(data)) webSocket.pause();
    });
    webSocket.once('close', () => {
      this.push(null);
      this.destroy();
    });
    webSocket.on('error', (err: Error) => this.destroy(err));
  }

  override _read(): void {
    this.webSocket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // [MQTT-6.0.0-1]: binary frames only
    this.webSocket.send(chunk, { binary: true }, callback);
  }

  override _writev(
    chunks: { chunk: Buffer; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    const frame = chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map(({ chunk }) => chunk));
    this.webSocket.send(frame, { binary: true }, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    // A normal closure; the 'close' event then ends the readable side.
    this.webSocket.close(1000);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const { readyState } = this.webSocket;
    // CLOSING lets the close handshake finish; anything else still open is cut at once.
    if (readyState === this.webSocket.OPEN || readyState === this.webSocket.CONNECTING) this.webSocket.terminate();
    callback(error);
  }
}
