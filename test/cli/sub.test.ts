// `fennec sub` as a user runs it: `node bin/fennec.js sub ...` in a child process against a real
// Fennec broker in this process on a free port, fed by an MQTT.js publisher or by `fennec pub`.
// Protocol tests run for 3.1.1 and 5.0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repositoryRoot } from '../helpers/cli.js';
import type { Broker } from '../../src/broker/broker.js';
import { ExitCode } from '../../src/cli/errors.js';
import { ClientPool, portOf, startBroker, type TestClient } from '../interop/support.js';
import { waitUntil } from '../helpers/broker.js';
import { assertOneLineError, connected, fennec, killAll, subscriber, succeeds, type Running } from './mqtt-cli.js';

const VERSIONS = [
  { flag: 'mqttv311', mqttjs: 4, name: '3.1.1' },
  { flag: 'mqttv5', mqttjs: 5, name: '5.0' },
] as const;

let broker: Broker;
let port = 0;
let server: string[] = [];
let pool: ClientPool;
let publisher: TestClient;
let serial = 0;
const topic = (name: string): string => `sub-test/${name}/${++serial}`;

before(async () => {
  const started = await startBroker({
    hooks: { authenticate: (r) => (r.username === 'refused' ? { ok: false, reasonCode: 0x87 } : { ok: true }) },
  });
  broker = started.broker;
  port = portOf(started.url);
  server = ['-h', '127.0.0.1', '-p', String(port)];
  pool = new ClientPool(() => started.url);
  publisher = await pool.connect({ protocolVersion: 5, clientId: 'sub-test-publisher' });
});

after(async () => {
  await killAll();
  await pool.closeAll();
  await broker.close();
});

/** Starts `fennec sub` with its own client id and waits until the broker has its subscription. */
function sub(args: readonly string[]): Promise<Running> {
  const id = `fennec-sub-${++serial}`;
  return subscriber(broker, id, () => fennec(['sub', ...server, '-i', id, ...args]));
}

