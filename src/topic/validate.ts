/**
 * Topic Name and Topic Filter validation (MQTT 3.1.1 and 5.0, section 4.7) and `$share` parsing
 * (MQTT 5.0, section 4.8.2).
 *
 * Spec ids differ between versions for the same rule; comments name both, as `3.1.1 [..] / 5.0 [..]`.
 * One scan of the string (`findProblem`) serves both the throwing validators and the boolean checks
 * used on the hot path, so they cannot disagree.
 */
import { FennecError } from '../errors/index.js';

/** Error code thrown for an invalid Topic Name (PUBLISH, Will Topic, retained topics). */
export const ERR_INVALID_TOPIC_NAME = 'ERR_INVALID_TOPIC_NAME';
/** Error code thrown for an invalid Topic Filter (SUBSCRIBE, UNSUBSCRIBE, `$share` filters). */
export const ERR_INVALID_TOPIC_FILTER = 'ERR_INVALID_TOPIC_FILTER';
/** MQTT 5 reason code 0x90, Topic Name invalid. */
export const REASON_TOPIC_NAME_INVALID = 0x90;
/** MQTT 5 reason code 0x8F, Topic Filter invalid. */
export const REASON_TOPIC_FILTER_INVALID = 0x8f;
/** Largest Topic Name or Topic Filter the protocol can carry, in UTF-8 bytes [MQTT-4.7.3-3]. */
export const MAX_TOPIC_BYTES = 65535;
/**
 * Default cap on topic levels, in levels, shared by the validators, TopicIndex and RetainedIndex so
 * that what validates also fits the indexes. The spec has no such cap, but a 65535-byte topic can hold
 * 65536 levels, deeper than the call stack allows the index walk to recurse; 128 is EMQX's default
 * `max_topic_levels`. A server may refuse such topics (reason 0x90 / 0x8F).
 */
export const DEFAULT_MAX_TOPIC_LEVELS = 128;

/** Optional limits stricter than the spec's, e.g. from broker configuration. */
export interface TopicLimits {
  /**
   * Most levels allowed (a level is the text between `/` separators); default 128
   * (DEFAULT_MAX_TOPIC_LEVELS). Pass `Infinity` for the spec's rules alone.
   */
  readonly maxLevels?: number;
  /** Most UTF-8 bytes allowed; default and ceiling 65535 [MQTT-4.7.3-3]. */
  readonly maxLength?: number;
}

/** A Shared Subscription filter split into its parts (MQTT 5.0, section 4.8.2). */
export interface SharedSubscription {
  /** The ShareName: the group of subscribers that share the messages. */
  readonly shareName: string;
  /** The Topic Filter that follows the ShareName, matched like any other filter. */
  readonly topicFilter: string;
}

const enum Problem {
  None,
  Empty,
  NullCharacter,
  LoneSurrogate,
  TooLong,
  TooDeep,
  WildcardInName,
  MisplacedHash,
  MisplacedPlus,
}

const SLASH = 0x2f;
const PLUS = 0x2b;
const HASH = 0x23;

/** Scans `text` once; returns the first rule it breaks. Wildcard placement is checked only when `isFilter`. */
function findProblem(text: string, isFilter: boolean, maxLevels: number, maxBytes: number): Problem {
  const length = text.length;
  if (length === 0) return Problem.Empty; // [MQTT-4.7.3-1]
  // Each UTF-16 unit encodes to at least one byte, so this bounds the scan of huge strings.
  if (length > maxBytes) return Problem.TooLong; // [MQTT-4.7.3-3]
  let bytes = 0;
  let levels = 1;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) {
      bytes += 1;
      if (c === SLASH) {
        levels++;
      } else if (c === 0) {
        return Problem.NullCharacter; // [MQTT-4.7.3-2]
      } else if (c === PLUS) {
        if (!isFilter) return Problem.WildcardInName; // [MQTT-3.3.2-2]; 3.1.1 [MQTT-4.7.1-1] / 5.0 [MQTT-4.7.0-1]
        const alone =
          (i === 0 || text.charCodeAt(i - 1) === SLASH) && (i === length - 1 || text.charCodeAt(i + 1) === SLASH);
        if (!alone) return Problem.MisplacedPlus; // 3.1.1 [MQTT-4.7.1-3] / 5.0 [MQTT-4.7.1-2]
      } else if (c === HASH) {
        if (!isFilter) return Problem.WildcardInName; // [MQTT-3.3.2-2]; 3.1.1 [MQTT-4.7.1-1] / 5.0 [MQTT-4.7.0-1]
        const last = i === length - 1 && (i === 0 || text.charCodeAt(i - 1) === SLASH);
        if (!last) return Problem.MisplacedHash; // 3.1.1 [MQTT-4.7.1-2] / 5.0 [MQTT-4.7.1-1]
      }
    } else if (c < 0x800) {
      bytes += 2;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = i + 1 < length ? text.charCodeAt(i + 1) : 0;
      // A lone surrogate has no UTF-8 form: 3.1.1 [MQTT-1.5.3-1] / 5.0 [MQTT-1.5.4-1]
      if (c > 0xdbff || next < 0xdc00 || next > 0xdfff) return Problem.LoneSurrogate;
      bytes += 4;
      i++;
    } else {
      bytes += 3;
    }
  }
  if (bytes > maxBytes) return Problem.TooLong; // [MQTT-4.7.3-3]
  if (levels > maxLevels) return Problem.TooDeep;
  return Problem.None;
}

