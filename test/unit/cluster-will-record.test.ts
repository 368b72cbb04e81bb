// The form of a will record in a cluster's Redis (src/cluster/will-ledger.ts): meta line, then the
// will message as the cluster's codec encodes it; unreadable records are refused with an error.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeMessage } from '../../src/cluster/codec.js';
import { decodeRecord, encodeRecord, recordRun } from '../../src/cluster/will-ledger.js';
import type { Message } from '../../src/session/message.js';

const will: Message = {
  topic: 'clients/c1/status',
  payload: Buffer.from([0, 1, 2, 0x0a, 255]),
  qos: 1,
  retain: true,
  properties: {
    contentType: 'application/octet-stream',
    correlationData: Buffer.from('corr\n'),
    userProperties: [
      ['a', '1'],
      ['a', '2'],
    ],
    messageExpiryInterval: 30,
  },
  publisherId: 'c1',
  receivedAt: 0,
};

void describe('cluster will records', () => {
  void it('keep the will message, its delay and its due time, binary payload and properties included', () => {
    const record = decodeRecord(encodeRecord('c1', encodeMessage(will), 5000, 1_800_000_000_000));
    assert.equal(record.delayMs, 5000);
    assert.equal(record.dueAt, 1_800_000_000_000);
    assert.equal(record.message.topic, will.topic);
    assert.deepEqual(record.message.payload, will.payload);
    assert.equal(record.message.qos, 1);
    assert.equal(record.message.retain, true);
    assert.equal(record.message.publisherId, 'c1');
    assert.deepEqual(record.message.properties, will.properties);
  });

  void it('have no due time while their connection is open', () => {
    assert.equal(decodeRecord(encodeRecord('c1', encodeMessage(will), 0)).dueAt, undefined);
  });

  void it('are refused when they are not records', () => {
    assert.throws(() => decodeRecord(Buffer.from('no meta line')), RangeError);
    assert.throws(() => decodeRecord(Buffer.from('{"c":"x"}\n')), RangeError);
    assert.throws(() => decodeRecord(Buffer.from('{not json\n')), SyntaxError);
  });

  void it('name the run that wrote them: the id is RUN.SEQUENCE', () => {
    assert.equal(recordRun('mxbk6z15-3e59ef9a.17'), 'mxbk6z15-3e59ef9a');
  });
});
