// `fennec broker --config` with a `tls:` section, as a user runs it: `node bin/fennec.js` in a child
// process. Certificates are made with the `openssl` command (Debian package openssl).
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { ExitCode } from '../../src/cli/errors.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { waitUntil } from '../helpers/broker.js';
import {
  ClientPool,
  findProgram,
  killAllPrograms,
  requireProgram,
  runProgram,
  withTimeout,
  WAIT_MS,
  type RunningProcess,
} from '../interop/support.js';
import { cliEnvironment as environment, fennecBin as fennec } from '../helpers/cli.js';

/** Longest a `fennec` process may run in these tests before it is killed, in ms. */
const PROCESS_TIMEOUT_MS = 15_000;

/** The environment without FENNEC_* variables, which the broker command would read as settings. */
// Without FENNEC_* settings, and in memory: these tests are not about the store (test/persistence is).

let certs: TestCertificates | undefined;
let configCount = 0;

before(() => {
  if (findProgram('openssl') !== undefined) certs = makeTestCertificates();
});

after(async () => {
  await killAllPrograms();
  certs?.remove();
});

function needCertificates(t: TestContext): TestCertificates | undefined {
  if (!requireProgram(t, 'openssl', 'openssl')) return undefined;
  assert.ok(certs !== undefined, 'the certificates were made in before()');
  return certs;
}

/** Writes a configuration file with a `tls:` section on free ports; returns its path. */
function writeConfig(c: TestCertificates, tls: Record<string, string | number | boolean>): string {
  const path = join(c.dir, `fennec-${++configCount}.yaml`);
  const lines = ['port: 0', 'log_level: info', 'tls:', '  port: 0'];
  for (const [key, value] of Object.entries(tls)) lines.push(`  ${key}: ${JSON.stringify(value)}`);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** The SHA-256 fingerprint of the certificate the TLS listener on `port` presents. */
function presentedFingerprint(port: number, ca: Buffer): Promise<string> {
  return withTimeout(
    new Promise<string>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca }, () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.destroy();
      });
      socket.once('error', reject);
    }),
    WAIT_MS,
    `a TLS handshake with port ${port}`,
  );
}

/** Starts `fennec broker --config FILE` and reads both `listening` lines. */
async function startBrokerCommand(config: string): Promise<{ process: RunningProcess; port: number; tlsPort: number }> {
  const running = runProgram(process.execPath, [fennec, 'broker', '--config', config], PROCESS_TIMEOUT_MS, environment);
  const [plain, secure] = await running.waitForLines(2);
  const tcp = /^fennec listening mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(plain ?? '');
  const tls = /^fennec listening mqtts:\/\/127\.0\.0\.1:(\d+)$/.exec(secure ?? '');
  assert.ok(tcp && tls, `unexpected lines: ${plain} / ${secure}`);
  return { process: running, port: Number(tcp[1]), tlsPort: Number(tls[1]) };
}

