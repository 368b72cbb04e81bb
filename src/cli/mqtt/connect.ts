/**
 * Connecting `fennec pub` and `fennec sub`, with mosquitto's exit codes: a CONNACK refusal exits
 * with its reason code (1 to 5 in 3.1.1, 128 and up in 5.0), any other failure to connect with 1.
 */
import { connect, MqttClientError, type MqttClient } from '../../client/index.js';
import { CliError } from '../errors.js';
import type { Connection } from './flags.js';

/** Exit codes of `fennec pub` and `fennec sub` besides the CONNACK reason codes (docs/cli.md). */
export const MqttExit = {
  /** The broker is unreachable, TLS failed, the connection was lost, a publish was refused. */
  Failure: 1,
  /** `fennec sub -W`: the time ran out; mosquitto_sub's MOSQ_ERR_TIMEOUT. */
  Timeout: 27,
} as const;

/** Connects; a failure becomes a CliError with mosquitto's exit code. */
export async function openClient(connection: Connection, reconnect: boolean): Promise<MqttClient> {
  try {
    return await connect(connection.url, {
      ...connection.options,
      reconnect: reconnect ? { minDelayMs: 1_000, maxDelayMs: 30_000 } : false,
    });
  } catch (err) {
    throw connectError(err, connection.url);
  }
}

/** The CliError of a failed connection attempt. */
export function connectError(err: unknown, url: string): CliError {
  if (err instanceof MqttClientError && err.code === 'ERR_CLIENT_REFUSED' && err.reasonCode !== undefined) {
    return new CliError('ERR_CLIENT_REFUSED', `${url}: ${oneLine(err.message)}`, err.reasonCode, { cause: err });
  }
  const message = oneLine(err instanceof Error ? err.message : String(err));
  const code = err instanceof MqttClientError ? err.code : 'ERR_CLIENT_CONNECT';
  return new CliError(code, `${url}: ${message}`, MqttExit.Failure, { cause: err });
}

/** The CliError of a failure once connected (a refused publish, a lost link). */
export function runError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  const reason =
    err instanceof MqttClientError && err.reasonCode !== undefined ? ` (reason code ${err.reasonCode})` : '';
  const code = err instanceof MqttClientError ? err.code : 'ERR_CLIENT_DISCONNECTED';
  return new CliError(code, `${oneLine(err instanceof Error ? err.message : String(err))}${reason}`, MqttExit.Failure, {
    cause: err,
  });
}

/** OpenSSL's messages end with a newline; errors of the command are one line. */
function oneLine(message: string): string {
  return message.trim().replace(/\s*\n\s*/g, ' ');
}
