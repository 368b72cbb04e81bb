/**
 * Access control lists in the spirit of Mosquitto's `acl_file`: which topics each client may read
 * (receive, subscribe to) and write (publish to), decided by `topic`, `user` and `pattern` lines.
 * The file format and where Fennec differs from Mosquitto are described in the README's
 * "Access control" section. An Acl becomes the broker's authorization hooks through `aclHooks`.
 */
import { readFile } from 'node:fs/promises';
import { FennecError } from '../errors/index.js';
import { isValidTopicFilter, parseSharedSubscription } from '../topic/index.js';
import type { QoS } from '../protocol/index.js';
import type { BrokerHooks, ClientIdentity, ClientInfo } from '../broker/hooks.js';

/** What a rule grants: `deny` takes away what any other rule grants. */
export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny';

const accessBits: Record<AclAccess, number> = { read: 1, write: 2, readwrite: 3, deny: 0 };
const READ = 1;
const WRITE = 2;

/** A `%u` or `%c` in a pattern level: replaced by the username or the client id. */
const USERNAME = 0;
const CLIENT_ID = 1;
type Token = string | typeof USERNAME | typeof CLIENT_ID;

/** A rule's level: a literal, `+`, `#`, or (patterns only) a template with `%u` / `%c` in it. */
type RuleLevel = string | Token[];

interface AclRule {
  /** Bits of READ and WRITE granted; 0 for a deny rule. */
  readonly bits: number;
  readonly deny: boolean;
  readonly levels: readonly RuleLevel[];
  /** Which substitutions the rule holds: bit 1 `%u`, bit 2 `%c`. */
  readonly uses: number;
}

const USES_USERNAME = 1;
const USES_CLIENT_ID = 2;

/** A line of an ACL file that cannot be understood; names the file and the line. */
export class AclFileError extends FennecError {
  constructor(
    readonly file: string,
    readonly line: number,
    detail: string,
    options: { cause?: unknown } = {},
  ) {
    super('ERR_ACL_FILE', line > 0 ? `${file}:${line}: ${detail}` : `${file}: ${detail}`, options);
  }
}

/** The parsed rules of an ACL file. Immutable: to change the rules, parse a new one. */
export class Acl {
  /** Topic levels of the subject checked last: routing checks one topic for many sessions in a row. */
  private lastSubject = '';
  private lastLevels: readonly string[] = [''];
  /** Which substitutions any pattern holds, so that a check scans only the names some pattern uses. */
  private readonly patternUses: number;

  private constructor(
    private readonly anonymous: readonly AclRule[],
    private readonly users: ReadonlyMap<string, readonly AclRule[]>,
    private readonly patterns: readonly AclRule[],
  ) {
    this.patternUses = patterns.reduce((uses, rule) => uses | rule.uses, 0);
  }

  /**
   * Parses the text of an ACL file; `file` names it in errors.
   * @throws AclFileError (`ERR_ACL_FILE`) naming the file and line of the first line it cannot parse.
   */
  static parse(text: string, file: string): Acl {
    const anonymous: AclRule[] = [];
    const users = new Map<string, AclRule[]>();
    const patterns: AclRule[] = [];
    let current = anonymous;
    const lines = text.split(/\r\n|\n|\r/);
    for (let index = 0; index < lines.length; index++) {
      const lineNumber = index + 1;
      const line = lines[index]!.trim();
      if (line === '' || line.startsWith('#')) continue;
      const space = line.search(/\s/);
      const keyword = space === -1 ? line : line.slice(0, space);
      const rest = space === -1 ? '' : line.slice(space + 1).trim();
      switch (keyword) {
        case 'user':
          if (rest === '') throw new AclFileError(file, lineNumber, '`user` needs a username');
          current = users.get(rest) ?? [];
          users.set(rest, current);
          break;
        case 'topic':
          current.push(parseRule(rest, false, file, lineNumber));
          break;
        case 'pattern':
          patterns.push(parseRule(rest, true, file, lineNumber));
          break;
        default:
          throw new AclFileError(
            file,
            lineNumber,
            `unknown keyword ${JSON.stringify(keyword)}: expected topic, pattern, user or a # comment`,
          );
      }
    }
    return new Acl(anonymous, users, patterns);
  }