void describe('fennec broker with a tls: section', () => {
  let url = '';
  const pool = new ClientPool(() => url);
  after(() => pool.closeAll());

  void it('prints `listening mqtts://127.0.0.1:PORT` after the mqtt:// line and serves MQTT over TLS there', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const { process: broker, tlsPort } = await startBrokerCommand(
      writeConfig(c, { cert_file: c.server.cert, key_file: c.server.key }),
    );
    url = `mqtts://127.0.0.1:${tlsPort}`;
    const { client, inbox } = await pool.connect({ clientId: 'cli-tls', ca: readFileSync(c.ca.cert) });
    await client.subscribeAsync('cli/tls', { qos: 1 });
    await client.publishAsync('cli/tls', 'secure hello', { qos: 1 });
    const [message] = await inbox.waitFor(1);
    assert.equal(message?.payload, 'secure hello');
    await pool.end(client);
    broker.child.kill('SIGTERM');
    const result = await broker.exited;
    assert.equal(result.code, ExitCode.Ok, result.stderr);
  });

  void it('on SIGHUP serves a renewed certificate to new connections, keeps open ones, and keeps it when a file turns bad', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const certFile = join(c.dir, 'cli-reload.pem');
    const keyFile = join(c.dir, 'cli-reload.key');
    copyFileSync(c.server.cert, certFile);
    copyFileSync(c.server.key, keyFile);
    const { process: broker, tlsPort } = await startBrokerCommand(
      writeConfig(c, { cert_file: certFile, key_file: keyFile }),
    );
    const ca = readFileSync(c.ca.cert);
    const original = new X509Certificate(readFileSync(c.server.cert)).fingerprint256;
    const renewed = new X509Certificate(readFileSync(c.renewedServer.cert)).fingerprint256;
    assert.equal(await presentedFingerprint(tlsPort, ca), original);
    url = `mqtts://127.0.0.1:${tlsPort}`;
    const open = await pool.connect({ clientId: 'cli-before-hup', ca });
    await open.client.subscribeAsync('hup/#', { qos: 1 });

    copyFileSync(c.renewedServer.cert, certFile);
    copyFileSync(c.renewedServer.key, keyFile);
    broker.child.kill('SIGHUP');
    await waitUntil(() => broker.stderr().includes('TLS certificate reloaded'), 'the reload is logged', WAIT_MS);
    assert.equal(await presentedFingerprint(tlsPort, ca), renewed);
    const fresh = await pool.connect({ clientId: 'cli-after-hup', ca });
    await fresh.client.publishAsync('hup/check', 'across the reload', { qos: 1 });
    const [message] = await open.inbox.waitFor(1);
    assert.equal(message?.payload, 'across the reload');

    writeFileSync(keyFile, 'not a key\n');
    broker.child.kill('SIGHUP');
    await waitUntil(() => broker.stderr().includes('TLS reload failed'), 'the failed reload is logged', WAIT_MS);
    assert.ok(broker.stderr().includes(keyFile), 'the log names the bad file');
    assert.equal(await presentedFingerprint(tlsPort, ca), renewed, 'the renewed certificate stays in use');
    assert.equal(broker.child.exitCode, null, 'the broker is still running');
    await pool.end(open.client);
    await pool.end(fresh.client);
    broker.child.kill('SIGTERM');
    assert.equal((await broker.exited).code, ExitCode.Ok);
  });

  void it(`reports a missing certificate file in one line naming tls.cert_file and the file, with exit code ${ExitCode.Config}`, async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const missing = join(c.dir, 'no-such-cert.pem');
    const config = writeConfig(c, { cert_file: missing, key_file: c.server.key });
    const result = await runProgram(
      process.execPath,
      [fennec, 'broker', '--config', config],
      PROCESS_TIMEOUT_MS,
      environment,
    ).exited;
    assert.equal(result.code, ExitCode.Config, result.stderr);
    const lines = result.stderr.split('\n').filter((line) => line.length > 0);
    assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
    assert.ok(lines[0]!.includes(`${config}: tls.cert_file:`), lines[0]);
    assert.ok(lines[0]!.includes(missing), lines[0]);
    assert.match(lines[0]!, /no such file/);
    assert.equal(result.stdout, '', 'nothing listened');
  });

  void it(`reports a cipher list OpenSSL refuses in one line naming the file and the list, with exit code ${ExitCode.Config}`, async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const config = writeConfig(c, { cert_file: c.server.cert, key_file: c.server.key, ciphers: 'NO-SUCH-CIPHER' });
    const result = await runProgram(
      process.execPath,
      [fennec, 'broker', '--config', config],
      PROCESS_TIMEOUT_MS,
      environment,
    ).exited;
    assert.equal(result.code, ExitCode.Config, result.stderr);
    const lines = result.stderr.split('\n').filter((line) => line.length > 0);
    assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
    assert.ok(lines[0]!.includes(`${config}: tls: `), lines[0]);
    assert.ok(lines[0]!.includes('NO-SUCH-CIPHER'), lines[0]);
    assert.equal(result.stdout, '');
  });
});
