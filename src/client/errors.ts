/**
 * The client library's error: a FennecError with the MQTT reason code and the Reason String the
 * broker gave, when it gave them.
 */
import { FennecError, type FennecErrorCode } from '../errors/index.js';

/** An error of the client library; `code` says what failed (see docs/errors.md). */
export class MqttClientError extends FennecError {
  /** The Reason String the broker sent with the failure (5.0), when it sent one. */
  readonly reasonString: string | undefined;

  constructor(
    code: FennecErrorCode,
    message: string,
    options: { reasonCode?: number | undefined; reasonString?: string | undefined; cause?: unknown } = {},
  ) {
    super(code, message, {
      ...(options.reasonCode === undefined ? {} : { reasonCode: options.reasonCode }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.reasonString = options.reasonString;
  }
}

/** `0x87` for 135: how reason codes read in messages. */
export function hex(code: number): string {
  return `0x${code.toString(16).padStart(2, '0').toUpperCase()}`;
}
