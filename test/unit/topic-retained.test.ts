// RetainedIndex bookkeeping: set, replace, delete, size, lookups, iteration and freeing empty nodes.
// Matching rules themselves are in topic-match.test.ts and topic-property.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FennecError } from '../../src/errors/index.js';
import { DEFAULT_MAX_TOPIC_LEVELS, RetainedIndex, isValidTopicName } from '../../src/topic/index.js';

function matches<T>(index: RetainedIndex<T>, filter: string): string[] {
  const seen: string[] = [];
  index.match(filter, (topic, value) => seen.push(`${topic}=${String(value)}`));
  return seen.sort();
}

void describe('RetainedIndex', () => {
  void it('starts empty and matches nothing', () => {
    const index = new RetainedIndex<string>();
    assert.equal(index.size, 0);
    assert.equal(index.nodeCount, 0);
    assert.deepEqual(matches(index, '#'), []);
    assert.deepEqual(matches(index, 'a/+'), []);
  });

  void it('stores one value per topic and replaces it on a second set', () => {
    const index = new RetainedIndex<string>();
    index.set('a/b', 'first');
    index.set('a/b', 'second');
    assert.equal(index.size, 1);
    assert.equal(index.get('a/b'), 'second');
    assert.equal(index.has('a/b'), true);
    assert.deepEqual(matches(index, 'a/b'), ['a/b=second']);
  });

  void it('does not report an intermediate level as a stored topic', () => {
    const index = new RetainedIndex<string>();
    index.set('a/b/c', 'v');
    assert.equal(index.has('a'), false);
    assert.equal(index.has('a/b'), false);
    assert.equal(index.get('a/b'), undefined);
    assert.equal(index.has('a/b/c/d'), false);
    assert.deepEqual(matches(index, 'a/b'), []);
  });

  void it('stores undefined as a value like any other', () => {
    const index = new RetainedIndex<undefined>();
    index.set('a', undefined);
    assert.equal(index.has('a'), true);
    assert.deepEqual(matches(index, '#'), ['a=undefined']);
  });

  void it('returns true when it deletes a topic, and false for a topic it does not hold', () => {
    const index = new RetainedIndex<number>();
    index.set('a/b', 1);
    index.set('a/b/c', 2);
    assert.equal(index.delete('a'), false);
    assert.equal(index.delete('a/x'), false);
    assert.equal(index.delete('a/b/c/d'), false);
    assert.equal(index.delete('a/b'), true);
    assert.equal(index.delete('a/b'), false);
    assert.equal(index.size, 1);
    assert.deepEqual(matches(index, '#'), ['a/b/c=2']);
    assert.equal(index.nodeCount, 3);
  });

  void it('frees every node once every topic is deleted, so deletion does not leak memory', () => {
    const index = new RetainedIndex<number>();
    const topics = ['a', 'a/b', 'a/b/c', 'a/x/c', '/', '//', '/a', 'a/', '$SYS/broker/uptime', 'x/y/z/w'];
    topics.forEach((topic, i) => index.set(topic, i));
    assert.equal(index.size, topics.length);
    for (const topic of topics) assert.equal(index.delete(topic), true);
    assert.equal(index.size, 0);
    assert.equal(index.nodeCount, 0);
    assert.deepEqual([...index.entries()], []);
  });

  void it('frees only the branch that became empty', () => {
    const index = new RetainedIndex<number>();
    index.set('a/b/c', 1);
    index.set('a/x', 2);
    index.delete('a/b/c');
    assert.equal(index.nodeCount, 2);
  });

  void it('throws ERR_INVALID_TOPIC_NAME for a topic that is not a valid Topic Name, and stores nothing', () => {
    const index = new RetainedIndex<number>();
    for (const topic of ['', 'a/+', '#', 'a\u0000']) {
      assert.throws(
        () => index.set(topic, 1),
        (error: unknown) => error instanceof FennecError && error.code === 'ERR_INVALID_TOPIC_NAME',
      );
    }
    assert.equal(index.size, 0);
    assert.equal(index.nodeCount, 0);
  });

  void it(`refuses topics deeper than maxLevels, ${DEFAULT_MAX_TOPIC_LEVELS} by default`, () => {
    const index = new RetainedIndex<number>();
    index.set('/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1), 1);
    assert.throws(() => index.set('/'.repeat(DEFAULT_MAX_TOPIC_LEVELS), 1), FennecError);
    const shallow = new RetainedIndex<number>({ maxLevels: 2 });
    shallow.set('a/b', 1);
    assert.throws(() => shallow.set('a/b/c', 1), FennecError);
  });

  void it('stores every topic that passes isValidTopicName with its default limits', () => {
    const index = new RetainedIndex<number>();
    const deepest = '/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1);
    assert.equal(isValidTopicName(deepest), true);
    index.set(deepest, 1);
    assert.equal(isValidTopicName(deepest + '/'), false);
  });

  void it('finds every stored topic under a deep # without exhausting the stack', () => {
    const index = new RetainedIndex<number>();
    index.set('/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1), 1);
    assert.equal(matches(index, '#').length, 1);
    assert.equal(matches(index, '+/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1) + '#').length, 1);
    assert.equal(matches(index, '+/'.repeat(32767) + '#').length, 0); // 32768 levels, deeper than any topic
  });

  void it('[MQTT-4.7.2-1] keeps $ topics out of # and + while still matching them by name', () => {
    const index = new RetainedIndex<number>();
    index.set('$SYS/broker/uptime', 1);
    index.set('$SYS/broker/load', 2);
    index.set('broker/uptime', 3);
    assert.deepEqual(matches(index, '#'), ['broker/uptime=3']);
    assert.deepEqual(matches(index, '+/broker/+'), []);
    assert.deepEqual(matches(index, '$SYS/#'), ['$SYS/broker/load=2', '$SYS/broker/uptime=1']);
    assert.deepEqual(matches(index, '$SYS/broker/+'), ['$SYS/broker/load=2', '$SYS/broker/uptime=1']);
  });

  void it('finds the retained messages of a sport/# subscription, including sport itself', () => {
    const index = new RetainedIndex<string>();
    for (const topic of ['sport', 'sport/tennis', 'sport/tennis/player1', 'sports', 'news/sport']) {
      index.set(topic, topic.length.toString());
    }
    assert.deepEqual(matches(index, 'sport/#'), ['sport/tennis/player1=20', 'sport/tennis=12', 'sport=5']);
  });

  void it('lists every stored topic as [topic, value]', () => {
    const index = new RetainedIndex<number>();
    index.set('a', 1);
    index.set('a/b', 2);
    index.set('/x', 3);
    const entries = [...index.entries()].map(([topic, value]) => `${topic}=${value}`).sort();
    assert.deepEqual(entries, ['/x=3', 'a/b=2', 'a=1']);
  });
});
