/**
 * Exit codes of the `fennec` command (documented in docs/cli.md) and the error that carries one.
 */
import { FennecError, type FennecErrorCode } from '../errors/index.js';

/** Exit codes, after BSD sysexits where one fits. */
export const ExitCode = {
  Ok: 0,
  /** A bad flag or argument. */
  Usage: 2,
  /** Bad input data: a password file with a bad line, passwords that differ or are empty. */
  DataError: 65,
  /** An input file is missing or unreadable (a password file without `--create`). */
  NoInput: 66,
  /** The user named is not there (`fennec passwd -D` of an unknown user). */
  NoUser: 67,
  /** An output file cannot be written. */
  CannotCreate: 73,
  /** The store in the data directory cannot be opened or trusted (corrupt, locked, newer schema). */
  Store: 74,
  /** The configuration file is missing or invalid. */
  Config: 78,
  /** The broker could not listen (address in use, permission). */
  Unavailable: 69,
  /** An unexpected internal error. */
  Software: 70,
} as const;

/** An error that ends the command with a one-line message and `exitCode`. */
export class CliError extends FennecError {
  readonly exitCode: number;

  constructor(code: FennecErrorCode, message: string, exitCode: number, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.exitCode = exitCode;
  }
}
