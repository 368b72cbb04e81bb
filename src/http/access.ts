/**
 * Who may use the admin HTTP server: a request from loopback may read without a token; any other
 * request, and every request that changes state, needs `Authorization: Bearer TOKEN` with the
 * configured admin token, compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isLoopbackAddress } from '../broker/addresses.js';
import type { HttpRequest } from './router.js';

/** Methods that only read. */
const READ_METHODS = new Set(['GET', 'HEAD']);

/** Why a request is refused; undefined: it may go on. */
export type Refusal = { code: 'unauthorized'; message: string } | undefined;

/** SHA-256 of `text`: both sides of the comparison are then 32 bytes, whatever their lengths. */
function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class AccessCheck {
  private readonly expected: Buffer | undefined;

  /** `adminToken`: the bearer token; undefined: none is configured, so only loopback reads pass. */
  constructor(adminToken: string | undefined) {
    this.expected = adminToken === undefined ? undefined : digest(adminToken);
  }

  /** Whether the request carries the admin token, compared in constant time. */
  private hasToken(request: HttpRequest): boolean {
    const header = request.headers['authorization'];
    const value = Array.isArray(header) ? header[0] : header;
    const match = value === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(value);
    if (this.expected === undefined || match === null) return false;
    return timingSafeEqual(digest(match[1]!), this.expected);
  }

  /** Refuses a request that needs the token and lacks it (or gives a wrong one). */
  check(request: HttpRequest): Refusal {
    const loopback = request.remoteAddress !== undefined && isLoopbackAddress(request.remoteAddress);
    if (loopback && READ_METHODS.has(request.method)) return undefined;
    if (this.hasToken(request)) return undefined;
    const why = loopback ? 'a request that changes state' : 'a request not from loopback';
    return {
      code: 'unauthorized',
      message:
        this.expected === undefined
          ? `${why} needs the admin token, and none is configured (http.admin_token or FENNEC_ADMIN_TOKEN)`
          : `${why} needs the header Authorization: Bearer <admin token>`,
    };
  }
}
