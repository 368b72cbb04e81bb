// Moving from Mosquitto, as a user would: `fennec check-config` reads the files a configuration names
// (so `ok` means the broker starts) and names the absolute path of one that fails; `fennec
// import-config` turns a mosquitto.conf into a Fennec file; and a real Mosquitto setup (listener,
// password file from mosquitto_passwd, ACL, persistence) imported, checked and served by `fennec broker`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ExitCode } from '../../src/cli/errors.js';
import { fennecBin as fennec } from '../helpers/cli.js';
import { ClientPool, killAllPrograms, requireProgram, withTimeout } from '../interop/support.js';

const PROCESS_TIMEOUT_MS = 15_000;
/** `alice:wonderland`, as mosquitto_passwd 2.0.11 writes it ($7$, PBKDF2-SHA512). */
const ALICE =
  'alice:$7$101$GQkLkP0ARABV7/jh$7Kohv+++zHFh0rYvQ6MbUv0vzvTWTRrhgb0Ia3IC+4Tib1NFNYKDCbJ1qZ9zpuYHnSEUApRYugaSYNuX0cS/Dg==';

/** The environment without FENNEC_* settings: the configuration file alone decides. */
const environment: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([name]) => !name.startsWith('FENNEC_')),
);

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fennec-migration-'));
});
after(async () => {
  await killAllPrograms();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `program ...args` in `cwd` to its end. */
function run(program: string, args: readonly string[], cwd = dir): Promise<Result> {
  const child = spawn(program, args, {
    cwd,
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: PROCESS_TIMEOUT_MS,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const fennecRun = (args: readonly string[], cwd = dir): Promise<Result> =>
  run(process.execPath, [fennec, ...args], cwd);

/** A fresh directory under the test directory, with `files` written in it. */
let serial = 0;
function workspace(files: Record<string, string>): string {
  const path = join(dir, `case-${++serial}`);
  mkdirSync(path);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(path, name), text);
  return path;
}

/** A self-signed certificate and its key (cert.pem, key.pem) in `where`, made by openssl. */
async function makeCertificate(where: string): Promise<void> {
  const made = await run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
    ],
    where,
  );
  assert.equal(made.code, 0, made.stderr);
}

/** The lines of `stderr`. */
const linesOf = (text: string): string[] => text.split('\n').filter((line) => line !== '');

void describe('fennec check-config reads the files the configuration names', () => {
  const config = [
    'password_file: passwords',
    'acl_file: acl',
    'tls:',
    '  port: 0',
    '  cert_file: cert.pem',
    '  key_file: key.pem',
    '  ca_file: cert.pem',
    '',
  ].join('\n');

  void it('prints ok when the password file, ACL, certificate, key and CA all load', async (t) => {
    if (!requireProgram(t, 'openssl', 'openssl')) return;
    const where = workspace({
      'fennec.yaml': config,
      passwords: `${ALICE}\n`,
      acl: 'user alice\ntopic readwrite alice/#\n',
    });
    await makeCertificate(where);
    const result = await fennecRun(['check-config', 'fennec.yaml'], where);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'fennec.yaml: ok\n');
  });

  void it(`fails on a missing key file with exit code ${ExitCode.Config}, showing the absolute path tried`, async (t) => {
    if (!requireProgram(t, 'openssl', 'openssl')) return;
    const where = workspace({
      'fennec.yaml': config.replace('key_file: key.pem', 'key_file: keys/missing.pem'),
      passwords: `${ALICE}\n`,
      acl: 'topic a\n',
    });
    await makeCertificate(where);
    const result = await fennecRun(['check-config', 'fennec.yaml'], where);
    assert.equal(result.code, ExitCode.Config);
    assert.deepEqual(linesOf(result.stderr), [
      `fennec: fennec.yaml: tls.key_file: cannot read the TLS private key file ${join(where, 'keys/missing.pem')}: no such file`,
    ]);
    assert.equal(result.stdout, '');
  });

  void it('fails on a bad ACL line and a bad password file, one line each with the absolute path and line', async () => {
    const where = workspace({
      'fennec.yaml': 'password_file: passwords\nacl_file: ./acl\n',
      passwords: '# users\nalice:plain-text\n',
      acl: 'user alice\ntopic rw alice/#\n',
    });
    const result = await fennecRun(['check-config', 'fennec.yaml'], where);
    assert.equal(result.code, ExitCode.Config);
    const lines = linesOf(result.stderr);
    assert.equal(lines.length, 2, result.stderr);
    assert.ok(
      lines[0]!.startsWith(
        `fennec: fennec.yaml: password_file: ${join(where, 'passwords')}:2: user alice: the hash must read`,
      ),
      lines[0],
    );
    assert.ok(
      lines[1]!.startsWith(`fennec: fennec.yaml: acl_file: ${join(where, 'acl')}:2: unknown access keyword "rw"`),
      lines[1],
    );
  });

  void it('fails on a missing password file and a missing ACL file, naming each absolute path (a relative one resolved against the file directory)', async () => {
    const where = workspace({ 'fennec.yaml': 'password_file: nowhere/pw\nacl_file: /nonexistent/acl\n' });
    const result = await fennecRun(['check-config', join(where, 'fennec.yaml')], dir);
    assert.equal(result.code, ExitCode.Config);
    assert.deepEqual(linesOf(result.stderr), [
      `fennec: ${join(where, 'fennec.yaml')}: password_file: ${join(where, 'nowhere/pw')}: cannot read the password file: no such file`,
      `fennec: ${join(where, 'fennec.yaml')}: acl_file: /nonexistent/acl: cannot read the ACL file: no such file`,
    ]);
  });
  void it('fails on the files a listener names, each with its listeners[index] key and absolute path', async () => {
    const where = workspace({
      'fennec.yaml': [
        'listeners:',
        '  - { protocol: mqtt, port: 1883 }',
        '  - { protocol: wss, port: 8443, cert_file: certs/server.pem, key_file: certs/server.key, acl_file: listener.acl }',
        '',
      ].join('\n'),
      'listener.acl': 'topic raed sensors/#\n',
    });
    const result = await fennecRun(['check-config', 'fennec.yaml'], where);
    assert.equal(result.code, ExitCode.Config);
    const lines = linesOf(result.stderr);
    assert.equal(lines.length, 2, result.stderr);
    assert.ok(
      lines[0]!.startsWith(`fennec: fennec.yaml: listeners[1].acl_file: ${join(where, 'listener.acl')}:1: `),
      lines[0],
    );
    assert.ok(
      lines[1]!.startsWith(
        `fennec: fennec.yaml: listeners[1].cert_file: cannot read the TLS certificate file ${join(where, 'certs/server.pem')}`,
      ),
      lines[1],
    );
  });
  void it('fails on a data_dir that is a file, naming its absolute path, and creates nothing', async () => {
    const where = workspace({ 'fennec.yaml': 'data_dir: store/db\n', store: 'not a directory\n' });
    const result = await fennecRun(['check-config', 'fennec.yaml'], where);
    assert.equal(result.code, ExitCode.Config);
    assert.deepEqual(linesOf(result.stderr), [
      `fennec: fennec.yaml: data_dir: ${join(where, 'store')} is not a directory`,
    ]);
    const fine = workspace({ 'fennec.yaml': 'data_dir: new/dir\n' });
    assert.equal((await fennecRun(['check-config', 'fennec.yaml'], fine)).code, 0);
    assert.equal(existsSync(join(fine, 'new')), false, 'check-config creates no directory');
  });
});

void describe('fennec import-config', () => {
  void it('prints the Fennec YAML on stdout, and exits 66 naming a missing file', async () => {
    const where = workspace({ 'mosquitto.conf': 'listener 1884\nallow_anonymous true\nautosave_interval 60\n' });
    const result = await fennecRun(['import-config', 'mosquitto.conf'], where);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.deepEqual(parse(result.stdout), { host: '0.0.0.0', port: 1884, allow_anonymous: true });
    assert.match(result.stdout, /^# not translated: line 3: autosave_interval 60: /m);
    const missing = await fennecRun(['import-config', 'none.conf'], where);
    assert.equal(missing.code, ExitCode.NoInput);
    assert.deepEqual(linesOf(missing.stderr), [`fennec: ${join(where, 'none.conf')}: cannot read: no such file`]);
    assert.equal((await fennecRun(['import-config'], where)).code, ExitCode.Usage);
  });
});

void describe('a Mosquitto setup moved to Fennec', () => {
  let url = '';
  const pool = new ClientPool(() => url);
  after(() => pool.closeAll());

  void it('imports mosquitto.conf, passes check-config, and serves its users, ACL and persistence', async (t) => {
    if (!requireProgram(t, 'mosquitto_passwd', 'mosquitto')) return;
    const where = workspace({
      'mosquitto.conf': [
        'per_listener_settings false',
        'persistence true',
        'persistence_location data/',
        'autosave_interval 1800',
        'allow_anonymous false',
        'password_file passwd',
        'acl_file acl',
        'max_queued_messages 100',
        'listener 0 127.0.0.1',
        '',
      ].join('\n'),
      acl: '# Mosquitto ACL\nuser alice\ntopic readwrite alice/#\ntopic read public/#\n',
    });
    assert.equal((await run('mosquitto_passwd', ['-c', '-b', 'passwd', 'alice', 'wonderland'], where)).code, 0);
    const imported = await fennecRun(['import-config', 'mosquitto.conf'], where);
    assert.equal(imported.code, 0, imported.stderr);
    writeFileSync(join(where, 'fennec.yaml'), imported.stdout);
    const checked = await fennecRun(['check-config', 'fennec.yaml'], where);
    assert.equal(checked.code, 0, checked.stderr);

    // The broker resolves the file's relative paths from its working directory, as Mosquitto does.
    const child = spawn(process.execPath, [fennec, 'broker', '--config', 'fennec.yaml'], {
      cwd: where,
      env: environment,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const listening = new Promise<string>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const match = /listening (mqtt:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match !== null) resolve(match[1]!);
      });
    });
    url = await withTimeout(listening, PROCESS_TIMEOUT_MS, `the listening line (stderr: ${stderr})`);

    const { client, inbox } = await pool.connect({
      clientId: 'alice',
      username: 'alice',
      password: 'wonderland',
      protocolVersion: 5,
    });
    await client.subscribeAsync('alice/#', { qos: 1 });
    await client.publishAsync('alice/hello', 'hi', { qos: 1 });
    const [message] = await inbox.waitFor(1);
    assert.equal(message?.topic, 'alice/hello');
    const refused = await client.publishAsync('public/news', 'no', { qos: 1 }).then(
      (packet) => (packet as { reasonCode?: number } | undefined)?.reasonCode,
      (err: unknown) => (err as { code?: number }).code,
    );
    assert.equal(refused, 0x87, 'the ACL gives alice read access only to public/#');
    const wrong = await pool
      .connect({ clientId: 'mallory', username: 'alice', password: 'nope', protocolVersion: 4 })
      .then(
        () => assert.fail('a wrong password was accepted'),
        (err: unknown) => (err as { code?: number }).code,
      );
    assert.equal(wrong, 4);
    await pool.closeAll();
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, stderr);
    // persistence true, persistence_location data/: the SQLite store is there.
    assert.ok((await run('ls', ['data'], where)).stdout.includes('fennec.db'));
  });
});
