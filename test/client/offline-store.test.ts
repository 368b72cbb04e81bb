// The on-disk offline store: an application process (test/client/offline-app.ts) with a SqliteStore
// publishes, is killed with SIGKILL, and a new process on the same store and client id sends what
// the first one had not got acknowledged: messages published while offline, and messages in flight
// (re-sent with DUP under their packet ids, QoS 2 completed exactly once). The broker is Fennec, in
// this process; the application reaches it through a proxy that can cut and refuse its links.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, MqttClientError, type ClientMessage, type MqttClient } from '../../src/client/index.js';
import type { PublishPacket, QoS } from '../../src/protocol/index.js';
import { MemoryStore } from '../../src/store/memory.js';
import { VERSIONS, cite, sleep, startBroker, waitUntil, type CleanupContext } from '../helpers/broker.js';
import { Proxy } from './proxy.js';

const APP = join(dirname(fileURLToPath(import.meta.url)), 'offline-app.js');
const MESSAGES: [string, string, QoS][] = [
  ['app/1', 'one', 1],
  ['app/2', 'two', 2],
  ['app/3', 'three', 1],
  ['app/4', 'four', 2],
];

/** A running application process and its stdout lines. */
interface App {
  child: ChildProcess;
  line(prefix: string, ms?: number): Promise<string>;
  say(command: string): void;
}

function startApp(t: CleanupContext, args: object): App {
  const child = spawn(process.execPath, [APP, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
  return {
    child,
    say: (command) => child.stdin.write(`${command}\n`),
    async line(prefix, ms = 10_000) {
      await waitUntil(() => lines.some((l) => l.startsWith(prefix)), `the app printed ${prefix}; ${stderr}`, ms);
      return lines.find((l) => l.startsWith(prefix))!;
    },
  };
}

async function kill(app: App): Promise<void> {
  const gone = new Promise((resolve) => app.child.once('exit', resolve));
  app.child.kill('SIGKILL');
  await gone;
}

async function storeDir(t: CleanupContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fennec-offline-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A subscriber to `app/#` at QoS 2 on the broker, and what it receives. */
async function subscriber(t: CleanupContext, port: number, v: 4 | 5): Promise<{ c: MqttClient; seen: string[] }> {
  const c = await connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: v, reconnect: false });
  t.after(() => c.end());
  await c.subscribe({ topicFilter: 'app/#', qos: 2 });
  const seen: string[] = [];
  c.on('message', (m: ClientMessage) => seen.push(m.payload.toString()));
  return { c, seen };
}

for (const v of VERSIONS) {
  void describe(`client offline store across a restart of the application (v${v})`, () => {
    void it(`sends after a restart what an application killed with SIGKILL had published while offline, each once (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const { seen } = await subscriber(t, port, v);
      const proxy = await Proxy.start(t, port, v);
      const dir = await storeDir(t);
      const base = { dir, clientId: `offline-${v}`, version: v, messages: MESSAGES };
      const first = startApp(t, { ...base, url: `mqtt://127.0.0.1:${proxy.port}`, clean: true });
      await first.line('connected');
      proxy.refuseNew = true;
      proxy.cut();
      first.say('publish-offline');
      assert.equal(await first.line('stored'), 'stored 4 0', 'all four queued');
      await kill(first);
      await sleep(100);
      assert.deepEqual(seen, [], 'nothing reached the broker');
      proxy.refuseNew = false;
      const second = startApp(t, { ...base, url: `mqtt://127.0.0.1:${proxy.port}`, clean: false });
      await second.line('connected');
      second.say('drain');
      await second.line('drained');
      await waitUntil(() => seen.length >= 4, 'the four messages arrived', 3_000);
      await sleep(100);
      assert.deepEqual(seen, ['one', 'two', 'three', 'four'], 'each once, in order');
    });

    void it(`re-sends after a restart the messages in flight when the application was killed, with DUP and their packet ids, QoS 2 exactly once (v${v}) ${cite(v, 'MQTT-4.4.0-1 MQTT-4.3.3-2', 'MQTT-4.4.0-1 MQTT-4.3.3-9')}`, async (t) => {
      const { port } = await startBroker(t);
      const { seen } = await subscriber(t, port, v);
      const proxy = await Proxy.start(t, port, v);
      const dir = await storeDir(t);
      const base = {
        dir,
        clientId: `inflight-${v}`,
        version: v,
        messages: MESSAGES,
        url: `mqtt://127.0.0.1:${proxy.port}`,
      };
      const first = startApp(t, { ...base, clean: true });
      await first.line('connected');
      // The broker gets every PUBLISH; no PUBACK or PUBREC gets back to the application
      proxy.holdDownstream();
      first.say('publish');
      assert.equal(await first.line('stored'), 'stored 0 4', 'all four in flight');
      await waitUntil(() => seen.length === 4, 'the broker routed the four', 3_000);
      await kill(first);
      const sentFirst = proxy.sent[0]!.filter((p): p is PublishPacket => p.type === 'publish');
      const second = startApp(t, { ...base, clean: false });
      await second.line('connected');
      second.say('drain');
      await second.line('drained');
      const again = proxy.sent.at(-1)!.filter((p): p is PublishPacket => p.type === 'publish');
      assert.deepEqual(
        again.map((p) => [p.topic, p.packetId, p.dup]),
        sentFirst.map((p) => [p.topic, p.packetId, true]),
        'the same PUBLISHes again, with DUP and the same packet ids',
      );
      await sleep(150);
      assert.deepEqual(
        seen.filter((s) => s === 'two' || s === 'four'),
        ['two', 'four'],
        'QoS 2 exactly once',
      );
      for (const s of ['one', 'three']) assert.ok(seen.includes(s), `QoS 1 ${s} at least once`);
    });
  });
}

