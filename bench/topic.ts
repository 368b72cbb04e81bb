/**
 * Topic benchmark: matches per second of TopicIndex and RetainedIndex as the number of subscriptions
 * (or retained topics) grows from 1k to 100k, for topics 3 and 6 levels deep.
 *
 * Figures only, never assertions. Run with `npx tsc -p . && node dist/bench/topic.js` (about 25 s).
 *
 * Two topic working sets are timed: "hot" cycles through 64 distinct topics (the trie nodes they touch
 * stay in CPU cache) and "spread" through 4096 topics over the whole index (cache misses grow with
 * the index's size, which is memory, not the algorithm). A baseline trie of the same shape that splits
 * the topic with `split('/')` shows what TopicIndex's walk of the string by index buys.
 */
import { RetainedIndex, TopicIndex, isValidTopicName } from '../src/topic/index.js';

const SIZES = [1_000, 10_000, 100_000];
const SITES = 100;
const TIME_PER_CASE_MS = 250;

/** Same shape as TopicIndex's nodes, but matched after `topic.split('/')`: the alternative measured. */
class SplitNode {
  children: Map<string, SplitNode> | undefined = undefined;
  plus: SplitNode | undefined = undefined;
  hash: SplitNode | undefined = undefined;
  entries: Map<string, number> | undefined = undefined;
  filter = '';
}

class SplitTrie {
  readonly root = new SplitNode();

  add(filter: string, key: string, value: number): void {
    let node = this.root;
    for (const level of filter.split('/')) {
      let child = level === '+' ? node.plus : level === '#' ? node.hash : node.children?.get(level);
      if (child === undefined) {
        child = new SplitNode();
        if (level === '+') node.plus = child;
        else if (level === '#') node.hash = child;
        else (node.children ??= new Map()).set(level, child);
      }
      node = child;
    }
    (node.entries ??= new Map()).set(key, value);
    node.filter = filter;
  }

  match(topic: string, visit: (value: number, key: string, filter: string) => void): void {
    const levels = topic.split('/');
    if (topic.startsWith('$')) {
      const child = this.root.children?.get(levels[0] ?? '');
      if (child !== undefined) splitWalk(child, levels, 1, visit);
      return;
    }
    splitWalk(this.root, levels, 0, visit);
  }
}

function splitEmit(node: SplitNode, visit: (value: number, key: string, filter: string) => void): void {
  if (node.entries === undefined) return;
  for (const [key, value] of node.entries) visit(value, key, node.filter);
}

function splitWalk(
  node: SplitNode,
  levels: string[],
  depth: number,
  visit: (value: number, key: string, filter: string) => void,
): void {
  if (node.hash !== undefined) splitEmit(node.hash, visit);
  if (depth === levels.length) {
    splitEmit(node, visit);
    return;
  }
  const child = node.children?.get(levels[depth] ?? '');
  if (child !== undefined) splitWalk(child, levels, depth + 1, visit);
  if (node.plus !== undefined) splitWalk(node.plus, levels, depth + 1, visit);
}

/** The subscription of client `i`: 60% exact, 20% '+' in the last levels, 10% '#', 10% '+' mid-filter. */
function filterFor(i: number): string {
  const site = `site${i % SITES}`;
  const device = `dev${i}`;
  const deep = i % 2 === 1;
  switch (i % 10) {
    case 6:
    case 7:
      return deep ? `${site}/${device}/+/temp/+/v1` : `${site}/${device}/+`;
    case 8:
      return `${site}/${device}/#`;
    case 9:
      return `${site}/+/${device}`;
    default:
      return deep ? `${site}/${device}/sensor/temp/raw/v1` : `${site}/${device}/temp`;
  }
}

/** A few broad filters every index holds, so every topic has some wildcard matches at any size. */
const GLOBAL_FILTERS = ['#', '+/+/temp', '+/+/sensor/temp/raw/+', '$SYS/#', 'site1/#', '+/dev1/#'];

function topicFor(device: number, depth: 3 | 6): string {
  const prefix = `site${device % SITES}/dev${device}`;
  return depth === 3 ? `${prefix}/temp` : `${prefix}/sensor/temp/raw/v1`;
}

/** `count` random device numbers below `size`, from a fixed seed so runs compare. */
function devicesFor(size: number, count: number): number[] {
  let seed = 12345;
  const devices: number[] = [];
  for (let i = 0; i < count; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    devices.push(seed % size);
  }
  return devices;
}

let visits = 0;
const countVisit = (): void => {
  visits++;
};

