/**
 * Fennec's error hierarchy. Every error the project throws carries a stable string `code` (one of
 * `errorCodes`, documented in docs/errors.md), an optional MQTT 5 reason code and an optional `cause`.
 * Code branches on `code` or on the class, never on the message text.
 */
import type { FennecErrorCode } from './codes.js';

export { errorCodes, type FennecErrorCode } from './codes.js';

/** Base class of every error Fennec throws. */
export class FennecError extends Error {
  /** Stable identifier, e.g. `ERR_MALFORMED_PACKET`: a key of `errorCodes`, listed in docs/errors.md. */
  readonly code: FennecErrorCode;
  /** MQTT 5 reason code that describes this error on the wire, when there is one. */
  readonly reasonCode: number | undefined;

  constructor(code: FennecErrorCode, message: string, options: { reasonCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.reasonCode = options.reasonCode;
  }
}

/**
 * Turns any thrown value into a FennecError, keeping the original as `cause`.
 * Used at the boundaries (connection, hooks, CLI) where foreign code may throw anything.
 */
export function toFennecError(value: unknown, code: FennecErrorCode = 'ERR_INTERNAL'): FennecError {
  if (value instanceof FennecError) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new FennecError(code, message, { cause: value });
}
