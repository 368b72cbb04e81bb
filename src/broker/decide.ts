/**
 * The one place a decision chain is asked (redirectConnect, authenticate, authorizePublish,
 * authorizeSubscribe): each hook in registration order until one answers decisively, its answer
 * mapped to the verdict a handler acts on, and a hook that throws or rejects logged once and mapped
 * to the refusal its caller gives, never a crash. Synchronous while the hooks answer synchronously,
 * so a PUBLISH whose hooks are synchronous makes no promise.
 */
import { ReasonCode } from '../protocol/index.js';
import { toFennecError } from '../errors/index.js';
import type { AuthenticateResult, HookAnswer, Redirection } from './hooks.js';
import type { ChainLink } from './hook-registry.js';
import type { Connection } from './connection.js';

/** What a chain decided, as a handler acts on it. */
export type Verdict =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** The 5.0 reason code of the refusal; the handler maps it for 3.1.1. */
      readonly reasonCode: number;
      readonly reasonString?: string | undefined;
      /** Where a redirected client should go (5.0 Server Reference). */
      readonly serverReference?: string | undefined;
    };

/** The verdict when a hook allows, or every hook abstains. */
export const ALLOWED: Verdict = { allowed: true };
const NOT_AUTHORIZED: Verdict = { allowed: false, reasonCode: ReasonCode.NotAuthorized };
const SERVER_UNAVAILABLE: Verdict = { allowed: false, reasonCode: ReasonCode.ServerUnavailable };

/** How a caller reads a chain: what a decisive answer means, and the refusal a hook failure gives. */
export interface Judgement<T> {
  judge(answer: T): Verdict;
  /** The verdict when a hook throws or rejects. */
  readonly failure: Verdict;
}

/** authorizePublish / authorizeSubscribe: true allows, any other decisive answer (and a failure) is 0x87. */
export const authorization: Judgement<boolean> = {
  judge: (allowed) => (allowed === true ? ALLOWED : NOT_AUTHORIZED),
  failure: NOT_AUTHORIZED,
};

/** authenticate: the result's own reason code; a failing hook is 0x88 Server unavailable (3.1.1: 3). */
export const authentication: Judgement<AuthenticateResult> = {
  judge: (result) =>
    result.ok ? ALLOWED : { allowed: false, reasonCode: result.reasonCode, reasonString: result.reasonString },
  failure: SERVER_UNAVAILABLE,
};

/** redirectConnect: 5.0 section 4.11, 0x9D Server moved when permanent, else 0x9C Use another server. */
export const redirection: Judgement<Redirection> = {
  judge: (to) => ({
    allowed: false,
    reasonCode: to.permanent ? ReasonCode.ServerMoved : ReasonCode.UseAnotherServer,
    serverReference: to.serverReference,
  }),
  failure: SERVER_UNAVAILABLE,
};

/**
 * Asks the hooks of `chain` (hooks of `kind`) with `args`, in order, until one answers something other
 * than undefined, and judges that answer; ALLOWED when every hook abstains. A promise only when a
 * hook answered with one; it never rejects.
 */
export function decide<A extends unknown[], T>(
  connection: Connection,
  kind: string,
  chain: readonly ChainLink<(...args: A) => HookAnswer<T>>[],
  args: A,
  judgement: Judgement<T>,
): Verdict | Promise<Verdict> {
  return askFrom(0, connection, kind, chain, args, judgement);
}

function askFrom<A extends unknown[], T>(
  start: number,
  connection: Connection,
  kind: string,
  chain: readonly ChainLink<(...args: A) => HookAnswer<T>>[],
  args: A,
  judgement: Judgement<T>,
): Verdict | Promise<Verdict> {
  for (let i = start; i < chain.length; i++) {
    const link = chain[i]!;
    let answer: HookAnswer<T>;
    try {
      answer = link.hook(...args);
    } catch (err) {
      return failed(connection, kind, link.name, err, judgement);
    }
    if (answer instanceof Promise) {
      return answer.then(
        (later: T | undefined) =>
          later === undefined ? askFrom(i + 1, connection, kind, chain, args, judgement) : judgement.judge(later),
        (err: unknown) => failed(connection, kind, link.name, err, judgement),
      );
    }
    if (answer !== undefined) return judgement.judge(answer);
  }
  return ALLOWED;
}

/** Logs a failed hook once, by name, without the request it was deciding; returns the caller's refusal. */
function failed<T>(connection: Connection, kind: string, hook: string, err: unknown, judgement: Judgement<T>): Verdict {
  const error = toFennecError(err, 'ERR_HOOK_FAILED');
  connection.log.warn({ hook, kind, code: error.code, err: error.message }, 'hook failed');
  return judgement.failure;
}