void describe('fennec sub', () => {
  for (const v of VERSIONS) {
    void it(`prints payloads one per line, -v topic and payload, several -t, and exits after -C (MQTT ${v.name})`, async () => {
      const [a, b] = [topic('a'), topic('b')];
      const s = await sub(['-V', v.flag, '-t', a, '-t', b, '-v', '-C', '3', '-q', '1']);
      await publisher.client.publishAsync(a, 'one', { qos: 1 });
      await publisher.client.publishAsync(b, 'two', { qos: 1 });
      await publisher.client.publishAsync(a, '', { qos: 1 });
      const ended = await succeeds(s, 'sub');
      assert.equal(ended.stdout, `${a} one\n${b} two\n${a} (null)\n`);
    });

    void it(`-R skips the stale retained message and prints the live one (MQTT ${v.name})`, async () => {
      const t = topic('retained');
      await publisher.client.publishAsync(t, 'stale', { qos: 1, retain: true });
      const withRetained = await sub(['-V', v.flag, '-t', t, '-C', '1', '-F', '%r %p']);
      assert.equal((await succeeds(withRetained, 'sub')).stdout, '1 stale\n');
      const s = await sub(['-V', v.flag, '-t', t, '-R', '-C', '1', '-F', '%r %p']);
      await publisher.client.publishAsync(t, 'fresh', { qos: 1, retain: true });
      assert.equal((await succeeds(s, 'sub -R')).stdout, '0 fresh\n');
    });

    void it(`-c -i keeps the session: messages published while it was away arrive on its return (MQTT ${v.name})`, async () => {
      const t = topic('persistent');
      const id = `persistent-${v.mqttjs}-${serial}`;
      const args = ['sub', ...server, '-V', v.flag, '-c', '-i', id, '-q', '1', '-t', t];
      await succeeds(fennec([...args, '-E']), 'sub -E');
      await publisher.client.publishAsync(t, 'while away 1', { qos: 1 });
      await publisher.client.publishAsync(t, 'while away 2', { qos: 1 });
      const ended = await succeeds(fennec([...args, '-C', '2', '-W', '10']), 'sub -c');
      assert.equal(ended.stdout, 'while away 1\nwhile away 2\n');
    });
  }

  void it('--retain-as-published keeps the retain flag of a live retained message (MQTT 5.0); without it the flag is 0', async () => {
    const t = topic('rap');
    const plain = await sub(['-V', '5', '-t', t, '-C', '1', '-F', '%r']);
    const kept = await sub(['-V', '5', '-t', t, '-C', '1', '-F', '%r', '--retain-as-published']);
    await publisher.client.publishAsync(t, 'live', { qos: 1, retain: true });
    assert.equal((await succeeds(plain, 'sub')).stdout, '0\n');
    assert.equal((await succeeds(kept, 'sub --retain-as-published')).stdout, '1\n');
  });

  void it('-W exits with code 27 when nothing arrives in time, saying so in one line', async () => {
    const ended = await fennec(['sub', ...server, '-t', topic('quiet'), '-W', '1']).exited;
    assertOneLineError(ended, 27, /timed out after 1 s/);
  });

  void it('-W does not fire once -C is reached: exit 0', async () => {
    const t = topic('count-first');
    const s = await sub(['-t', t, '-C', '1', '-W', '30']);
    await publisher.client.publishAsync(t, 'in time', { qos: 0 });
    assert.equal((await succeeds(s, 'sub')).stdout, 'in time\n');
  });

  void it('-T filters topics out, -N prints no newline', async () => {
    const base = topic('filter');
    const s = await sub(['-t', `${base}/#`, '-T', `${base}/noisy/+`, '-N', '-C', '2']);
    await publisher.client.publishAsync(`${base}/noisy/1`, 'x', { qos: 1 });
    await publisher.client.publishAsync(`${base}/calm`, 'a', { qos: 1 });
    await publisher.client.publishAsync(`${base}/noisy/2`, 'y', { qos: 1 });
    await publisher.client.publishAsync(`${base}`, 'b', { qos: 1 });
    assert.equal((await succeeds(s, 'sub')).stdout, 'ab');
  });

  void it('-E exits once subscribed; -U removes a subscription of the kept session', async () => {
    const t = topic('unsub');
    const id = `unsub-${serial}`;
    await succeeds(fennec(['sub', ...server, '-c', '-i', id, '-q', '1', '-t', t, '-E']), 'sub -E');
    const unsubscribed = new Promise<string[]>((resolve) =>
      broker.once('unsubscribed', (client, filters) => client.clientId === id && resolve(filters)),
    );
    await succeeds(fennec(['sub', ...server, '-c', '-i', id, '-U', t]), 'sub -U');
    assert.deepEqual(await unsubscribed, [t]);
    await publisher.client.publishAsync(t, 'not for it', { qos: 1 });
    const ended = await fennec(['sub', ...server, '-c', '-i', id, '-t', `${t}/other`, '-W', '1']).exited;
    assert.equal(ended.code, 27, 'nothing was queued for the removed subscription');
    assert.equal(ended.stdout, '');
  });

  void it('-F fills in mosquitto format strings: parameters, widths, flags, escapes, times', async () => {
    const t = topic('format');
    const cases: [string, string | RegExp][] = [
      ['%t|%p|%q|%r|%l', `${t}|héllo|1|0|6`],
      ['%x %X', '68c3a96c6c6f 68C3A96C6C6F'],
      ['%10.3t|%-8l|%08l|%%|@@', `       sub|6       |00000006|%|@`],
      ['\\t\\\\\\e', '\t\\\x1b'],
      ['%I', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}$/],
      ['%U', /^\d{10}\.\d{9}$/],
      ['@Y-@m-@dT@H:@M:@S @s.@N', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d \d{10}\.\d{9}$/],
      ['%m', /^[1-9]\d*$/],
    ];
    for (const [format, expected] of cases) {
      const s = await sub(['-q', '1', '-t', t, '-C', '1', '-F', format]);
      await publisher.client.publishAsync(t, 'héllo', { qos: 1 });
      const out = (await succeeds(s, `sub -F ${format}`)).stdout;
      if (typeof expected === 'string') assert.equal(out, `${expected}\n`, format);
      else assert.match(out.slice(0, -1), expected, format);
    }
  });

  void it('-F %j prints mosquitto JSON, and MQTT 5 %P %C %D %R %S the properties', async () => {
    const t = topic('json-format');
    const format = ['-F', '%P|%C|%D|%R|%S|%j'];
    const f = await sub([
      '-V',
      '5',
      '-q',
      '1',
      '-t',
      t,
      '-C',
      '1',
      ...format,
      '-D',
      'subscribe',
      'subscription-identifier',
      '9',
    ]);
    await publisher.client.publishAsync(t, '{"v":1}', {
      qos: 1,
      properties: {
        userProperties: { k: 'v' },
        contentType: 'application/json',
        correlationData: Buffer.from('c-1'),
        responseTopic: 'r/1',
      },
    });
    const [props, json] = (await succeeds(f, 'sub -F')).stdout.split('|{');
    assert.equal(props, 'k:v|application/json|c-1|r/1|9');
    const parsed = JSON.parse(`{${json}`) as Record<string, unknown>;
    assert.equal(parsed['topic'], t);
    assert.equal(parsed['payload'], '{"v":1}');
    assert.deepEqual(parsed['properties'], {
      'subscription-identifier': 9,
      'user-properties': { k: 'v' },
      'content-type': 'application/json',
      'correlation-data': 'c-1',
      'response-topic': 'r/1',
    });
    assert.match(String(parsed['tst']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\+0000$/);
  });

  void it('--json prints one object per message; a payload that is not UTF-8 comes as base64 with its encoding', async () => {
    const t = topic('json');
    const s = await sub(['-V', '5', '-q', '1', '-t', t, '-C', '2', '--json']);
    await succeeds(
      fennec(
        ['pub', ...server, '-V', '5', '-t', t, '-m', 'text', '-q', '1', '-r'].concat([
          '-D',
          'publish',
          'user-property',
          'unit',
          'C',
          '-D',
          'publish',
          'content-type',
          'text/plain',
        ]),
      ),
      'pub',
    );
    await publisher.client.publishAsync(t, Buffer.from([0xff, 0x00, 0xfe]), { qos: 0 });
    const lines = (await succeeds(s, 'sub --json')).stdout.trimEnd().split('\n');
    assert.deepEqual(JSON.parse(lines[0]!), {
      topic: t,
      payload: 'text',
      qos: 1,
      retain: false,
      properties: { userProperties: [['unit', 'C']], contentType: 'text/plain' },
    });
    assert.deepEqual(JSON.parse(lines[1]!), { topic: t, payload: '/wD+', encoding: 'base64', qos: 0, retain: false });
  });

  for (const v of VERSIONS) {
    void it(`--will-topic: killed, its Will is published (MQTT ${v.name})`, async () => {
      const t = topic('will');
      const watcher = await sub(['-V', v.flag, '-t', t, '-C', '1', '-v']);
      const id = `will-sub-${serial}`;
      const up = connected(broker, id);
      const dying = fennec(
        ['sub', ...server, '-V', v.flag, '-i', id, '-t', 'sub-test/nothing', '--will-topic', t].concat([
          '--will-payload',
          'sub gone',
        ]),
      );
      await up;
      dying.child.kill('SIGKILL');
      assert.equal((await succeeds(watcher, 'watcher')).stdout, `${t} sub gone\n`);
    });
  }

  void it('ends with exit 0 when the reader of its output goes away (`fennec sub | head -1`)', async () => {
    const t = topic('epipe');
    const s = await sub(['-t', t]);
    await publisher.client.publishAsync(t, 'first', { qos: 0 });
    await waitUntil(() => s.stdout() === 'first\n', 'the first line is printed', 5000);
    s.child.stdout?.destroy();
    for (let i = 0; i < 5 && s.child.exitCode === null; i++) {
      await publisher.client.publishAsync(t, 'more', { qos: 0 });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const ended = await s.exited;
    assert.equal(ended.code, 0, ended.stderr);
    assert.equal(ended.stderr, '');
  });

  void it('SIGINT ends it with DISCONNECT and exit 0: its Will is not published', async () => {
    const t = topic('sigint-will');
    const id = `sigint-${serial}`;
    const s = await subscriber(broker, id, () =>
      fennec(['sub', ...server, '-i', id, '-t', 'sub-test/nothing', '--will-topic', t, '--will-payload', 'w']),
    );
    const wills: string[] = [];
    broker.on('published', (m) => m.topic === t && wills.push(m.payload.toString()));
    s.child.kill('SIGINT');
    const ended = await s.exited;
    assert.equal(ended.code, 0, ended.stderr);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(wills, []);
  });
});

void describe('fennec sub: failures', () => {
  void it('lists every flag in `fennec sub --help`, each documented in docs/cli.md', async () => {
    const ended = await succeeds(fennec(['sub', '--help']), 'sub --help');
    const flags = [...new Set(ended.stdout.match(/--[a-z][a-z-]+/g))].filter((flag) => flag !== '--help');
    assert.ok(flags.length >= 32, `flags in the help: ${flags.join(' ')}`);
    const docs = await readFile(join(repositoryRoot, 'docs', 'cli.md'), 'utf8');
    const section = docs.slice(docs.indexOf('## fennec pub and fennec sub'), docs.indexOf('## fennec bench'));
    for (const flag of flags) assert.ok(section.includes(`\`${flag}`), `${flag} is not in docs/cli.md`);
  });
  const bad: [string[], RegExp][] = [
    [[], /topic/],
    [['-t', 'a/#/b'], /invalid -t topic filter/],
    [['-t', 'a', '-T', 'b/#/c'], /invalid -T/],
    [['-t', 'a', '-C', '0'], /count/],
    [['-t', 'a', '-W', '0'], /timeout/],
    [['-t', 'a', '-F', '%i'], /Invalid format specifier 'i'/],
    [['-t', 'a', '-F', 'x\\q'], /Invalid escape/],
    [['-t', 'a', '--json', '-v'], /--json cannot be combined/],
    [['-t', 'a', '-c'], /client id/],
    [['-t', 'a', '-x', '60'], /needs MQTT 5/],
    [['-t', 'a', '-V', '5', '-D', 'publish', 'content-type', 'x'], /must be one of/],
    [['-t', 'a', '-V', '5', '-D', 'subscribe', 'subscription-identifier', '0'], /integer from 1/],
    [['-t', 'a', '-Z'], /unknown option '-Z'/],
  ];
  for (const [args, pattern] of bad) {
    void it(`\`fennec sub ${args.join(' ')}\`: one line, exit code ${ExitCode.Usage}`, async () => {
      assertOneLineError(await fennec(['sub', '-p', '1', ...args]).exited, ExitCode.Usage, pattern);
    });
  }

  void it('an unreachable broker: one line naming the address, exit code 1 (as mosquitto_sub)', async () => {
    const ended = await fennec(['sub', '-h', '127.0.0.1', '-p', '1', '-t', 'x']).exited;
    assertOneLineError(ended, 1, /127\.0\.0\.1:1.*ECONNREFUSED/);
  });

  for (const [v, code] of [
    [VERSIONS[0], 5],
    [VERSIONS[1], 0x87],
  ] as const) {
    void it(`a CONNACK refusal exits with its reason code: ${code} over MQTT ${v.name} (as mosquitto_sub)`, async () => {
      const ended = await fennec(['sub', ...server, '-V', v.flag, '-u', 'refused', '-t', 'x']).exited;
      assertOneLineError(ended, code, /refused the connection/);
    });
  }
});
