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