for (const v of VERSIONS) {
  void it(`keeps the incoming QoS 2 ids in the store: a new client on it answers the broker's re-sent PUBLISH without delivering it again (v${v}) ${cite(v, 'MQTT-4.3.3-2', 'MQTT-4.3.3-9')}`, async (t) => {
    const { port } = await startBroker(t);
    const store = new MemoryStore();
    const proxy = await Proxy.start(t, port, v);
    const options = {
      protocolVersion: v,
      clientId: `in2-${v}`,
      clean: false,
      sessionExpiryInterval: 300,
      offlineStore: store,
    };
    const first = await connect(`mqtt://127.0.0.1:${proxy.port}`, { ...options, reconnect: false });
    t.after(() => first.end());
    await first.subscribe({ topicFilter: 'in2', qos: 2 });
    const seen: string[] = [];
    first.on('message', (m: ClientMessage) => seen.push(m.payload.toString()));
    // The broker never hears the PUBREC: it will send the PUBLISH again to the session
    proxy.holdUpstream();
    const publisher = await connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: v, reconnect: false });
    t.after(() => publisher.end());
    await publisher.publish('in2', 'once', { qos: 2 });
    await waitUntil(() => seen.length === 1, 'the first client has the message');
    // The application dies: no DISCONNECT, nothing more sent
    proxy.cut();
    await waitUntil(() => !first.connected, 'the first client is down');
    const second = await connect(`mqtt://127.0.0.1:${port}`, { ...options, reconnect: false });
    t.after(() => second.end());
    assert.equal(second.connack?.sessionPresent, true);
    second.on('message', (m: ClientMessage) => seen.push(m.payload.toString()));
    await publisher.publish('in2', 'next', { qos: 2 });
    await waitUntil(() => seen.includes('next'), 'the next message arrived');
    await sleep(100);
    assert.deepEqual(seen, ['once', 'next'], 'the re-sent PUBLISH was not delivered again');
  });
}

void describe('client offline store options', () => {
  void it('refuses an offlineStore without a clientId with ERR_CLIENT_STORE', async (t) => {
    const { port } = await startBroker(t);
    await assert.rejects(connect(`mqtt://127.0.0.1:${port}`, { offlineStore: new MemoryStore() }), (err) => {
      assert.ok(err instanceof MqttClientError);
      assert.equal(err.code, 'ERR_CLIENT_STORE');
      return true;
    });
  });
});
