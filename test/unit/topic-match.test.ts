// One table of (filter, topic, expected) rows, checked against both TopicIndex (filters stored, topic
// matched) and RetainedIndex (topic stored, filter matched), so the two indexes cannot drift apart.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RetainedIndex, TopicIndex } from '../../src/topic/index.js';

interface Row {
  readonly filter: string;
  readonly topic: string;
  readonly matches: boolean;
  /** Spec ids the row proves, put in the test name. */
  readonly spec?: string;
  /** Said in the test name when the strings alone do not show the point. */
  readonly note?: string;
}

const row = (filter: string, topic: string, matches: boolean, spec?: string): Row =>
  spec === undefined ? { filter, topic, matches } : { filter, topic, matches, spec };

const PLUS = '[MQTT-4.7.1-3 in 3.1.1] [MQTT-4.7.1-2 in 5.0]';
const HASH = 'section 4.7.1.2';
const DOLLAR = '[MQTT-4.7.2-1]';
const EXACT = '[MQTT-4.7.3-4]';

const table: readonly Row[] = [
  // Literal levels: equal strings only, no normalisation, case-sensitive.
  row('a', 'a', true),
  row('a', 'b', false),
  row('a', 'a/b', false),
  row('a/b', 'a', false),
  row('a/b', 'a/b', true),
  row('a/b/c', 'a/b/c', true),
  row('a/b/c', 'a/b/d', false),
  row('ACCOUNTS', 'Accounts', false, EXACT),
  { filter: '\u00e9', topic: 'e\u0301', matches: false, spec: EXACT, note: 'precomposed é vs e + combining accent' },
  row('a b', 'a b', true, EXACT),
  row('a', 'a ', false, EXACT),
  row('日本/😀', '日本/😀', true),
  // Empty levels are real levels.
  row('/a', '/a', true),
  row('/a', 'a', false),
  row('a', '/a', false),
  row('a/', 'a', false),
  row('a', 'a/', false),
  row('a//b', 'a//b', true),
  row('a//b', 'a/b', false),
  row('a/b', 'a//b', false),
  row('//', '//', true),
  row('/', '//', false),
  // '+' matches exactly one level, which may be empty.
  row('+', 'a', true, PLUS),
  row('+', 'a/b', false, PLUS),
  row('+', '/', false, PLUS),
  row('+', '/finance', false, PLUS),
  row('+/+', '/', true, PLUS),
  row('+/+', '/finance', true, PLUS),
  row('/+', '/finance', true, PLUS),
  row('/+', '/', true, PLUS),
  row('+/', '/', true, PLUS),
  row('+/+', 'a/b', true, PLUS),
  row('+/b', 'a/b', true, PLUS),
  row('a/+', 'a/b', true, PLUS),
  row('a/+', 'a', false, PLUS),
  row('a/+', 'a/', true, PLUS),
  row('a/+', 'a/b/c', false, PLUS),
  row('a/+/c', 'a/b/c', true, PLUS),
  row('a/+/c', 'a//c', true, PLUS),
  row('a/+/c', 'a/b/d', false, PLUS),
  row('+/+/+', 'a/b/c', true, PLUS),
  row('+/+/+', 'a/b', false, PLUS),
  row('sport/tennis/+', 'sport/tennis/player1', true, PLUS),
  row('sport/tennis/+', 'sport/tennis/player2', true, PLUS),
  row('sport/tennis/+', 'sport/tennis/player1/ranking', false, PLUS),
  row('sport/tennis/+', 'sport/tennis', false, PLUS),
  row('sport/+', 'sport', false, PLUS),
  row('sport/+', 'sport/', true, PLUS),
  row('+/tennis/#', 'sport/tennis/player1', true, PLUS),
  // '#' matches the parent level and any number of levels below it.
  row('#', 'a', true, HASH),
  row('#', 'a/b/c', true, HASH),
  row('#', '/', true, HASH),
  row('#', '/a', true, HASH),
  row('a/#', 'a', true, HASH),
  row('a/#', 'a/', true, HASH),
  row('a/#', 'a/b', true, HASH),
  row('a/#', 'a/b/c', true, HASH),
  row('a/#', 'b', false, HASH),
  row('a/#', 'ab', false, HASH),
  row('a/#', 'b/a', false, HASH),
  row('a/b/#', 'a', false, HASH),
  row('+/#', 'a', true, HASH),
  row('+/#', 'a/b/c', true, HASH),
  row('+/#', '/', true, HASH),
  row('/#', '/', true, HASH),
  row('/#', 'a', false, HASH),
  row('/#', '/a/b', true, HASH),
  row('sport/#', 'sport', true, HASH),
  row('sport/tennis/player1/#', 'sport/tennis/player1', true, HASH),
  row('sport/tennis/player1/#', 'sport/tennis/player1/ranking', true, HASH),
  row('sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true, HASH),
  row('sport/tennis/player1/#', 'sport/tennis/player2', false, HASH),
  // Topics starting with '$' are not matched by filters starting with a wildcard.
  row('#', '$SYS', false, DOLLAR),
  row('#', '$SYS/broker/uptime', false, DOLLAR),
  row('#', '$', false, DOLLAR),
  row('#', '$a', false, DOLLAR),
  row('+', '$SYS', false, DOLLAR),
  row('+/a', '$SYS/a', false, DOLLAR),
  row('+/#', '$SYS/a', false, DOLLAR),
  row('+/monitor/Clients', '$SYS/monitor/Clients', false, DOLLAR),
  row('$SYS/#', '$SYS', true, DOLLAR),
  row('$SYS/#', '$SYS/broker/uptime', true, DOLLAR),
  row('$SYS/+', '$SYS/a', true, DOLLAR),
  row('$SYS/monitor/+', '$SYS/monitor/Clients', true, DOLLAR),
  row('$SYS', '$SYS', true, DOLLAR),
  row('$', '$', true, DOLLAR),
  row('$SYS/#', '$sys/a', false, DOLLAR),
  // The '$' rule is about the first level only.
  row('a/+', 'a/$SYS', true, DOLLAR),
  row('a/#', 'a/$b/c', true, DOLLAR),
  row('/#', '/$SYS', true, DOLLAR),
  row('+/$SYS', '/$SYS', true, DOLLAR),
  row('+', 'a$', true, DOLLAR),
];

function name({ filter, topic, matches, spec, note }: Row): string {
  const prefix = spec === undefined ? '' : spec.startsWith('[') ? `${spec} ` : `(${spec}) `;
  const suffix = note === undefined ? '' : ` (${note})`;
  return `${prefix}${JSON.stringify(filter)} ${matches ? 'matches' : 'does not match'} ${JSON.stringify(topic)}${suffix}`;
}

void describe('TopicIndex.match: filter table', () => {
  for (const entry of table) {
    void it(name(entry), () => {
      const index = new TopicIndex<number>();
      index.add(entry.filter, 'client', 1);
      const seen: string[] = [];
      index.match(entry.topic, (_value, key, filter) => seen.push(`${filter} ${key}`));
      assert.deepEqual(seen, entry.matches ? [`${entry.filter} client`] : []);
    });
  }

  void it('finds exactly the matching rows when every filter of the table is stored at once', () => {
    const index = new TopicIndex<string>();
    const filters = [...new Set(table.map((entry) => entry.filter))];
    for (const filter of filters) index.add(filter, 'client', filter);
    for (const topic of new Set(table.map((entry) => entry.topic))) {
      const expected = table.filter((entry) => entry.topic === topic && entry.matches).map((entry) => entry.filter);
      const seen: string[] = [];
      index.match(topic, (value, _key, filter) => {
        assert.equal(value, filter);
        seen.push(filter);
      });
      for (const filter of expected) assert.ok(seen.includes(filter), `${filter} should match ${topic}`);
      for (const entry of table) {
        if (entry.topic === topic && !entry.matches) assert.ok(!seen.includes(entry.filter), name(entry));
      }
      assert.equal(new Set(seen).size, seen.length, `each filter is visited once for ${topic}`);
    }
  });
});

void describe('RetainedIndex.match: filter table', () => {
  for (const entry of table) {
    void it(name(entry), () => {
      const index = new RetainedIndex<number>();
      index.set(entry.topic, 1);
      const seen: string[] = [];
      index.match(entry.filter, (topic) => seen.push(topic));
      assert.deepEqual(seen, entry.matches ? [entry.topic] : []);
    });
  }

  void it('finds exactly the matching rows when every topic of the table is stored at once', () => {
    const index = new RetainedIndex<string>();
    for (const topic of new Set(table.map((entry) => entry.topic))) index.set(topic, topic);
    for (const filter of new Set(table.map((entry) => entry.filter))) {
      const seen: string[] = [];
      index.match(filter, (topic, value) => {
        assert.equal(value, topic);
        seen.push(topic);
      });
      for (const entry of table) {
        if (entry.filter === filter && entry.matches) assert.ok(seen.includes(entry.topic), `${filter} ${entry.topic}`);
        if (entry.filter === filter && !entry.matches)
          assert.ok(!seen.includes(entry.topic), `${filter} ${entry.topic}`);
      }
      assert.equal(new Set(seen).size, seen.length, `each topic is visited once for ${filter}`);
    }
  });
});
