/**
 * The WebSocket listeners (`ws://`, and `wss://` over TLS): an HTTP server that upgrades requests on
 * one path to WebSockets with the `ws` library and hands each one on as a Duplex of MQTT bytes
 * (`WebSocketDuplex`), so the broker runs the same Connection as over TCP.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { WebSocketDuplex } from './ws-duplex.js';
import {
  startServer,
  stopServer,
  type ClientCertificate,
  type ConnectionHandler,
  type Listener,
  type TransportPeer,
} from './listener.js';
import { loadCredentials, toClientCertificate, type TlsCredentialOptions } from './tls.js';

/** The WebSocket sub-protocols accepted, in order of preference: MQTT 3.1.1 and 5.0 name it `mqtt`, MQTT 3.1 `mqttv3.1`. */
export const webSocketSubProtocols = ['mqtt', 'mqttv3.1'] as const;

/** Options of a WebSocket listener. */
export interface WebSocketListenerOptions {
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** The HTTP path that upgrades to MQTT over WebSocket (`/mqtt`); other paths get 404. */
  path: string;
  /** Largest WebSocket message accepted, in bytes (the broker's maximum packet size); a larger one closes the connection (1009). */
  maxPayload: number;
  /** Take the client's address from the last entry of `X-Forwarded-For` (added by a proxy in front). */
  trustProxy: boolean;
  /** Idle time before TCP keep-alive probes start, in ms (half-open connections); 0: off. */
  keepAliveMs?: number;
  /** Time a new connection has to send its upgrade request (and, for wss, finish its TLS handshake), in ms. */
  handshakeTimeoutMs: number;
  /** The certificate, key and CA files of `wss://`; undefined: plain `ws://`. */
  tls?: (TlsCredentialOptions & { requireClientCertificate: boolean }) | undefined;
}

/** A running WebSocket listener; `reload` (wss only) reads the certificate files again, as the TLS listener's. */
export interface WebSocketListener extends Listener {
  reload?: () => Promise<string>;
}

/** Called when an HTTP request is refused (not an upgrade, wrong path, wrong sub-protocol), with the status sent. */
export type HttpRefusalHandler = (status: number, why: string, remoteAddress: string | undefined) => void;

/**
 * The sub-protocol chosen among those the client offers: `mqtt` when offered [MQTT-6.0.0-4], else
 * `mqttv3.1`; false when it offers neither.
 */
export function chooseSubProtocol(offered: ReadonlySet<string>): string | false {
  for (const protocol of webSocketSubProtocols) if (offered.has(protocol)) return protocol;
  return false;
}

/**
 * The client's address: the socket's, or with `trustProxy` the last entry of X-Forwarded-For, the
 * one the trusted proxy appended (entries before it were written by whoever the proxy served, so any
 * client could forge them).
 */
export function clientAddress(request: IncomingMessage, trustProxy: boolean): string | undefined {
  const socketAddress = request.socket.remoteAddress;
  if (!trustProxy) return socketAddress;
  const header = request.headers['x-forwarded-for'];
  const value = Array.isArray(header) ? header.join(',') : header;
  const last = value
    ?.split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .at(-1);
  return last ?? socketAddress;
}

