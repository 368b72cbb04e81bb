// Messages of one turn for one node travel as one stream entry (src/cluster/outbox.ts `append`,
// src/cluster/entry.ts), on a real Redis: an entry holds several messages in order, at most
// MAX_ENTRY_MESSAGES; any other command in between starts a new entry, so commands keep their order;
// the reader side splits an entry back into its messages, shared groups included.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import pino from 'pino';
import { entryMessages, groupsOf } from '../../src/cluster/entry.js';
import { MAX_ENTRY_MESSAGES, Outbox } from '../../src/cluster/outbox.js';
import { startRedis } from '../helpers/redis-server.js';

const fields = (n: number, groups?: string): (string | Buffer)[] => {
  const out: (string | Buffer)[] = ['i', `p/1/${n}`, 'm', Buffer.from(`message ${n}`)];
  if (groups !== undefined) out.push('g', groups);
  return out;
};

void describe('cluster stream entries', () => {
  void it('gathers the messages of one turn for one stream into one entry, in order, and reads them back', async (t) => {
    const server = await startRedis(t);
    if (server === undefined) return;
    const redis = new Redis(server.url);
    t.after(() => redis.disconnect());
    const counters = { batches: 0, retries: 0, waitsShort: 0 };
    const outbox = new Outbox(redis, counters, pino({ level: 'silent' }), 50);
    t.after(() => outbox.close());

    const made: boolean[] = [];
    for (let n = 1; n <= 3; n++) made.push(outbox.append('s:a', fields(n), true));
    made.push(outbox.append('s:b', fields(4, '$share/g/x\u0000$share/h/x'), false));
    made.push(outbox.append('s:a', fields(5), false));
    // Another command closes the open entries: the next message starts a new one after it.
    outbox.push(['SET', 'marker', '1']);
    made.push(outbox.append('s:a', fields(6), false));
    for (let n = 7; n < 7 + MAX_ENTRY_MESSAGES + 1; n++) made.push(outbox.append('s:c', fields(n), false));
    await outbox.drain();

    assert.deepEqual(made.slice(0, 6), [true, false, false, true, false, true]);
    assert.equal(made.slice(6).filter(Boolean).length, 2, 'one entry more once the first is full');
    assert.equal(counters.batches, 1, 'one pipeline for the turn');

    const read = async (stream: string): Promise<string[][]> => {
      const entries = (await redis.xrangeBuffer(stream, '-', '+')) as [Buffer, Buffer[]][];
      return entries.map(([, f]) => entryMessages(f).map((m) => `${m.id.toString()}=${m.bytes.toString()}`));
    };
    assert.deepEqual(await read('s:a'), [
      ['p/1/1=message 1', 'p/1/2=message 2', 'p/1/3=message 3', 'p/1/5=message 5'],
      ['p/1/6=message 6'],
    ]);
    const c = await read('s:c');
    assert.deepEqual(
      c.map((entry) => entry.length),
      [MAX_ENTRY_MESSAGES, 1],
    );
    assert.equal(c[1]![0], `p/1/${7 + MAX_ENTRY_MESSAGES}=message ${7 + MAX_ENTRY_MESSAGES}`);
    const onB = (await redis.xrangeBuffer('s:b', '-', '+')) as [Buffer, Buffer[]][];
    const [only] = entryMessages(onB[0]![1]);
    assert.deepEqual(groupsOf(only!.groups), new Set(['$share/g/x', '$share/h/x']));
  });

  void it('reads an entry of one message, skips a message without its bytes, and gives no groups for an empty field', () => {
    const f = (...values: string[]): Buffer[] => values.map((v) => Buffer.from(v));
    assert.deepEqual(
      entryMessages(f('i', 'a', 'm', 'x')).map((m) => m.id.toString()),
      ['a'],
    );
    assert.deepEqual(
      entryMessages(f('i', 'a', 'i', 'b', 'm', 'y', 'g', '')).map((m) => [m.id.toString(), groupsOf(m.groups)]),
      [['b', undefined]],
    );
    assert.deepEqual(entryMessages(null), []);
  });
});
