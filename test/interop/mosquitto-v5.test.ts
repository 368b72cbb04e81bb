// Mosquitto's command-line clients in MQTT 5 mode (`-V mqttv5`, `-D command property value`,
// `-F` with %P %C %R %D %F %E %A %S) against a real Fennec broker on a free port: properties are
// forwarded untouched, session expiry, flow control, topic aliases, subscription identifiers, will
// delay, retain options and message expiry, and 3.1.1 and 5.0 clients exchanging messages.
//
// mosquitto-clients 2.0.11 limits what can be checked here: mosquitto_sub has no flag for No Local
// or Retain Handling (test/broker/02-subpub and 04-retain cover them), rejects
// `-D connect session-expiry-interval` together with `-c` as a duplicate property (`-x` sets it), and
// libmosquitto 2.0 refuses a PUBLISH whose topic is empty even when it asked for topic aliases, so
// only the first use of an outgoing alias (topic and alias together) is shown to it.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as connectTcp, type AddressInfo, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Broker } from '../../src/broker/broker.js';
import { PacketStream, type ReceivedPacket } from '../helpers/parse.js';
import {
  ClientPool,
  killAllPrograms,
  portOf,
  requireProgram,
  runProgram,
  startBroker,
  waitForBrokerEvent,
  type RunningProcess,
} from './support.js';

/** Longest any one mosquitto_* process may run before it is killed with SIGKILL, in ms. */
const PROCESS_TIMEOUT_MS = 10_000;

/** Whether Mosquitto's clients are installed; skips (or, under CI, fails) the test when not. */
function needsMosquittoClients(t: TestContext): boolean {
  return (
    requireProgram(t, 'mosquitto_sub', 'mosquitto-clients') && requireProgram(t, 'mosquitto_pub', 'mosquitto-clients')
  );
}

/** What went through a recording proxy, in the order the proxy saw it. */
type WireEvent = { from: 'broker'; packet: ReceivedPacket } | { from: 'client'; type: number };

/**
 * A TCP proxy on 127.0.0.1 in front of the broker that records every packet before forwarding it:
 * the broker's packets parsed by the independent test parser, the client's by packet type only.
 */
