/**
 * A small router for the admin HTTP server: routes by method and path (`/api/v1/clients/:id`, a
 * trailing `*` taking the rest of the path), over plain request and response values, so that it
 * runs without sockets in tests (the peer's address is a field of the request).
 */

/** An HTTP request as the router sees it: parsed, the body read. */
export interface HttpRequest {
  method: string;
  /** The path and query, as in the request line (`/api/v1/clients?limit=10`). */
  url: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The peer's address (IPv4, IPv6 or IPv4-mapped IPv6); undefined when unknown. */
  remoteAddress: string | undefined;
  /** The request body, empty when none. */
  body: Buffer;
}

/** What a handler answers: a status, a JSON value (or text for /metrics) and extra headers. */
export interface HttpResponse {
  status: number;
  /** Sent as JSON unless `contentType` says otherwise, in which case it must be a string. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

/** A matched request: its parameters (`:id`, `*`) decoded, and its query. */
export interface RouteContext {
  request: HttpRequest;
  params: Record<string, string>;
  query: URLSearchParams;
}

export type RouteHandler = (context: RouteContext) => HttpResponse | Promise<HttpResponse>;

/** An error a handler throws to answer with `status` and `{ error: { code, message } }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** The JSON body of every error answer. */
export function errorBody(code: string, message: string): { error: { code: string; message: string } } {
  return { error: { code, message } };
}

interface Route {
  method: string;
  segments: string[];
  handler: RouteHandler;
}

export class Router {
  private readonly routes: Route[] = [];

  /** Adds a route; `pattern` segments starting with `:` are parameters, a last segment `*` takes the rest. */
  add(method: string, pattern: string, handler: RouteHandler): this {
    this.routes.push({ method, segments: pattern.split('/').slice(1), handler });
    return this;
  }

  /**
   * The handler of `method` and `path` with its parameters; `405` when the path exists for other
   * methods (with them, for the Allow header); undefined when no route has the path.
   */
  match(
    method: string,
    path: string,
  ): { handler: RouteHandler; params: Record<string, string> } | { allowed: string[] } | undefined {
    const parts = path.split('/').slice(1);
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (params === undefined) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
        return { handler: route.handler, params };
      }
      allowed.push(route.method);
    }
    return allowed.length > 0 ? { allowed } : undefined;
  }
}

/** The parameters of `parts` against a route's `segments`, decoded; undefined when they do not match. */
function matchSegments(segments: string[], parts: string[]): Record<string, string> | undefined {
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '*' && i === segments.length - 1) {
      const rest = parts.slice(i).join('/');
      if (rest === '') return undefined;
      params['*'] = decode(rest);
      return params;
    }
    const part = parts[i];
    if (part === undefined) return undefined;
    if (segment.startsWith(':')) {
      if (part === '') return undefined;
      params[segment.slice(1)] = decode(part);
    } else if (segment !== part) return undefined;
  }
  return parts.length === segments.length ? params : undefined;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new HttpError(400, 'bad_path', `the path segment ${JSON.stringify(part)} is not valid percent-encoding`);
  }
}
