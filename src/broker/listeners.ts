/**
 * The broker's network listeners: MQTT over TCP, TLS, WebSocket and WebSocket over TLS, as many as
 * configured. Each hands its connections to the broker as a Duplex and a PeerInfo naming the
 * listener; this part only starts, reloads and stops them.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { FennecError } from '../errors/index.js';
import { isSecureProtocol } from '../config/listener-options.js';
import type { ListenerAddress, TransportPeer } from '../transport/listener.js';
import { listenTcp } from '../transport/tcp.js';
import { listenTls } from '../transport/tls.js';
import { listenWebSocket } from '../transport/ws.js';
import type { PeerInfo } from './connection-state.js';
import {
  defaultListenerOptions,
  defaultTlsOptions,
  type ListenerOptions,
  type ResolvedBrokerOptions,
  type TlsOptions,
} from './options.js';

/** What the listeners need of the broker's options. */
export type ListenerHostOptions = Pick<
  ResolvedBrokerOptions,
  'host' | 'port' | 'connectTimeoutMs' | 'tcpKeepAliveMs' | 'maximumPacketSize'
>;

/** A running listener's address and its name. */
export interface NamedListenerAddress extends ListenerAddress {
  /** `listeners[].name`, or `mqtt` / `mqtts` for the short form. */
  name: string;
}

/** Called for every accepted connection, with the listener's name in `peer.listener`. */
export type BrokerConnectionHandler = (stream: Duplex, peer: PeerInfo) => void;

interface Running {
  name: string;
  address: ListenerAddress;
  close(): Promise<void>;
  reload?: (() => Promise<string>) | undefined;
}

/**
 * The listeners of the short form: TCP on `host`:`port` (named `mqtt`), and TLS (named `mqtts`) when
 * `tls` is set.
 */
export function shortFormListeners(options: {
  host: string;
  port: number;
  tls?: TlsOptions | undefined;
}): ListenerOptions[] {
  const listeners: ListenerOptions[] = [{ name: 'mqtt', protocol: 'mqtt', host: options.host, port: options.port }];
  const tls = options.tls;
  if (tls !== undefined) {
    const { host, port, ...files } = tls;
    listeners.push({
      ...files,
      name: 'mqtts',
      protocol: 'mqtts',
      host: host ?? options.host,
      port: port ?? defaultTlsOptions.port,
    });
  }
  return listeners;
}

/** Each listener with its name decided: the one given, else `PROTOCOL-INDEX`. */
export function named(listeners: readonly ListenerOptions[]): (ListenerOptions & { name: string })[] {
  return listeners.map((listener, index) => ({ ...listener, name: listener.name ?? `${listener.protocol}-${index}` }));
}

export class Listeners {
  private running: Running[] = [];
  /** Every listener to start, named. */
  readonly configured: readonly (ListenerOptions & { name: string })[];

  constructor(
    private readonly options: ListenerHostOptions,
    /** The short form's TLS listener; undefined: none. Not used when `listeners` is given. */
    tls: TlsOptions | undefined,
    /** Every listener; undefined: the short form (`host`, `port`, `tls`). */
    listeners: readonly ListenerOptions[] | undefined,
    private readonly log: Logger,
  ) {
    this.configured = named(listeners ?? shortFormListeners({ host: options.host, port: options.port, tls }));
  }

  /**
   * Starts every listener, each calling `onConnection`. When one cannot start, none is left running:
   * the error is a FennecError (`ERR_ADDRESS_IN_USE`, `ERR_LISTEN`, `ERR_TLS_OPTIONS`, or for TLS
   * files a TlsFileError).
   */
  async start(onConnection: BrokerConnectionHandler): Promise<void> {
    // Secure listeners first: their files are read and checked before any port opens.
    const order = [...this.configured].sort(
      (a, b) => Number(isSecureProtocol(b.protocol)) - Number(isSecureProtocol(a.protocol)),
    );
    const started = new Map<string, Running>();
    try {
      for (const listener of order) started.set(listener.name, await this.startOne(listener, onConnection));
    } catch (err) {
      await Promise.all([...started.values()].map((running) => running.close()));
      throw err;
    }
    this.running = this.configured.map((listener) => started.get(listener.name)!);
  }

