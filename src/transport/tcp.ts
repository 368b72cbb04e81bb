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
}

/** Starts a TCP listener that hands every socket to `onConnection`. */
export async function listenTcp(options: TcpListenerOptions, onConnection: ConnectionHandler): Promise<Listener> {
  // Writes are batched per turn of the event loop, so Nagle's algorithm would only add delay.
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    onConnection(socket, {
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      localAddress: socket.localAddress,
    });
  });
  const address = await startServer(server, 'tcp', options.host, options.port);
  return { address, close: () => stopServer(server) };
}
