// Topic Name and Topic Filter validation and `$share` parsing (MQTT 3.1.1 and 5.0 section 4.7, 5.0 section 4.8.2).
// Where the versions number a rule differently, test names give both ids with their version.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FennecError } from '../../src/errors/index.js';
import {
  DEFAULT_MAX_TOPIC_LEVELS,
  ERR_INVALID_TOPIC_FILTER,
  ERR_INVALID_TOPIC_NAME,
  isValidTopicFilter,
  isValidTopicName,
  malformedTopicFilter,
  parseSharedSubscription,
  validateTopicFilter,
  validateTopicName,
} from '../../src/topic/index.js';

function assertFennecError(fn: () => unknown, code: string, reasonCode: number): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FennecError, 'a FennecError');
    assert.equal(error.code, code);
    assert.equal(error.reasonCode, reasonCode);
    return true;
  });
}

function rejectsName(topic: string, limits?: { maxLevels?: number; maxLength?: number }): void {
  assert.equal(isValidTopicName(topic, limits), false);
  assertFennecError(() => validateTopicName(topic, limits), ERR_INVALID_TOPIC_NAME, 0x90);
}

function acceptsName(topic: string, limits?: { maxLevels?: number; maxLength?: number }): void {
  assert.equal(isValidTopicName(topic, limits), true);
  assert.doesNotThrow(() => validateTopicName(topic, limits));
}

function rejectsFilter(filter: string, limits?: { maxLevels?: number; maxLength?: number }): void {
  assert.equal(isValidTopicFilter(filter, limits), false);
  assertFennecError(() => validateTopicFilter(filter, limits), ERR_INVALID_TOPIC_FILTER, 0x8f);
}

function acceptsFilter(filter: string, limits?: { maxLevels?: number; maxLength?: number }): void {
  assert.equal(isValidTopicFilter(filter, limits), true);
  assert.doesNotThrow(() => validateTopicFilter(filter, limits));
}

const show = (text: string): string => JSON.stringify(text);