/** Runs `match` over `topics` round-robin for about TIME_PER_CASE_MS; returns matches/s and visits/match. */
function time(topics: string[], match: (topic: string) => void): { perSecond: number; visitsPerMatch: number } {
  const mask = topics.length - 1; // topics.length is a power of two
  // Warm-up for the JIT and for the garbage the index build left behind.
  const warmUntil = process.hrtime.bigint() + BigInt(TIME_PER_CASE_MS / 2) * 1_000_000n;
  for (let i = 0; process.hrtime.bigint() < warmUntil; i += 1000) {
    for (let j = 0; j < 1000; j++) match(topics[(i + j) & mask] ?? '');
  }
  visits = 0;
  let done = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(TIME_PER_CASE_MS) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 10_000; i++) match(topics[(done + i) & mask] ?? '');
    done += 10_000;
    elapsed = process.hrtime.bigint() - start;
  }
  return { perSecond: (done * 1e9) / Number(elapsed), visitsPerMatch: visits / done };
}

const format = (value: number): string => Math.round(value).toLocaleString('en-US');
const column = (text: string, width: number): string => text.padStart(width);

function benchTopicIndex(): void {
  console.log('TopicIndex.match: matches per second (one match = every subscription of one topic)');
  console.log(
    `${column('subscriptions', 13)} ${column('depth', 5)} ${column('topics', 7)} ${column('index walk', 12)} ${column('split()', 12)} ${column('visits/match', 13)}`,
  );
  for (const size of SIZES) {
    const index = new TopicIndex<number>();
    const baseline = new SplitTrie();
    const built = process.hrtime.bigint();
    for (let i = 0; i < size; i++) index.add(filterFor(i), `client${i}`, i);
    GLOBAL_FILTERS.forEach((filter, i) => index.add(filter, `global${i}`, i));
    const buildMs = Number(process.hrtime.bigint() - built) / 1e6;
    for (let i = 0; i < size; i++) baseline.add(filterFor(i), `client${i}`, i);
    GLOBAL_FILTERS.forEach((filter, i) => baseline.add(filter, `global${i}`, i));

    for (const depth of [3, 6] as const) {
      for (const [label, count] of [
        ['hot', 64],
        ['spread', 4096],
      ] as const) {
        const topics = devicesFor(size, count).map((device) => topicFor(device, depth));
        const walked = time(topics, (topic) => index.match(topic, countVisit));
        const split = time(topics, (topic) => baseline.match(topic, countVisit));
        console.log(
          `${column(format(size), 13)} ${column(String(depth), 5)} ${column(label, 7)} ${column(format(walked.perSecond), 12)} ${column(format(split.perSecond), 12)} ${column(walked.visitsPerMatch.toFixed(2), 13)}`,
        );
      }
    }
    console.log(
      `${column('', 13)} built ${format(size)} filters in ${buildMs.toFixed(0)} ms, ${format(index.nodeCount)} nodes`,
    );
  }
}

function benchRetainedIndex(): void {
  console.log('');
  console.log('RetainedIndex.match: filter matches per second over N retained topics');
  console.log(
    `${column('topics', 13)} ${column('filter', 28)} ${column('matches/s', 12)} ${column('topics/match', 13)}`,
  );
  for (const size of SIZES) {
    const index = new RetainedIndex<number>();
    for (let i = 0; i < size; i++) {
      index.set(topicFor(i, 3), i);
      index.set(topicFor(i, 6), i);
    }
    const cases: [string, (device: number) => string][] = [
      ['site/dev/temp (exact)', (d) => topicFor(d, 3)],
      ['site/dev/# (one device)', (d) => `site${d % SITES}/dev${d}/#`],
      ['site/dev/+/temp/+/v1', (d) => `site${d % SITES}/dev${d}/+/temp/+/v1`],
      ['site/+/temp (one site)', (d) => `site${d % SITES}/+/temp`],
    ];
    for (const [label, filterOf] of cases) {
      const filters = devicesFor(size, 64).map(filterOf);
      const result = time(filters, (filter) => index.match(filter, countVisit));
      console.log(
        `${column(format(size * 2), 13)} ${column(label, 28)} ${column(format(result.perSecond), 12)} ${column(result.visitsPerMatch.toFixed(1), 13)}`,
      );
    }
  }
}

function benchValidation(): void {
  console.log('');
  const topics = [topicFor(12345, 3), topicFor(12345, 6)];
  for (const topic of topics) {
    let valid = 0;
    const iterations = 2_000_000;
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) if (isValidTopicName(topic)) valid++;
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    console.log(
      `isValidTopicName(${JSON.stringify(topic)}): ${format(iterations / seconds)} checks/s (${valid === iterations ? 'all valid' : 'INVALID'})`,
    );
  }
}

console.log(`node ${process.version}, ${TIME_PER_CASE_MS} ms per case`);
benchTopicIndex();
benchRetainedIndex();
benchValidation();
