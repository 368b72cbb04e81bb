// `fennec pub` as a user runs it: `node bin/fennec.js pub ...` in a child process against a real
// Fennec broker in this process on a free port; what arrives is read by an MQTT.js subscriber or
// by `fennec sub`. Protocol tests run for 3.1.1 and 5.0. TLS: pub-tls.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Broker } from '../../src/broker/broker.js';
import { ExitCode } from '../../src/cli/errors.js';
import { repositoryRoot } from '../helpers/cli.js';
import { ClientPool, portOf, startBroker, type TestClient } from '../interop/support.js';
import { assertOneLineError, connected, fennec, KEEP_OPEN, killAll, subscriber, succeeds } from './mqtt-cli.js';

const VERSIONS = [
  { flag: 'mqttv311', mqttjs: 4, name: '3.1.1' },
  { flag: 'mqttv5', mqttjs: 5, name: '5.0' },
] as const;

let broker: Broker;
let port = 0;
let server: string[] = [];
let pool: ClientPool;
let dir = '';
let serial = 0;
const topic = (name: string): string => `pub-test/${name}/${++serial}`;

before(async () => {
  const started = await startBroker({
    // A user `refused` is turned away: the CONNACK refusal's exit code
    hooks: { authenticate: (r) => (r.username === 'refused' ? { ok: false, reasonCode: 0x86 } : { ok: true }) },
  });
  broker = started.broker;
  port = portOf(started.url);
  server = ['-h', '127.0.0.1', '-p', String(port)];
  pool = new ClientPool(() => started.url);
  dir = mkdtempSync(join(tmpdir(), 'fennec-pub-'));
});

