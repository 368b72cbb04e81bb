// Mosquitto's command-line clients (Debian package mosquitto-clients), run as child processes
// against a real Fennec broker on a free port. Protocol tests run for 3.1.1 and 5.0.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Broker } from '../../src/broker/broker.js';
import {
  killAllPrograms,
  portOf,
  requireProgram,
  runProgram,
  startBroker,
  waitForBrokerEvent,
  type RunningProcess,
} from './support.js';

/** Longest any one mosquitto_* process may run before it is killed, in ms. */
const PROCESS_TIMEOUT_MS = 10_000;

/** Whether Mosquitto's clients are installed; skips (or, under CI, fails) the test when not. */
function needsMosquittoClients(t: TestContext): boolean {
  return (
    requireProgram(t, 'mosquitto_sub', 'mosquitto-clients') && requireProgram(t, 'mosquitto_pub', 'mosquitto-clients')
  );
}

void describe("Mosquitto's command-line clients against Fennec", () => {
  let broker: Broker;
  let server: string[] = [];
  let serial = 0;
  const clientId = (role: string): string => `mosq-${role}-${++serial}`;

  before(async () => {
    const started = await startBroker();
    broker = started.broker;
    server = ['-h', '127.0.0.1', '-p', String(portOf(started.url))];
  });

  after(async () => {
    await killAllPrograms();
    await broker.close();
  });

  /** Runs mosquitto_pub to completion and checks that it succeeded. */
  async function publish(args: readonly string[]): Promise<void> {
    const result = await runProgram('mosquitto_pub', [...server, ...args], PROCESS_TIMEOUT_MS).exited;
    assert.equal(result.code, 0, `mosquitto_pub ${args.join(' ')} failed: ${result.stderr}`);
  }

  /** Starts mosquitto_sub with client id `id` and resolves once the broker has its subscription. */
  async function subscriber(id: string, args: readonly string[]): Promise<RunningProcess> {
    const subscribed = waitForBrokerEvent(broker, 'subscribed', (client) => client.clientId === id);
    const sub = runProgram('mosquitto_sub', [...server, '-i', id, ...args], PROCESS_TIMEOUT_MS);
    await subscribed.catch((err: unknown) => {
      throw new Error(`mosquitto_sub ${args.join(' ')} did not subscribe: ${(err as Error).message}; ${sub.stderr()}`);
    });
    return sub;
  }

  void it("delivers what `mosquitto_pub -t a -m hi` sends to `mosquitto_sub -t '#' -v`, the newcomer's first try", async (t) => {
    if (!needsMosquittoClients(t)) return;
    const subscribed = waitForBrokerEvent(broker, 'subscribed', (_, subs) => subs[0]?.topicFilter === '#');
    const sub = runProgram('mosquitto_sub', [...server, '-t', '#', '-v'], PROCESS_TIMEOUT_MS);
    await subscribed;
    await publish(['-t', 'a', '-m', 'hi']);
    assert.deepEqual(await sub.waitForLines(1), ['a hi']);
    // SIGKILL: mosquitto_sub 2.0 sends DISCONNECT from its SIGINT/SIGTERM handler, which can deadlock.
    sub.child.kill('SIGKILL');
    await sub.exited;
  });

  for (const protocol of ['mqttv311', 'mqttv5'] as const) {
    const v5 = protocol === 'mqttv5';
    const name = v5 ? 'MQTT 5.0' : 'MQTT 3.1.1';

    void describe(`over ${name} (-V ${protocol})`, () => {
      for (const qos of [0, 1, 2] as const) {
        void it(`delivers a QoS ${qos} message from mosquitto_pub -q ${qos} to mosquitto_sub -q ${qos} at QoS ${qos} [${v5 ? 'MQTT-3.8.4-8' : 'MQTT-3.8.4-6'}]`, async (t) => {
          if (!needsMosquittoClients(t)) return;
          const topic = `qos/${qos}/${protocol}`;
          const args = ['-V', protocol, '-q', String(qos)];
          const sub = await subscriber(clientId('sub'), [...args, '-t', topic, '-C', '1', '-F', '%q %t %p']);
          await publish([...args, '-t', topic, '-m', `at qos ${qos}`]);
          const result = await sub.exited;
          assert.equal(result.code, 0, result.stderr);
          assert.deepEqual(sub.lines, [`${qos} ${topic} at qos ${qos}`]);
        });
      }

      void it(`sends a message retained with mosquitto_pub -r to a later mosquitto_sub, flagged as retained [${v5 ? 'MQTT-3.3.1-9' : 'MQTT-3.3.1-6'}]`, async (t) => {
        if (!needsMosquittoClients(t)) return;
        const topic = `retained/${protocol}`;
        await publish(['-V', protocol, '-q', '1', '-r', '-t', topic, '-m', 'kept']);
        const sub = runProgram(
          'mosquitto_sub',
          [...server, '-V', protocol, '-t', topic, '-C', '1', '-F', '%r %t %p'],
          PROCESS_TIMEOUT_MS,
        );
        const result = await sub.exited;
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(sub.lines, [`1 ${topic} kept`]);
      });

      void it(`publishes the will of a mosquitto_sub killed with SIGKILL [MQTT-3.1.2-8]`, async (t) => {
        if (!needsMosquittoClients(t)) return;
        const willTopic = `will/${protocol}`;
        const watcher = await subscriber(clientId('watcher'), [
          '-V',
          protocol,
          '-q',
          '1',
          '-t',
          willTopic,
          '-C',
          '1',
          '-v',
        ]);
        const victimId = clientId('victim');
        const victim = await subscriber(victimId, [
          '-V',
          protocol,
          '-t',
          `quiet/${protocol}`,
          '--will-topic',
          willTopic,
          '--will-payload',
          'victim died',
          '--will-qos',
          '1',
        ]);
        const gone = waitForBrokerEvent(broker, 'clientDisconnected', (client) => client.clientId === victimId);
        victim.child.kill('SIGKILL');
        assert.equal((await victim.exited).signal, 'SIGKILL');
        await gone;
        assert.deepEqual(await watcher.waitForLines(1), [`${willTopic} victim died`]);
        assert.equal((await watcher.exited).code, 0);
      });

      void it(`keeps the QoS 1 messages of a mosquitto_sub -c session published while it was not running, found again by its client id [${v5 ? 'MQTT-3.1.2-23' : 'MQTT-3.1.2-5'}] [MQTT-3.1.3-2]`, async (t) => {
        if (!needsMosquittoClients(t)) return;
        const topic = `persistent/${protocol}`;
        const id = clientId('persistent');
        const args = ['-V', protocol, '-c', '-q', '1', '-t', topic];
        const first = await subscriber(id, args);
        const left = waitForBrokerEvent(broker, 'clientDisconnected', (client) => client.clientId === id);
        first.child.kill('SIGKILL');
        await left;
        await first.exited;
        for (let i = 1; i <= 3; i++) await publish(['-V', protocol, '-q', '1', '-t', topic, '-m', `while away ${i}`]);
        const again = runProgram('mosquitto_sub', [...server, '-i', id, ...args, '-C', '3'], PROCESS_TIMEOUT_MS);
        const result = await again.exited;
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(again.lines, ['while away 1', 'while away 2', 'while away 3']);
      });
    });
  }

  for (const [protocol, level] of [
    ['mqttv31', 3],
    ['mqttv311', 4],
    ['mqttv5', 5],
  ] as const) {
    void it(`connects mosquitto_sub and mosquitto_pub with -V ${protocol} (protocol level ${level}) and delivers between them`, async (t) => {
      if (!needsMosquittoClients(t)) return;
      const topic = `version/${protocol}`;
      const id = clientId(protocol);
      const connected = waitForBrokerEvent(broker, 'clientConnected', (client) => client.clientId === id);
      const sub = await subscriber(id, ['-V', protocol, '-t', topic, '-C', '1', '-v']);
      assert.equal((await connected)[0].protocolVersion, level);
      const pubId = clientId(`${protocol}-pub`);
      const pubConnected = waitForBrokerEvent(broker, 'clientConnected', (client) => client.clientId === pubId);
      await publish(['-V', protocol, '-i', pubId, '-t', topic, '-m', `spoken in ${protocol}`]);
      assert.equal((await pubConnected)[0].protocolVersion, level);
      assert.deepEqual(await sub.waitForLines(1), [`${topic} spoken in ${protocol}`]);
      assert.equal((await sub.exited).code, 0);
    });
  }

  void it("shows the broker's retained $SYS topics to `mosquitto_sub -t '$SYS/broker/#' -v`, as Mosquitto's would", async (t) => {
    if (!needsMosquittoClients(t)) return;
    broker.sys.publish();
    const sub = runProgram(
      'mosquitto_sub',
      [...server, '-i', clientId('sys'), '-t', '$SYS/broker/#', '-v', '-W', '5'],
      PROCESS_TIMEOUT_MS,
    );
    // 21 counters and 8 load averages of 3 spans each.
    const lines = await sub.waitForLines(45);
    sub.child.kill();
    await sub.exited;
    const topics = new Map(lines.map((line) => [line.slice(0, line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)]));
    assert.match(topics.get('$SYS/broker/version') ?? '', /^fennec version \d+\.\d+\.\d+/);
    assert.match(topics.get('$SYS/broker/uptime') ?? '', /^\d+ seconds$/);
    assert.match(topics.get('$SYS/broker/load/messages/received/1min') ?? '', /^\d+\.\d\d$/);
    // A topic with a space in a level, as Mosquitto names it.
    assert.ok(lines.some((line) => /^\$SYS\/broker\/retained messages\/count \d+$/.test(line)));
  });
});
