/**
 * The subscription index: a trie over topic levels that finds every subscription matching a published
 * topic in time proportional to the topic's depth (times the matches found), not to the number of
 * subscriptions. Matching rules are those of MQTT 3.1.1 and 5.0 section 4.7; 3.1.1 ids come first
 * where the two versions number a rule differently.
 */
import { DEFAULT_MAX_TOPIC_LEVELS, validateTopicFilter } from './validate.js';

/** Receives one matching entry: the stored value, its key and the filter it was added under. */
export type TopicVisitor<T> = (value: T, key: string, filter: string) => void;

/** Options of a TopicIndex. */
export interface TopicIndexOptions {
  /**
   * Most levels a filter may have, in levels; default 128 (DEFAULT_MAX_TOPIC_LEVELS). Bounds the
   * depth of the trie and so the recursion of match.
   */
  readonly maxLevels?: number;
}

const DOLLAR = 0x24;

/** One level of the trie. Fields are all set in the constructor so every node shares one shape. */
class FilterNode<T> {
  /** Literal child levels; created on first use. */
  children: Map<string, FilterNode<T>> | undefined = undefined;
  /** The child for a `+` level. */
  plus: FilterNode<T> | undefined = undefined;
  /** The child for a `#` level; it never has children of its own. */
  hash: FilterNode<T> | undefined = undefined;
  /** Entries whose filter ends at this node, by key; undefined when there are none. */
  entries: Map<string, T> | undefined = undefined;
  /** The filter of this node's entries; '' while it has none. */
  filter = '';
}

function isEmpty<T>(node: FilterNode<T>): boolean {
  return (
    node.entries === undefined && node.children === undefined && node.plus === undefined && node.hash === undefined
  );
}

function childOf<T>(node: FilterNode<T>, level: string): FilterNode<T> | undefined {
  if (level === '+') return node.plus;
  if (level === '#') return node.hash;
  return node.children?.get(level);
}

function detachChild<T>(node: FilterNode<T>, level: string): void {
  if (level === '+') node.plus = undefined;
  else if (level === '#') node.hash = undefined;
  else if (node.children !== undefined) {
    node.children.delete(level);
    if (node.children.size === 0) node.children = undefined;
  }
}

function emit<T>(node: FilterNode<T>, visit: TopicVisitor<T>): void {
  const entries = node.entries;
  if (entries === undefined) return;
  const filter = node.filter;
  for (const [key, value] of entries) visit(value, key, filter);
}

/**
 * Walks the literal child and the `+` child that consume the topic level ending at `end`. The next
 * level's string is sliced once here and shared by both children, and only when one of them has
 * literal children to look it up in: bench/topic.ts measures this against `topic.split('/')`.
 */
function descend<T>(
  literal: FilterNode<T> | undefined,
  plus: FilterNode<T> | undefined,
  topic: string,
  end: number,
  visit: TopicVisitor<T>,
): void {
  if (literal === undefined && plus === undefined) return;
  const start = end + 1;
  let nextEnd = start;
  let level = '';
  if (start <= topic.length) {
    nextEnd = topic.indexOf('/', start);
    if (nextEnd === -1) nextEnd = topic.length;
    if (literal?.children !== undefined || plus?.children !== undefined) level = topic.slice(start, nextEnd);
  }
  if (literal !== undefined) walk(literal, topic, start, nextEnd, level, visit);
  // '+' matches exactly one level, including an empty one: 3.1.1 [MQTT-4.7.1-3] / 5.0 [MQTT-4.7.1-2]
  if (plus !== undefined) walk(plus, topic, start, nextEnd, level, visit);
}

/**
 * Visits every entry under `node`, reached by consuming the topic's levels before `start`;
 * `start > topic.length` means every level has been consumed. Otherwise the next level runs from
 * `start` to `end` and `level` holds it whenever `node` has literal children.
 */
function walk<T>(
  node: FilterNode<T>,
  topic: string,
  start: number,
  end: number,
  level: string,
  visit: TopicVisitor<T>,
): void {
  // '#' matches the remaining levels, and also none: `a/#` matches `a` (MQTT 3.1.1 and 5.0 section 4.7.1.2).
  if (node.hash !== undefined) emit(node.hash, visit);
  if (start > topic.length) {
    emit(node, visit);
    return;
  }
  // An empty level ('' in `a//b`) is a real level and is looked up like any other.
  descend(node.children?.get(level), node.plus, topic, end, visit);
}

/**
 * A trie of Topic Filters storing one value per (filter, key) pair; the key names the subscriber,
 * e.g. a client id. Generic in what it stores, and knows nothing of sessions or packets. A `$share/...`
 * filter is stored literally: split it with parseSharedSubscription first and add its inner filter.
 */
export class TopicIndex<T> {
  readonly #root = new FilterNode<T>();
  readonly #maxLevels: number;
  #size = 0;
  #nodeCount = 0;
  #version = 0;