  /**
   * Reads and parses the ACL file at `path`.
   * @throws AclFileError (`ERR_ACL_FILE`) when the file cannot be read or has a line it cannot parse.
   */
  static async load(path: string): Promise<Acl> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as { code?: unknown } | null)?.code;
      const why = code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err);
      throw new AclFileError(path, 0, `cannot read the ACL file: ${why}`, { cause: err });
    }
    return Acl.parse(text, path);
  }

  /** Whether `client` may receive messages published to `topic`. */
  mayRead(client: ClientIdentity, topic: string): boolean {
    return this.decide(client, topic, READ, false);
  }

  /** Whether `client` may publish to `topic`. */
  mayWrite(client: ClientIdentity, topic: string): boolean {
    return this.decide(client, topic, WRITE, false);
  }

  /**
   * Whether `client` may subscribe to `topicFilter`: a rule granting read must cover every topic the
   * filter matches (`a/+` is covered by `a/#`, not by `a/b`), and no deny rule may cover it. A shared
   * subscription `$share/{ShareName}/{filter}` is checked by its inner filter.
   */
  maySubscribe(client: ClientIdentity, topicFilter: string): boolean {
    let filter = topicFilter;
    if (filter.startsWith('$share/')) {
      try {
        filter = parseSharedSubscription(filter)?.topicFilter ?? filter;
      } catch {
        return false;
      }
    }
    return this.decide(client, filter, READ, true);
  }

  /**
   * Applies every rule that concerns `client` to `subject` (a topic, or a filter when `covering`):
   * any matching deny rule refuses, else any matching rule granting `wanted` allows, else refused.
   */
  private decide(client: ClientIdentity, subject: string, wanted: number, covering: boolean): boolean {
    const levels = this.levelsOf(subject);
    const { username, clientId } = client;
    const own = username === undefined ? this.anonymous : this.users.get(username);
    let allowed = false;
    if (own !== undefined) {
      for (const rule of own) {
        if (!matches(rule.levels, levels, covering, username ?? '', clientId)) continue;
        if (rule.deny) return false;
        if ((rule.bits & wanted) !== 0) allowed = true;
      }
    }
    const patterns = this.patterns;
    if (patterns.length === 0) return allowed;
    // A username or client id that holds a wildcard or a level separator would make a pattern
    // reach other topics than the client's own: such a substitution never grants, and a deny rule
    // that needs it refuses everything.
    const uses = this.patternUses;
    let unsafe = 0;
    if ((uses & USES_USERNAME) !== 0 && username !== undefined && isUnsafe(username)) unsafe |= USES_USERNAME;
    if ((uses & USES_CLIENT_ID) !== 0 && isUnsafe(clientId)) unsafe |= USES_CLIENT_ID;
    for (const rule of patterns) {
      // A pattern with `%u` says nothing about a client without a username.
      if (username === undefined && (rule.uses & USES_USERNAME) !== 0) continue;
      if ((rule.uses & unsafe) !== 0) {
        if (rule.deny) return false;
        continue;
      }
      if (!matches(rule.levels, levels, covering, username ?? '', clientId)) continue;
      if (rule.deny) return false;
      if ((rule.bits & wanted) !== 0) allowed = true;
    }
    return allowed;
  }

  private levelsOf(subject: string): readonly string[] {
    if (subject !== this.lastSubject) {
      this.lastSubject = subject;
      this.lastLevels = subject.split('/');
    }
    return this.lastLevels;
  }
}

const accessKeywords: readonly AclAccess[] = ['read', 'write', 'readwrite', 'deny'];

function isAccess(word: string): word is AclAccess {
  return (accessKeywords as readonly string[]).includes(word);
}

/**
 * Why `word`, written where an access keyword goes, is refused: a close misspelling is named, and
 * the access types of other brokers get a word of their own.
 */
function unknownAccess(word: string): string {
  const expected = 'expected read, write, readwrite or deny before the filter, or the filter alone (readwrite)';
  if (word === 'subscribe' || word === 'unsubscribe') {
    return `unknown access keyword ${JSON.stringify(word)}: an ACL file has no ${word} access (Mosquitto's has none either; read allows subscribing); ${expected}`;
  }
  const close = accessKeywords.find((keyword) => closeTo(word.toLowerCase(), keyword));
  const hint = close === undefined ? '' : ` (did you mean ${close}?)`;
  return `unknown access keyword ${JSON.stringify(word)}${hint}: ${expected}`;
}

/** Whether `a` is `b` but for one or two letters changed, added, dropped or swapped, or an abbreviation of it. */
function closeTo(a: string, b: string): boolean {
  if (a === b || (a.length >= 2 && b.startsWith(a))) return true;
  if (a.length === 2 && b === 'readwrite' && a === 'rw') return true;
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]! <= 2;
}

/**
 * `[access] filter` of a `topic` or `pattern` line. Unlike Mosquitto, which reads `topic rw a/#` as a
 * rule for the literal topic "rw a/#", a filter may hold no white space: a second word is always a
 * mistake (a misspelt access keyword would otherwise turn a `deny` into a rule that denies nothing).
 */
