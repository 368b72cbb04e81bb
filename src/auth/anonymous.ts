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
 * The hooks, named `allow-anonymous`, that refuse a CONNECT without a user name (and without an
 * Authentication Method: enhanced authentication never reaches `authenticate`) with 0x87 (3.1.1: 5)
 * unless `allow` admits it: `true` everywhere (the hooks then have no `authenticate`), `false`
 * nowhere, `'loopback'` only on a connection that arrived on a loopback address. Every other
 * CONNECT is left to the hooks after it: the hook abstains.
 */
export function anonymousHooks(allow: AllowAnonymous): BrokerHooks {
  if (allow === true) return { name: 'allow-anonymous' };
  return {
    name: 'allow-anonymous',
    authenticate: (request: AuthenticateRequest): AuthenticateResult | undefined => {
      if (request.username !== undefined) return undefined;
      if (allow === 'loopback' && isLoopbackAddress(request.localAddress)) return undefined;
      return REFUSED;
    },
  };
}
