// `fennec pub` and `fennec sub` next to Mosquitto's command-line clients (Debian package
// mosquitto-clients) on one Fennec broker: what one side sends, the other prints, for 3.1.1 and 5.0.
// Also the same flags given to both tools print the same thing.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Broker } from '../../src/broker/broker.js';
import { portOf, requireProgram, startBroker } from './support.js';
import { fennec, killAll, run, subscriber, succeeds, type Running } from '../cli/mqtt-cli.js';

const VERSIONS = [
  { flag: 'mqttv311', name: '3.1.1' },
  { flag: 'mqttv5', name: '5.0' },
] as const;

function needsMosquittoClients(t: TestContext): boolean {
  return (
    requireProgram(t, 'mosquitto_sub', 'mosquitto-clients') && requireProgram(t, 'mosquitto_pub', 'mosquitto-clients')
  );
}

void describe("fennec pub and fennec sub with Mosquitto's clients", () => {
  let broker: Broker;
  let server: string[] = [];
  let serial = 0;
  const topic = (name: string): string => `cli-interop/${name}/${++serial}`;

  before(async () => {
    const started = await startBroker();
    broker = started.broker;
    server = ['-h', '127.0.0.1', '-p', String(portOf(started.url))];
  });

  after(async () => {
    await killAll();
    await broker.close();
  });

  function mosquittoSub(args: readonly string[]): Promise<Running> {
    const id = `mosquitto-sub-${++serial}`;
    return subscriber(broker, id, () => run('mosquitto_sub', [...server, '-i', id, ...args]));
  }

  function fennecSub(args: readonly string[]): Promise<Running> {
    const id = `fennec-sub-${++serial}`;
    return subscriber(broker, id, () => fennec(['sub', ...server, '-i', id, ...args]));
  }

  for (const v of VERSIONS) {
    void it(`fennec pub -> mosquitto_sub -v, QoS 0, 1 and 2 (MQTT ${v.name})`, async (t) => {
      if (!needsMosquittoClients(t)) return;
      const tp = topic('to-mosquitto');
      const sub = await mosquittoSub(['-V', v.flag, '-t', `${tp}/#`, '-q', '2', '-v', '-C', '3']);
      for (const q of ['0', '1', '2']) {
        await succeeds(fennec(['pub', ...server, '-V', v.flag, '-t', `${tp}/q${q}`, '-m', `at ${q}`, '-q', q]), 'pub');
      }
      const ended = await succeeds(sub, 'mosquitto_sub');
      assert.equal(ended.stdout, `${tp}/q0 at 0\n${tp}/q1 at 1\n${tp}/q2 at 2\n`);
    });

    void it(`mosquitto_pub -> fennec sub -v, -l lines and a retained -r (MQTT ${v.name})`, async (t) => {
      if (!needsMosquittoClients(t)) return;
      const tp = topic('from-mosquitto');
      await succeeds(run('mosquitto_pub', [...server, '-V', v.flag, '-t', `${tp}/kept`, '-m', 'old', '-r']), 'pub -r');
      const sub = await fennecSub(['-V', v.flag, '-t', `${tp}/#`, '-q', '1', '-F', '%t %q %r %p', '-C', '3']);
      await succeeds(
        run('mosquitto_pub', [...server, '-V', v.flag, '-t', `${tp}/lines`, '-l', '-q', '1'], 'a\nb\n'),
        'pub -l',
      );
      const ended = await succeeds(sub, 'fennec sub');
      assert.equal(ended.stdout, `${tp}/kept 0 1 old\n${tp}/lines 1 0 a\n${tp}/lines 1 0 b\n`);
    });
  }

  void it('mosquitto_pub -D publish properties -> fennec sub --json shows them (MQTT 5.0)', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const tp = topic('json');
    const sub = await fennecSub(['-V', '5', '-t', tp, '-C', '1', '--json']);
    const props = ['-D', 'publish', 'user-property', 'k', 'v', '-D', 'publish', 'content-type', 'text/plain'];
    await succeeds(run('mosquitto_pub', [...server, '-V', '5', '-t', tp, '-m', 'hi', '-q', '1', ...props]), 'pub');
    const line = JSON.parse((await succeeds(sub, 'fennec sub')).stdout) as Record<string, unknown>;
    assert.deepEqual(line, {
      topic: tp,
      payload: 'hi',
      qos: 0,
      retain: false,
      properties: { userProperties: [['k', 'v']], contentType: 'text/plain' },
    });
  });

  void it('the same -F string prints the same in mosquitto_sub and fennec sub (MQTT 5.0 properties too)', async (t) => {
    if (!needsMosquittoClients(t)) return;
    const tp = topic('same-format');
    const format = '%t|%p|%q|%r|%l|%x|%X|%P|%C|%R|%10t|%-4l|%08l|%.3t|%%|@@|\\t';
    const common = ['-V', '5', '-q', '1', '-t', tp, '-C', '1', '-F', format];
    const m = await mosquittoSub(common);
    const f = await fennecSub(common);
    const props = ['-D', 'publish', 'user-property', 'k', 'v', '-D', 'publish', 'content-type', 'c/t'];
    props.push('-D', 'publish', 'response-topic', 'r/t');
    await succeeds(fennec(['pub', ...server, '-V', '5', '-t', tp, '-m', 'héllo', '-q', '1', ...props]), 'pub');
    const [mosquitto, ours] = await Promise.all([succeeds(m, 'mosquitto_sub'), succeeds(f, 'fennec sub')]);
    assert.equal(ours.stdout, mosquitto.stdout);
  });
});
