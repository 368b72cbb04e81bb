/**
 * Reads a YAML (or JSON) configuration file and validates it, mapping every issue back to its
 * line and column in the file.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { ConfigError, describeInput, type ConfigIssue } from './errors.js';
import type { OptionSpec } from './fields.js';
import { mosquittoKeyHint, mosquittoKeyHints } from './mosquitto-keys.js';
import { listenerOptionSpecs, optionSpecs, tlsOptionSpecs } from './options.js';
import { configKeys, validateFile, type FennecConfig } from './schema.js';

/**
 * Reads and validates the configuration file at `path`. A relative path it holds (password file,
 * ACL, certificates, data directory: the options marked `isPath`) is resolved against the file's own
 * directory, whatever the working directory.
 * @throws ConfigError naming the file when it cannot be read, and every issue (with line and column) when it is invalid.
 */
export async function loadConfigFile(path: string): Promise<FennecConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      path,
      [{ path: '', line: 0, column: 0, message: `cannot read the file: ${describeReadError(err)}` }],
      {
        cause: err,
      },
    );
  }
  return resolveConfigPaths(parseConfigText(text, path), dirname(resolve(path)));
}

/** `values` with each of its path options (`isPath` in `specs`) made absolute from `directory`. */
function resolvePathsOf<T extends object>(values: T, specs: Record<string, OptionSpec>, directory: string): T {
  const out = { ...values } as Record<string, unknown>;
  for (const [name, spec] of Object.entries(specs)) {
    const value = out[name];
    if (spec.isPath === true && typeof value === 'string') out[name] = resolve(directory, value);
  }
  return out as T;
}

/** `config` with every relative path it holds resolved against `directory` (the configuration file's). */
export function resolveConfigPaths(config: FennecConfig, directory: string): FennecConfig {
  const resolved = resolvePathsOf(config, optionSpecs, directory);
  if (config.tls !== undefined) resolved.tls = resolvePathsOf(config.tls, tlsOptionSpecs, directory);
  if (config.listeners !== undefined) {
    const specs = { ...tlsOptionSpecs, ...listenerOptionSpecs };
    resolved.listeners = config.listeners.map((listener) => resolvePathsOf(listener, specs, directory));
  }
  return resolved;
}

/**
 * Validates configuration text; `source` names it in issues (a file path).
 * An empty file, or one holding only comments, is a valid configuration that sets nothing.
 * @throws ConfigError listing every issue, in the order they appear in the text.
 */
