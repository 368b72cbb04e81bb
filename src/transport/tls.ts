/**
 * The TLS listener (`mqtts://`), with optional client certificates (mutual TLS) and a reload of its
 * certificate, key and CA files that leaves open connections alone.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import {
  createSecureContext,
  createServer,
  type PeerCertificate,
  type SecureContextOptions,
  type TLSSocket,
} from 'node:tls';
import { FennecError } from '../errors/index.js';
import { startServer, stopServer, type ClientCertificate, type ConnectionHandler, type Listener } from './listener.js';

// The versions are option values, so they live with the option table; re-exported for their old importers.
import type { TlsMinVersion } from '../config/fields.js';
export { tlsMinVersions, type TlsMinVersion } from '../config/fields.js';

/** The files of a TLS listener, by the option that names them. */
export type TlsFileOption = 'certFile' | 'keyFile' | 'caFile';

/** A certificate, key or CA file that cannot be read, or whose content is not what it should be. */
export class TlsFileError extends FennecError {
  /** The file at fault. */
  readonly file: string;
  /** The option that names it. */
  readonly option: TlsFileOption;

  constructor(
    code: 'ERR_TLS_FILE' | 'ERR_TLS_CREDENTIALS',
    option: TlsFileOption,
    file: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.file = file;
    this.option = option;
  }
}

/** Options of the TLS listener. */
export interface TlsListenerOptions {
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** PEM file with the server's certificate, followed by any intermediate certificates. */
  certFile: string;
  /** PEM file with the server's private key (not encrypted). */
  keyFile: string;
  /** PEM file with the CA certificates that client certificates must chain to; none: clients are not asked for one. */
  caFile?: string | undefined;
  /** Refuse, during the handshake, a client without a certificate signed by `caFile`'s CA. */
  requireClientCertificate: boolean;
  /** Oldest TLS version accepted. */
  minVersion: TlsMinVersion;
  /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are not affected); undefined: Node's default. */
  ciphers?: string | undefined;
  /** Time a new connection has to complete the TLS handshake, in ms. */
  handshakeTimeoutMs: number;
  /** Idle time before TCP keep-alive probes start on accepted sockets, in ms (half-open connections); 0: off. */
  keepAliveMs?: number;
}

/** A running TLS listener. */
export interface TlsListener extends Listener {
  /**
   * Reads the certificate, key and CA files again and serves new connections with them; open
   * connections keep the certificate they were made with. On a bad file it throws a TlsFileError
   * and keeps serving the previous credentials. Resolves with the new certificate's SHA-256 fingerprint.
   */
  reload(): Promise<string>;
}

/** Called for a connection whose TLS handshake failed or whose certificate was refused. */
export type TlsClientErrorHandler = (err: Error, remoteAddress: string | undefined) => void;

const labels: Record<TlsFileOption, string> = {
  certFile: 'certificate file',
  keyFile: 'private key file',
  caFile: 'CA file',
};

async function readPem(option: TlsFileOption, file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new TlsFileError(
      'ERR_TLS_FILE',
      option,
      file,
      `cannot read the TLS ${labels[option]} ${file}: ${describeReadError(err)}`,
      { cause: err },
    );
  }
}

function invalid(option: TlsFileOption, file: string, what: string, err: unknown): TlsFileError {
  const reason = err instanceof Error ? err.message : String(err);
  return new TlsFileError('ERR_TLS_CREDENTIALS', option, file, `the TLS ${labels[option]} ${file} ${what}: ${reason}`, {
    cause: err,
  });
}

/** The files and settings of a secure listener's credentials (TLS or secure WebSocket). */
export type TlsCredentialOptions = Pick<
  TlsListenerOptions,
  'certFile' | 'keyFile' | 'caFile' | 'minVersion' | 'ciphers'
>;

/**
 * Reads and checks a TLS listener's certificate, key and CA files and its cipher list as `listenTls`
 * does, without listening (`fennec check-config`). Resolves with the certificate's SHA-256 fingerprint.
 * @throws TlsFileError naming the option and file at fault; FennecError `ERR_TLS_OPTIONS` for a refused cipher list.
 */
export async function checkTlsFiles(options: TlsCredentialOptions): Promise<string> {
  return (await loadCredentials(options)).fingerprint256;
}

/**
 * The secure context options and the server certificate's fingerprint, read from the files and
 * checked: a TlsFileError names the file at fault. Shared by the TLS and secure WebSocket listeners.
 */
