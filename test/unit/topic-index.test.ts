// TopicIndex bookkeeping: add, replace, remove, size, lookups, iteration and freeing empty nodes.
// Matching rules themselves are in topic-match.test.ts and topic-property.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FennecError } from '../../src/errors/index.js';
import { DEFAULT_MAX_TOPIC_LEVELS, TopicIndex, isValidTopicFilter } from '../../src/topic/index.js';

function matches<T>(index: TopicIndex<T>, topic: string): string[] {
  const seen: string[] = [];
  index.match(topic, (value, key, filter) => seen.push(`${filter} ${key}=${String(value)}`));
  return seen.sort();
}

void describe('TopicIndex', () => {
  void it('starts empty and matches nothing', () => {
    const index = new TopicIndex<number>();
    assert.equal(index.size, 0);
    assert.equal(index.nodeCount, 0);
    assert.deepEqual(matches(index, 'a'), []);
    assert.deepEqual(matches(index, '$SYS/a'), []);
  });

  void it('returns true when it adds a new filter and key', () => {
    const index = new TopicIndex<number>();
    assert.equal(index.add('a/b', 'c1', 1), true);
    assert.equal(index.size, 1);
    assert.equal(index.get('a/b', 'c1'), 1);
    assert.equal(index.hasFilter('a/b', 'c1'), true);
  });

  void it('returns false and replaces the value when the same filter and key are added again', () => {
    const index = new TopicIndex<number>();
    index.add('a/+', 'c1', 1);
    assert.equal(index.add('a/+', 'c1', 2), false);
    assert.equal(index.size, 1);
    assert.equal(index.get('a/+', 'c1'), 2);
    assert.deepEqual(matches(index, 'a/x'), ['a/+ c1=2']);
  });

  void it('keeps one entry per key under the same filter', () => {
    const index = new TopicIndex<number>();
    index.add('a/#', 'c1', 1);
    index.add('a/#', 'c2', 2);
    assert.equal(index.size, 2);
    assert.deepEqual(matches(index, 'a/b'), ['a/# c1=1', 'a/# c2=2']);
  });

  void it('visits a key once per matching filter, leaving de-duplication to the caller', () => {
    const index = new TopicIndex<string>();
    index.add('a/+', 'c1', 'plus');
    index.add('a/#', 'c1', 'hash');
    index.add('a/b', 'c1', 'exact');
    assert.deepEqual(matches(index, 'a/b'), ['a/# c1=hash', 'a/+ c1=plus', 'a/b c1=exact']);
  });

  void it('tells apart a literal level from the wildcards and from an absent key', () => {
    const index = new TopicIndex<number>();
    index.add('a/+', 'c1', 1);
    assert.equal(index.hasFilter('a/+', 'c1'), true);
    assert.equal(index.hasFilter('a/#', 'c1'), false);
    assert.equal(index.hasFilter('a/b', 'c1'), false);
    assert.equal(index.hasFilter('a', 'c1'), false);
    assert.equal(index.hasFilter('a/+', 'c2'), false);
    assert.equal(index.get('a/+/c', 'c1'), undefined);
  });

  void it('stores undefined as a value like any other', () => {
    const index = new TopicIndex<undefined>();
    index.add('a', 'c1', undefined);
    assert.equal(index.hasFilter('a', 'c1'), true);
    assert.equal(index.size, 1);
    let visits = 0;
    index.match('a', () => visits++);
    assert.equal(visits, 1);
  });

  void it('returns true when it removes an entry, and false for an entry it does not hold', () => {
    const index = new TopicIndex<number>();
    index.add('a/b', 'c1', 1);
    index.add('a/b', 'c2', 2);
    assert.equal(index.remove('a/b', 'c3'), false);
    assert.equal(index.remove('a/c', 'c1'), false);
    assert.equal(index.remove('a', 'c1'), false);
    assert.equal(index.remove('a/b/c', 'c1'), false);
    assert.equal(index.remove('a/b', 'c1'), true);
    assert.equal(index.remove('a/b', 'c1'), false);
    assert.equal(index.size, 1);
    assert.deepEqual(matches(index, 'a/b'), ['a/b c2=2']);
  });

  void it('counts one node per distinct level path, sharing prefixes', () => {
    const index = new TopicIndex<number>();
    index.add('a/b', 'c1', 1);
    index.add('a/c', 'c1', 1);
    index.add('a/+', 'c1', 1);
    index.add('a/#', 'c1', 1);
    index.add('a/b', 'c2', 1);
    assert.equal(index.nodeCount, 5);
  });

  void it('frees every node once every entry is removed, so removal does not leak memory', () => {
    const index = new TopicIndex<number>();
    const filters = ['a', 'a/b', 'a/b/c', 'a/+/c', 'a/#', '+', '#', '+/+/#', '/', '//', '/a', '$SYS/#', 'x/y/z/w'];
    for (const filter of filters) {
      index.add(filter, 'c1', 1);
      index.add(filter, 'c2', 2);
    }
    assert.equal(index.size, filters.length * 2);
    for (const filter of [...filters].reverse()) index.remove(filter, 'c1');
    for (const filter of filters) index.remove(filter, 'c2');
    assert.equal(index.size, 0);
    assert.equal(index.nodeCount, 0);
    assert.deepEqual([...index.entries()], []);
  });

  void it('keeps the nodes below a removed filter that other filters still use', () => {
    const index = new TopicIndex<number>();
    index.add('a', 'c1', 1);
    index.add('a/b/c', 'c1', 2);
    index.remove('a', 'c1');
    assert.equal(index.nodeCount, 3);
    assert.deepEqual(matches(index, 'a/b/c'), ['a/b/c c1=2']);
    index.remove('a/b/c', 'c1');
    assert.equal(index.nodeCount, 0);
  });

  void it('frees only the branch that became empty', () => {
    const index = new TopicIndex<number>();
    index.add('a/b/c', 'c1', 1);
    index.add('a/x', 'c1', 1);
    index.remove('a/b/c', 'c1');
    assert.equal(index.nodeCount, 2);
  });

  void it('throws ERR_INVALID_TOPIC_FILTER for an invalid filter and stores nothing', () => {
    const index = new TopicIndex<number>();
    for (const filter of ['', 'a/#/b', 'a+', 'a\u0000']) {
      assert.throws(
        () => index.add(filter, 'c1', 1),
        (error: unknown) => error instanceof FennecError && error.code === 'ERR_INVALID_TOPIC_FILTER',
      );
    }
    assert.equal(index.size, 0);
    assert.equal(index.nodeCount, 0);
  });

  void it(`refuses filters deeper than maxLevels, ${DEFAULT_MAX_TOPIC_LEVELS} by default`, () => {
    const index = new TopicIndex<number>();
    assert.equal(index.add('+/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1) + '#', 'c1', 1), true);
    assert.throws(() => index.add('+/'.repeat(DEFAULT_MAX_TOPIC_LEVELS) + '#', 'c1', 1), FennecError);
    const shallow = new TopicIndex<number>({ maxLevels: 2 });
    shallow.add('a/b', 'c1', 1);
    assert.throws(() => shallow.add('a/b/c', 'c1', 1), FennecError);
  });

  void it('indexes every filter that passes isValidTopicFilter with its default limits', () => {
    const index = new TopicIndex<number>();
    const deepest = '+/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1) + '#';
    const tooDeep = '+/'.repeat(DEFAULT_MAX_TOPIC_LEVELS) + '#';
    assert.equal(isValidTopicFilter(deepest), true);
    assert.equal(index.add(deepest, 'c1', 1), true);
    assert.equal(isValidTopicFilter(tooDeep), false);
  });

  void it('matches a topic of 65536 empty levels without exhausting the stack', () => {
    const index = new TopicIndex<number>();
    index.add('+/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1) + '#', 'deep', 1);
    index.add('/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1), 'exact', 1);
    index.add('#', 'all', 1);
    const topic = '/'.repeat(65535);
    assert.deepEqual(matches(index, topic), ['# all=1', `${'+/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1)}# deep=1`]);
  });

  void it('lists every entry as [filter, key, value]', () => {
    const index = new TopicIndex<number>();
    index.add('a/b', 'c1', 1);
    index.add('a/+', 'c2', 2);
    index.add('#', 'c3', 3);
    index.add('a/b', 'c4', 4);
    const entries = [...index.entries()].map(([filter, key, value]) => `${filter} ${key}=${value}`).sort();
    assert.deepEqual(entries, ['# c3=3', 'a/+ c2=2', 'a/b c1=1', 'a/b c4=4']);
  });

  void it('lists the entries of a level with 150,000 children', () => {
    const index = new TopicIndex<number>();
    for (let i = 0; i < 150_000; i++) index.add(`wide/${i}`, 'c', i);
    let count = 0;
    for (const _entry of index.entries()) count++;
    assert.equal(count, 150_000);
  });

  void it('passes the stored filter string to the visitor', () => {
    const index = new TopicIndex<number>();
    index.add('sport/+/player1', 'c1', 1);
    const filters: string[] = [];
    index.match('sport/tennis/player1', (_value, _key, filter) => filters.push(filter));
    assert.deepEqual(filters, ['sport/+/player1']);
  });

  void it('stores a $share filter literally: callers add its inner filter instead', () => {
    const index = new TopicIndex<number>();
    index.add('$share/g/a', 'c1', 1);
    assert.deepEqual(matches(index, 'a'), []);
    assert.deepEqual(matches(index, '$share/g/a'), ['$share/g/a c1=1']);
  });

  void it('lets the visitor remove entries while a match is under way', () => {
    const index = new TopicIndex<number>();
    index.add('a/b', 'c1', 1);
    index.add('a/b', 'c2', 2);
    index.add('a/+', 'c3', 3);
    index.match('a/b', (_value, key, filter) => index.remove(filter, key));
    assert.equal(index.size, 0);
    assert.equal(index.nodeCount, 0);
  });
});