after(async () => {
  await killAll();
  await pool.closeAll();
  await broker.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An MQTT.js client subscribed to `filter` with `version`. */
async function listener(filter: string, version: 4 | 5 = 5): Promise<TestClient> {
  const c = await pool.connect({ protocolVersion: version, clientId: `listener-${++serial}` });
  await c.client.subscribeAsync(filter, { qos: 2 });
  return c;
}

void describe('fennec pub', () => {
  for (const v of VERSIONS) {
    void it(`publishes -m at QoS 1 to a \`fennec sub -v -C 1\` over MQTT ${v.name}`, async () => {
      const t = topic('to-sub');
      const id = `sub-${serial}`;
      const sub = await subscriber(broker, id, () =>
        fennec(['sub', ...server, '-V', v.flag, '-i', id, '-t', t, '-q', '1', '-v', '-C', '1']),
      );
      await succeeds(fennec(['pub', ...server, '-V', v.flag, '-t', t, '-m', 'hello there', '-q', '1']), 'pub');
      const ended = await succeeds(sub, 'sub');
      assert.equal(ended.stdout, `${t} hello there\n`);
    });

    void it(`publishes at QoS 2 with -r: a later subscriber gets it retained (MQTT ${v.name})`, async () => {
      const t = topic('retained');
      await succeeds(fennec(['pub', ...server, '-V', v.flag, '-t', t, '-m', 'kept', '-q', '2', '-r']), 'pub');
      const c = await listener(t, v.mqttjs);
      const [m] = await c.inbox.waitFor(1);
      assert.equal(m?.payload, 'kept');
      assert.equal(m?.packet.retain, true);
    });
  }

  void it('-l sends one message per line: the newline cut, a \\r kept, an empty line empty, a last line without newline sent', async () => {
    const t = topic('lines');
    const c = await listener(t);
    await succeeds(fennec(['pub', ...server, '-t', t, '-l', '-q', '1'], 'one\r\n\ntwo\nthree'), 'pub -l');
    const got = await c.inbox.waitFor(4);
    assert.deepEqual(
      got.map((m) => m.payload),
      ['one\r', '', 'two', 'three'],
    );
  });

  void it('-l at QoS 0 sends many lines in order', async () => {
    const t = topic('many-lines');
    const c = await listener(t);
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i}`);
    await succeeds(fennec(['pub', ...server, '-t', t, '-l'], lines.join('\n') + '\n'), 'pub -l');
    const got = await c.inbox.waitFor(200);
    assert.deepEqual(
      got.map((m) => m.payload),
      lines,
    );
  });

  void it('-f sends a file byte for byte, any bytes', async () => {
    const t = topic('file');
    const c = await listener(t);
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const file = join(dir, 'payload.bin');
    writeFileSync(file, bytes);
    await succeeds(fennec(['pub', ...server, '-t', t, '-f', file, '-q', '1']), 'pub -f');
    const [m] = await c.inbox.waitFor(1);
    assert.deepEqual(m?.packet.payload, bytes);
  });

  void it('-s sends the whole of standard input as one message, newlines included', async () => {
    const t = topic('stdin');
    const c = await listener(t);
    await succeeds(fennec(['pub', ...server, '-t', t, '-s'], 'first\nsecond\n'), 'pub -s');
    const [m] = await c.inbox.waitFor(1);
    assert.equal(m?.payload, 'first\nsecond\n');
    assert.equal(c.inbox.messages.length, 1);
  });

  void it('-n sends an empty message; with -r it clears the retained message', async () => {
    const t = topic('null');
    await succeeds(fennec(['pub', ...server, '-t', t, '-m', 'old', '-r']), 'pub -r');
    await succeeds(fennec(['pub', ...server, '-t', t, '-n', '-r']), 'pub -n -r');
    const c = await listener(t);
    await succeeds(fennec(['pub', ...server, '-t', t, '-n']), 'pub -n');
    const [m] = await c.inbox.waitFor(1);
    assert.equal(m?.packet.payload.length, 0);
    assert.equal(m?.packet.retain, false, 'the retained message was cleared, so the first to arrive is the live one');
  });

  void it('--repeat 3 publishes the message three times', async () => {
    const t = topic('repeat');
    const c = await listener(t);
    await succeeds(
      fennec(['pub', ...server, '-t', t, '-m', 'again', '--repeat', '3', '--repeat-delay', '0.05']),
      'pub',
    );
    const got = await c.inbox.waitFor(3);
    assert.deepEqual(
      got.map((m) => m.payload),
      ['again', 'again', 'again'],
    );
  });

  void it('-D publish gives MQTT 5 properties: user-property, content-type, response-topic, correlation-data, message-expiry-interval', async () => {
    const t = topic('props');
    const c = await listener(t);
    const args = ['-D', 'publish', 'user-property', 'site', 'north', '-D', 'publish', 'user-property', 'site', 'south'];
    args.push('-D', 'publish', 'content-type', 'text/plain', '-D', 'publish', 'response-topic', 'replies/1');
    args.push('-D', 'publish', 'correlation-data', 'req-7', '-D', 'publish', 'message-expiry-interval', '3600');
    await succeeds(fennec(['pub', ...server, '-V', '5', '-t', t, '-m', 'x', '-q', '1', ...args]), 'pub -D');
    const [m] = await c.inbox.waitFor(1);
    const p = m?.packet.properties;
    assert.deepEqual({ ...p?.userProperties }, { site: ['north', 'south'] });
    assert.equal(p?.contentType, 'text/plain');
    assert.equal(p?.responseTopic, 'replies/1');
    assert.deepEqual(p?.correlationData, Buffer.from('req-7'));
    assert.ok(
      p?.messageExpiryInterval !== undefined && p.messageExpiryInterval <= 3600 && p.messageExpiryInterval > 3590,
    );
  });

  for (const v of VERSIONS) {
    void it(`--will-topic: killed while connected (-l with stdin open), its Will arrives (MQTT ${v.name})`, async () => {
      const t = topic('will');
      const c = await listener(t, v.mqttjs);
      const id = `will-pub-${serial}`;
      const up = connected(broker, id);
      const willArgs = ['--will-topic', t, '--will-payload', 'gone', '--will-qos', '1', '--will-retain'];
      const pub = fennec(
        ['pub', ...server, '-V', v.flag, '-i', id, '-t', 'pub-test/unused', '-l', ...willArgs],
        KEEP_OPEN,
      );
      await up;
      pub.child.kill('SIGKILL');
      const [m] = await c.inbox.waitFor(1);
      assert.equal(m?.payload, 'gone');
      assert.equal(m?.packet.qos, 1);
    });
  }

  void it('-D will gives the Will MQTT 5 properties: user-property, content-type, will-delay-interval 0', async () => {
    const t = topic('will-props');
    const c = await listener(t);
    const id = `will-props-${serial}`;
    const up = connected(broker, id);
    const props = ['-D', 'will', 'user-property', 'why', 'killed', '-D', 'will', 'content-type', 'text/plain'];
    props.push('-D', 'will', 'will-delay-interval', '0');
    const pub = fennec(
      ['pub', ...server, '-V', '5', '-i', id, '-t', 'pub-test/unused', '-l', '--will-topic', t, ...props],
      KEEP_OPEN,
    );
    await up;
    pub.child.kill('SIGKILL');
    const [m] = await c.inbox.waitFor(1);
    assert.deepEqual({ ...m?.packet.properties?.userProperties }, { why: 'killed' });
    assert.equal(m?.packet.properties?.contentType, 'text/plain');
  });

  void it('-L mqtt://host:port/topic gives the broker and the topic', async () => {
    const t = topic('url');
    const c = await listener(t);
    await succeeds(fennec(['pub', '-L', `mqtt://127.0.0.1:${port}/${t}`, '-m', 'via url']), 'pub -L');
    const [m] = await c.inbox.waitFor(1);
    assert.equal(m?.payload, 'via url');
  });

  void it('-I makes the client id from the prefix and the process id, as mosquitto_pub', async () => {
    const seen = new Promise<string>((resolve) =>
      broker.on('clientConnected', (client) => client.clientId.startsWith('probe-') && resolve(client.clientId)),
    );
    const pub = fennec(['pub', ...server, '-I', 'probe-', '-t', topic('prefix'), '-m', 'x']);
    await succeeds(pub, 'pub -I');
    assert.equal(await seen, `probe-${pub.child.pid}`);
  });

  void it('-L ws://host:port/topic publishes over a WebSocket (sub-protocol mqtt, path /mqtt)', async (t) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', resolve));
    const paths: string[] = [];
    wss.on('connection', (ws, request) => {
      paths.push(`${request.url ?? ''} ${ws.protocol}`);
      const { localAddress, remoteAddress, remotePort } = request.socket;
      broker.handle(createWebSocketStream(ws), { localAddress, remoteAddress, remotePort });
    });
    t.after(() => {
      for (const client of wss.clients) client.terminate();
      return new Promise<void>((resolve) => wss.close(() => resolve()));
    });
    const wsPort = (wss.address() as { port: number }).port;
    const tp = topic('ws');
    const c = await listener(tp);
    await succeeds(
      fennec(['pub', '-L', `ws://127.0.0.1:${wsPort}/${tp}`, '-V', '5', '-m', 'over ws', '-q', '1']),
      'pub',
    );
    const [m] = await c.inbox.waitFor(1);
    assert.equal(m?.payload, 'over ws');
    assert.deepEqual(paths, ['/mqtt mqtt']);
  });

  void it('-c with -i keeps the session over MQTT 5: the broker says session present on the next connection', async () => {
    const id = `kept-pub-${++serial}`;
    await succeeds(fennec(['pub', ...server, '-V', '5', '-c', '-i', id, '-t', 'pub-test/c', '-m', '1']), 'first');
    const present = new Promise<boolean>((resolve) =>
      broker.on('clientConnected', (client) => client.clientId === id && resolve(client.sessionPresent)),
    );
    await succeeds(fennec(['pub', ...server, '-V', '5', '-c', '-i', id, '-t', 'pub-test/c', '-m', '2']), 'second');
    assert.equal(await present, true);
  });
});

