/**
 * `allowAnonymous` as a hook: the Broker registers it first, so a client without a user name is
 * refused where it may not be anonymous before any other authenticate hook is asked.
 */
import { ReasonCode } from '../protocol/index.js';
import { isLoopbackAddress } from '../broker/addresses.js';
import type { AuthenticateRequest, AuthenticateResult, BrokerHooks } from '../broker/hooks.js';
import type { AllowAnonymous } from '../broker/options.js';

const REFUSED: AuthenticateResult = {
  ok: false,
  reasonCode: ReasonCode.NotAuthorized,
  reasonString: 'anonymous clients are not allowed here',
};

/**
 * Whether the client itself is local: always so on a loopback listener, but a WebSocket listener
 * behind a trusted proxy on this host sees the proxied client's own address, which may be remote.
 */
function fromLoopback(request: AuthenticateRequest): boolean {
  return request.remoteAddress === undefined || isLoopbackAddress(request.remoteAddress);
}

/**
 * The hooks, named `allow-anonymous`, that refuse a CONNECT without a user name (and without an
 * Authentication Method: enhanced authentication never reaches `authenticate`) with 0x87 (3.1.1: 5)
 * unless `allow` admits it: `true` everywhere, `false` nowhere, `'loopback'` only on a connection
 * that arrived on a loopback address. `byListener` overrides `allow` for the clients of the
 * listeners it names (Mosquitto's per-listener `allow_anonymous`). Every other CONNECT is left to
 * the hooks after it: the hook abstains.
 */
export function anonymousHooks(
  allow: AllowAnonymous,
  byListener: ReadonlyMap<string, AllowAnonymous> = new Map(),
): BrokerHooks {
  // Anonymous clients welcome everywhere: no authenticate hook, nothing asked per CONNECT.
  if (allow === true && [...byListener.values()].every((value) => value === true)) return { name: 'allow-anonymous' };
  return {
    name: 'allow-anonymous',
    authenticate: (request: AuthenticateRequest): AuthenticateResult | undefined => {
      if (request.username !== undefined) return undefined;
      const allowed = (request.listener === undefined ? undefined : byListener.get(request.listener)) ?? allow;
      if (allowed === true) return undefined;
      if (allowed === 'loopback' && isLoopbackAddress(request.localAddress) && fromLoopback(request)) return undefined;
      return REFUSED;
    },
  };
}
