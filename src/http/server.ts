/**
 * AdminServer: the HTTP listener of a Broker, serving Prometheus metrics (`/metrics`), `/health`,
 * `/ready` and the admin API (`/api/v1/...`), with Node's `http` and the small router of
 * router.ts. Usable without the CLI: `new AdminServer(broker, { port: 8080, adminToken })`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Broker } from '../broker/broker.js';
import { FennecError } from '../errors/index.js';
import { AccessCheck } from './access.js';
import { adminRoutes } from './admin-api.js';
import { BrokerMetrics } from './metrics.js';
import type { Router } from './router.js';
import { errorBody, HttpError, type HttpRequest, type HttpResponse } from './router.js';

/** Options of an AdminServer. */
export interface AdminServerOptions {
  /** Address to listen on; default `127.0.0.1`. */
  host?: string;
  /** TCP port; `0` picks a free one. Default 8080. */
  port?: number;
  /**
   * Bearer token required by requests not from loopback and by every request that changes state;
   * undefined: such requests get 401.
   */
  adminToken?: string | undefined;
  /** A pino logger; default: the broker's. */
  logger?: Logger;
}

export class AdminServer {
  readonly metrics: BrokerMetrics;
  private readonly router: Router;
  private readonly access: AccessCheck;
  private readonly log: Logger;
  private server: Server | undefined;

  constructor(
    private readonly broker: Broker,
    private readonly options: AdminServerOptions = {},
  ) {
    this.metrics = new BrokerMetrics(broker);
    this.access = new AccessCheck(options.adminToken);
    this.log = options.logger ?? broker.log;
    this.router = adminRoutes(broker);
    this.router.add('GET', '/metrics', async () => ({
      status: 200,
      body: await this.metrics.scrape(),
      contentType: this.metrics.contentType,
    }));
  }

  /**
   * Answers one request: the access check, then its route. Never throws: an error becomes its
   * status with `{ error: { code, message } }`. Tests call it with any peer address.
   */
  async dispatch(request: HttpRequest): Promise<HttpResponse> {
    try {
      const url = new URL(request.url, 'http://localhost');
      const route = this.router.match(request.method, url.pathname);
      if (route === undefined) throw new HttpError(404, 'not_found', `no route ${request.method} ${url.pathname}`);
      const refusal = this.access.check(request);
      if (refusal !== undefined) {
        return {
          status: 401,
          body: errorBody(refusal.code, refusal.message),
          headers: { 'www-authenticate': 'Bearer' },
        };
      }
      if ('allowed' in route) {
        return {
          status: 405,
          body: errorBody('method_not_allowed', `${request.method} is not allowed on ${url.pathname}`),
          headers: { allow: route.allowed.join(', ') },
        };
      }
      return await route.handler({ request, params: route.params, query: url.searchParams });
    } catch (err) {
      if (err instanceof HttpError) return { status: err.status, body: errorBody(err.code, err.message) };
      this.log.error(
        { err: err instanceof Error ? err.message : String(err), url: request.url },
        'admin request failed',
      );
      return { status: 500, body: errorBody('internal', 'internal error; see the broker log') };
    }
  }

  /** Starts listening; resolves with the address. Rejects with `ERR_ADDRESS_IN_USE` or `ERR_LISTEN`. */
  async listen(): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => this.serve(req, res));
    server.keepAliveTimeout = 5000;
    // A request's headers and body must arrive within this time; a slow client does not hold a socket open.
    server.requestTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 8080, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      const code = err.code === 'EADDRINUSE' ? 'ERR_ADDRESS_IN_USE' : 'ERR_LISTEN';
      throw new FennecError(
        code,
        `the HTTP listener cannot listen on ${this.options.host ?? '127.0.0.1'}:${this.options.port ?? 8080}: ${err.message}`,
        { cause: err },
      );
    });
    this.server = server;
    const address = server.address() as AddressInfo;
    this.log.info({ transport: 'http', host: address.address, port: address.port }, 'listening');
    return { host: address.address, port: address.port };
  }

  /** The address listened on; undefined before `listen()` and after `close()`. */
  get address(): { host: string; port: number } | undefined {
    const address = this.server?.address() as AddressInfo | null | undefined;
    return address == null ? undefined : { host: address.address, port: address.port };
  }

  /** Stops listening and closes open HTTP connections; stops observing the broker. */
  async close(): Promise<void> {
    this.metrics.close();
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Reads the body (up to the broker's maximum packet size), answers, and writes the response. */
  private serve(req: IncomingMessage, res: ServerResponse): void {
    const limit = this.broker.options.maximumPacketSize;
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit && !refused) {
        refused = true;
        // Answered at once; the socket closes once the answer is out, so the rest is never read.
        res.once('finish', () => req.destroy());
        write(res, {
          status: 413,
          body: errorBody('too_large', `the body is larger than ${limit} bytes (limits.maximum_packet_size)`),
          headers: { connection: 'close' },
        });
      }
      if (!refused) chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const request: HttpRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        remoteAddress: req.socket.remoteAddress,
        body: Buffer.concat(chunks),
      };
      void this.dispatch(request).then((response) => write(res, response, req.method === 'HEAD'));
    });
    req.on('error', () => undefined);
  }
}

/** Writes `response`: JSON unless it has its own content type. */
function write(res: ServerResponse, response: HttpResponse, headOnly = false): void {
  const text =
    response.contentType === undefined ? `${JSON.stringify(response.body ?? null)}\n` : String(response.body);
  res.writeHead(response.status, {
    'content-type': response.contentType ?? 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...response.headers,
  });
  res.end(headOnly ? undefined : text);
}
