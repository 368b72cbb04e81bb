/**
 * The error a configuration source (a file or the environment) fails with: every issue, each with
 * its key path and, for a file, its line and column.
 */
import { FennecError } from '../errors/index.js';

/** One problem in a configuration source. */
export interface ConfigIssue {
  /** Dotted key path, e.g. `limits.max_inflight_messages`; for the environment, the variable name; `''` for the whole source. */
  path: string;
  /** 1-based line in the file; 0 when the issue has no position (the environment, an unreadable file). */
  line: number;
  /** 1-based column in the file; 0 when `line` is 0. */
  column: number;
  /** What is wrong, with the expected type, range and unit. */
  message: string;
}

/** `, got VALUE` for a value a schema refused; nothing for a mapping or list (the message says what was expected). */
export function describeInput(input: unknown): string {
  if (input !== null && typeof input !== 'string' && typeof input !== 'number' && typeof input !== 'boolean') return '';
  // JSON.stringify shows Infinity and NaN (YAML's .inf and .nan) as null.
  const shown = typeof input === 'number' && !Number.isFinite(input) ? String(input) : JSON.stringify(input);
  return `, got ${shown.length > 40 ? `${shown.slice(0, 37)}...` : shown}`;
}

/** Formats one issue as `file:line:column: key: message` (position and key left out when absent). */
export function formatConfigIssue(source: string, issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${source}:${issue.line}:${issue.column}` : source;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** A configuration source is missing, unreadable or invalid; `issues` lists every problem found. Code `ERR_CONFIG`. */
export class ConfigError extends FennecError {
  /** The file path as given, or `environment`. */
  readonly source: string;
  /** Every problem found, in the order they appear in the source. */
  readonly issues: readonly ConfigIssue[];

  constructor(source: string, issues: readonly ConfigIssue[], options: { cause?: unknown } = {}) {
    super('ERR_CONFIG', issues.map((issue) => formatConfigIssue(source, issue)).join('\n'), options);
    this.source = source;
    this.issues = issues;
  }
}

/** One invalid field of the options given to `new Broker(options)`. */
export interface OptionIssue {
  /** The field, as BrokerOptions names it: `maxInflightMessages`, `tls.certFile`; `''` for the options object itself. */
  option: string;
  /** The same setting's key in the configuration file: `limits.max_inflight_messages`; `''` when it has none. */
  key: string;
  /** What is wrong, in the words the configuration file's loader uses for that key. */
  message: string;
}

/** Formats one issue as `BrokerOptions.option (file key KEY): message`. */
export function formatOptionIssue(issue: OptionIssue): string {
  const option = issue.option === '' ? 'BrokerOptions' : `BrokerOptions.${issue.option}`;
  return issue.key === '' ? `${option}: ${issue.message}` : `${option} (file key ${issue.key}): ${issue.message}`;
}

/**
 * `new Broker(options)` was given a value its option does not accept (out of range, of the wrong
 * type); `issues` lists every one. Code `ERR_INVALID_OPTION`.
 */
export class InvalidOptionError extends FennecError {
  /** Every invalid field. */
  readonly issues: readonly OptionIssue[];

  constructor(issues: readonly OptionIssue[]) {
    super('ERR_INVALID_OPTION', issues.map(formatOptionIssue).join('\n'));
    this.issues = issues;
  }
}