function parseRule(rest: string, pattern: boolean, file: string, line: number): AclRule {
  const keyword = pattern ? 'pattern' : 'topic';
  const space = rest.search(/\s/);
  const first = space === -1 ? rest : rest.slice(0, space);
  let access: AclAccess = 'readwrite';
  let filter = rest;
  if (isAccess(first)) {
    if (space === -1) throw new AclFileError(file, line, `\`${keyword} ${first}\` needs a topic filter after it`);
    access = first;
    filter = rest.slice(space + 1).trim();
  } else if (space !== -1) {
    throw new AclFileError(file, line, unknownAccess(first));
  }
  if (/\s/.test(filter)) {
    throw new AclFileError(
      file,
      line,
      `${JSON.stringify(filter)}: a topic filter in an ACL file cannot hold white space (one filter per line)`,
    );
  }
  if (filter === '') throw new AclFileError(file, line, `\`${keyword}\` needs a topic filter`);
  if (filter.startsWith('$share/')) {
    throw new AclFileError(file, line, `${JSON.stringify(filter)}: rules name topics; a $share filter is not one`);
  }
  // `%u` and `%c` stand for one or more characters of a level, never for a wildcard.
  const checked = pattern ? filter.replace(/%[uc]/g, 'x') : filter;
  if (!isValidTopicFilter(checked)) {
    throw new AclFileError(file, line, `${JSON.stringify(filter)} is not a valid topic filter`);
  }
  let uses = 0;
  const levels: RuleLevel[] = filter.split('/').map((level) => {
    if (!pattern || !/%[uc]/.test(level)) return level;
    const tokens: Token[] = [];
    for (const part of level.split(/(%[uc])/)) {
      if (part === '%u') {
        tokens.push(USERNAME);
        uses |= USES_USERNAME;
      } else if (part === '%c') {
        tokens.push(CLIENT_ID);
        uses |= USES_CLIENT_ID;
      } else if (part !== '') {
        tokens.push(part);
      }
    }
    return tokens;
  });
  return { bits: accessBits[access], deny: access === 'deny', levels, uses };
}

function isUnsafe(value: string): boolean {
  return value.includes('+') || value.includes('#') || value.includes('/');
}

/**
 * Whether a rule applies to `subject`: when not `covering`, the topic `subject` matches the rule's
 * filter; when `covering`, every topic the filter `subject` matches matches the rule's filter.
 * [MQTT-4.7.2-1] A rule starting with a wildcard reaches no topic starting with `$`.
 */
function matches(
  rule: readonly RuleLevel[],
  subject: readonly string[],
  covering: boolean,
  username: string,
  clientId: string,
): boolean {
  for (let i = 0; i < rule.length; i++) {
    const level = rule[i]!;
    if (level === '#') {
      // [MQTT-4.7.1-2] `a/#` also matches `a`, its parent level
      return i !== 0 || !subject[0]!.startsWith('$');
    }
    if (i >= subject.length) return false;
    const part = subject[i]!;
    if (covering && part === '#') return false;
    if (level === '+') {
      if (i === 0 && part.startsWith('$')) return false;
      continue;
    }
    if (covering && part === '+') return false;
    if (typeof level === 'string') {
      if (level !== part) return false;
    } else if (!matchesTemplate(level, part, username, clientId)) {
      return false;
    }
  }
  return rule.length === subject.length;
}

/** Whether `part` is the template's level with `%u` and `%c` replaced; allocates nothing. */
function matchesTemplate(tokens: readonly Token[], part: string, username: string, clientId: string): boolean {
  let position = 0;
  for (const token of tokens) {
    const value = token === USERNAME ? username : token === CLIENT_ID ? clientId : token;
    if (!part.startsWith(value, position)) return false;
    position += value.length;
  }
  return position === part.length;
}

/**
 * The authorization hooks an Acl provides, named `acl`. They never abstain: what no rule allows is
 * refused (default deny), so hooks registered after them are never asked about a publish, a
 * subscription or a delivery; an embedder's hook that should decide first is registered before them.
 */
export interface AclHooks extends BrokerHooks {
  name: string;
  authorizePublish: (client: ClientInfo, topic: string, qos: QoS, retain: boolean) => boolean;
  authorizeSubscribe: (client: ClientInfo, topicFilter: string, qos: QoS) => boolean;
  authorizeRead: (client: ClientIdentity, topic: string) => boolean;
}

/**
 * The broker hooks that enforce `acl`: publish needs write access, subscribe a read rule covering
 * the filter, and every delivery (retained messages and wills too) read access to its topic. Give a
 * function to swap the rules while the broker runs (the CLI does on SIGHUP): it is called on every check.
 */
export function aclHooks(acl: Acl | (() => Acl)): AclHooks {
  if (acl instanceof Acl) {
    return {
      name: 'acl',
      authorizePublish: (client, topic) => acl.mayWrite(client, topic),
      authorizeSubscribe: (client, topicFilter) => acl.maySubscribe(client, topicFilter),
      authorizeRead: (client, topic) => acl.mayRead(client, topic),
    };
  }
  return {
    name: 'acl',
    authorizePublish: (client, topic) => acl().mayWrite(client, topic),
    authorizeSubscribe: (client, topicFilter) => acl().maySubscribe(client, topicFilter),
    authorizeRead: (client, topic) => acl().mayRead(client, topic),
  };
}
