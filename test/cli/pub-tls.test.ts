// `fennec pub` over TLS as a user runs it, against Fennec brokers with TLS listeners in this
// process on free ports; certificates are made with the `openssl` command (Debian package openssl).
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Broker } from '../../src/broker/broker.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { findProgram, requireProgram } from '../interop/support.js';
import { assertOneLineError, fennec, killAll, succeeds } from './mqtt-cli.js';

after(() => killAll());

void describe('fennec pub over TLS', () => {
  let certs: TestCertificates | undefined;
  let tlsPort = 0;
  let tlsBroker: Broker | undefined;

  before(async () => {
    if (findProgram('openssl') === undefined) return;
    certs = makeTestCertificates();
    tlsBroker = new Broker({
      host: '127.0.0.1',
      port: 0,
      tls: { port: 0, certFile: certs.server.cert, keyFile: certs.server.key },
    });
    const address = await tlsBroker.listen();
    tlsPort = address.tls?.port ?? 0;
  });

  after(async () => {
    await tlsBroker?.close();
    certs?.remove();
  });

  function need(t: TestContext): TestCertificates | undefined {
    if (!requireProgram(t, 'openssl', 'openssl')) return undefined;
    assert.ok(certs !== undefined);
    return certs;
  }

  void it('--cafile connects over TLS (port given) and publishes; without it the certificate does not verify: exit 1', async (t) => {
    const c = need(t);
    if (c === undefined || tlsBroker === undefined) return;
    const received = new Promise<string>((resolve) =>
      tlsBroker!.on('published', (m) => m.topic === 'tls/x' && resolve(m.payload.toString())),
    );
    const tls = ['-h', '127.0.0.1', '-p', String(tlsPort), '-t', 'tls/x', '-m', 'sealed', '-q', '1'];
    await succeeds(fennec(['pub', ...tls, '--cafile', c.ca.cert]), 'pub --cafile');
    assert.equal(await received, 'sealed');
    const untrusted = await fennec(['pub', '-L', `mqtts://127.0.0.1:${tlsPort}/tls/x`, '-m', 'sealed']).exited;
    assertOneLineError(untrusted, 1, /certificate/);
  });

  void it('--capath trusts the CA certificates of a directory', async (t) => {
    const c = need(t);
    if (c === undefined) return;
    const capath = join(c.dir, 'capath');
    mkdirSync(capath);
    copyFileSync(c.ca.cert, join(capath, 'ca.pem'));
    const args = ['pub', '-h', '127.0.0.1', '-p', String(tlsPort), '--capath', capath, '-t', 'tls/z', '-m', 'z'];
    await succeeds(fennec(args), 'pub --capath');
  });

  void it('--cert and --key present a client certificate to a broker that requires one; without them: exit 1', async (t) => {
    const c = need(t);
    if (c === undefined) return;
    const mutual = new Broker({
      host: '127.0.0.1',
      port: 0,
      tls: {
        port: 0,
        certFile: c.server.cert,
        keyFile: c.server.key,
        caFile: c.ca.cert,
        requireClientCertificate: true,
      },
    });
    const address = await mutual.listen();
    t.after(() => mutual.close());
    const subject = new Promise<string | undefined>((resolve) =>
      mutual.on('clientConnected', (client) => resolve(client.certificate?.subject['CN'])),
    );
    const args = [
      'pub',
      '-h',
      '127.0.0.1',
      '-p',
      String(address.tls?.port),
      '--cafile',
      c.ca.cert,
      '-t',
      'm/x',
      '-m',
      'x',
    ];
    await succeeds(fennec([...args, '--cert', c.client.cert, '--key', c.client.key]), 'pub --cert --key');
    assert.equal(await subject, 'sensor-1');
    assert.equal((await fennec(args).exited).code, 1);
  });

  void it('--tls-version holds the handshake to one version: tlsv1.2 fails against a TLS 1.3-only broker, tlsv1.3 works', async (t) => {
    const c = need(t);
    if (c === undefined) return;
    const modern = new Broker({
      host: '127.0.0.1',
      port: 0,
      tls: { port: 0, certFile: c.server.cert, keyFile: c.server.key, minVersion: 'TLSv1.3' },
    });
    const address = await modern.listen();
    t.after(() => modern.close());
    const args = [
      'pub',
      '-h',
      '127.0.0.1',
      '-p',
      String(address.tls?.port),
      '--cafile',
      c.ca.cert,
      '-t',
      'v/x',
      '-m',
      'x',
    ];
    assertOneLineError(await fennec([...args, '--tls-version', 'tlsv1.2']).exited, 1, /version|protocol|alert/i);
    await succeeds(fennec([...args, '--tls-version', 'tlsv1.3']), 'pub --tls-version tlsv1.3');
  });

  void it('-h localhost fails the host name check (the certificate names 127.0.0.1) unless --insecure', async (t) => {
    const c = need(t);
    if (c === undefined) return;
    const args = ['pub', '-h', 'localhost', '-p', String(tlsPort), '--cafile', c.ca.cert, '-t', 'tls/y', '-m', 'z'];
    assertOneLineError(await fennec(args).exited, 1, /localhost|altnames|certificate/i);
    await succeeds(fennec([...args, '--insecure']), 'pub --insecure');
  });
});
