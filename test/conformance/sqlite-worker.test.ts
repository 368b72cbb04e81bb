/**
 * SqliteWorkerStore when its worker thread dies: a store failure, never a silent loss. Pending and
 * later requests reject with ERR_STORE_WRITE naming the file and the thread; a broker on it
 * withholds the PUBACK that waits for the commit; the file keeps every batch committed before,
 * whole, and opens again. (The conformance suite and the SIGKILL tests cover the working store.)
 */
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Broker } from '../../src/broker/broker.js';
import { FennecError } from '../../src/errors/index.js';
import { MemoryStore, SqliteWorkerStore, type StoredState, type StoreOp } from '../../src/store/index.js';
import { delivery, message, normalize, session } from '../../src/store/conformance-records.js';
import * as packets from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { sleep } from '../helpers/broker.js';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fennec-worker-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Batch n: message n queued for client c (from the SIGKILL tests' shape). */
function batch(n: number, messages = 1): StoreOp[] {
  const ops: StoreOp[] = n === 1 ? [{ op: 'session', record: session('c') }] : [];
  for (let i = 0; i < messages; i++) {
    const id = n * 10_000 + i;
    ops.push({ op: 'message', message: message(id) }, { op: 'enqueue', record: delivery(id, 'c', id) });
  }
  return ops;
}

async function stateAfter(batches: StoreOp[][]): Promise<StoredState> {
  const reference = new MemoryStore();
  for (const ops of batches) await reference.commit(ops);
  return normalize(await reference.load());
}

function isWorkerFailure(file: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof FennecError, String(error));
    assert.equal(error.code, 'ERR_STORE_WRITE');
    assert.match(error.message, /worker thread/);
    assert.ok(error.message.includes(file), error.message);
    assert.match(error.message, /restart the broker/);
    return true;
  };
}

describe('SqliteWorkerStore batches', () => {
  it('long runs of message, enqueue, complete and forget-message, written many rows a statement, leave the state of the memory store', async (t) => {
    const dir = await tempDir(t);
    const store = await SqliteWorkerStore.open(dir);
    const reference = new MemoryStore();
    try {
      // Batch n brings messages of the QoS 1 flow and acknowledges those of batch n - 1, interleaved;
      // some keys come back within a batch (deleted then written again, and the reverse), so that
      // the worker must keep their order. Sizes pass the rows of one multi-row statement (32).
      let seq = 1;
      for (let n = 1; n <= 6; n++) {
        const ops: StoreOp[] = n === 1 ? [{ op: 'session', record: session('c') }] : [];
        for (let i = 0; i < 40 * n; i++) {
          const id = seq;
          ops.push({ op: 'message', message: message(id) }, { op: 'enqueue', record: delivery(seq, 'c', id) });
          if (seq > 50 && i % 3 === 0)
            ops.push({ op: 'complete', seq: seq - 50 }, { op: 'forget-message', id: seq - 50 });
          if (i % 17 === 5) {
            ops.push({ op: 'forget-message', id }, { op: 'message', message: message(id, { topic: `again/${n}` }) });
            ops.push({ op: 'complete', seq }, { op: 'enqueue', record: delivery(seq, 'c', id, { packetId: 7 }) });
          }
          if (i % 23 === 7) ops.push({ op: 'complete', seq }, { op: 'forget-message', id });
          seq++;
        }
        await store.commit(ops);
        await reference.commit(ops);
        assert.deepStrictEqual(normalize(await store.load()), normalize(await reference.load()), `after batch ${n}`);
      }
    } finally {
      await store.close();
    }
  });
});

describe('SqliteWorkerStore when its worker thread dies', () => {
  it('every later commit, load and spool read rejects with ERR_STORE_WRITE, and the file keeps what was committed', async (t) => {
    const dir = await tempDir(t);
    const store = await SqliteWorkerStore.open(dir);
    await store.commit(batch(1));
    await store.thread.terminate();
    await assert.rejects(store.commit(batch(2)), isWorkerFailure(store.file));
    await assert.rejects(store.load(), isWorkerFailure(store.file));
    await assert.rejects(store.readSpool('c', 1, 10), isWorkerFailure(store.file));
    await store.close();
    // The dead thread's connection and lock are gone: the file opens again, with batch 1 whole.
    const reopened = await SqliteWorkerStore.open(dir);
    try {
      assert.deepStrictEqual(normalize(await reopened.load()), await stateAfter([batch(1)]));
    } finally {
      await reopened.close();
    }
  });

  it('a commit in flight when the thread dies settles, and the file holds its batch whole or not at all', async (t) => {
    const dir = await tempDir(t);
    const store = await SqliteWorkerStore.open(dir);
    await store.commit(batch(1));
    const second = batch(2, 2000);
    const inFlight = store.commit(second).then(
      () => 'committed',
      (error: unknown) => (isWorkerFailure(store.file)(error) ? 'failed' : 'other'),
    );
    await store.thread.terminate();
    const outcome = await inFlight;
    const reopened = await SqliteWorkerStore.open(dir);
    try {
      const state = normalize(await reopened.load());
      if (outcome === 'committed') {
        assert.deepStrictEqual(state, await stateAfter([batch(1), second]));
      } else {
        assert.equal(outcome, 'failed');
        // The thread may have committed before it died; never a part of the batch.
        const without = await stateAfter([batch(1)]);
        const withIt = await stateAfter([batch(1), second]);
        assert.ok(
          JSON.stringify(state) === JSON.stringify(without) || JSON.stringify(state) === JSON.stringify(withIt),
          `the store holds part of a batch: ${state.messages.length} messages`,
        );
      }
    } finally {
      await reopened.close();
    }
  });

  it('a broker on it withholds the PUBACK of a message for a persistent session, and logs the error', async (t) => {
    const dir = await tempDir(t);
    const store = await SqliteWorkerStore.open(dir);
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const broker = new Broker({ host: '127.0.0.1', port: 0, store, logger: log });
    t.after(async () => {
      destroyAllClients();
      // Its close waits for a commit that can no longer happen (the CLI bounds it with
      // shutdown_timeout_ms): stop waiting once the listeners are closed.
      await Promise.race([broker.close(), sleep(500)]);
      await store.close();
    });
    const port = (await broker.listen()).port;
    const sub = await RawClient.connect(port, { version: 4, clientId: 'keeper', clean: false });
    await sub.subscribe('w/#', 1);
    await sub.disconnect();
    const pub = await RawClient.connect(port, { version: 4, clientId: 'pub', clean: true });
    pub.send(packets.publish(4, { topic: 'w/1', payload: 'before', qos: 1, packetId: 1 }));
    assert.equal((await pub.next('puback')).packetId, 1);
    await store.thread.terminate();
    pub.send(packets.publish(4, { topic: 'w/2', payload: 'after', qos: 1, packetId: 2 }));
    await pub.expectNothing(1500);
    const error = lines
      .map((line) => JSON.parse(line) as { msg: string; code?: string; err?: string })
      .find((entry) => entry.msg.startsWith('cannot write to the store'));
    assert.ok(error, `no store error logged: ${lines.join('')}`);
    assert.equal(error.code, 'ERR_STORE_WRITE');
    assert.match(error.err ?? '', /worker thread/);
  });
});
