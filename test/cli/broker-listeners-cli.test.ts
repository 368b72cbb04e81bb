// `fennec broker` with several listeners, as a user runs it (`node bin/fennec.js` in a child process):
// `--ws-port`, a `listeners:` list with per-listener auth files given as paths relative to the
// configuration file, the flag --port refused next to a list, and relative paths of flags resolved
// against the working directory.
import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { hashPassword } from '../../src/auth/password-file.js';
import { ExitCode } from '../../src/cli/errors.js';
import { temporaryConfigFiles } from '../helpers/config-files.js';
import { cliEnvironment as environment, fennecBin as fennec } from '../helpers/cli.js';
import { killAllPrograms, Inbox, runProgram, WAIT_MS, type RunningProcess } from '../interop/support.js';

const PROCESS_TIMEOUT_MS = 15_000;
const files = temporaryConfigFiles('fennec-listeners-cli-');

after(() => killAllPrograms());

/** Runs `fennec ARGS` from the working directory `cwd`, so that relative paths are tested from elsewhere. */
function fennecIn(cwd: string, args: string[], env: NodeJS.ProcessEnv = environment): RunningProcess {
  const quoted = [process.execPath, fennec, ...args].map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
  return runProgram('/bin/sh', ['-c', `cd '${cwd}' && exec ${quoted}`], PROCESS_TIMEOUT_MS, env);
}

/** Reads `count` listening lines; returns the URLs. */
async function listeningUrls(running: RunningProcess, count: number): Promise<string[]> {
  const lines = await running.waitForLines(count);
  return lines.map((line) => {
    const match = /^fennec listening (\S+)$/.exec(line);
    assert.ok(match, `unexpected line ${line}; stderr: ${running.stderr()}`);
    return match[1]!;
  });
}

/** Connects MQTT.js; ended after the test. */
async function connectTo(t: TestContext, url: string, options: mqtt.IClientOptions = {}) {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: WAIT_MS, ...options });
  t.after(() => client.endAsync(true));
  return { client, inbox: new Inbox(client) };
}