/** Writes a complete HTTP error response on a raw socket (an upgrade request) and closes it. */
function refuseUpgrade(socket: Duplex, status: number, reason: string, message: string, headers = ''): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n${headers}\r\n${body}`,
  );
}

/** The client certificate of a wss connection that presented one and passed the CA check. */
function verifiedCertificate(socket: Socket): ClientCertificate | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const peer = socket.getPeerCertificate();
  return Object.keys(peer).length > 0 ? toClientCertificate(peer) : undefined;
}

/** Whether a wss client presented a certificate that did not verify against the CA. */
function presentedBadCertificate(socket: Socket): boolean {
  return socket instanceof TLSSocket && !socket.authorized && Object.keys(socket.getPeerCertificate()).length > 0;
}

function pathOf(request: IncomingMessage): string {
  const url = request.url ?? '/';
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

/**
 * Starts a WebSocket listener that hands every upgraded connection to `onConnection` as a Duplex.
 * A plain HTTP request gets 426 on the path, 404 elsewhere; an upgrade on another path 404, and one
 * offering sub-protocols none of which is MQTT 400; none reaches the broker. For wss, the files are
 * read and checked first: a TlsFileError names the one at fault.
 */
export async function listenWebSocket(
  options: WebSocketListenerOptions,
  onConnection: ConnectionHandler,
  onRefused: HttpRefusalHandler = () => {},
): Promise<WebSocketListener> {
  const tls = options.tls;
  const credentials = tls === undefined ? undefined : await loadCredentials(tls);
  const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    const onPath = pathOf(request) === options.path;
    const status = onPath ? 426 : 404;
    const message = onPath
      ? 'this path speaks MQTT over WebSocket only'
      : `not found; MQTT over WebSocket is on ${options.path}`;
    onRefused(
      status,
      onPath ? 'not an upgrade request' : `no such path ${pathOf(request)}`,
      request.socket.remoteAddress,
    );
    const headers: Record<string, string> = { 'content-type': 'text/plain', connection: 'close' };
    if (onPath) headers.upgrade = 'websocket';
    response.writeHead(status, headers).end(`${message}\n`);
  };
  const server =
    credentials === undefined
      ? createHttpServer(onRequest)
      : createHttpsServer(
          {
            ...credentials.context,
            requestCert: tls?.caFile !== undefined,
            rejectUnauthorized: tls?.requireClientCertificate === true,
            handshakeTimeout: options.handshakeTimeoutMs,
          },
          onRequest,
        );
  server.headersTimeout = options.handshakeTimeoutMs;
  server.requestTimeout = options.handshakeTimeoutMs;
  const webSockets = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayload,
    // [MQTT-6.0.0-4]: `mqtt` when the client offers it
    handleProtocols: (offered) => chooseSubProtocol(offered),
    // Compression would cost CPU per message for payloads that are often already compact.
    perMessageDeflate: false,
  });
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const remoteAddress = request.socket.remoteAddress;
    socket.on('error', () => socket.destroy());
    if (pathOf(request) !== options.path) {
      onRefused(404, `upgrade on the wrong path ${pathOf(request)}`, remoteAddress);
      refuseUpgrade(socket, 404, 'Not Found', `not found; MQTT over WebSocket is on ${options.path}`);
      return;
    }
    const offered = request.headers['sec-websocket-protocol'];
    if (offered !== undefined && chooseSubProtocol(new Set(offered.split(',').map((p) => p.trim()))) === false) {
      onRefused(400, `no MQTT sub-protocol offered (${offered})`, remoteAddress);
      refuseUpgrade(
        socket,
        400,
        'Bad Request',
        `offer the WebSocket sub-protocol ${webSocketSubProtocols.join(' or ')}`,
      );
      return;
    }
    if (presentedBadCertificate(request.socket)) {
      // As on the TLS listener: a client may come without a certificate, but never with a bad one.
      onRefused(403, 'client certificate refused', remoteAddress);
      refuseUpgrade(socket, 403, 'Forbidden', 'client certificate refused');
      return;
    }
    // ws answers a malformed upgrade (bad version, key or method) with 400 itself.
    webSockets.handleUpgrade(request, socket, head, (webSocket: WebSocket) => {
      const raw = request.socket;
      if ((options.keepAliveMs ?? 0) > 0) raw.setKeepAlive(true, options.keepAliveMs);
      raw.setNoDelay(true);
      const peer: TransportPeer = {
        remoteAddress: clientAddress(request, options.trustProxy),
        remotePort: options.trustProxy ? undefined : raw.remotePort,
        localAddress: raw.localAddress,
      };
      const certificate = verifiedCertificate(raw);
      if (certificate !== undefined) peer.certificate = certificate;
      onConnection(new WebSocketDuplex(webSocket), peer);
    });
  });
  const transport = tls === undefined ? 'ws' : 'wss';
  const started = await startServer(server, transport, options.host, options.port);
  const address = { ...started, path: options.path };
  const listener: WebSocketListener = {
    address,
    close: () => {
      const stopped = stopServer(server);
      // Connections still in their HTTP exchange are not the broker's to close.
      server.closeAllConnections();
      return stopped;
    },
  };
  if (tls !== undefined && 'setSecureContext' in server) {
    listener.reload = async () => {
      const next = await loadCredentials(tls);
      server.setSecureContext(next.context);
      return next.fingerprint256;
    };
  }
  return listener;
}
