// The spool's drop_oldest frees the exact payload size of each row it drops, whether the row is
// still in the batch being gathered (its size kept since it was spooled) or committed (its size read
// from the store): the byte count always equals the bytes of the rows left, so the limit holds
// exactly. No sockets: the Spool (src/broker/spool.ts) with a session stand-in, on a MemoryStore and
// on the temporary SQLite file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Persistence } from '../../src/broker/persistence.js';
import { Spool } from '../../src/broker/spool.js';
import { delivery, type Delivery, type Message } from '../../src/session/message.js';
import type { DropReason, OverflowSession } from '../../src/session/types.js';
import { MemoryStore } from '../../src/store/memory.js';

const log = pino({ level: 'silent' });
const LIMIT = 2000;

function message(i: number, size: number): Message {
  const payload = Buffer.alloc(size, 0x2e);
  payload.writeUInt32BE(i, 0);
  return { topic: 't', payload, qos: 1, retain: false, properties: undefined, publisherId: 'p', receivedAt: 0 };
}

class StandIn implements OverflowSession {
  readonly clientId = 'x';
  readonly refilled: Delivery[] = [];
  drops = 0;
  refill(deliveries: Delivery[]): void {
    this.refilled.push(...deliveries);
  }
  countDrop(_reason: DropReason): void {
    this.drops++;
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const backings = {
  'a MemoryStore': () => {
    const store = new MemoryStore();
    return { store, writer: new Persistence(store, log) };
  },
  'the temporary file': () => undefined,
};

for (const [name, backing] of Object.entries(backings)) {
  describe(`spool drop_oldest on ${name}`, () => {
    it('frees exactly the size of each row it drops, uncommitted or committed, and reads back the rows left in order', async () => {
      const options = {
        maxSpooledBytesPerSession: LIMIT,
        maxSpoolBytes: 1 << 30,
        spoolMinFreeBytes: 0,
        queueOverflow: 'drop_oldest' as const,
      };
      const spool = new Spool(options, log, backing());
      const session = new StandIn();
      const model: { i: number; size: number }[] = [];
      let bytes = 0;
      let dropped = 0;
      const spill = (i: number): void => {
        const size = 4 + ((i * 131) % 700);
        assert.equal(spool.spill(session, delivery(message(i, size), 1, false, undefined)), undefined);
        while (bytes + size > LIMIT) {
          bytes -= model.shift()!.size;
          dropped++;
        }
        model.push({ i, size });
        bytes += size;
        assert.equal(spool.bytes(session), bytes, `bytes after ${i}`);
      };
      try {
        // One batch: every drop is of a row not yet committed.
        for (let i = 0; i < 100; i++) spill(i);
        await turn();
        await turn();
        // Later batches: the oldest rows are committed, their sizes read from the store.
        for (let i = 100; i < 200; i++) {
          spill(i);
          if (i % 10 === 0) await turn();
        }
        assert.equal(session.drops, dropped);
        assert.equal(spool.size.bytes, bytes);
        for (let rounds = 0; rounds < 100 && spool.size.messages > 0; rounds++) {
          spool.drain(session, 7);
          await turn();
          await turn();
        }
        assert.deepEqual(
          session.refilled.map((d) => d.message.payload.readUInt32BE(0)),
          model.map((entry) => entry.i),
        );
        assert.deepEqual(spool.size, { messages: 0, bytes: 0, sessions: 0 });
      } finally {
        await spool.close();
      }
    });
  });
}
