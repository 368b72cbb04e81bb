// QoS 2 exactly once across crashes: `fennec broker` on a data directory is killed with SIGKILL at
// random moments while a persistent publisher sends QoS 2 messages to an online and an offline
// persistent subscriber, and started again on the same directory and port. Every delivery the
// subscribers' applications get is recorded (test/persistence/qos2-peers.ts): across all crashes no
// message the broker acknowledged (PUBREC) is lost, and none is delivered twice to one subscriber.
// The memory queues hold 20 messages, so the backlog goes through the spool on disk.
// FENNEC_CRASH_ITERATIONS sets the number of crashes (default 12; e.g. 200 for a long run).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllPrograms, runProgram, type RunningProcess } from '../interop/support.js';
import { QoS2Receiver, QoS2Sender } from './qos2-peers.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const fennec = join(root, 'bin', 'fennec.js');
const ITERATIONS = Number(process.env['FENNEC_CRASH_ITERATIONS'] ?? 12);
const WINDOW = 40;
const environment = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FENNEC_')));

const dirs: string[] = [];
after(async () => {
  await killAllPrograms();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/** `fennec broker` over `dir` on `port` (0: a free one), with its port. */
async function startBroker(dir: string, port: number): Promise<{ process: RunningProcess; port: number }> {
  // A small memory queue: most of what waits for the offline subscriber (and for the online one when
  // its window is full) goes through the spool on disk, held to exactly once like the queue.
  const config = join(dir, 'fennec.yaml');
  await writeFile(config, 'limits:\n  max_queued_messages: 20\n');
  const args = [fennec, 'broker', '--port', String(port), '--data-dir', dir, '--config', config, '--log-level', 'warn'];
  const running = runProgram(process.execPath, args, 10 * 60_000, environment);
  const [line] = await running.waitForLines(1, 15_000);
  const match = /mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(line ?? '');
  assert.ok(match, `unexpected start line ${JSON.stringify(line)}`);
  return { process: running, port: Number(match[1]) };
}

async function crash(running: RunningProcess): Promise<void> {
  running.child.kill('SIGKILL');
  assert.equal((await running.exited).signal, 'SIGKILL');
}

/** Publishes with `WINDOW` flows open at most until `stop()` says so. */
function flood(pub: QoS2Sender, prefix: string): { stop: () => Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      // A broker that died answers nothing: look again now and then rather than wait for a PUBCOMP.
      await Promise.race([pub.room(WINDOW), sleep(20)]);
      if (running && pub.open < WINDOW) pub.publish(prefix);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

describe('QoS 2 exactly once across SIGKILL of the broker', () => {
  it(`[MQTT-4.3.3-1] [MQTT-4.3.3-9] over ${ITERATIONS} crashes at random moments, no acknowledged QoS 2 message is lost and none is delivered twice, online or offline subscriber`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fennec-exactly-once-'));
    dirs.push(dir);
    let broker = await startBroker(dir, 0);
    const port = broker.port;
    const pub = new QoS2Sender('eo-pub', 5, 'eo/t');
    const online = new QoS2Receiver('eo-online', 5);
    const offline = new QoS2Receiver('eo-offline', 4);
    for (const sub of [online, offline]) {
      await sub.connect(port);
      await sub.subscribe('eo/#');
    }
    offline.disconnect();
    await pub.connect(port);

    for (let i = 0; i < ITERATIONS; i++) {
      // The offline subscriber is online every other round: its queue fills while it is away.
      if (i % 2 === 1) await offline.connect(port);
      const traffic = flood(pub, `r${i}`);
      await sleep(20 + Math.random() * 300);
      await crash(broker.process);
      await traffic.stop();
      for (const peer of [pub, online, offline]) peer.drop();
      broker = await startBroker(dir, port);
      assert.equal(await pub.connect(port), true, 'the publisher session survived');
      assert.equal(await online.connect(port), true, 'the online subscriber session survived');
    }

    // No more crashes: every open flow completes, and the offline subscriber comes back for its queue.
    const deadline = Date.now() + 60_000;
    while (pub.open > 0) {
      assert.ok(Date.now() < deadline, `the publisher still has ${pub.open} QoS 2 flows open`);
      await sleep(50);
    }
    assert.equal(await offline.connect(port), true, 'the offline subscriber session survived');
    const acknowledged = [...pub.acknowledged];
    for (const sub of [online, offline]) {
      await sub
        .until(() => acknowledged.every((m) => sub.has(m)), 60_000, 'every acknowledged message')
        .catch((err) => {
          const missing = acknowledged.filter((m) => !sub.has(m));
          throw new Error(
            `${(err as Error).message}: ${missing.length} of ${acknowledged.length} missing, e.g. ${missing.slice(0, 5).join(' ')}; duplicates ${sub.duplicates().slice(0, 5).join(' ')}`,
          );
        });
    }
    await sleep(300);
    await crash(broker.process);

    assert.deepEqual([...pub.errors, ...online.errors, ...offline.errors], []);
    assert.ok(acknowledged.length > ITERATIONS, `only ${acknowledged.length} messages went through`);
    for (const sub of [online, offline]) {
      assert.deepEqual(sub.duplicates(), [], `${sub.clientId} got messages twice`);
      // Nothing was delivered that the publisher was not told was accepted.
      assert.equal(sub.delivered.length, acknowledged.length, `${sub.clientId} deliveries`);
    }
  });
});