export async function loadCredentials(
  options: TlsCredentialOptions,
): Promise<{ context: SecureContextOptions; fingerprint256: string }> {
  // Read side by side, but report the first file at fault in the order cert, key, CA: whichever
  // read fails first is a matter of timing, and the error must not depend on it.
  const [cert, key, ca] = (
    await Promise.allSettled([
      readPem('certFile', options.certFile),
      readPem('keyFile', options.keyFile),
      options.caFile === undefined ? undefined : readPem('caFile', options.caFile),
    ])
  ).map((read) => {
    if (read.status === 'rejected') throw read.reason;
    return read.value;
  }) as [string, string, string | undefined];
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (err) {
    throw invalid('certFile', options.certFile, 'holds no PEM certificate', err);
  }
  try {
    createPrivateKey(key);
  } catch (err) {
    throw invalid('keyFile', options.keyFile, 'holds no unencrypted PEM private key', err);
  }
  if (ca !== undefined && options.caFile !== undefined) {
    try {
      new X509Certificate(ca);
    } catch (err) {
      throw invalid('caFile', options.caFile, 'holds no PEM certificate', err);
    }
  }
  const context: SecureContextOptions = { cert, key, minVersion: options.minVersion };
  if (ca !== undefined) context.ca = ca;
  if (options.ciphers !== undefined) {
    try {
      createSecureContext({ ciphers: options.ciphers });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new FennecError('ERR_TLS_OPTIONS', `the TLS cipher list "${options.ciphers}" is refused: ${reason}`, {
        cause: err,
      });
    }
    context.ciphers = options.ciphers;
  }
  try {
    createSecureContext(context);
  } catch (err) {
    // Each file parsed on its own and the cipher list checked, so what is left is the pair.
    throw invalid('keyFile', options.keyFile, `cannot be used with the certificate ${options.certFile}`, err);
  }
  return { context, fingerprint256: certificate.fingerprint256 };
}

/** A certificate's name fields, a field given more than once joined by `+`. */
function nameFields(name: unknown): Record<string, string> {
  const fields: Record<string, string> = {};
  if (typeof name !== 'object' || name === null) return fields;
  for (const [field, value] of Object.entries(name as Record<string, unknown>)) {
    if (field === '__proto__') continue;
    if (typeof value === 'string') fields[field] = value;
    else if (Array.isArray(value)) fields[field] = value.map(String).join('+');
  }
  return fields;
}

/** The key of a connection in `handshaking`: its remote address and port. */
function peerKey(socket: Socket): string {
  return `${String(socket.remoteAddress)}|${String(socket.remotePort)}`;
}

/** `CN=sensor-1,O=Fennec`: a certificate's subject for a log line. */
function describeSubject(peer: PeerCertificate): string {
  return Object.entries(nameFields(peer.subject))
    .map(([field, value]) => `${field}=${value}`)
    .join(',');
}

/** What the hooks are shown of a verified client certificate. */
export function toClientCertificate(peer: PeerCertificate): ClientCertificate {
  return {
    subject: nameFields(peer.subject),
    issuer: nameFields(peer.issuer),
    fingerprint256: peer.fingerprint256,
    serialNumber: peer.serialNumber,
    validFrom: peer.valid_from,
    validTo: peer.valid_to,
  };
}

/**
 * Starts a TLS listener that hands every socket to `onConnection` once its handshake is done.
 * The files are read and checked first: a TlsFileError names the one at fault.
 */
export async function listenTls(
  options: TlsListenerOptions,
  onConnection: ConnectionHandler,
  onClientError: TlsClientErrorHandler = () => {},
): Promise<TlsListener> {
  if (options.requireClientCertificate && options.caFile === undefined) {
    throw new FennecError(
      'ERR_TLS_OPTIONS',
      'requireClientCertificate needs caFile, the CA client certificates chain to',
    );
  }
  const { context } = await loadCredentials(options);
  const askForCertificate = options.caFile !== undefined;
  const server = createServer(
    {
      ...context,
      requestCert: askForCertificate,
      // The certificate is checked below rather than by OpenSSL, so that a refusal is logged with its reason.
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs,
      noDelay: true,
    },
    (socket: TLSSocket) => {
      handshaking.delete(peerKey(socket));
      let certificate: ClientCertificate | undefined;
      if (askForCertificate) {
        const peer = socket.getPeerCertificate();
        const presented = Object.keys(peer).length > 0;
        // Without requireClientCertificate a client may come without a certificate, but never with a bad one.
        if ((presented || options.requireClientCertificate) && !socket.authorized) {
          const reason = presented
            ? `client certificate ${describeSubject(peer)} refused: ${String(socket.authorizationError)}`
            : 'no client certificate, and one is required';
          onClientError(new FennecError('ERR_TLS_CLIENT_CERT', reason), socket.remoteAddress);
          socket.destroy();
          return;
        }
        if (presented) certificate = toClientCertificate(peer);
      }
      if ((options.keepAliveMs ?? 0) > 0) socket.setKeepAlive(true, options.keepAliveMs);
      onConnection(socket, {
        remoteAddress: socket.remoteAddress,
        remotePort: socket.remotePort,
        localAddress: socket.localAddress,
        ...(certificate === undefined ? {} : { certificate }),
      });
    },
  );
  // Sockets still in their handshake, by remote address and port: close() ends them rather than wait for
  // their handshake timeout, as the broker cannot close what it has not been given.
  const handshaking = new Map<string, Socket>();
  server.on('connection', (raw: Socket) => {
    const key = peerKey(raw);
    handshaking.set(key, raw);
    raw.once('close', () => {
      if (handshaking.get(key) === raw) handshaking.delete(key);
    });
  });
  server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
    onClientError(err, socket.remoteAddress);
    // Node leaves the socket open once a listener handles the error (a handshake timeout among them).
    socket.destroy();
  });
  const address = await startServer(server, 'tls', options.host, options.port);
  return {
    address,
    close: () => {
      const stopped = stopServer(server);
      for (const raw of handshaking.values()) raw.destroy();
      handshaking.clear();
      return stopped;
    },
    async reload() {
      const { context: next, fingerprint256 } = await loadCredentials(options);
      server.setSecureContext(next);
      return fingerprint256;
    },
  };
}

function describeReadError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return err instanceof Error ? err.message : String(err);
}