  private async startOne(
    listener: ListenerOptions & { name: string },
    onConnection: BrokerConnectionHandler,
  ): Promise<Running> {
    const { name, protocol } = listener;
    const host = listener.host ?? this.options.host;
    const keepAliveMs = this.options.tcpKeepAliveMs;
    const identity = listener.useIdentityAsUsername;
    if (typeof identity === 'string' && listener.requireClientCertificate !== true) {
      // Otherwise a client without a certificate would keep whatever username it claims in CONNECT.
      throw new FennecError(
        'ERR_TLS_OPTIONS',
        `listener ${name}: useIdentityAsUsername needs requireClientCertificate: true`,
      );
    }
    // Every field written in one literal, in one order: a spread gave each connection's peer its own
    // hidden class (about 250 bytes per connection in a heap snapshot).
    const handler = (stream: Duplex, peer: TransportPeer): void =>
      onConnection(stream, {
        remoteAddress: peer.remoteAddress,
        remotePort: peer.remotePort,
        localAddress: peer.localAddress,
        certificate: peer.certificate,
        listener: name,
        useIdentityAsUsername: identity ?? false,
      });
    const tls = () => {
      if (listener.certFile === undefined || listener.keyFile === undefined) {
        throw new FennecError('ERR_TLS_OPTIONS', `listener ${name}: a ${protocol} listener needs certFile and keyFile`);
      }
      return {
        certFile: listener.certFile,
        keyFile: listener.keyFile,
        caFile: listener.caFile,
        requireClientCertificate: listener.requireClientCertificate ?? defaultTlsOptions.requireClientCertificate,
        minVersion: listener.minVersion ?? defaultTlsOptions.minVersion,
        ciphers: listener.ciphers,
      };
    };
    switch (protocol) {
      case 'mqtt': {
        const proxyProtocol = listener.trustProxy ?? defaultListenerOptions.trustProxy;
        const started = await listenTcp(
          { host, port: listener.port, keepAliveMs, proxyProtocol, headerTimeoutMs: this.options.connectTimeoutMs },
          handler,
          (why, remoteAddress) => this.log.debug({ listener: name, remoteAddress, why }, 'PROXY header refused'),
        );
        return { name, ...started };
      }
      case 'mqtts': {
        const started = await listenTls(
          { host, port: listener.port, ...tls(), handshakeTimeoutMs: this.options.connectTimeoutMs, keepAliveMs },
          handler,
          (err, remoteAddress) => {
            // A refused client certificate matters to whoever runs mutual TLS; a failed handshake is routine noise.
            if (err instanceof FennecError)
              this.log.info({ listener: name, remoteAddress, err: err.message }, 'TLS client refused');
            else this.log.debug({ listener: name, remoteAddress, err: err.message }, 'TLS handshake failed');
          },
        );
        return { name, address: started.address, close: () => started.close(), reload: () => started.reload() };
      }
      case 'ws':
      case 'wss': {
        const started = await listenWebSocket(
          {
            host,
            port: listener.port,
            path: listener.path ?? defaultListenerOptions.path,
            // A WebSocket message holds at least one packet's bytes; none may pass the broker's maximum.
            maxPayload: this.options.maximumPacketSize,
            trustProxy: listener.trustProxy ?? defaultListenerOptions.trustProxy,
            keepAliveMs,
            handshakeTimeoutMs: this.options.connectTimeoutMs,
            tls: protocol === 'wss' ? tls() : undefined,
          },
          handler,
          (status, why, remoteAddress) =>
            this.log.debug({ listener: name, status, remoteAddress, why }, 'HTTP request refused'),
        );
        return { name, address: started.address, close: () => started.close(), reload: started.reload };
      }
      default: {
        const unknown: never = protocol;
        throw new FennecError('ERR_LISTEN', `listener ${name}: unknown protocol ${String(unknown)}`);
      }
    }
  }

  /** The address of every running listener, in configuration order. Empty before `start()` and after `close()`. */
  get addresses(): NamedListenerAddress[] {
    return this.running.map(({ name, address }) => ({ name, ...address }));
  }

  /**
   * Reads the certificate, key and CA files of every secure listener (mqtts, wss) again and serves
   * new connections with them. Open connections stay up. Resolves with the first one's new SHA-256
   * fingerprint; on a bad file rejects with a TlsFileError, that listener keeping its previous
   * credentials. Rejects with `ERR_TLS_NOT_LISTENING` when no secure listener runs.
   */
  async reloadTls(): Promise<string> {
    const secure = this.running.filter((running) => running.reload !== undefined);
    if (secure.length === 0) {
      throw new FennecError(
        'ERR_TLS_NOT_LISTENING',
        'no TLS listener to reload: tls is not configured or not listening',
      );
    }
    const fingerprints: string[] = [];
    for (const running of secure) {
      const fingerprint256 = await running.reload!();
      this.log.info({ listener: running.name, fingerprint256 }, 'TLS certificate reloaded');
      fingerprints.push(fingerprint256);
    }
    return fingerprints[0]!;
  }

  /** Stops every listener at once (`addresses` is empty from now on); resolves once all are closed. */
  close(): Promise<void> {
    const running = this.running;
    this.running = [];
    return Promise.all(running.map((listener) => listener.close())).then(() => undefined);
  }
}