class RecordingProxy {
  readonly events: WireEvent[] = [];
  readonly errors: Error[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(brokerPort: number) {
    this.server = createServer((client) => {
      const upstream = connectTcp(brokerPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      const fromBroker = new PacketStream(5);
      let fromClient = Buffer.alloc(0);
      upstream.on('data', (chunk: Buffer) => {
        try {
          for (const packet of fromBroker.push(chunk)) this.events.push({ from: 'broker', packet });
        } catch (err) {
          this.errors.push(err as Error);
        }
        client.write(chunk);
      });
      client.on('data', (chunk: Buffer) => {
        fromClient = Buffer.concat([fromClient, chunk]);
        for (;;) {
          const length = frameLength(fromClient);
          if (length === undefined) break;
          this.events.push({ from: 'client', type: fromClient[0]! >> 4 });
          fromClient = fromClient.subarray(length);
        }
        upstream.write(chunk);
      });
      const closeBoth = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('close', closeBoth).on('error', closeBoth);
      upstream.on('close', closeBoth).on('error', closeBoth);
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The broker's packets of type `type`, in order. */
  fromBroker<T extends ReceivedPacket['type']>(type: T): Extract<ReceivedPacket, { type: T }>[] {
    const out: Extract<ReceivedPacket, { type: T }>[] = [];
    for (const event of this.events) {
      if (event.from === 'broker' && event.packet.type === type)
        out.push(event.packet as Extract<ReceivedPacket, { type: T }>);
    }
    return out;
  }
}

/** Length of the first complete MQTT packet in `buf`, or undefined when it has not fully arrived. */
function frameLength(buf: Buffer): number | undefined {
  let remaining = 0;
  let multiplier = 1;
  for (let i = 1; i < buf.length && i <= 4; i++) {
    const byte = buf[i]!;
    remaining += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return buf.length >= i + 1 + remaining ? i + 1 + remaining : undefined;
    multiplier *= 128;
  }
  return undefined;
}

void describe("Mosquitto's command-line clients in MQTT 5 mode (-V mqttv5 -D ...) against Fennec", () => {
  let broker: Broker;
  let url = '';
  let server: string[] = [];
  let serial = 0;
  const pool = new ClientPool(() => url);
  const proxies: RecordingProxy[] = [];
  const clientId = (role: string): string => `mosq5-${role}-${++serial}`;

  before(async () => {
    const started = await startBroker();
    broker = started.broker;
    url = started.url;
    server = ['-h', '127.0.0.1', '-p', String(portOf(url))];
  });

  after(async () => {
    await killAllPrograms();
    await pool.closeAll();
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await broker.close();
  });

  /** Runs mosquitto_pub to completion and checks that it succeeded. */
  async function publish(args: readonly string[]): Promise<void> {
    const result = await runProgram('mosquitto_pub', [...server, ...args], PROCESS_TIMEOUT_MS).exited;
    assert.equal(result.code, 0, `mosquitto_pub ${args.join(' ')} failed: ${result.stderr}`);
  }

  /** Starts mosquitto_sub with client id `id` and resolves once the broker has its subscription. */
  async function subscriber(id: string, args: readonly string[], target = server): Promise<RunningProcess> {
    const subscribed = waitForBrokerEvent(broker, 'subscribed', (client) => client.clientId === id);
    const sub = runProgram('mosquitto_sub', [...target, '-i', id, ...args], PROCESS_TIMEOUT_MS);
    await subscribed.catch((err: unknown) => {
      throw new Error(`mosquitto_sub ${args.join(' ')} did not subscribe: ${(err as Error).message}; ${sub.stderr()}`);
    });
    return sub;
  }

  /** Kills a mosquitto_sub with SIGKILL (2.0.11 can hang on SIGTERM) and waits until the broker has seen it go. */
  async function kill(sub: RunningProcess, id: string): Promise<void> {
    const gone = waitForBrokerEvent(broker, 'clientDisconnected', (client) => client.clientId === id);
    sub.child.kill('SIGKILL');
    await sub.exited;
    await gone;
  }

  /** A recording proxy in front of the broker, closed in `after`, and the -h/-p arguments that reach it. */
  async function proxy(): Promise<{ proxy: RecordingProxy; target: string[] }> {
    const recording = new RecordingProxy(portOf(url));
    proxies.push(recording);
    const port = await recording.listen();
    return { proxy: recording, target: ['-h', '127.0.0.1', '-p', String(port)] };
  }

  void it('forwards the Payload Format Indicator, Content Type, Response Topic, Correlation Data, User Properties (in order) and remaining Message Expiry Interval of `mosquitto_pub -D publish ...` to mosquitto_sub and MQTT.js 5.0 [MQTT-3.3.2-4] [MQTT-3.3.2-6] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const topic = 'v5/properties';
    const sub = await subscriber(clientId('props'), [
      '-V',
      'mqttv5',
      '-q',
      '1',
      '-t',
      topic,
      '-C',
      '1',
      '-F',
      '%t|%p|%F|%C|%R|%D|%P|%E',
    ]);
    const js = await pool.connect({ protocolVersion: 5, clientId: clientId('mqttjs') });
    await js.client.subscribeAsync(topic, { qos: 1 });
    await publish([
      '-V',
      'mqttv5',
      '-q',
      '1',
      '-t',
      topic,
      '-m',
      'héllo',
      '-D',
      'publish',
      'payload-format-indicator',
      '1',
      '-D',
      'publish',
      'content-type',
      'text/plain; charset=utf-8',
      '-D',
      'publish',
      'response-topic',
      'v5/replies/42',
      '-D',
      'publish',
      'correlation-data',
      'request-42',
      '-D',
      'publish',
      'user-property',
      'k',
      'first',
      '-D',
      'publish',
      'user-property',
      'other',
      'x',
      '-D',
      'publish',
      'user-property',
      'k',
      'second',
      '-D',
      'publish',
      'message-expiry-interval',
      '60',
    ]);

    const [line] = await sub.waitForLines(1);
    const fields = line!.split('|');
    assert.deepEqual(fields.slice(0, 7), [
      topic,
      'héllo',
      '1',
      'text/plain; charset=utf-8',
      'v5/replies/42',
      'request-42',
      'k:first other:x k:second',
    ]);
    const expiry = Number(fields[7]);
    assert.ok(expiry >= 58 && expiry <= 60, `remaining Message Expiry Interval ${fields[7]} should be at most 60`);
    assert.equal((await sub.exited).code, 0);

    const [received] = await js.inbox.waitFor(1);
    const properties = received!.packet.properties;
    assert.equal(received!.payload, 'héllo');
    assert.equal(properties?.payloadFormatIndicator, true);
    assert.equal(properties?.contentType, 'text/plain; charset=utf-8');
    assert.equal(properties?.responseTopic, 'v5/replies/42');
    assert.deepEqual(properties?.correlationData, Buffer.from('request-42'));
    assert.deepEqual({ ...properties?.userProperties }, { k: ['first', 'second'], other: 'x' });
    const jsExpiry = properties?.messageExpiryInterval ?? 0;
    assert.ok(jsExpiry >= 58 && jsExpiry <= 60, `MQTT.js got Message Expiry Interval ${jsExpiry}`);
  });

  void it('keeps the session of `mosquitto_sub -D connect session-expiry-interval 2` for 2 s after its connection ends, delivering what was queued to `-c -x 2`, then discards it [MQTT-3.1.2-23] [MQTT-4.1.0-2]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const topic = 'v5/session-expiry';
    const id = clientId('expiring');
    // The first connection starts clean (no -c) and asks for 2 s with -D; later ones resume with
    // -c, where mosquitto_sub only takes the interval from -x (-D too would repeat the property).
    const first = await subscriber(id, [
      '-V',
      'mqttv5',
      '-q',
      '1',
      '-t',
      topic,
      '-D',
      'connect',
      'session-expiry-interval',
      '2',
    ]);
    await kill(first, id);
    const args = ['-V', 'mqttv5', '-c', '-x', '2', '-q', '1', '-t', topic];

    await publish(['-V', 'mqttv5', '-q', '1', '-t', topic, '-m', 'while away']);
    const resumed = waitForBrokerEvent(broker, 'clientConnected', (client) => client.clientId === id);
    const again = runProgram('mosquitto_sub', [...server, '-i', id, ...args, '-C', '1'], PROCESS_TIMEOUT_MS);
    assert.equal((await resumed)[0].sessionPresent, true);
    const result = await again.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(again.lines, ['while away']);

    // -C 1 ended with DISCONNECT; the interval of CONNECT still holds. Wait past it.
    await sleep(3000);
    await publish(['-V', 'mqttv5', '-q', '1', '-t', topic, '-m', 'after expiry']);
    const fresh = waitForBrokerEvent(broker, 'clientConnected', (client) => client.clientId === id);
    const late = runProgram('mosquitto_sub', [...server, '-i', id, ...args, '-W', '1'], PROCESS_TIMEOUT_MS);
    assert.equal((await fresh)[0].sessionPresent, false);
    const lateResult = await late.exited;
    assert.equal(lateResult.timedOut, false);
    assert.deepEqual(late.lines, [], 'the expired session must not have kept the subscription or the message');
  });

  void it('does not send mosquitto_sub -D connect maximum-packet-size 128 a message larger than that, and sends the next small one [MQTT-3.1.2-24] [MQTT-3.1.2-25]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const topic = 'v5/max-packet';
    const big = 'b'.repeat(400);
    const small = await subscriber(clientId('small'), [
      '-V',
      'mqttv5',
      '-q',
      '1',
      '-t',
      topic,
      '-C',
      '1',
      '-D',
      'connect',
      'maximum-packet-size',
      '128',
      '-F',
      '%l %p',
    ]);
    const roomy = await subscriber(clientId('roomy'), ['-V', 'mqttv5', '-q', '1', '-t', topic, '-C', '2', '-F', '%l']);
    const tooLarge = broker.counters.dropped['too-large'];
    await publish(['-V', 'mqttv5', '-q', '1', '-t', topic, '-m', big]);
    await publish(['-V', 'mqttv5', '-q', '1', '-t', topic, '-m', 'fits']);
    assert.deepEqual(await roomy.waitForLines(2), ['400', '4']);
    assert.deepEqual(await small.waitForLines(1), ['4 fits']);
    assert.equal((await small.exited).code, 0);
    assert.equal(broker.counters.dropped['too-large'], tooLarge + 1);
  });

  void it('keeps at most 2 QoS 1 messages unacknowledged to mosquitto_sub -D connect receive-maximum 2, and delivers all 20 in order [MQTT-3.3.4-9] [MQTT-4.9.0-1]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const topic = 'v5/receive-maximum';
    const { proxy: wire, target } = await proxy();
    const sub = await subscriber(
      clientId('window'),
      ['-V', 'mqttv5', '-q', '1', '-t', topic, '-C', '20', '-D', 'connect', 'receive-maximum', '2'],
      target,
    );
    const js = await pool.connect({ protocolVersion: 5, clientId: clientId('burst') });
    const sent = Array.from({ length: 20 }, (_, i) => `m${i + 1}`);
    await Promise.all(sent.map((payload) => js.client.publishAsync(topic, payload, { qos: 1 })));
    const result = await sub.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(sub.lines, sent);

    assert.deepEqual(wire.errors, []);
    let unacknowledged = 0;
    let most = 0;
    for (const event of wire.events) {
      if (event.from === 'broker' && event.packet.type === 'publish' && event.packet.qos === 1) unacknowledged++;
      if (event.from === 'client' && event.type === 4) unacknowledged--;
      most = Math.max(most, unacknowledged);
    }
    assert.ok(most >= 1 && most <= 2, `the broker had ${most} QoS 1 messages unacknowledged at once`);
  });

  void it('gives mosquitto_sub -D connect topic-alias-maximum 1 alias 1 for its first topic and none beyond, and no aliases to a client without a maximum [MQTT-3.3.2-11] [MQTT-3.1.2-26] [MQTT-3.1.2-27]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const base = 'v5/alias-out';
    const format = ['-F', '%t|%A|%p'];
    const aliased = await subscriber(clientId('aliased'), [
      '-V',
      'mqttv5',
      '-t',
      `${base}/#`,
      '-C',
      '3',
      '-D',
      'connect',
      'topic-alias-maximum',
      '1',
      ...format,
    ]);
    const plain = await subscriber(clientId('plain'), ['-V', 'mqttv5', '-t', `${base}/#`, '-C', '3', ...format]);
    for (const [leaf, payload] of [
      ['a', 'one'],
      ['b', 'two'],
      ['c', 'three'],
    ] as const) {
      await publish(['-V', 'mqttv5', '-t', `${base}/${leaf}`, '-m', payload]);
    }
    assert.deepEqual(await aliased.waitForLines(3), [`${base}/a|1|one`, `${base}/b||two`, `${base}/c||three`]);
    assert.deepEqual(await plain.waitForLines(3), [`${base}/a||one`, `${base}/b||two`, `${base}/c||three`]);
    assert.equal((await aliased.exited).code, 0);
    assert.equal((await plain.exited).code, 0);
  });

  void it('accepts `mosquitto_pub -D publish topic-alias 3` (within the broker maximum of 10) and answers alias 11 with DISCONNECT 0x94 [MQTT-3.3.2-12]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const topic = 'v5/alias-in';
    const sub = await subscriber(clientId('alias-in'), ['-V', 'mqttv5', '-t', topic, '-C', '2', '-v']);
    await publish(['-V', 'mqttv5', '-t', topic, '-m', 'aliased', '-D', 'publish', 'topic-alias', '3', '--repeat', '2']);
    assert.deepEqual(await sub.waitForLines(2), [`${topic} aliased`, `${topic} aliased`]);
    assert.equal((await sub.exited).code, 0);

    const watcherId = clientId('alias-watch');
    const watcher = await subscriber(watcherId, ['-V', 'mqttv5', '-t', topic, '-v']);
    const refused = await runProgram(
      'mosquitto_pub',
      [...server, '-d', '-V', 'mqttv5', '-q', '1', '-t', topic, '-m', 'too high', '-D', 'publish', 'topic-alias', '11'],
      PROCESS_TIMEOUT_MS,
    ).exited;
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout, /Received DISCONNECT \(148\)/);
    await publish(['-V', 'mqttv5', '-t', topic, '-m', 'marker']);
    assert.deepEqual(await watcher.waitForLines(1), [`${topic} marker`]);
    await kill(watcher, watcherId);
  });

  void it('returns the Subscription Identifier of `mosquitto_sub -D subscribe subscription-identifier 42` on each message [MQTT-3.3.4-3]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const topic = 'v5/sub-id';
    const sub = await subscriber(clientId('sub-id'), [
      '-V',
      'mqttv5',
      '-t',
      topic,
      '-C',
      '2',
      '-D',
      'subscribe',
      'subscription-identifier',
      '42',
      '-F',
      '%S %p',
    ]);
    await publish(['-V', 'mqttv5', '-t', topic, '-m', 'first']);
    await publish(['-V', 'mqttv5', '-t', topic, '-m', 'second']);
    assert.deepEqual(await sub.waitForLines(2), ['42 first', '42 second']);
    assert.equal((await sub.exited).code, 0);
  });

  void it('publishes the will of a killed mosquitto_sub with -D will will-delay-interval 2 only after the delay, with its will properties [MQTT-3.1.2-8]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const willTopic = 'v5/will-delay/published';
    const watcher = await subscriber(clientId('will-watch'), [
      '-V',
      'mqttv5',
      '-q',
      '1',
      '-t',
      willTopic,
      '-C',
      '1',
      '-F',
      '%t|%p|%C|%R|%D|%P',
    ]);
    const victimId = clientId('will-victim');
    const victim = await subscriber(victimId, [
      '-V',
      'mqttv5',
      '-c',
      '-x',
      '10',
      '-t',
      'v5/will-delay/quiet',
      '--will-topic',
      willTopic,
      '--will-payload',
      'gone for good',
      '--will-qos',
      '1',
      '-D',
      'will',
      'will-delay-interval',
      '2',
      '-D',
      'will',
      'content-type',
      'text/plain',
      '-D',
      'will',
      'response-topic',
      'v5/will-delay/replies',
      '-D',
      'will',
      'correlation-data',
      'will-7',
      '-D',
      'will',
      'user-property',
      'reason',
      'killed',
    ]);
    await kill(victim, victimId);
    await sleep(1000);
    assert.deepEqual(watcher.lines, [], 'the will arrived before its 2 s delay');
    assert.deepEqual(await watcher.waitForLines(1, 4000), [
      `${willTopic}|gone for good|text/plain|v5/will-delay/replies|will-7|reason:killed`,
    ]);
    assert.equal((await watcher.exited).code, 0);
  });

  void it('does not publish the delayed will of a mosquitto_sub whose session is resumed within the delay [MQTT-3.1.3-9]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const willTopic = 'v5/will-cancelled/published';
    const watcher = await subscriber(clientId('cancel-watch'), ['-V', 'mqttv5', '-q', '1', '-t', willTopic, '-v']);
    const victimId = clientId('cancel-victim');
    const session = ['-V', 'mqttv5', '-c', '-x', '10', '-t', 'v5/will-cancelled/quiet'];
    const victim = await subscriber(victimId, [
      ...session,
      '--will-topic',
      willTopic,
      '--will-payload',
      'should not be seen',
      '-D',
      'will',
      'will-delay-interval',
      '2',
    ]);
    await kill(victim, victimId);
    const resumed = waitForBrokerEvent(broker, 'clientConnected', (client) => client.clientId === victimId);
    const back = runProgram('mosquitto_sub', [...server, '-i', victimId, ...session], PROCESS_TIMEOUT_MS);
    assert.equal((await resumed)[0].sessionPresent, true);
    await sleep(3000);
    await publish(['-V', 'mqttv5', '-q', '1', '-t', willTopic, '-m', 'marker']);
    assert.deepEqual(await watcher.waitForLines(1), [`${willTopic} marker`]);
    assert.deepEqual(watcher.lines, [`${willTopic} marker`]);
    back.child.kill('SIGKILL');
    watcher.child.kill('SIGKILL');
    await Promise.all([back.exited, watcher.exited]);
  });

  void it('answers CONNECT with user properties and -D connect request-response-information 1 with Response Information, and without it with none [MQTT-3.1.2-28]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const topic = 'v5/response-information';
    const { proxy: wire, target } = await proxy();
    const asking = clientId('asking');
    const sub = await subscriber(
      asking,
      [
        '-V',
        'mqttv5',
        '-t',
        topic,
        '-C',
        '1',
        '-v',
        '-D',
        'connect',
        'user-property',
        'site',
        'lab',
        '-D',
        'connect',
        'request-response-information',
        '1',
        '-D',
        'connect',
        'request-problem-information',
        '0',
      ],
      target,
    );
    await publish(['-V', 'mqttv5', '-t', topic, '-m', 'answered']);
    assert.deepEqual(await sub.waitForLines(1), [`${topic} answered`]);
    assert.equal((await sub.exited).code, 0);
    const silent = await subscriber(clientId('silent'), ['-V', 'mqttv5', '-t', topic, '-E'], target);
    assert.equal((await silent.exited).code, 0);

    assert.deepEqual(wire.errors, []);
    const connacks = wire.fromBroker('connack');
    assert.equal(connacks.length, 2);
    assert.equal(connacks[0]!.reasonCode, 0);
    assert.equal(connacks[0]!.properties.responseInformation, `responses/${asking}`);
    assert.equal(connacks[1]!.reasonCode, 0);
    assert.equal(connacks[1]!.properties.responseInformation, undefined);
  });

  void it('sets RETAIN on a live retained message only for mosquitto_sub --retain-as-published [MQTT-3.3.1-12] [MQTT-3.3.1-13]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const topic = 'v5/retain-as-published';
    const args = ['-V', 'mqttv5', '-t', topic, '-C', '1', '-F', '%r %p'];
    const asPublished = await subscriber(clientId('rap'), [...args, '--retain-as-published']);
    const cleared = await subscriber(clientId('no-rap'), args);
    await publish(['-V', 'mqttv5', '-r', '-t', topic, '-m', 'live']);
    assert.deepEqual(await asPublished.waitForLines(1), ['1 live']);
    assert.deepEqual(await cleared.waitForLines(1), ['0 live']);
    await publish(['-V', 'mqttv5', '-r', '-t', topic, '-n']);
  });

  void it('drops a message retained with -D publish message-expiry-interval 1 once it has expired, keeping one without expiry [MQTT-3.3.2-5] [MQTT-3.3.2-6]', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const base = 'v5/retained-expiry';
    await publish([
      '-V',
      'mqttv5',
      '-q',
      '1',
      '-r',
      '-t',
      `${base}/short`,
      '-m',
      'brief',
      '-D',
      'publish',
      'message-expiry-interval',
      '1',
    ]);
    await publish(['-V', 'mqttv5', '-q', '1', '-r', '-t', `${base}/kept`, '-m', 'lasting']);
    const format = ['-F', '%t|%p|%E'];
    const early = runProgram(
      'mosquitto_sub',
      [...server, '-V', 'mqttv5', '-t', `${base}/short`, '-C', '1', ...format],
      PROCESS_TIMEOUT_MS,
    );
    const [line] = await early.waitForLines(1);
    assert.match(line!, new RegExp(`^${base}/short\\|brief\\|[01]$`));

    await sleep(2000);
    const late = runProgram(
      'mosquitto_sub',
      [...server, '-V', 'mqttv5', '-t', `${base}/#`, '-W', '1', ...format],
      PROCESS_TIMEOUT_MS,
    );
    const result = await late.exited;
    assert.equal(result.timedOut, false);
    assert.deepEqual(late.lines, [`${base}/kept|lasting|`]);
    await publish(['-V', 'mqttv5', '-r', '-t', `${base}/kept`, '-n']);
  });

  void it('delivers a message that `mosquitto_pub -V mqttv5` sent with properties to a -V mqttv311 mosquitto_sub with its payload intact, and the other way round', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const topic = 'v5/mixed';
    const old = await subscriber(clientId('v311'), [
      '-V',
      'mqttv311',
      '-q',
      '1',
      '-t',
      topic,
      '-C',
      '1',
      '-F',
      '%t|%q|%p',
    ]);
    const modern = await subscriber(clientId('v5'), [
      '-V',
      'mqttv5',
      '-q',
      '1',
      '-t',
      topic,
      '-C',
      '2',
      '-F',
      '%p|%C|%P',
    ]);
    await publish([
      '-V',
      'mqttv5',
      '-q',
      '1',
      '-t',
      topic,
      '-m',
      'from five',
      '-D',
      'publish',
      'content-type',
      'text/plain',
      '-D',
      'publish',
      'user-property',
      'a',
      'b',
      '-D',
      'publish',
      'correlation-data',
      'c1',
    ]);
    assert.deepEqual(await old.waitForLines(1), [`${topic}|1|from five`]);
    assert.equal((await old.exited).code, 0);

    await publish(['-V', 'mqttv311', '-q', '1', '-t', topic, '-m', 'from three']);
    assert.deepEqual(await modern.waitForLines(2), ['from five|text/plain|a:b', 'from three||']);
    assert.equal((await modern.exited).code, 0);
  });
});