function explain(problem: Problem, limits: TopicLimits | undefined): string {
  switch (problem) {
    case Problem.None:
      return 'is valid';
    case Problem.Empty:
      return 'is empty; it must be at least one character long [MQTT-4.7.3-1]';
    case Problem.NullCharacter:
      return 'contains U+0000 [MQTT-4.7.3-2]';
    case Problem.LoneSurrogate:
      return 'contains a lone UTF-16 surrogate, which has no UTF-8 encoding';
    case Problem.TooLong:
      return `is longer than ${byteLimit(limits)} UTF-8 bytes [MQTT-4.7.3-3]`;
    case Problem.TooDeep:
      return `has more than ${levelLimit(limits)} levels`;
    case Problem.WildcardInName:
      return "contains a wildcard '+' or '#' [MQTT-3.3.2-2]";
    case Problem.MisplacedHash:
      return "has a '#' that is not alone in the last level";
    case Problem.MisplacedPlus:
      return "has a '+' that does not occupy a whole level";
    default: {
      const unreachable: never = problem;
      return String(unreachable);
    }
  }
}

function levelLimit(limits: TopicLimits | undefined): number {
  return limits?.maxLevels ?? DEFAULT_MAX_TOPIC_LEVELS;
}

function byteLimit(limits: TopicLimits | undefined): number {
  const max = limits?.maxLength;
  return max === undefined || max > MAX_TOPIC_BYTES ? MAX_TOPIC_BYTES : max;
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);
}

/**
 * True when `topic` is a valid Topic Name: non-empty, no wildcards, no U+0000, at most 65535 UTF-8
 * bytes, at most 128 levels unless `limits` say otherwise. Allocates nothing; meant for the publish
 * hot path.
 */
export function isValidTopicName(topic: string, limits?: TopicLimits): boolean {
  return findProblem(topic, false, levelLimit(limits), byteLimit(limits)) === Problem.None;
}

/**
 * True when `filter` is a valid Topic Filter: as a Topic Name, except that `+` may fill a whole level
 * and `#` may fill the last level. A `$share/...` filter is checked only as a plain filter here; use
 * parseSharedSubscription for its extra rules.
 */
export function isValidTopicFilter(filter: string, limits?: TopicLimits): boolean {
  return findProblem(filter, true, levelLimit(limits), byteLimit(limits)) === Problem.None;
}

/**
 * Throws a FennecError with code `ERR_INVALID_TOPIC_NAME` and reason code 0x90 unless `topic` is a
 * valid Topic Name (see isValidTopicName). An MQTT 5 PUBLISH that uses a Topic Alias may carry an
 * empty name; resolve the alias before calling this.
 */
export function validateTopicName(topic: string, limits?: TopicLimits): void {
  const problem = findProblem(topic, false, levelLimit(limits), byteLimit(limits));
  if (problem !== Problem.None) {
    throw new FennecError(ERR_INVALID_TOPIC_NAME, `Topic Name ${quote(topic)} ${explain(problem, limits)}`, {
      reasonCode: REASON_TOPIC_NAME_INVALID,
    });
  }
}

