// The parts of `fennec pub` and `fennec sub` that need no socket: -F format strings, -D property
// lists and the -T topic match, with the exact output of each.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileFormat, formatMessage, FormatError, jsonLine, plainMessage } from '../../src/cli/mqtt/format.js';
import { topicMatches } from '../../src/cli/mqtt/match.js';
import { parseProperties } from '../../src/cli/mqtt/properties.js';
import type { ClientMessage } from '../../src/client/index.js';

const message: ClientMessage = {
  topic: 'a/b',
  payload: Buffer.from('hi'),
  qos: 1,
  retain: true,
  dup: false,
  packetId: 42,
  properties: {
    userProperties: [
      ['k', 'v'],
      ['k', 'w'],
    ],
    contentType: 'c/t',
    subscriptionIdentifiers: [3, 4],
  },
};

function format(f: string, m: ClientMessage = message): string {
  const warnings: string[] = [];
  return formatMessage(compileFormat(f), m, (w) => warnings.push(w)).toString('latin1') + warnings.join(';');
}

void describe('fennec sub -F', () => {
  void it('fills in the message fields', () => {
    assert.equal(format('%t %p %q %r %l %m %x %X'), 'a/b hi 1 1 2 42 6869 6869');
    assert.equal(format('%P|%C|%S|%R|%E|%D|%A'), 'k:v k:w|c/t|3,4||||');
  });

  void it('applies width, left alignment, zero padding and maximum width where mosquitto does', () => {
    assert.equal(format('[%5t][%-5t][%05l][%.1t][%3.2t][%05t][%-05l]'), '[  a/b][a/b  ][00002][a][ a/][  a/b][2    ]');
    assert.equal(format('[%5q]'), '[1]', '%q takes no width');
  });

  void it('reads escapes and literal @ and %', () => {
    assert.equal(format('\\\\\\0\\a\\e\\n\\r\\t\\v@@%%'), '\\\0\x07\x1b\n\r\t\v@%');
  });

  void it('refuses an unknown letter or escape, or a string that ends inside a sequence, with mosquitto wording', () => {
    assert.throws(() => compileFormat('%i'), new FormatError("Invalid format specifier 'i'."));
    assert.throws(() => compileFormat('\\q'), new FormatError("Invalid escape specifier 'q'."));
    assert.throws(() => compileFormat('abc%'), FormatError);
    assert.throws(() => compileFormat('@'), FormatError);
  });

  void it('%J prints nothing and warns when the payload is not JSON', () => {
    assert.equal(format('[%J]'), '[]Error: Message payload is not valid JSON on topic a/b.');
    const json = format('%J', { ...message, payload: Buffer.from('{"a":1}') });
    assert.match(json, /,"mid":42,"properties":\{.*\},"payload":\{"a":1\}\}$/);
  });
});

void describe('fennec sub output', () => {
  void it('-v prints (null) for an empty payload; --json gives base64 for bytes that are not UTF-8', () => {
    assert.equal(plainMessage({ ...message, payload: Buffer.alloc(0) }, true).toString(), 'a/b (null)');
    assert.deepEqual(JSON.parse(jsonLine({ ...message, payload: Buffer.from([0xc3]), properties: undefined })), {
      topic: 'a/b',
      payload: 'ww==',
      encoding: 'base64',
      qos: 1,
      retain: true,
    });
  });
});

void describe('fennec pub/sub -D', () => {
  void it('reads a flat list into properties: user-property takes two values, the others one', () => {
    const p = parseProperties(
      ['publish', 'user-property', 'a', '1', 'publish', 'content-type', 'x', 'connect', 'receive-maximum', '10'],
      ['connect', 'publish', 'will'],
    );
    assert.deepEqual(p.publish, { userProperties: [['a', '1']], contentType: 'x' });
    assert.deepEqual(p.connect, { receiveMaximum: 10 });
  });

  void it('refuses a command the tool does not take, an unknown property, a missing value, a number out of range', () => {
    const allowed = ['connect', 'publish', 'will'] as const;
    assert.throws(() => parseProperties(['subscribe', 'user-property', 'a', 'b'], allowed), /must be one of/);
    assert.throws(() => parseProperties(['publish', 'colour', 'red'], allowed), /unknown property/);
    assert.throws(() => parseProperties(['publish', 'user-property', 'a'], allowed), /a key and a value/);
    assert.throws(() => parseProperties(['connect', 'receive-maximum', '0'], allowed), /from 1 to 65535/);
    assert.throws(() => parseProperties(['publish', 'topic-alias', '1'], allowed), /no topic aliases/);
  });
});

void describe('fennec sub -T', () => {
  void it('matches topics by the broker rules: + one level, # the rest and the parent, $ topics not by a leading wildcard', () => {
    assert.equal(topicMatches('a/+/c', 'a/b/c'), true);
    assert.equal(topicMatches('a/+', 'a/b/c'), false);
    assert.equal(topicMatches('a/#', 'a'), true);
    assert.equal(topicMatches('a/#', 'a/b/c'), true);
    assert.equal(topicMatches('#', '$SYS/x'), false);
    assert.equal(topicMatches('$SYS/#', '$SYS/x'), true);
    assert.equal(topicMatches('a/b', 'a/b/c'), false);
  });
});
