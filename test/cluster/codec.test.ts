// The form of a message between nodes (src/cluster/codec.ts): what is encoded is decoded the same,
// binary 5.0 properties included, per-hop properties left out; anything else is refused with a RangeError.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeMessage, encodeMessage } from '../../src/cluster/codec.js';
import type { Message } from '../../src/session/message.js';

const base: Message = {
  topic: 'a/b',
  payload: Buffer.from([0, 1, 2, 255]),
  qos: 1,
  retain: false,
  properties: undefined,
  publisherId: 'pub',
  receivedAt: 1700000000000,
};

void describe('cluster message codec', () => {
  void it('decodes what it encodes, without properties', () => {
    assert.deepEqual(decodeMessage(encodeMessage(base)), { ...base, expiresAt: undefined });
  });

  void it('keeps 5.0 properties, binary ones as Buffers, and drops the topic alias and subscription identifiers', () => {
    const message: Message = {
      ...base,
      qos: 2,
      retain: true,
      expiresAt: 1700000060000,
      properties: {
        correlationData: Buffer.from([9, 8, 7]),
        contentType: 'text/plain',
        userProperties: [
          ['unit', 'C'],
          ['unit', 'F'],
        ],
        topicAlias: 3,
        subscriptionIdentifiers: [4],
      },
    };
    const decoded = decodeMessage(encodeMessage(message));
    assert.deepEqual(decoded.properties, {
      correlationData: Buffer.from([9, 8, 7]),
      contentType: 'text/plain',
      userProperties: [
        ['unit', 'C'],
        ['unit', 'F'],
      ],
    });
    assert.equal(decoded.expiresAt, 1700000060000);
    assert.equal(decoded.retain, true);
    assert.deepEqual(decoded.payload, message.payload);
  });

  void it('refuses bytes that are not an encoded message', () => {
    assert.throws(() => decodeMessage(Buffer.from([0, 0])), RangeError);
    assert.throws(() => decodeMessage(Buffer.from([0, 0, 0, 50, 123])), RangeError);
    const header = Buffer.from('null');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(header.length);
    assert.throws(() => decodeMessage(Buffer.concat([length, header])), RangeError);
    const noTopic = Buffer.from('{"q":1}');
    length.writeUInt32BE(noTopic.length);
    assert.throws(() => decodeMessage(Buffer.concat([length, noTopic])), RangeError);
  });
});
