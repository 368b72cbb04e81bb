// Crash tests: `fennec broker` with its default SQLite store in a temporary data directory is killed
// with SIGKILL and started again on the same directory. What it acknowledged before the crash (QoS 1
// PUBACK, QoS 2 PUBREC, retained messages, subscriptions) is there after it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as packets from '../helpers/packets.js';
import type { ConnectOptions } from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { killAllPrograms, runProgram, type RunningProcess } from '../interop/support.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const fennec = join(root, 'bin', 'fennec.js');
const PROCESS_TIMEOUT_MS = 60_000;
const environment = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FENNEC_')));

const dirs: string[] = [];
after(async () => {
  destroyAllClients();
  await killAllPrograms();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fennec-crash-'));
  dirs.push(dir);
  return dir;
}

/** A `fennec broker` process on a free port over `dir`. */
async function startBroker(dir: string, config?: string): Promise<{ process: RunningProcess; port: number }> {
  const args = [fennec, 'broker', '--port', '0', '--data-dir', dir, '--log-level', 'warn'];
  if (config !== undefined) args.push('--config', config);
  const running = runProgram(process.execPath, args, PROCESS_TIMEOUT_MS, environment);
  const [line] = await running.waitForLines(1, 10_000);
  const match = /mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(line ?? '');
  assert.ok(match, `unexpected start line ${JSON.stringify(line)}`);
  return { process: running, port: Number(match[1]) };
}

/** Kills the broker with SIGKILL, as a crash would, and waits until it is gone. */
async function crash(running: RunningProcess): Promise<void> {
  destroyAllClients();
  running.child.kill('SIGKILL');
  const result = await running.exited;
  assert.equal(result.signal, 'SIGKILL');
}

for (const v of [4, 5] as const) {
  const persistent = (clientId: string): ConnectOptions => ({
    version: v,
    clientId,
    clean: false,
    ...(v === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
  });

  describe(`crash with SIGKILL and restart on the same data directory (v${v})`, () => {
    it(`[MQTT-4.3.2-4] [MQTT-4.3.3-4] every acknowledged QoS 1 and QoS 2 message reaches the persistent subscriber after the crash, in order, QoS 2 exactly once (v${v})`, async () => {
      const dir = await dataDir();
      // 2,000 messages wait for the offline subscriber: more than the default queue of 1,000 holds.
      const config = join(dir, 'fennec.yaml');
      await writeFile(config, 'limits:\n  max_queued_messages: 5000\n');
      let broker = await startBroker(dir, config);
      const sub = await RawClient.connect(broker.port, persistent('crash-sub'));
      await sub.subscribe('crash/#', 2);
      await sub.disconnect();
      const pub = await RawClient.connect(broker.port, { version: v, clientId: 'crash-pub', clean: true });
      const count = 1000;
      for (let i = 0; i < count; i++) await pub.publish({ topic: 'crash/q1', payload: `one-${i}`, qos: 1 });
      for (let i = 0; i < count; i++) await pub.publish({ topic: 'crash/q2', payload: `two-${i}`, qos: 2 });
      // Every PUBACK and PUBCOMP has come back: now the broker dies without a chance to save anything.
      await crash(broker.process);
      broker = await startBroker(dir, config);
      const back = await RawClient.connect(broker.port, persistent('crash-sub'));
      assert.equal(back.connack.sessionPresent, true);
      const qos1: string[] = [];
      const qos2: string[] = [];
      let pubrels = 0;
      while (qos1.length + qos2.length < 2 * count || pubrels < qos2.length) {
        const packet = await back.next(5000);
        if (packet.type === 'publish') {
          if (packet.qos === 1) {
            qos1.push(packet.payload.toString());
            back.send(packets.puback(v, packet.packetId));
          } else {
            assert.equal(packet.qos, 2);
            qos2.push(packet.payload.toString());
            back.send(packets.pubrec(v, packet.packetId));
          }
        } else if (packet.type === 'pubrel') {
          pubrels++;
          back.send(packets.pubcomp(v, packet.packetId));
        } else {
          assert.fail(`unexpected ${packet.type}`);
        }
      }
      // QoS 1 at least once and in order: nothing was sent before the crash, so exactly once here too.
      assert.deepEqual(
        qos1,
        Array.from({ length: count }, (_, i) => `one-${i}`),
      );
      assert.deepEqual(
        qos2,
        Array.from({ length: count }, (_, i) => `two-${i}`),
      );
      await back.expectNothing(200);
      await crash(broker.process);
    });

    it(`[MQTT-3.3.1-5] [MQTT-3.3.1-10] retained messages set, replaced and deleted before a crash are as they were after it (v${v})`, async () => {
      const dir = await dataDir();
      let broker = await startBroker(dir);
      const pub = await RawClient.connect(broker.port, { version: v, clientId: 'ret-pub', clean: true });
      await pub.publish({ topic: 'ret/a', payload: 'a1', qos: 1, retain: true });
      await pub.publish({ topic: 'ret/b', payload: 'b1', qos: 1, retain: true });
      await pub.publish({ topic: 'ret/b', payload: 'b2', qos: 1, retain: true });
      await pub.publish({ topic: 'ret/c', payload: 'c1', qos: 1, retain: true });
      await pub.publish({ topic: 'ret/c', payload: '', qos: 1, retain: true });
      await crash(broker.process);
      broker = await startBroker(dir);
      const sub = await RawClient.connect(broker.port, { version: v, clientId: 'ret-sub', clean: true });
      await sub.subscribe('ret/#', 1);
      const got = [await sub.receive(), await sub.receive()].map((m) => `${m.topic}=${m.payload.toString()}`);
      assert.deepEqual(got.sort(), ['ret/a=a1', 'ret/b=b2']);
      await sub.expectNothing(200);
      await crash(broker.process);
    });

    it(`[MQTT-4.3.3-10] a QoS 2 flow cut between PUBREC and PUBREL by a crash completes after the restart, and the message is delivered once (v${v})`, async () => {
      const dir = await dataDir();
      let broker = await startBroker(dir);
      const sub = await RawClient.connect(broker.port, persistent('q2-sub'));
      await sub.subscribe('inflight/#', 2);
      await sub.disconnect();
      const pub = await RawClient.connect(broker.port, persistent('q2-pub'));
      pub.send(packets.publish(v, { topic: 'inflight/x', payload: 'once', qos: 2, packetId: 42 }));
      assert.equal((await pub.next('pubrec')).packetId, 42);
      await crash(broker.process);
      broker = await startBroker(dir);
      const pubBack = await RawClient.connect(broker.port, persistent('q2-pub'));
      assert.equal(pubBack.connack.sessionPresent, true);
      // The publisher never got a PUBCOMP: it sends the PUBREL again [MQTT-4.4.0-1]
      pubBack.send(packets.pubrel(v, 42));
      const pubcomp = await pubBack.next('pubcomp');
      assert.deepEqual([pubcomp.packetId, pubcomp.reasonCode], [42, 0]);
      const subBack = await RawClient.connect(broker.port, persistent('q2-sub'));
      const message = await subBack.receive();
      assert.deepEqual([message.topic, message.payload.toString(), message.qos], ['inflight/x', 'once', 2]);
      await subBack.expectNothing(200);
      await crash(broker.process);
    });

    it(`[MQTT-3.1.2-8] the will of a client connected when the broker crashed is published after the restart (v${v})`, async () => {
      const dir = await dataDir();
      let broker = await startBroker(dir);
      const watcher = await RawClient.connect(broker.port, persistent('will-watcher'));
      await watcher.subscribe('wills/#', 1);
      await watcher.disconnect();
      const owner = await RawClient.connect(broker.port, {
        ...persistent('will-owner'),
        will: { topic: 'wills/owner', payload: 'lost', qos: 1 },
      });
      // CONNACK does not wait for the commit of the session (README, what survives what); a SUBACK
      // does, and comes after it: from then on the session and its will are on disk.
      await owner.subscribe('owner/#', 1);
      await crash(broker.process);
      broker = await startBroker(dir);
      const back = await RawClient.connect(broker.port, persistent('will-watcher'));
      const will = await back.receive();
      assert.deepEqual([will.topic, will.payload.toString()], ['wills/owner', 'lost']);
      await crash(broker.process);
    });
  });
}

describe('a data directory the broker cannot trust', () => {
  it('a corrupt database file stops fennec broker with one line naming the file and what to do (exit 74)', async () => {
    const dir = await dataDir();
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'fennec.db'), Buffer.alloc(8192, 0x5a));
    const result = await runProgram(
      process.execPath,
      [fennec, 'broker', '--port', '0', '--data-dir', dir],
      PROCESS_TIMEOUT_MS,
      environment,
    ).exited;
    assert.equal(result.code, 74);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, /ERR_STORE_CORRUPT|not a database|corrupt/i);
    assert.ok(lines[0]!.includes(join(dir, 'fennec.db')), lines[0]);
    assert.equal(result.stdout, '');
  });

  it('a second broker on the same data directory is refused while the first runs (exit 74)', async () => {
    const dir = await dataDir();
    const first = await startBroker(dir);
    const result = await runProgram(
      process.execPath,
      [fennec, 'broker', '--port', '0', '--data-dir', dir],
      PROCESS_TIMEOUT_MS,
      environment,
    ).exited;
    assert.equal(result.code, 74, result.stderr);
    assert.match(result.stderr, /lock|another/i);
    await crash(first.process);
  });
});
