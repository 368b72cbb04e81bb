// The pieces of `fennec broker --workers N` that need no process: the client id hash that places a
// session on a worker, and the batch frame workers send each other.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { workerFor } from '../../src/workers/hash.js';
import { decodeFrame, EntryKind, messageEntry, retainEntry, textEntry } from '../../src/workers/frame.js';
import { encodeMessage } from '../../src/cluster/codec.js';
import type { Message } from '../../src/session/message.js';

const message = (topic: string, payload: string): Message => ({
  topic,
  payload: Buffer.from(payload),
  qos: 1,
  retain: false,
  properties: undefined,
  publisherId: 'p',
  receivedAt: 1000,
  expiresAt: undefined,
});

void describe('workers: client id hash', () => {
  void it('is FNV-1a of the UTF-8 bytes modulo the count: fixed values, stable across runs', () => {
    // FNV-1a 32 of "" is 0x811c9dc5, of "a" 0xe40c292c.
    assert.equal(workerFor('', 1_000_000_007), 0x811c9dc5 % 1_000_000_007);
    assert.equal(workerFor('a', 0x100000000), 0xe40c292c);
    assert.equal(workerFor('sensor-17', 4), workerFor('sensor-17', 4));
  });

  void it('spreads ids over every worker', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[workerFor(`device-${i}`, 4)]!++;
    for (const count of counts) assert.ok(count > 800 && count < 1200, `counts ${counts.join(', ')}`);
  });
});

void describe('workers: batch frame', () => {
  void it('carries messages with their shared groups, retained changes, routes, hellos and client counts, in order', () => {
    const encoded = encodeMessage(message('a/b', 'x'));
    const frame = Buffer.concat([
      ...messageEntry(encoded, ['$share/g/a/+', '$share/h/#']),
      ...messageEntry(encoded, undefined),
      ...retainEntry('r/t', message('r/t', 'kept')),
      ...retainEntry('r/u', undefined),
      ...textEntry(EntryKind.RouteAdded, 'a/#'),
      ...textEntry(EntryKind.RouteRemoved, 'b/+'),
      ...textEntry(EntryKind.Hello, ['x/#', '$share/g/y'].join('\u0000')),
      ...textEntry(EntryKind.HelloReply, ''),
      ...textEntry(EntryKind.Clients, '42'),
    ]);
    const entries = decodeFrame(frame);
    assert.deepEqual(
      entries.map((e) => e.kind),
      [1, 1, 2, 3, 4, 5, 6, 7, 8],
    );
    const [first, second, retain, unretain, added, removed, hello, reply, clients] = entries;
    assert.ok(first?.kind === EntryKind.Message && second?.kind === EntryKind.Message);
    assert.deepEqual(first.groups, ['$share/g/a/+', '$share/h/#']);
    assert.equal(first.message.topic, 'a/b');
    assert.equal(first.message.payload.toString(), 'x');
    assert.deepEqual(second.groups, []);
    assert.ok(retain?.kind === EntryKind.Retain && retain.topic === 'r/t');
    assert.equal(retain.message.payload.toString(), 'kept');
    assert.deepEqual(unretain, { kind: EntryKind.Unretain, topic: 'r/u' });
    assert.deepEqual(added, { kind: EntryKind.RouteAdded, filter: 'a/#' });
    assert.deepEqual(removed, { kind: EntryKind.RouteRemoved, filter: 'b/+' });
    assert.deepEqual(hello, { kind: EntryKind.Hello, filters: ['x/#', '$share/g/y'] });
    assert.deepEqual(reply, { kind: EntryKind.HelloReply, filters: [] });
    assert.deepEqual(clients, { kind: EntryKind.Clients, count: 42 });
  });

  void it('refuses a truncated frame with a RangeError', () => {
    const frame = Buffer.concat(textEntry(EntryKind.RouteAdded, 'a/#'));
    assert.throws(() => decodeFrame(frame.subarray(0, frame.length - 1)), RangeError);
    assert.throws(() => decodeFrame(frame.subarray(0, 3)), RangeError);
  });
});
