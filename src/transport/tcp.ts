/**
 * The plain TCP listener (`mqtt://`).
 */
import { createServer, type Socket } from 'node:net';
import { startServer, stopServer, type ConnectionHandler, type Listener } from './listener.js';
import { readProxyHeader } from './proxy-protocol.js';

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
  /**
   * Every connection starts with a PROXY protocol header (v1 or v2) from a trusted proxy, whose
   * client address becomes the connection's; a connection without a valid one is closed.
   */
  proxyProtocol?: boolean;
  /** Time a connection has to send its PROXY header, in ms (with `proxyProtocol`). */
  headerTimeoutMs?: number;
}

/** Called when a connection is closed before reaching the broker (a bad or missing PROXY header). */
export type TcpRefusalHandler = (why: string, remoteAddress: string | undefined) => void;

/** Starts a TCP listener that hands every socket to `onConnection`. */
export async function listenTcp(
  options: TcpListenerOptions,
  onConnection: ConnectionHandler,
  onRefused: TcpRefusalHandler = () => {},
): Promise<Listener> {
  // Writes are batched per turn of the event loop, so Nagle's algorithm would only add delay.
  const keepAliveMs = options.keepAliveMs ?? 0;
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    if (keepAliveMs > 0) socket.setKeepAlive(true, keepAliveMs);
    const peer = {
      remoteAddress: intern(socket.remoteAddress),
      remotePort: socket.remotePort,
      localAddress: intern(socket.localAddress),
    };
    forgetAddresses(socket);
    if (options.proxyProtocol !== true) {
      onConnection(socket, peer);
      return;
    }
    readProxyHeader(socket, options.headerTimeoutMs ?? 10_000).then(
      (proxied) => {
        if (socket.destroyed) return;
        onConnection(socket, proxied === undefined ? peer : { ...peer, ...proxied });
        // The header reader left the socket paused with the bytes after the header unread.
        socket.resume();
      },
      (err: Error) => {
        onRefused(err.message, socket.remoteAddress);
        socket.destroy();
      },
    );
  });
  const address = await startServer(server, 'tcp', options.host, options.port);
  return { address, close: () => stopServer(server) };
}

/**
 * Node keeps the address objects it read for `remoteAddress` and `localAddress` on the socket for as
 * long as it lives (about 150 bytes per connection); the peer has copied them, so they are let go (set,
 * not deleted, so that every socket keeps one hidden class). Node reads them again if asked.
 */
function forgetAddresses(socket: Socket): void {
  const cached = socket as unknown as { _peername: unknown; _sockname: unknown };
  cached._peername = undefined;
  cached._sockname = undefined;
}

/** Address strings already seen, so that connections from one address share one string. */
const addresses = new Map<string, string>();
/** Bounded: past it, new addresses are kept as they come (a string each, as before). */
const MAX_INTERNED = 4096;

/** The one string kept for `address` (each read of a socket's address makes a new one, 32 bytes). */
function intern(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const known = addresses.get(address);
  if (known !== undefined) return known;
  if (addresses.size < MAX_INTERNED) addresses.set(address, address);
  return address;
}