export function parseConfigText(text: string, source: string): FennecConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number): { line: number; column: number } => {
    // An error at the very end of the text belongs to the last line, not to the empty one after it.
    const clamped = Math.max(0, Math.min(offset, text.endsWith('\n') ? text.length - 1 : text.length));
    const { line, col } = lineCounter.linePos(clamped);
    return { line: Math.max(line, 1), column: Math.max(col, 1) };
  };

  if (document.errors.length > 0) {
    const issues = document.errors.map((error) => ({
      path: '',
      ...position(error.pos[0]),
      message:
        error.code === 'MULTIPLE_DOCS'
          ? 'YAML syntax error: a configuration file holds one document; remove the second `---`'
          : `YAML syntax error: ${error.message}`,
    }));
    throw new ConfigError(source, sortIssues(issues));
  }

  let data: unknown;
  try {
    data = document.toJS() ?? {};
  } catch (err) {
    // toJS refuses a document whose aliases expand too far (a "billion laughs" file).
    const message = `YAML error: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError(source, [{ path: '', line: 1, column: 1, message }], { cause: err });
  }
  const result = validateFile(data);
  if (result.success) return result.config;

  const issues: ConfigIssue[] = [];
  for (const issue of result.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        issues.push({
          path: formatPath(path),
          ...position(locate(document, path, 'key')),
          message: unknownKeyMessage(key, sectionOf(issue.path)),
        });
      }
    } else {
      issues.push({
        path: formatPath(issue.path),
        ...position(locate(document, issue.path, 'value')),
        message: `${issue.message}${describeInput(issue.input)}${valueHint(issue.path, issue.input)}`,
      });
    }
  }
  throw new ConfigError(source, sortIssues(issues));
}

/** `unknown key`, with what a Mosquitto key is in Fennec, or else the known key it was probably meant to be. */
function unknownKeyMessage(key: string, section: string): string {
  const mosquitto = mosquittoKeyHint(key);
  if (mosquitto !== undefined) return `unknown key; ${mosquitto}`;
  const suggestion = suggestKey(key, section);
  return suggestion === undefined ? 'unknown key' : `unknown key; did you mean ${suggestion}?`;
}

/**
 * A word for a value written as Mosquitto writes it: `persistence: true`; and a Mosquitto file
 * given whole, which YAML reads as one string.
 */
function valueHint(path: readonly PropertyKey[], input: unknown): string {
  if (path.length === 1 && path[0] === 'persistence' && typeof input === 'boolean') {
    return "; Mosquitto's persistence true is persistence: sqlite (Fennec's default), false is persistence: none";
  }
  if (path.length === 0 && typeof input === 'string') {
    const first = /^\s*([a-z_0-9.]+)\s/m.exec(input)?.[1];
    const known = ['port', 'password_file', 'acl_file', 'allow_anonymous', 'max_keepalive', 'retain_available'];
    if (first !== undefined && (Object.hasOwn(mosquittoKeyHints, first) || known.includes(first))) {
      return '; this looks like a Mosquitto configuration file: fennec import-config FILE translates it';
    }
  }
  return '';
}

type PathSegment = PropertyKey;

/** Offset of the node at `path`: its key or its value; the nearest enclosing node when the path goes further than the text. */
function locate(document: Document, path: readonly PathSegment[], target: 'key' | 'value'): number {
  let node: unknown = document.contents;
  let offset = isNode(node) && node.range ? node.range[0] : 0;
  for (const [index, segment] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (pair === undefined) break;
      if (isNode(pair.key) && pair.key.range) offset = pair.key.range[0];
      if (target === 'key' && index === path.length - 1) break;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
    } else {
      break;
    }
    if (isNode(node) && node.range) offset = node.range[0];
  }
  return offset;
}

function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues.sort((a, b) => a.line - b.line || a.column - b.column);
}

/** The section an issue's path is in, as configKeys writes it: `''`, `limits.`, `tls.`, `listeners[].`. */
function sectionOf(path: readonly PathSegment[]): string {
  const [first] = path;
  if (first === undefined) return '';
  return first === 'listeners' ? 'listeners[].' : `${String(first)}.`;
}

/**
 * The known key an unknown one was probably meant to be: the same up to case and `_`/`-`, a close
 * spelling or a prefix, in any section; between equally close keys, one of `section`.
 */
function suggestKey(unknown: string, section: string): string | undefined {
  const normalize = (key: string): string => key.toLowerCase().replace(/[_-]/g, '');
  let best: { key: string; distance: number } | undefined;
  const keys = configKeys({ aliases: true });
  // A listener takes the TLS keys too, under its own name for them.
  if (section === 'listeners[].') {
    keys.push(...keys.filter((key) => key.startsWith('tls.')).map((key) => `listeners[].${key.slice('tls.'.length)}`));
  }
  for (const key of keys) {
    const leaf = key.slice(key.lastIndexOf('.') + 1);
    let distance = normalize(leaf) === normalize(unknown) ? 0 : editDistance(leaf, unknown);
    // A shortened key (`max_inflight`) is as good a hint as a typo.
    if (distance > 2 && unknown.length >= 4 && leaf.startsWith(unknown)) distance = 2;
    const inSection = section === '' ? !key.includes('.') : key.startsWith(section);
    if (inSection) distance -= 0.5;
    if (distance <= 2 && (best === undefined || distance < best.distance)) best = { key, distance };
  }
  return best?.key;
}

/** Edits from `a` to `b`: insertions, deletions, substitutions and swaps of two neighbours (`paht` -> `path` is one). */
function editDistance(a: string, b: string): number {
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let best = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (beforePrevious[j - 2] ?? 0) + 1);
      }
      current.push(best);
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function describeReadError(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return err instanceof Error ? err.message : String(err);
}
