/**
 * What every listener has in common: it accepts connections of one transport, reduces each to a
 * Duplex and what is known of the peer, and hands both to a callback. Listeners know nothing of MQTT.
 */
import type { AddressInfo, Server } from 'node:net';
import type { Duplex } from 'node:stream';
import { FennecError } from '../errors/index.js';

/** A client certificate the peer presented and the listener verified against its CA. */
export interface ClientCertificate {
  /** Subject fields (`CN`, `O`, `OU`...); a field given more than once holds its values joined by `+`. */
  subject: Readonly<Record<string, string>>;
  /** Issuer fields, as `subject`. */
  issuer: Readonly<Record<string, string>>;
  /** SHA-256 fingerprint, colon-separated upper-case hex (`AB:CD:...`), as Node reports it. */
  fingerprint256: string;
  /** Serial number, upper-case hex. */
  serialNumber: string;
  /** Start of validity, as in the certificate (`Nov 25 20:00:00 2026 GMT`). */
  validFrom: string;
  /** End of validity, as `validFrom`. */
  validTo: string;
}

/** What a listener knows of the other end of a connection. */
export interface TransportPeer {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  /** The local address the connection arrived on. */
  localAddress: string | undefined;
  /** The verified client certificate (TLS with a CA for clients); undefined when none was presented. */
  certificate?: ClientCertificate;
}

/** Called for every accepted connection. */
export type ConnectionHandler = (stream: Duplex, peer: TransportPeer) => void;

/** Transports a listener may speak: TCP, TLS, WebSocket and WebSocket over TLS. */
export type TransportKind = 'tcp' | 'tls' | 'ws' | 'wss';

/** Where a listener listens. */
export interface ListenerAddress {
  transport: TransportKind;
  host: string;
  port: number;
  /** The HTTP path of a WebSocket listener (`/mqtt`); absent for TCP and TLS. */
  path?: string;
}

/** The URL scheme of each transport, as clients write it. */
export const urlSchemes: Readonly<Record<TransportKind, string>> = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws', wss: 'wss' };

/** `mqtt://127.0.0.1:1883`, `ws://[::1]:8080/mqtt`: the URL a client connects to. */
export function listenerUrl(address: ListenerAddress): string {
  return `${urlSchemes[address.transport]}://${hostForUrl(address.host)}:${address.port}${address.path ?? ''}`;
}

/** A host as it goes in a URL: an IPv6 address in brackets. */
export function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** A started listener. */
export interface Listener {
  readonly address: ListenerAddress;
  /** Stops accepting connections; resolves once the server has closed (open connections are the broker's). */
  close(): Promise<void>;
}

/**
 * Starts `server` on host:port; a failure is a FennecError `ERR_ADDRESS_IN_USE` or `ERR_LISTEN`.
 * Resolves with the address it listens on (port 0 picks a free one).
 */
export async function startServer(
  server: Server,
  transport: TransportKind,
  host: string,
  port: number,
): Promise<ListenerAddress> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const code = err.code === 'EADDRINUSE' ? 'ERR_ADDRESS_IN_USE' : 'ERR_LISTEN';
      const what = transport === 'tcp' ? '' : ` (${transport.toUpperCase()})`;
      reject(new FennecError(code, `cannot listen on ${host}:${port}${what}: ${err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return { transport, host: address.address, port: address.port };
}

/** Closes `server`; resolves when it has stopped listening. */
export function stopServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => server.close(() => resolve()));
}
