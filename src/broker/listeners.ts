/**
 * The broker's network listeners: TCP, and TLS when configured. Each hands its connections to the
 * broker as a Duplex and a PeerInfo; this part only starts, reloads and stops them.
 */
import type { Logger } from 'pino';
import { FennecError } from '../errors/index.js';
import type { ConnectionHandler, Listener, ListenerAddress } from '../transport/listener.js';
import { listenTcp } from '../transport/tcp.js';
import { listenTls, type TlsListener } from '../transport/tls.js';
import { defaultTlsOptions, type ResolvedBrokerOptions, type TlsOptions } from './options.js';

export class Listeners {
  /** The running listeners, TCP first. */
  private transports: Listener[] = [];
  private tlsListener: TlsListener | undefined;

  constructor(
    private readonly options: Pick<ResolvedBrokerOptions, 'host' | 'port' | 'connectTimeoutMs' | 'tcpKeepAliveMs'>,
    /** The TLS listener's options; undefined: no TLS listener. */
    private readonly tls: TlsOptions | undefined,
    private readonly log: Logger,
  ) {}

  /**
   * Starts TCP, and TLS when configured, each calling `onConnection`. When one cannot start, none is
   * left running: the error is a FennecError (`ERR_ADDRESS_IN_USE`, `ERR_LISTEN`, or for TLS files a
   * TlsFileError).
   */
  async start(onConnection: ConnectionHandler): Promise<void> {
    try {
      // TLS first: its files are read and checked before any port opens.
      const tls = this.tls;
      if (typeof tls?.useIdentityAsUsername === 'string' && tls.requireClientCertificate !== true) {
        // Otherwise a client without a certificate would keep whatever username it claims in CONNECT.
        throw new FennecError('ERR_TLS_OPTIONS', 'useIdentityAsUsername needs requireClientCertificate: true');
      }
      if (tls !== undefined) {
        this.tlsListener = await listenTls(
          {
            host: tls.host ?? this.options.host,
            port: tls.port ?? defaultTlsOptions.port,
            certFile: tls.certFile,
            keyFile: tls.keyFile,
            caFile: tls.caFile,
            requireClientCertificate: tls.requireClientCertificate ?? defaultTlsOptions.requireClientCertificate,
            minVersion: tls.minVersion ?? defaultTlsOptions.minVersion,
            ciphers: tls.ciphers,
            handshakeTimeoutMs: this.options.connectTimeoutMs,
            keepAliveMs: this.options.tcpKeepAliveMs,
          },
          onConnection,
          (err, remoteAddress) => {
            // A refused client certificate matters to whoever runs mutual TLS; a failed handshake is routine noise.
            if (err instanceof FennecError) this.log.info({ remoteAddress, err: err.message }, 'TLS client refused');
            else this.log.debug({ remoteAddress, err: err.message }, 'TLS handshake failed');
          },
        );
        this.transports.push(this.tlsListener);
      }
      this.transports.unshift(
        await listenTcp(
          { host: this.options.host, port: this.options.port, keepAliveMs: this.options.tcpKeepAliveMs },
          onConnection,
        ),
      );
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** The address of every running listener: TCP first, then TLS. Empty before `start()` and after `close()`. */
  get addresses(): ListenerAddress[] {
    return this.transports.map((listener) => listener.address);
  }

  /**
   * Reads the TLS certificate, key and CA files again and serves new TLS connections with them. Open
   * connections stay up. Resolves with the new certificate's SHA-256 fingerprint; on a bad file
   * rejects with a TlsFileError and keeps the previous credentials. Rejects with
   * `ERR_TLS_NOT_LISTENING` when no TLS listener runs.
   */
  async reloadTls(): Promise<string> {
    const listener = this.tlsListener;
    if (listener === undefined) {
      throw new FennecError(
        'ERR_TLS_NOT_LISTENING',
        'no TLS listener to reload: tls is not configured or not listening',
      );
    }
    const fingerprint256 = await listener.reload();
    this.log.info({ fingerprint256 }, 'TLS certificate reloaded');
    return fingerprint256;
  }

  /** Stops every listener at once (`addresses` is empty from now on); resolves once all are closed. */
  close(): Promise<void> {
    const transports = this.transports;
    this.transports = [];
    this.tlsListener = undefined;
    return Promise.all(transports.map((listener) => listener.close())).then(() => undefined);
  }
}
