/**
 * The retained-message index: one value per concrete Topic Name, found by Topic Filter. Stored topics
 * form a trie of levels, so a filter visits only the branches it can match instead of every topic.
 */
import { DEFAULT_MAX_TOPIC_LEVELS, validateTopicName } from './validate.js';

/** Receives one stored topic that matches the filter, with its value. */
export type RetainedVisitor<T> = (topic: string, value: T) => void;

/** Options of a RetainedIndex. */
export interface RetainedIndexOptions {
  /**
   * Most levels a stored topic may have, in levels; default 128 (DEFAULT_MAX_TOPIC_LEVELS). Bounds
   * the depth of the trie and so the recursion of match.
   */
  readonly maxLevels?: number;
}

const DOLLAR = 0x24;
const PLUS = 0x2b;
const HASH = 0x23;

/** One level of the trie; all fields set in the constructor so every node shares one shape. */
class TopicNode<T> {
  children: Map<string, TopicNode<T>> | undefined = undefined;
  hasValue = false;
  value: T | undefined = undefined;
  /** The topic this node's value is stored under; '' while it has none. */
  topic = '';
}

/** Visits the node's own value and every value below it. */
function visitAll<T>(node: TopicNode<T>, visit: RetainedVisitor<T>): void {
  if (node.hasValue) visit(node.topic, node.value as T);
  if (node.children !== undefined) for (const child of node.children.values()) visitAll(child, visit);
}

/**
 * Visits every stored topic under `node` matching the filter's levels from index `start` on.
 * `start > filter.length` means every filter level has been consumed. At the root (`atRoot`),
 * wildcards skip levels starting with `$` [MQTT-4.7.2-1].
 */
function collect<T>(
  node: TopicNode<T>,
  filter: string,
  start: number,
  visit: RetainedVisitor<T>,
  atRoot: boolean,
): void {
  if (start > filter.length) {
    if (node.hasValue) visit(node.topic, node.value as T);
    return;
  }
  let end = filter.indexOf('/', start);
  if (end === -1) end = filter.length;
  const children = node.children;
  if (end - start === 1) {
    const c = filter.charCodeAt(start);
    if (c === HASH) {
      // '#' matches the parent level too: `a/#` matches `a` (section 4.7.1.2).
      if (node.hasValue) visit(node.topic, node.value as T);
      if (children === undefined) return;
      for (const [level, child] of children) {
        if (atRoot && level.charCodeAt(0) === DOLLAR) continue; // [MQTT-4.7.2-1]
        visitAll(child, visit);
      }
      return;
    }
    if (c === PLUS) {
      if (children === undefined) return;
      for (const [level, child] of children) {
        if (atRoot && level.charCodeAt(0) === DOLLAR) continue; // [MQTT-4.7.2-1]
        collect(child, filter, end + 1, visit, false);
      }
      return;
    }
  }
  if (children === undefined) return;
  const child = children.get(filter.slice(start, end));
  if (child !== undefined) collect(child, filter, end + 1, visit, false);
}

/**
 * Stores one value per Topic Name (in the broker, the retained message of that topic) and finds
 * those matching a Topic Filter. Generic in what it stores; knows nothing of packets or stores.
 */
export class RetainedIndex<T> {
  readonly #root = new TopicNode<T>();
  readonly #maxLevels: number;
  #size = 0;
  #nodeCount = 0;

  /** Creates an empty index. */
  constructor(options: RetainedIndexOptions = {}) {
    this.#maxLevels = options.maxLevels ?? DEFAULT_MAX_TOPIC_LEVELS;
  }

  /** Number of topics stored. */
  get size(): number {
    return this.#size;
  }

  /**
   * Number of trie nodes below the root, for tests and memory metrics: 0 once every topic is deleted.
   * @internal
   */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  /**
   * Stores `value` under `topic`, replacing any earlier value. Throws `ERR_INVALID_TOPIC_NAME` when the
   * topic is invalid or deeper than `maxLevels`.
   */
  set(topic: string, value: T): void {
    validateTopicName(topic, { maxLevels: this.#maxLevels });
    let node = this.#root;
    for (const level of topic.split('/')) {
      let child = node.children?.get(level);
      if (child === undefined) {
        child = new TopicNode<T>();
        this.#nodeCount++;
        (node.children ??= new Map()).set(level, child);
      }
      node = child;
    }
    if (!node.hasValue) {
      node.hasValue = true;
      node.topic = topic;
      this.#size++;
    }
    node.value = value;
  }

  /** The value stored under `topic`, or undefined. */
  get(topic: string): T | undefined {
    return this.#find(topic)?.value;
  }

  /** True when a value is stored under `topic`. */
  has(topic: string): boolean {
    return this.#find(topic)?.hasValue === true;
  }

  /**
   * Removes the value stored under `topic` and any trie nodes left empty, so that deleting every
   * topic frees every node. Returns false when nothing was stored there.
   */
  delete(topic: string): boolean {
    const levels = topic.split('/');
    const path: TopicNode<T>[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      const child = node.children?.get(level);
      if (child === undefined) return false;
      path.push(child);
      node = child;
    }
    if (!node.hasValue) return false;
    node.hasValue = false;
    node.value = undefined;
    node.topic = '';
    this.#size--;
    for (let depth = levels.length; depth > 0; depth--) {
      const current = path[depth];
      const parent = path[depth - 1];
      const level = levels[depth - 1];
      if (current === undefined || parent === undefined || level === undefined) break;
      if (current.hasValue || current.children !== undefined || parent.children === undefined) break;
      parent.children.delete(level);
      if (parent.children.size === 0) parent.children = undefined;
      this.#nodeCount--;
    }
    return true;
  }

  /**
   * Calls `visit` for every stored topic matching `filter`. The filter must already be valid (see
   * isValidTopicFilter); it is not checked again here. Filters starting with `+` or `#` skip topics
   * starting with `$` [MQTT-4.7.2-1]. Do not change the index from inside `visit`.
   */
  match(filter: string, visit: RetainedVisitor<T>): void {
    collect(this.#root, filter, 0, visit, true);
  }

  /** Every stored `[topic, value]`, in no particular order. Do not change the index meanwhile. */
  *entries(): Generator<[topic: string, value: T], void, undefined> {
    const stack: TopicNode<T>[] = [this.#root];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      if (node.hasValue) yield [node.topic, node.value as T];
      if (node.children !== undefined) for (const child of node.children.values()) stack.push(child);
    }
  }

  /** The node a topic ends at, without creating anything. */
  #find(topic: string): TopicNode<T> | undefined {
    let node: TopicNode<T> | undefined = this.#root;
    let start = 0;
    while (node !== undefined) {
      let end = topic.indexOf('/', start);
      if (end === -1) end = topic.length;
      node = node.children?.get(topic.slice(start, end));
      if (end === topic.length) return node;
      start = end + 1;
    }
    return undefined;
  }
}
