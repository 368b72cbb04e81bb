/**
 * The client's transports: a URL scheme picks how bytes reach the broker, and every transport ends
 * as a Duplex of MQTT bytes. `mqtt:` is TCP, `mqtts:` TLS, `ws:` and `wss:` a WebSocket (sub-protocol
 * `mqtt`) made a stream by `ws`.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { PeerCertificate, SecureVersion } from 'node:tls';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocket, type ClientOptions } from 'ws';
import { MqttClientError } from './errors.js';

/** TLS options of `mqtts:` and `wss:` URLs. Buffers or PEM strings, as node:tls takes them. */
export interface ClientTlsOptions {
  /** Certificate authorities to trust instead of the system's. */
  ca?: string | Buffer | (string | Buffer)[];
  /** The client certificate, for brokers that ask for one. */
  cert?: string | Buffer;
  /** The private key of `cert`. */
  key?: string | Buffer;
  /** Server name for SNI and the certificate check; the URL's host by default. */
  servername?: string;
  /** Whether the broker's certificate must verify; default true. */
  rejectUnauthorized?: boolean;
  /** Replaces the host name check of the broker's certificate (the chain is still verified); as node:tls. */
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
  /** Oldest and newest TLS version to negotiate; node:tls's defaults otherwise. */
  minVersion?: SecureVersion;
  maxVersion?: SecureVersion;
}

/** Where and how to connect, read from a URL. */
export interface Endpoint {
  scheme: 'mqtt' | 'mqtts' | 'ws' | 'wss';
  host: string;
  port: number;
  /** Path of a WebSocket URL; `/mqtt` when the URL has none. */
  path: string;
  /** Username and password written in the URL (`mqtt://user:pass@host`), if any. */
  username: string | undefined;
  password: string | undefined;
}

const DEFAULT_PORTS = { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 } as const;

/** Reads a broker URL; throws an MqttClientError ERR_CLIENT_URL when it does not parse or its scheme is unknown. */
export function parseEndpoint(url: string): Endpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new MqttClientError('ERR_CLIENT_URL', `not a URL: ${JSON.stringify(url)}`, { cause: err });
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (scheme !== 'mqtt' && scheme !== 'mqtts' && scheme !== 'ws' && scheme !== 'wss') {
    throw new MqttClientError(
      'ERR_CLIENT_URL',
      `unknown scheme ${JSON.stringify(parsed.protocol)}: use mqtt, mqtts, ws or wss`,
    );
  }
  if (parsed.hostname === '') throw new MqttClientError('ERR_CLIENT_URL', `no host in ${JSON.stringify(url)}`);
  // URL keeps IPv6 literals in brackets; sockets want them bare
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const path = parsed.pathname === '' || parsed.pathname === '/' ? '/mqtt' : parsed.pathname;
  return {
    scheme,
    host,
    port: parsed.port === '' ? DEFAULT_PORTS[scheme] : Number(parsed.port),
    path: path + parsed.search,
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
  };
}

/**
 * Opens the transport of `endpoint`. Resolves once bytes can flow (TCP connected, TLS handshake
 * done, WebSocket open); rejects with ERR_CLIENT_CONNECT and the socket's error as `cause`.
 */
export function openTransport(endpoint: Endpoint, tlsOptions: ClientTlsOptions = {}): Promise<Duplex> {
  return new Promise<Duplex>((resolve, reject) => {
    const fail = (err: Error): void =>
      reject(
        new MqttClientError('ERR_CLIENT_CONNECT', `cannot reach ${endpoint.host}:${endpoint.port}: ${err.message}`, {
          cause: err,
        }),
      );
    const { host, port } = endpoint;
    switch (endpoint.scheme) {
      case 'mqtt': {
        const socket = net.connect({ host, port });
        socket.setNoDelay(true);
        socket.once('error', fail);
        socket.once('connect', () => {
          socket.off('error', fail);
          resolve(socket);
        });
        return;
      }
      case 'mqtts': {
        // node:tls sends SNI and checks the certificate against the host unless servername says otherwise
        const socket = tls.connect({ host, port, ...tlsOptions });
        socket.once('error', fail);
        socket.once('secureConnect', () => {
          socket.off('error', fail);
          resolve(socket);
        });
        return;
      }
      case 'ws':
      case 'wss': {
        const hostPart = net.isIPv6(host) ? `[${host}]` : host;
        const ws = new WebSocket(`${endpoint.scheme}://${hostPart}:${port}${endpoint.path}`, 'mqtt', {
          // ws hands these to https and so to node:tls; its typings describe checkServerIdentity otherwise.
          ...((endpoint.scheme === 'wss' ? tlsOptions : {}) as unknown as ClientOptions),
        });
        ws.once('error', fail);
        ws.once('open', () => {
          ws.off('error', fail);
          resolve(createWebSocketStream(ws));
        });
        return;
      }
      default: {
        const never: never = endpoint.scheme;
        throw new Error(`unreachable: ${String(never)}`);
      }
    }
  });
}