/**
 * Throws a FennecError with code `ERR_INVALID_TOPIC_FILTER` and reason code 0x8F unless `filter` is a
 * valid Topic Filter (see isValidTopicFilter).
 */
export function validateTopicFilter(filter: string, limits?: TopicLimits): void {
  const problem = findProblem(filter, true, levelLimit(limits), byteLimit(limits));
  if (problem !== Problem.None) throw filterError(filter, explain(problem, limits));
}

function filterError(filter: string, reason: string): FennecError {
  return new FennecError(ERR_INVALID_TOPIC_FILTER, `Topic Filter ${quote(filter)} ${reason}`, {
    reasonCode: REASON_TOPIC_FILTER_INVALID,
  });
}

const SHARE_PREFIX = '$share/';

/**
 * Why `filter` is not a well-formed Topic Filter by the standard's own rules, or undefined when it is.
 * A SUBSCRIBE or UNSUBSCRIBE carrying such a filter is a Malformed Packet: the connection closes
 * (3.1.1 section 4.8; 5.0 DISCONNECT 0x81, section 4.13). Checked: empty [MQTT-4.7.3-1], U+0000
 * [MQTT-4.7.3-2], a lone surrogate, '+' not alone in its level, '#' not alone in the last level.
 * The broker's own limits (`maxLevels`, a `maxLength` under 65535) are not checked here: a filter past
 * them is well formed and refused in SUBACK (0x8F / 0x80), as is an unauthorized one.
 * With `sharedRules` (MQTT 5.0), a `$share/` filter must also have a ShareName without '+' or '#' and a
 * filter after it (section 4.8.2); 3.1.1 has no such rules, so there `$share//a` is well formed.
 */
export function malformedTopicFilter(filter: string, sharedRules: boolean): string | undefined {
  const problem = findProblem(filter, true, Infinity, MAX_TOPIC_BYTES);
  if (problem !== Problem.None) return `Topic Filter ${quote(filter)} ${explain(problem, undefined)}`;
  if (!sharedRules) return undefined;
  const split = splitShared(filter);
  return typeof split === 'string' ? `Topic Filter ${quote(filter)} ${split}` : undefined;
}

/** The parts of a `$share/` filter whose plain-filter rules hold, a reason when its own rules do not, or undefined for an ordinary filter. */
function splitShared(filter: string): SharedSubscription | string | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  // The ShareName ends at the next '/', so it cannot contain one. 5.0 [MQTT-4.8.2-2]
  const slash = filter.indexOf('/', SHARE_PREFIX.length);
  const shareName = filter.slice(SHARE_PREFIX.length, slash === -1 ? filter.length : slash);
  if (shareName.length === 0) return 'has an empty ShareName [MQTT-4.8.2-1]'; // 5.0 [MQTT-4.8.2-1]
  if (shareName.includes('+') || shareName.includes('#')) {
    return "has '+' or '#' in its ShareName [MQTT-4.8.2-2]"; // 5.0 [MQTT-4.8.2-2]
  }
  // Empty after the ShareName's '/', or no '/' at all: no Topic Filter follows. 5.0 [MQTT-4.8.2-2]
  if (slash === -1 || slash === filter.length - 1) return 'has no Topic Filter after its ShareName [MQTT-4.8.2-2]';
  return { shareName, topicFilter: filter.slice(slash + 1) };
}

/**
 * Splits a Shared Subscription filter `$share/{ShareName}/{filter}` (MQTT 5.0, section 4.8.2) and
 * validates it. Returns undefined when `filter` does not start with `$share/` (an ordinary filter,
 * which this does not validate). Throws `ERR_INVALID_TOPIC_FILTER` (reason 0x8F) for a malformed
 * shared filter. MQTT 3.1.1 has no shared subscriptions; the broker accepts them from 3.1.1 clients
 * anyway, as Mosquitto and EMQX do.
 */
export function parseSharedSubscription(filter: string, limits?: TopicLimits): SharedSubscription | undefined {
  if (!filter.startsWith(SHARE_PREFIX)) return undefined;
  validateTopicFilter(filter, limits);
  const split = splitShared(filter);
  if (typeof split === 'string') throw filterError(filter, split);
  // The whole filter passed validateTopicFilter, so the suffix (which starts on a level boundary) is valid too.
  return split;
}
