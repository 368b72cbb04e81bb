// Property-based tests: TopicIndex, RetainedIndex and the validators agree with small reference
// implementations written from the spec text, on topics and filters drawn from a small alphabet of
// levels chosen to hit the edge cases ('' levels, '$SYS', '+', '#').
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RetainedIndex, TopicIndex, isValidTopicFilter, isValidTopicName } from '../../src/topic/index.js';

/** Reference matcher: MQTT section 4.7, level by level, with the '$' rule [MQTT-4.7.2-1]. */
function referenceMatches(filter: string, topic: string): boolean {
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  if (topic.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i];
    if (level === '#') return true; // matches the parent and everything below
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/** Reference validators: the section 4.7 rules as plain level checks. */
function referenceValidName(topic: string): boolean {
  return topic.length > 0 && !topic.includes('+') && !topic.includes('#') && !topic.includes('\u0000');
}

function referenceValidFilter(filter: string): boolean {
  if (filter.length === 0 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => {
    if (level === '#') return i === levels.length - 1;
    return level === '+' || !/[+#]/.test(level);
  });
}

const topicLevel = fc.constantFrom('a', 'b', '', '$SYS', 'é');
const filterLevel = fc.constantFrom('a', 'b', '', '$SYS', '+', 'é');

const topicArb = fc
  .array(topicLevel, { minLength: 1, maxLength: 5 })
  .map((levels) => levels.join('/'))
  .filter((topic) => topic.length > 0);

const filterArb = fc
  .tuple(fc.array(filterLevel, { minLength: 0, maxLength: 4 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((filter) => filter.length > 0);

const RUNS = { numRuns: 300 };

void describe('topic properties', () => {
  void it('the reference matcher agrees with the worked examples of section 4.7', () => {
    assert.equal(referenceMatches('sport/#', 'sport'), true);
    assert.equal(referenceMatches('sport/+', 'sport'), false);
    assert.equal(referenceMatches('+/+', '/finance'), true);
    assert.equal(referenceMatches('#', '$SYS/uptime'), false);
    assert.equal(referenceMatches('$SYS/#', '$SYS/uptime'), true);
  });

  void it('TopicIndex.match visits exactly the (filter, key) pairs the reference matcher accepts', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(filterArb, fc.constantFrom('c1', 'c2', 'c3')), { maxLength: 30 }),
        fc.array(topicArb, { minLength: 1, maxLength: 10 }),
        (subscriptions, topics) => {
          const index = new TopicIndex<string>();
          for (const [filter, key] of subscriptions) index.add(filter, key, `${filter} ${key}`);
          const stored = [...new Set(subscriptions.map(([filter, key]) => `${filter} ${key}`))];
          for (const topic of topics) {
            const seen: string[] = [];
            index.match(topic, (value, key, filter) => {
              assert.equal(value, `${filter} ${key}`);
              seen.push(value);
            });
            const expected = stored.filter((entry) => referenceMatches(entry.slice(0, entry.lastIndexOf(' ')), topic));
            assert.deepEqual(seen.sort(), expected.sort(), `topic ${JSON.stringify(topic)}`);
          }
        },
      ),
      RUNS,
    );
  });

  void it('RetainedIndex.match visits exactly the stored topics the reference matcher accepts', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(topicArb, { maxLength: 30 }),
        fc.array(filterArb, { minLength: 1, maxLength: 10 }),
        (topics, filters) => {
          const index = new RetainedIndex<string>();
          for (const topic of topics) index.set(topic, topic);
          for (const filter of filters) {
            const seen: string[] = [];
            index.match(filter, (topic, value) => {
              assert.equal(value, topic);
              seen.push(topic);
            });
            const expected = topics.filter((topic) => referenceMatches(filter, topic));
            assert.deepEqual(seen.sort(), expected.sort(), `filter ${JSON.stringify(filter)}`);
          }
        },
      ),
      RUNS,
    );
  });

  void it('TopicIndex keeps size and lookups in step with a Map model and frees every node at the end', () => {
    const operation = fc.tuple(fc.boolean(), filterArb, fc.constantFrom('c1', 'c2'), fc.nat(9));
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
        const index = new TopicIndex<number>();
        const model = new Map<string, number>();
        for (const [isAdd, filter, key, value] of operations) {
          const id = `${filter}\u0000${key}`;
          if (isAdd) {
            assert.equal(index.add(filter, key, value), !model.has(id));
            model.set(id, value);
          } else {
            assert.equal(index.remove(filter, key), model.delete(id));
          }
          assert.equal(index.size, model.size);
          assert.equal(index.get(filter, key), model.get(id));
          assert.equal(index.hasFilter(filter, key), model.has(id));
        }
        const listed = [...index.entries()].map(([filter, key, value]) => `${filter}\u0000${key}=${value}`);
        assert.deepEqual(listed.sort(), [...model].map(([id, value]) => `${id}=${value}`).sort());
        for (const id of model.keys()) {
          const [filter = '', key = ''] = id.split('\u0000');
          assert.equal(index.remove(filter, key), true);
        }
        assert.equal(index.size, 0);
        assert.equal(index.nodeCount, 0);
      }),
      RUNS,
    );
  });

  void it('RetainedIndex keeps size and lookups in step with a Map model and frees every node at the end', () => {
    const operation = fc.tuple(fc.boolean(), topicArb, fc.nat(9));
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), (operations) => {
        const index = new RetainedIndex<number>();
        const model = new Map<string, number>();
        for (const [isSet, topic, value] of operations) {
          if (isSet) {
            index.set(topic, value);
            model.set(topic, value);
          } else {
            assert.equal(index.delete(topic), model.delete(topic));
          }
          assert.equal(index.size, model.size);
          assert.equal(index.get(topic), model.get(topic));
          assert.equal(index.has(topic), model.has(topic));
        }
        assert.deepEqual([...index.entries()].sort(), [...model].sort());
        for (const topic of model.keys()) index.delete(topic);
        assert.equal(index.size, 0);
        assert.equal(index.nodeCount, 0);
      }),
      RUNS,
    );
  });

  void it('[MQTT-4.7.1-2] [MQTT-4.7.1-3] in 3.1.1, [MQTT-4.7.1-1] [MQTT-4.7.1-2] in 5.0: the validators agree with level-by-level reference rules', () => {
    const text = fc.string({ unit: fc.constantFrom('a', '/', '+', '#', '$', '\u0000', 'é'), maxLength: 8 });
    fc.assert(
      fc.property(text, (candidate) => {
        assert.equal(isValidTopicName(candidate), referenceValidName(candidate), `name ${JSON.stringify(candidate)}`);
        assert.equal(
          isValidTopicFilter(candidate),
          referenceValidFilter(candidate),
          `filter ${JSON.stringify(candidate)}`,
        );
      }),
      { numRuns: 2000 },
    );
  });
});