void describe('fennec broker with several listeners', () => {
  void it('--ws-port adds a WebSocket listener and prints a listening line for each, and MQTT.js crosses them', async (t) => {
    const running = fennecIn(files.directory(), ['broker', '--port', '0', '--ws-port', '0']);
    const urls = await listeningUrls(running, 2);
    assert.match(urls[0] ?? '', /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    assert.match(urls[1] ?? '', /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    const web = await connectTo(t, urls[1]!);
    await web.client.subscribeAsync('cli/#', { qos: 1 });
    const tcp = await connectTo(t, urls[0]!);
    await tcp.client.publishAsync('cli/x', 'over tcp', { qos: 1 });
    const [message] = await web.inbox.waitFor(1);
    assert.equal(message?.payload, 'over tcp');
    running.child.kill('SIGTERM');
    assert.equal((await running.exited).code, 0);
  });

  void it('applies per-listener allow_anonymous, password_file and acl_file, found next to the configuration file', async (t) => {
    const dir = join(files.directory(), 'per-listener');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'web-users'), `alice:${await hashPassword('wonderland')}\n`);
    writeFileSync(join(dir, 'web.acl'), 'user alice\ntopic readwrite web/#\n');
    writeFileSync(join(dir, 'top.acl'), 'topic readwrite #\n');
    writeFileSync(
      join(dir, 'fennec.yaml'),
      [
        'acl_file: top.acl',
        'allow_anonymous: false',
        'listeners:',
        '  - name: devices',
        '    protocol: mqtt',
        '    port: 0',
        '    allow_anonymous: true',
        '  - name: browsers',
        '    protocol: ws',
        '    port: 0',
        '    password_file: web-users',
        '    acl_file: web.acl',
      ].join('\n') + '\n',
    );
    // Run from another directory: the files are found next to the configuration file all the same
    const running = fennecIn(files.directory(), ['broker', '--config', join(dir, 'fennec.yaml')]);
    const [devices, browsers] = await listeningUrls(running, 2);
    assert.match(browsers ?? '', /^ws:\/\//);

    // devices: anonymous admitted, and the top level ACL lets it do anything
    const device = await connectTo(t, devices!, { protocolVersion: 5 });
    await device.client.subscribeAsync('#', { qos: 1 });
    // browsers: anonymous refused, a wrong password refused, alice admitted
    await assert.rejects(mqtt.connectAsync(browsers!, { reconnectPeriod: 0, protocolVersion: 5 }), /Not authorized/i);
    await assert.rejects(
      mqtt.connectAsync(browsers!, { reconnectPeriod: 0, protocolVersion: 5, username: 'alice', password: 'nope' }),
      /Bad User Name or Password/i,
    );
    const alice = await connectTo(t, browsers!, { protocolVersion: 5, username: 'alice', password: 'wonderland' });
    // and her listener's ACL, not the top level's, decides what she may publish
    await alice.client.publishAsync('web/hello', 'from alice', { qos: 1 });
    await assert.rejects(alice.client.publishAsync('elsewhere', 'refused', { qos: 1 }), /135|Not authorized/i);
    const [message] = await device.inbox.waitFor(1);
    assert.deepEqual([message?.topic, message?.payload], ['web/hello', 'from alice']);
    running.child.kill('SIGTERM');
    assert.equal((await running.exited).code, 0);
  });

  void it("re-reads a listener's own password file on SIGHUP", async (t) => {
    const dir = join(files.directory(), 'reload');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'users'), `alice:${await hashPassword('first')}\n`);
    writeFileSync(
      join(dir, 'fennec.yaml'),
      ['listeners:', '  - protocol: ws', '    port: 0', '    password_file: users', ''].join('\n'),
    );
    const running = fennecIn(files.directory(), ['broker', '--config', join(dir, 'fennec.yaml')]);
    const [url] = await listeningUrls(running, 1);
    await connectTo(t, url!, { username: 'alice', password: 'first' });
    writeFileSync(join(dir, 'users'), `alice:${await hashPassword('second')}\n`);
    running.child.kill('SIGHUP');
    // The reload is asynchronous: try until the new password is the one that works
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      try {
        await connectTo(t, url!, { username: 'alice', password: 'second' });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    await assert.rejects(
      mqtt.connectAsync(url!, { reconnectPeriod: 0, username: 'alice', password: 'first' }),
      /Bad username or password/i,
    );
    running.child.kill('SIGTERM');
    assert.equal((await running.exited).code, 0);
  });

  void it('refuses --port when the configuration file lists its listeners (exit 2)', async () => {
    const config = files.write(['listeners:', '  - protocol: mqtt', '    port: 0']);
    const result = await fennecIn(files.directory(), ['broker', '--port', '1884', '--config', config]).exited;
    assert.equal(result.code, ExitCode.Usage);
    assert.match(result.stderr, /^fennec: --port sets the short form's one listener, but .* lists its listeners/m);
  });

  void it('reports a bad listener with its file, line and key (exit 78)', async () => {
    const config = files.write(['listeners:', '  - protocol: wss', '    port: 0', '    path: /mqtt']);
    const result = await fennecIn(files.directory(), ['broker', '--config', config]).exited;
    assert.equal(result.code, ExitCode.Config);
    assert.match(result.stderr, /config-\d+\.yaml:2:5: listeners\[0\]\.cert_file: is required for a wss listener/);
  });

  void it('keeps the store in data_dir next to the configuration file, and --data-dir in the working directory', async () => {
    const dir = join(files.directory(), 'stores');
    const elsewhere = join(files.directory(), 'cwd');
    mkdirSync(dir, { recursive: true });
    mkdirSync(elsewhere, { recursive: true });
    writeFileSync(join(dir, 'fennec.yaml'), 'data_dir: from-file\npersistence: sqlite\nport: 0\n');
    const env = { ...environment, FENNEC_PERSISTENCE: '' };
    const fromFile = fennecIn(elsewhere, ['broker', '--config', join(dir, 'fennec.yaml')], env);
    await listeningUrls(fromFile, 1);
    fromFile.child.kill('SIGTERM');
    assert.equal((await fromFile.exited).code, 0);
    assert.ok(existsSync(join(dir, 'from-file', 'fennec.db')), 'the store is next to the configuration file');
    assert.ok(!existsSync(join(elsewhere, 'from-file')), 'not in the working directory');

    const fromFlag = fennecIn(
      elsewhere,
      ['broker', '--port', '0', '--data-dir', 'from-flag', '--config', join(dir, 'fennec.yaml')],
      env,
    );
    await listeningUrls(fromFlag, 1);
    fromFlag.child.kill('SIGTERM');
    assert.equal((await fromFlag.exited).code, 0);
    assert.ok(existsSync(join(elsewhere, 'from-flag', 'fennec.db')), 'the flag is relative to the working directory');
  });
});
