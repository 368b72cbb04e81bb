/**
 * The plain TCP listener (`mqtt://`).
 */
import { createServer, type Socket } from 'node:net';
import { startServer, stopServer, type ConnectionHandler, type Listener } from './listener.js';

/** Options of the TCP listener. */
export interface TcpListenerOptions {
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /**
   * Idle time before TCP keep-alive probes start, in ms, so that half-open connections (peer gone
   * without a FIN) are found even with MQTT keep alive 0; 0: off.
   */
  keepAliveMs?: number;
}

/** Starts a TCP listener that hands every socket to `onConnection`. */
export async function listenTcp(options: TcpListenerOptions, onConnection: ConnectionHandler): Promise<Listener> {
  // Writes are batched per turn of the event loop, so Nagle's algorithm would only add delay.
  const keepAliveMs = options.keepAliveMs ?? 0;
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs);
    onConnection(socket, {
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      localAddress: socket.localAddress,
    });
  });
  const address = await startServer(server, 'tcp', options.host, options.port);
  return { address, close: () => stopServer(server) };
}