void describe('validateTopicName', () => {
  const valid = ['a', 'a/b', '/', '//', '/a', 'a/', 'a//b', '$SYS/broker', 'sport/tennis/player1', ' ', 'a b/c'];
  for (const topic of [...valid, 'é/日本/😀', '\uFEFF', '\u0001']) {
    void it(`accepts ${show(topic)}`, () => acceptsName(topic));
  }

  void it('[MQTT-4.7.3-1] rejects an empty Topic Name', () => rejectsName(''));

  for (const topic of ['+', '#', 'a/+', 'a/#', '+/a', 'a+b', 'sport/tennis#', 'a/+/b']) {
    void it(`[MQTT-3.3.2-2] [MQTT-4.7.1-1 in 3.1.1] [MQTT-4.7.0-1 in 5.0] rejects the wildcard in ${show(topic)}`, () =>
      rejectsName(topic));
  }

  for (const topic of ['\u0000', 'a\u0000', 'a/\u0000/b']) {
    void it(`[MQTT-4.7.3-2] rejects U+0000 in ${show(topic)}`, () => rejectsName(topic));
  }

  void it('[MQTT-4.7.3-3] accepts 65535 UTF-8 bytes and rejects 65536, counting multi-byte characters', () => {
    acceptsName('a'.repeat(65535));
    rejectsName('a'.repeat(65536));
    acceptsName('é'.repeat(32767) + 'a'); // 2-byte characters: 65535 bytes
    rejectsName('é'.repeat(32768));
    acceptsName('日'.repeat(21845)); // 3-byte characters: 65535 bytes
    rejectsName('日'.repeat(21846));
    acceptsName('😀'.repeat(16383) + 'abc'); // 4-byte characters: 65535 bytes
    rejectsName('😀'.repeat(16384));
  });

  void it('[MQTT-1.5.3-1 in 3.1.1] [MQTT-1.5.4-1 in 5.0] rejects lone UTF-16 surrogates, which have no UTF-8 form', () => {
    for (const topic of ['\uD800', 'a\uDC00', 'a/\uD83D', '\uDE00\uD83D']) rejectsName(topic);
    acceptsName('\uD83D\uDE00');
  });

  void it('throws a FennecError with code ERR_INVALID_TOPIC_NAME and reason code 0x90 (Topic Name invalid)', () => {
    assertFennecError(() => validateTopicName('a/+'), 'ERR_INVALID_TOPIC_NAME', 0x90);
  });

  void it('names the broken rule in the message and shortens a long topic', () => {
    assert.throws(() => validateTopicName(''), /MQTT-4\.7\.3-1/);
    assert.throws(() => validateTopicName('a/#'), /MQTT-3\.3\.2-2/);
    assert.throws(
      () => validateTopicName('a'.repeat(70000)),
      (error: unknown) => error instanceof Error && error.message.length < 200,
    );
  });

  void it('applies an optional maxLevels limit', () => {
    acceptsName('a/b/c', { maxLevels: 3 });
    rejectsName('a/b/c', { maxLevels: 2 });
    rejectsName('//', { maxLevels: 2 });
  });

  void it(`caps levels at ${DEFAULT_MAX_TOPIC_LEVELS} by default, the limit the indexes enforce, unless told Infinity`, () => {
    acceptsName('/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1));
    rejectsName('/'.repeat(DEFAULT_MAX_TOPIC_LEVELS));
    assert.throws(() => validateTopicName('/'.repeat(DEFAULT_MAX_TOPIC_LEVELS)), /more than 128 levels/);
    acceptsName('/'.repeat(65534), { maxLevels: Infinity });
  });

  void it('applies an optional maxLength limit in UTF-8 bytes, never above 65535', () => {
    acceptsName('éa', { maxLength: 3 });
    rejectsName('éé', { maxLength: 3 });
    rejectsName('a'.repeat(65536), { maxLength: 100000 });
  });
});

void describe('validateTopicFilter', () => {
  const valid = ['a', 'a/b', '/', '#', '+', 'a/#', '/#', '//#', '+/+', '/+', '+/', 'a//+', '+/tennis/#'];
  for (const filter of [...valid, 'sport/+/player1', 'sport/tennis/#', '$SYS/#', '$share/g/a', 'é/+/😀']) {
    void it(`accepts ${show(filter)}`, () => acceptsFilter(filter));
  }

  void it('[MQTT-4.7.3-1] rejects an empty Topic Filter', () => rejectsFilter(''));

  for (const filter of ['a/#/b', '#/a', 'a#', 'a/b#', '#a', '##', 'a/#/', 'sport/tennis#', '+#']) {
    void it(`[MQTT-4.7.1-2 in 3.1.1] [MQTT-4.7.1-1 in 5.0] rejects ${show(filter)}: '#' must be alone in the last level`, () =>
      rejectsFilter(filter));
  }

  for (const filter of ['sport+', '+a', 'a/+b', 'a/b+/c', '++', '+#/a', 'a+/']) {
    void it(`[MQTT-4.7.1-3 in 3.1.1] [MQTT-4.7.1-2 in 5.0] rejects ${show(filter)}: '+' must occupy a whole level`, () =>
      rejectsFilter(filter));
  }

  for (const filter of ['\u0000', '+/\u0000', 'a\u0000/#']) {
    void it(`[MQTT-4.7.3-2] rejects U+0000 in ${show(filter)}`, () => rejectsFilter(filter));
  }

  void it('[MQTT-4.7.3-3] accepts 65535 UTF-8 bytes and rejects 65536', () => {
    const noLevelCap = { maxLevels: Infinity };
    acceptsFilter('a'.repeat(65535));
    acceptsFilter('+/'.repeat(32767) + '#', noLevelCap);
    rejectsFilter('+/'.repeat(32767) + '+/', noLevelCap);
    rejectsFilter('é'.repeat(32768));
  });

  void it('[MQTT-1.5.3-1 in 3.1.1] [MQTT-1.5.4-1 in 5.0] rejects lone UTF-16 surrogates', () => {
    rejectsFilter('+/\uD800');
    rejectsFilter('\uDC00/#');
  });

  void it('throws a FennecError with code ERR_INVALID_TOPIC_FILTER and reason code 0x8F (Topic Filter invalid)', () => {
    assertFennecError(() => validateTopicFilter('a/#/b'), 'ERR_INVALID_TOPIC_FILTER', 0x8f);
  });

  void it(`caps levels at ${DEFAULT_MAX_TOPIC_LEVELS} by default, the limit the indexes enforce, unless told Infinity`, () => {
    acceptsFilter('+/'.repeat(DEFAULT_MAX_TOPIC_LEVELS - 1) + '#');
    rejectsFilter('+/'.repeat(DEFAULT_MAX_TOPIC_LEVELS) + '#');
    acceptsFilter('+/'.repeat(DEFAULT_MAX_TOPIC_LEVELS) + '#', { maxLevels: Infinity });
  });

  void it('applies optional maxLevels and maxLength limits', () => {
    acceptsFilter('+/+/#', { maxLevels: 3 });
    rejectsFilter('+/+/+/#', { maxLevels: 3 });
    rejectsFilter('abcd', { maxLength: 3 });
  });
});

void describe('parseSharedSubscription', () => {
  for (const filter of ['a/b', '#', '$share', '$sharex/g/a', '$SYS/#', 'share/g/a', '$Share/g/a', '/$share/g/a']) {
    void it(`returns undefined for the non-shared filter ${show(filter)}`, () => {
      assert.equal(parseSharedSubscription(filter), undefined);
    });
  }

  const shared: [string, string, string][] = [
    ['$share/group/a/b', 'group', 'a/b'],
    ['$share/g/#', 'g', '#'],
    ['$share/g/+/x', 'g', '+/x'],
    ['$share/g//', 'g', '/'],
    ['$share/g/$SYS/#', 'g', '$SYS/#'],
    ['$share/$share/a', '$share', 'a'],
    ['$share/consumer-1.é/a', 'consumer-1.é', 'a'],
  ];
  for (const [filter, shareName, topicFilter] of shared) {
    void it(`[MQTT-4.8.2-1] [MQTT-4.8.2-2] splits ${show(filter)} into ShareName ${show(shareName)} and filter ${show(topicFilter)}`, () => {
      assert.deepEqual(parseSharedSubscription(filter), { shareName, topicFilter });
    });
  }

  for (const filter of ['$share/', '$share//a', '$share//#']) {
    void it(`[MQTT-4.8.2-1] rejects ${show(filter)}: the ShareName must be at least one character`, () => {
      assertFennecError(() => parseSharedSubscription(filter), ERR_INVALID_TOPIC_FILTER, 0x8f);
    });
  }

  for (const filter of ['$share/+/a', '$share/#', '$share/g+/a', '$share/#/a', '$share/a#/b']) {
    void it(`[MQTT-4.8.2-2] rejects ${show(filter)}: the ShareName must not contain '+' or '#'`, () => {
      assertFennecError(() => parseSharedSubscription(filter), ERR_INVALID_TOPIC_FILTER, 0x8f);
    });
  }

  for (const filter of ['$share/g', '$share/g/']) {
    void it(`[MQTT-4.8.2-2] rejects ${show(filter)}: the ShareName must be followed by '/' and a Topic Filter`, () => {
      assertFennecError(() => parseSharedSubscription(filter), ERR_INVALID_TOPIC_FILTER, 0x8f);
    });
  }

  for (const filter of ['$share/g/a/#/b', '$share/g/a+', '$share/g/a\u0000', '$share/g\u0000/a']) {
    void it(`rejects ${show(filter)}, whose parts break the Topic Filter rules`, () => {
      assertFennecError(() => parseSharedSubscription(filter), ERR_INVALID_TOPIC_FILTER, 0x8f);
    });
  }

  void it('[MQTT-4.7.3-3] counts the whole shared filter against the 65535-byte limit', () => {
    const inner = 'a'.repeat(65535 - '$share/g/'.length);
    assert.deepEqual(parseSharedSubscription(`$share/g/${inner}`), { shareName: 'g', topicFilter: inner });
    assertFennecError(() => parseSharedSubscription(`$share/g/${inner}a`), ERR_INVALID_TOPIC_FILTER, 0x8f);
  });
});

void describe('malformedTopicFilter', () => {
  void it('[MQTT-4.7.3-1] [MQTT-4.7.3-2] and the wildcard rules: says why an empty filter, U+0000, or a misplaced + or # is malformed', () => {
    for (const filter of ['', 'a\u0000b', '#/a', 'a/#/b', 'a#', 'a+', 'a/+b', '++']) {
      assert.match(malformedTopicFilter(filter, false) ?? '', /^Topic Filter /, JSON.stringify(filter));
      assert.match(malformedTopicFilter(filter, true) ?? '', /^Topic Filter /, JSON.stringify(filter));
    }
  });

  void it('passes well-placed wildcards, and ignores the broker limits: a filter of 65535 bytes or 1000 levels is well formed', () => {
    for (const filter of ['#', '+', 'a/+/#', '/', '//', '+/+', 'x'.repeat(65535), 'a/'.repeat(999) + 'a']) {
      assert.equal(malformedTopicFilter(filter, true), undefined, filter.slice(0, 20));
    }
  });

  void it('[MQTT-4.8.2-1] [MQTT-4.8.2-2] checks the $share rules only when asked (5.0): 3.1.1 has no shared subscriptions', () => {
    for (const filter of ['$share//a', '$share/g', '$share/g/', '$share/+/a']) {
      assert.match(malformedTopicFilter(filter, true) ?? '', /ShareName/, filter);
      assert.equal(malformedTopicFilter(filter, false), undefined, filter);
    }
    assert.equal(malformedTopicFilter('$share/g/a/#', true), undefined);
  });
});