void describe('fennec pub: failures', () => {
  void it('lists every flag in `fennec pub --help`, each documented in docs/cli.md', async () => {
    const ended = await succeeds(fennec(['pub', '--help']), 'pub --help');
    const flags = [...new Set(ended.stdout.match(/--[a-z][a-z-]+/g))].filter((flag) => flag !== '--help');
    assert.ok(flags.length >= 30, `flags in the help: ${flags.join(' ')}`);
    const docs = await readFile(join(repositoryRoot, 'docs', 'cli.md'), 'utf8');
    const section = docs.slice(docs.indexOf('## fennec pub and fennec sub'), docs.indexOf('## fennec bench'));
    for (const flag of flags) assert.ok(section.includes(`\`${flag}`), `${flag} is not in docs/cli.md`);
  });
  const bad: [string[], RegExp][] = [
    [['-t', 'x'], /a message/],
    [['-m', 'x'], /topic/],
    [['-t', 'x', '-m', 'a', '-n'], /only one of/],
    [['-t', 'a/#', '-m', 'x'], /invalid publish topic/],
    [['-t', 'x', '-m', 'y', '-q', '3'], /qos/],
    [['-t', 'x', '-m', 'y', '-V', '7'], /mqttv5/],
    [['-t', 'x', '-m', 'y', '-V', 'mqttv31'], /MQTT 3\.1 is not supported/],
    [['-t', 'x', '-m', 'y', '-c'], /client id/],
    [['-t', 'x', '-m', 'y', '-P', 'secret'], /-P needs -u/],
    [['-t', 'x', '-m', 'y', '-k', '3'], /keepalive/],
    [['-t', 'x', '-m', 'y', '-D', 'publish', 'user-property', 'k', 'v'], /need MQTT 5/],
    [['-t', 'x', '-m', 'y', '-V', '5', '-D', 'publish', 'no-such', '1'], /unknown property/],
    [['-t', 'x', '-m', 'y', '-V', '5', '-D', 'subscribe', 'user-property', 'a', 'b'], /must be one of/],
    [['-t', 'x', '-m', 'y', '-V', '5', '-D', 'publish', 'message-expiry-interval', 'soon'], /integer/],
    [['-t', 'x', '-m', 'y', '--cert', 'c.pem'], /--cert and --key/],
    [['-t', 'x', '-m', 'y', '--will-payload', 'p'], /--will-topic/],
    [['-t', 'x', '-m', 'y', '--no-such-flag'], /unknown option/],
    [['-t', 'x', '-m', 'y', '-L', 'http://h/x'], /mqtt, mqtts, ws or wss/],
  ];
  for (const [args, pattern] of bad) {
    void it(`\`fennec pub ${args.join(' ')}\`: one line, exit code ${ExitCode.Usage}`, async () => {
      assertOneLineError(await fennec(['pub', '-p', '1', ...args]).exited, ExitCode.Usage, pattern);
    });
  }

  void it('an unreadable -f file: one line naming it, exit code 66', async () => {
    const ended = await fennec(['pub', ...server, '-t', 'x', '-f', join(dir, 'missing.bin')]).exited;
    assertOneLineError(ended, ExitCode.NoInput, /missing\.bin/);
  });

  void it('an unreachable broker: one line naming the address, exit code 1 (as mosquitto_pub)', async () => {
    const ended = await fennec(['pub', '-h', '127.0.0.1', '-p', '1', '-t', 'x', '-m', 'y']).exited;
    assertOneLineError(ended, 1, /127\.0\.0\.1:1.*ECONNREFUSED/);
  });

  for (const [v, code] of [
    [VERSIONS[0], 4],
    [VERSIONS[1], 0x86],
  ] as const) {
    void it(`a CONNACK refusal exits with its reason code: ${code} over MQTT ${v.name} (as mosquitto_pub)`, async () => {
      const ended = await fennec(['pub', ...server, '-V', v.flag, '-u', 'refused', '-P', 'x', '-t', 'x', '-m', 'y'])
        .exited;
      assertOneLineError(ended, code, /refused the connection/);
    });
  }
});