  /** Creates an empty index. */
  constructor(options: TopicIndexOptions = {}) {
    this.#maxLevels = options.maxLevels ?? DEFAULT_MAX_TOPIC_LEVELS;
  }

  /** Counts the changes made (every add, every remove that removed): what a match found holds while it is unchanged. */
  get version(): number {
    return this.#version;
  }

  /** Number of (filter, key) entries stored. */
  get size(): number {
    return this.#size;
  }

  /**
   * Number of trie nodes below the root, for tests and memory metrics: 0 once every entry is removed.
   * @internal
   */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /**
   * Stores `value` under (`filter`, `key`). Returns true when the pair is new and false when it
   * replaced an earlier value. Throws `ERR_INVALID_TOPIC_FILTER` when the filter is invalid or deeper
   * than `maxLevels`.
   */
  add(filter: string, key: string, value: T): boolean {
    validateTopicFilter(filter, { maxLevels: this.#maxLevels });
    let node = this.#root;
    for (const level of filter.split('/')) {
      let child = childOf(node, level);
      if (child === undefined) {
        child = new FilterNode<T>();
        this.#nodeCount++;
        if (level === '+') node.plus = child;
        else if (level === '#') node.hash = child;
        else (node.children ??= new Map()).set(level, child);
      }
      node = child;
    }
    if (node.entries === undefined) {
      node.entries = new Map();
      node.filter = filter;
    }
    const isNew = !node.entries.has(key);
    node.entries.set(key, value);
    this.#version++;
    if (isNew) this.#size++;
    return isNew;
  }

  /**
   * Removes the entry (`filter`, `key`) and any trie nodes left empty, so that removing every entry
   * frees every node. Returns false when there was no such entry.
   */
  remove(filter: string, key: string): boolean {
    const levels = filter.split('/');
    const path: FilterNode<T>[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      const child = childOf(node, level);
      if (child === undefined) return false;
      path.push(child);
      node = child;
    }
    if (node.entries?.delete(key) !== true) return false;
    this.#size--;
    this.#version++;
    if (node.entries.size === 0) {
      node.entries = undefined;
      node.filter = '';
    }
    for (let depth = levels.length; depth > 0; depth--) {
      const current = path[depth];
      const parent = path[depth - 1];
      const level = levels[depth - 1];
      if (current === undefined || parent === undefined || level === undefined || !isEmpty(current)) break;
      detachChild(parent, level);
      this.#nodeCount--;
    }
    return true;
  }

  /** The value stored under (`filter`, `key`), or undefined. */
  get(filter: string, key: string): T | undefined {
    return this.#find(filter)?.entries?.get(key);
  }

  /** True when an entry is stored under (`filter`, `key`). */
  hasFilter(filter: string, key: string): boolean {
    return this.#find(filter)?.entries?.has(key) === true;
  }

  /**
   * Calls `visit` once for every entry whose filter matches the Topic Name `topic`. The topic must
   * already be valid (see isValidTopicName); it is not checked again here. Filters starting with `+`
   * or `#` do not match topics starting with `$` [MQTT-4.7.2-1]. Topics and levels are compared
   * code unit by code unit, with no normalisation [MQTT-4.7.3-4]. Changes made to the index from
   * inside `visit` may or may not be seen by the match under way.
   */
  match(topic: string, visit: TopicVisitor<T>): void {
    const root = this.#root;
    let end = topic.indexOf('/');
    if (end === -1) end = topic.length;
    const literal = root.children?.get(topic.slice(0, end));
    if (topic.charCodeAt(0) === DOLLAR) {
      descend(literal, undefined, topic, end, visit); // [MQTT-4.7.2-1] no '+' or '#' at the first level
      return;
    }
    if (root.hash !== undefined) emit(root.hash, visit);
    descend(literal, root.plus, topic, end, visit);
  }

  /** Every entry as `[filter, key, value]`, in no particular order. Do not change the index meanwhile. */
  *entries(): Generator<[filter: string, key: string, value: T], void, undefined> {
    const stack: FilterNode<T>[] = [this.#root];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      if (node.entries !== undefined) {
        for (const [key, value] of node.entries) yield [node.filter, key, value];
      }
      // A loop, not push(...values()): a spread of a very wide level would overflow the argument limit.
      if (node.children !== undefined) for (const child of node.children.values()) stack.push(child);
      if (node.plus !== undefined) stack.push(node.plus);
      if (node.hash !== undefined) stack.push(node.hash);
    }
  }

  /** The node a filter ends at, without creating anything. */
  #find(filter: string): FilterNode<T> | undefined {
    let node: FilterNode<T> | undefined = this.#root;
    let start = 0;
    while (node !== undefined) {
      let end = filter.indexOf('/', start);
      if (end === -1) end = filter.length;
      node = childOf(node, filter.slice(start, end));
      if (end === filter.length) return node;
      start = end + 1;
    }
    return undefined;
  }
}
