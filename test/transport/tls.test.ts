// The TLS listener (mqtts://) and mutual TLS, against a real broker on loopback: certificates are
// made with the `openssl` command (Debian package openssl) in a temporary directory before the tests.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { Writable } from 'node:stream';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { pino, type Logger } from 'pino';
import type { IClientOptions } from 'mqtt';
import { Broker } from '../../src/broker/broker.js';
import type { AuthenticateRequest, ClientInfo } from '../../src/broker/hooks.js';
import type { BrokerOptions, TlsOptions } from '../../src/broker/options.js';
import { FennecError } from '../../src/errors/index.js';
import { TlsFileError } from '../../src/transport/tls.js';
import { makeTestCertificates, type KeyPair, type TestCertificates } from '../helpers/certificates.js';
import { VERSIONS, waitUntil } from '../helpers/broker.js';
import {
  ClientPool,
  findProgram,
  killAllPrograms,
  requireProgram,
  runProgram,
  waitForBrokerEvent,
  withTimeout,
  WAIT_MS,
} from '../interop/support.js';

const versionName = (version: 4 | 5): string => (version === 5 ? 'MQTT 5.0' : 'MQTT 3.1.1');

/** The certificates, made once openssl is known to be there. */
let certs: TestCertificates | undefined;

before(() => {
  if (findProgram('openssl') !== undefined) certs = makeTestCertificates();
});

after(async () => {
  await killAllPrograms();
  certs?.remove();
});

/** The certificates, or undefined when openssl is missing (the test then fails under CI, else is skipped). */
function needCertificates(t: TestContext): TestCertificates | undefined {
  if (!requireProgram(t, 'openssl', 'openssl')) return undefined;
  assert.ok(certs !== undefined, 'the certificates were made in before()');
  return certs;
}

/** A pino logger that keeps every line it writes, as parsed JSON. */
function capturingLogger(): { logger: Logger; lines: { msg?: string; err?: string }[] } {
  const lines: { msg?: string; err?: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as never);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/** Brokers of one test, closed after it. */
async function startTlsBroker(
  t: TestContext,
  tls: Omit<TlsOptions, 'certFile' | 'keyFile'> & Partial<Pick<TlsOptions, 'certFile' | 'keyFile'>>,
  server: KeyPair,
  options: BrokerOptions = {},
): Promise<{ broker: Broker; tlsPort: number; tcpPort: number }> {
  const broker = new Broker({
    host: '127.0.0.1',
    port: 0,
    ...options,
    tls: { port: 0, certFile: server.cert, keyFile: server.key, ...tls },
  });
  const address = await broker.listen();
  t.after(() => broker.close());
  assert.ok(address.tls !== undefined, 'listen() reports the TLS address');
  return { broker, tlsPort: address.tls.port, tcpPort: address.port };
}

/** MQTT.js options of a TLS client that trusts `ca` and presents `client` when given. */
function tlsClientOptions(ca: string, client?: KeyPair): IClientOptions {
  const options: IClientOptions = { ca: readFileSync(ca), rejectUnauthorized: true };
  if (client !== undefined) {
    options.cert = readFileSync(client.cert);
    options.key = readFileSync(client.key);
  }
  return options;
}

/** A raw TLS connection to 127.0.0.1:port; resolves once its handshake is done. */
function openTls(port: number, options: ConnectionOptions): Promise<TLSSocket> {
  return withTimeout(
    new Promise<TLSSocket>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ...options });
      socket.once('secureConnect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    }),
    WAIT_MS,
    `a TLS handshake with port ${port}`,
  );
}

function fingerprintOf(pem: string): string {
  return new X509Certificate(readFileSync(pem)).fingerprint256;
}

void describe('TLS listener', () => {
  let url = '';
  const pool = new ClientPool(() => url);
  after(() => pool.closeAll());

  for (const version of VERSIONS) {
    void it(`carries MQTT over TLS: an MQTT.js mqtts:// client receives what another publishes (${versionName(version)})`, async (t) => {
      const c = needCertificates(t);
      if (c === undefined) return;
      const { broker, tlsPort, tcpPort } = await startTlsBroker(t, {}, c.server);
      assert.deepEqual(broker.addresses, [
        { name: 'mqtt', transport: 'tcp', host: '127.0.0.1', port: tcpPort },
        { name: 'mqtts', transport: 'tls', host: '127.0.0.1', port: tlsPort },
      ]);
      url = `mqtts://127.0.0.1:${tlsPort}`;
      const options = { protocolVersion: version, ...tlsClientOptions(c.ca.cert) };
      const subscriber = await pool.connect({ ...options, clientId: `tls-sub-${version}` });
      const publisher = await pool.connect({ ...options, clientId: `tls-pub-${version}` });
      await subscriber.client.subscribeAsync('tls/+', { qos: 1 });
      await publisher.client.publishAsync('tls/a', 'sealed', { qos: 1 });
      const [message] = await subscriber.inbox.waitFor(1);
      assert.equal(message?.topic, 'tls/a');
      assert.equal(message?.payload, 'sealed');
      const connection = broker.clients.get(`tls-sub-${version}`);
      assert.equal(connection?.peer.localAddress, '127.0.0.1');
      assert.equal(connection?.peer.certificate, undefined, 'no CA for clients: no client certificate asked');
      await pool.end(subscriber.client);
      await pool.end(publisher.client);
    });
  }

  void it('is refused by a client that trusts another CA: the broker certificate fails verification', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const { broker, tlsPort } = await startTlsBroker(t, {}, c.server);
    url = `mqtts://127.0.0.1:${tlsPort}`;
    await assert.rejects(
      pool.connect({ clientId: 'wrong-ca', ...tlsClientOptions(c.otherCa.cert) }),
      (err: NodeJS.ErrnoException) => err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    );
    assert.equal(broker.clients.size, 0);
  });

  void it('leaves the plain TCP listener as it was and fills in its local address', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const { broker, tcpPort } = await startTlsBroker(t, {}, c.server);
    url = `mqtt://127.0.0.1:${tcpPort}`;
    const { client } = await pool.connect({ clientId: 'plain-next-to-tls' });
    const connection = broker.clients.get('plain-next-to-tls');
    assert.equal(connection?.peer.localAddress, '127.0.0.1');
    assert.equal(connection?.peer.certificate, undefined);
    await pool.end(client);
  });

  void it('with min_version TLSv1.3 refuses a TLSv1.2-only client and accepts a TLSv1.3 one', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const ca = readFileSync(c.ca.cert);
    const { tlsPort } = await startTlsBroker(t, { minVersion: 'TLSv1.3' }, c.server);
    await assert.rejects(openTls(tlsPort, { ca, maxVersion: 'TLSv1.2' }), (err: NodeJS.ErrnoException) =>
      /PROTOCOL_VERSION|VERSION/.test(String(err.code)),
    );
    const socket = await openTls(tlsPort, { ca, minVersion: 'TLSv1.3' });
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    socket.destroy();
  });

  void it('with ciphers accepts a TLSv1.2 client offering a listed cipher and refuses one offering only others', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const ca = readFileSync(c.ca.cert);
    const { tlsPort } = await startTlsBroker(t, { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }, c.server);
    await assert.rejects(
      openTls(tlsPort, { ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }),
      (err: NodeJS.ErrnoException) => /HANDSHAKE_FAILURE|NO_SHARED_CIPHER/.test(String(err.code)),
    );
    const socket = await openTls(tlsPort, { ca, maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' });
    assert.equal(socket.getCipher().standardName, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
    socket.destroy();
  });

  void it('closes a connection that never completes its TLS handshake after connectTimeoutMs', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const { tlsPort } = await startTlsBroker(t, {}, c.server, { connectTimeoutMs: 200 });
    const raw = createConnection(tlsPort, '127.0.0.1');
    raw.on('error', () => {});
    t.after(() => raw.destroy());
    await withTimeout(once(raw, 'close'), WAIT_MS, 'the broker closing a stalled handshake');
  });

  void it('close() ends connections still in their TLS handshake instead of waiting for them', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const broker = new Broker({
      host: '127.0.0.1',
      port: 0,
      connectTimeoutMs: 60_000,
      tls: { port: 0, certFile: c.server.cert, keyFile: c.server.key },
    });
    const address = await broker.listen();
    const raw = createConnection(address.tls?.port ?? 0, '127.0.0.1');
    raw.on('error', () => {});
    t.after(() => raw.destroy());
    await once(raw, 'connect');
    const closed = once(raw, 'close');
    await withTimeout(broker.close(), WAIT_MS, 'broker.close() with a handshake pending');
    await withTimeout(closed, WAIT_MS, 'the pending connection to close');
  });

  void it('accepts a TLSv1.2 client by default (min_version TLSv1.2)', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const { tlsPort } = await startTlsBroker(t, {}, c.server);
    const socket = await openTls(tlsPort, { ca: readFileSync(c.ca.cert), maxVersion: 'TLSv1.2' });
    assert.equal(socket.getProtocol(), 'TLSv1.2');
    socket.destroy();
  });
});

void describe('mutual TLS (require_client_certificate)', () => {
  let url = '';
  const pool = new ClientPool(() => url);
  after(() => pool.closeAll());

  /** A broker requiring client certificates from the test CA, logging what it refuses. */
  async function startMutual(
    t: TestContext,
    c: TestCertificates,
    extra: Partial<TlsOptions> = {},
    options: BrokerOptions = {},
  ): Promise<{ broker: Broker; lines: { msg?: string; err?: string }[] }> {
    const { logger, lines } = capturingLogger();
    const { broker, tlsPort } = await startTlsBroker(
      t,
      { caFile: c.ca.cert, requireClientCertificate: true, ...extra },
      c.server,
      { logger, ...options },
    );
    url = `mqtts://127.0.0.1:${tlsPort}`;
    return { broker, lines };
  }

  const refusals: { what: string; client: (c: TestCertificates) => KeyPair | undefined; reason: RegExp }[] = [
    { what: 'a client without a certificate', client: () => undefined, reason: /no client certificate/ },
    {
      what: 'a client certificate from another CA',
      client: (c) => c.otherClient,
      reason: /CN=intruder refused: UNABLE_TO_VERIFY_LEAF_SIGNATURE/,
    },
    {
      what: 'an expired client certificate',
      client: (c) => c.expiredClient,
      reason: /CN=expired-sensor refused: CERT_HAS_EXPIRED/,
    },
  ];
  for (const { what, client, reason } of refusals) {
    void it(`refuses ${what} before any MQTT packet, and logs why`, async (t) => {
      const c = needCertificates(t);
      if (c === undefined) return;
      const { broker, lines } = await startMutual(t, c);
      await assert.rejects(pool.connect({ clientId: 'refused', ...tlsClientOptions(c.ca.cert, client(c)) }));
      assert.equal(broker.counters.connectionsAccepted, 0, 'the connection never reached the broker');
      await waitUntil(
        () => lines.some((line) => line.msg === 'TLS client refused' && reason.test(line.err ?? '')),
        `a log line matching ${String(reason)}`,
      );
    });
  }

  for (const version of VERSIONS) {
    void it(`accepts a good client certificate; with use_identity_as_username CN its CN is the username the hooks see (${versionName(version)})`, async (t) => {
      const c = needCertificates(t);
      if (c === undefined) return;
      const authenticated: AuthenticateRequest[] = [];
      const publishers: ClientInfo[] = [];
      const { broker } = await startMutual(
        t,
        c,
        { useIdentityAsUsername: 'CN' },
        {
          hooks: {
            authenticate: (request) => {
              authenticated.push(request);
              return { ok: true };
            },
            // An ACL keyed on the username: only sensor-1 may publish under sensors/sensor-1/.
            authorizePublish: (client, topic) => {
              publishers.push(client);
              return topic.startsWith(`sensors/${client.username ?? '-'}/`);
            },
          },
        },
      );
      const id = `mtls-${version}`;
      const { client, inbox } = await pool.connect({
        clientId: id,
        protocolVersion: version,
        username: 'claims-to-be-admin',
        ...tlsClientOptions(c.ca.cert, c.client),
      });
      const [request] = authenticated;
      assert.equal(request?.username, 'sensor-1', 'the certificate CN replaces the CONNECT username');
      assert.deepEqual(request?.certificate?.subject, { O: 'Fennec', CN: 'sensor-1' });
      assert.equal(request?.certificate?.issuer.CN, 'Fennec Test CA');
      assert.equal(request?.certificate?.fingerprint256, fingerprintOf(c.client.cert));
      assert.equal(broker.clients.get(id)?.username, 'sensor-1');
      await client.subscribeAsync('sensors/#', { qos: 1 });
      await client.publishAsync('sensors/sensor-1/temperature', '21', { qos: 1 });
      const [message] = await inbox.waitFor(1);
      assert.equal(message?.topic, 'sensors/sensor-1/temperature');
      assert.equal(publishers[0]?.username, 'sensor-1');
      assert.equal(publishers[0]?.certificate?.subject.CN, 'sensor-1');
      await pool.end(client);
    });

    void it(`with use_identity_as_username CN refuses a certificate without a CN: CONNACK ${version === 5 ? '0x87' : '0x05'} [MQTT-3.1.4-2] (${versionName(version)})`, async (t) => {
      const c = needCertificates(t);
      if (c === undefined) return;
      await startMutual(t, c, { useIdentityAsUsername: 'CN' });
      await assert.rejects(
        pool.connect({
          clientId: `no-cn-${version}`,
          protocolVersion: version,
          ...tlsClientOptions(c.ca.cert, c.clientWithoutCn),
        }),
        (err: { code?: unknown }) => err.code === (version === 5 ? 0x87 : 5),
      );
    });
  }

  void it('without use_identity_as_username keeps the CONNECT username and still shows hooks the certificate', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const authenticated: AuthenticateRequest[] = [];
    await startMutual(t, c, {}, { hooks: { authenticate: (request) => (authenticated.push(request), { ok: true }) } });
    const { client } = await pool.connect({
      clientId: 'keeps-name',
      username: 'alice',
      ...tlsClientOptions(c.ca.cert, c.client),
    });
    assert.equal(authenticated[0]?.username, 'alice');
    assert.equal(authenticated[0]?.certificate?.subject.CN, 'sensor-1');
    await pool.end(client);
  });

  void it('with ca_file but not require_client_certificate lets a client in without a certificate, never with a bad one', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const { broker } = await startMutual(t, c, { requireClientCertificate: false });
    const anonymous = await pool.connect({ clientId: 'anonymous', ...tlsClientOptions(c.ca.cert) });
    assert.equal(broker.clients.get('anonymous')?.peer.certificate, undefined);
    const accepted = broker.counters.connectionsAccepted;
    await assert.rejects(pool.connect({ clientId: 'bad-cert', ...tlsClientOptions(c.ca.cert, c.otherClient) }));
    assert.equal(broker.counters.connectionsAccepted, accepted);
    const verified = await pool.connect({ clientId: 'verified', ...tlsClientOptions(c.ca.cert, c.client) });
    assert.equal(broker.clients.get('verified')?.peer.certificate?.subject.CN, 'sensor-1');
    await pool.end(anonymous.client);
    await pool.end(verified.client);
  });
});

void describe('TLS certificate reload', () => {
  let url = '';
  const pool = new ClientPool(() => url);
  after(() => pool.closeAll());

  void it('reloadTls swaps the certificate for new connections while an open TLS connection stays up', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    // Files of their own, overwritten below as a certificate renewal would.
    const certFile = join(c.dir, 'reload.pem');
    const keyFile = join(c.dir, 'reload.key');
    copyFileSync(c.server.cert, certFile);
    copyFileSync(c.server.key, keyFile);
    const { broker, tlsPort } = await startTlsBroker(t, {}, { cert: certFile, key: keyFile });
    url = `mqtts://127.0.0.1:${tlsPort}`;
    const ca = readFileSync(c.ca.cert);
    const before = await openTls(tlsPort, { ca });
    assert.equal(before.getPeerCertificate().fingerprint256, fingerprintOf(c.server.cert));
    before.destroy();
    const old = await pool.connect({ clientId: 'before-reload', ...tlsClientOptions(c.ca.cert) });
    await old.client.subscribeAsync('reload/#', { qos: 1 });

    copyFileSync(c.renewedServer.cert, certFile);
    copyFileSync(c.renewedServer.key, keyFile);
    assert.equal(await broker.reloadTls(), fingerprintOf(c.renewedServer.cert));
    const after = await openTls(tlsPort, { ca });
    assert.equal(after.getPeerCertificate().fingerprint256, fingerprintOf(c.renewedServer.cert));
    after.destroy();

    const fresh = await pool.connect({ clientId: 'after-reload', ...tlsClientOptions(c.ca.cert) });
    await fresh.client.publishAsync('reload/check', 'still here', { qos: 1 });
    const [message] = await old.inbox.waitFor(1);
    assert.equal(message?.payload, 'still here', 'the connection made before the reload still receives');
    assert.equal(old.client.connected, true);

    // A bad file: the reload fails, naming it, and the renewed certificate stays in use.
    writeFileSync(certFile, 'not a certificate\n');
    await assert.rejects(
      broker.reloadTls(),
      (err: unknown) =>
        err instanceof TlsFileError && err.code === 'ERR_TLS_CREDENTIALS' && err.message.includes(certFile),
    );
    const still = await openTls(tlsPort, { ca });
    assert.equal(still.getPeerCertificate().fingerprint256, fingerprintOf(c.renewedServer.cert));
    still.destroy();
    await pool.end(old.client);
    await pool.end(fresh.client);
  });

  void it('reloadTls without a TLS listener rejects with ERR_TLS_NOT_LISTENING', async (t) => {
    const broker = new Broker({ host: '127.0.0.1', port: 0 });
    await broker.listen();
    t.after(() => broker.close());
    await assert.rejects(
      broker.reloadTls(),
      (err: unknown) => err instanceof FennecError && err.code === 'ERR_TLS_NOT_LISTENING',
    );
  });
});

void describe('TLS files that cannot be used', () => {
  /** listen() with these TLS options must fail with `code`, naming `file`, and leave no listener. */
  async function expectListenError(tls: TlsOptions, code: string, file: string): Promise<void> {
    const broker = new Broker({ host: '127.0.0.1', port: 0, tls: { port: 0, ...tls } });
    try {
      await assert.rejects(broker.listen(), (err: unknown) => {
        assert.ok(err instanceof FennecError, String(err));
        assert.equal(err.code, code);
        assert.ok(err.message.includes(file), `"${err.message}" names ${file}`);
        return true;
      });
      assert.deepEqual(broker.addresses, [], 'no listener is left running');
    } finally {
      await broker.close();
    }
  }

  void it('a missing certificate file: ERR_TLS_FILE naming it', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const missing = join(c.dir, 'missing.pem');
    await expectListenError({ certFile: missing, keyFile: c.server.key }, 'ERR_TLS_FILE', missing);
  });

  void it('a missing CA file: ERR_TLS_FILE naming it', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const missing = join(c.dir, 'missing-ca.pem');
    await expectListenError(
      { certFile: c.server.cert, keyFile: c.server.key, caFile: missing },
      'ERR_TLS_FILE',
      missing,
    );
  });

  void it('a certificate file that holds no certificate: ERR_TLS_CREDENTIALS naming it', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const garbage = join(c.dir, 'garbage.pem');
    writeFileSync(garbage, 'hello\n');
    await expectListenError({ certFile: garbage, keyFile: c.server.key }, 'ERR_TLS_CREDENTIALS', garbage);
  });

  void it("a key that is not the certificate's: ERR_TLS_CREDENTIALS naming the key file", async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    await expectListenError({ certFile: c.server.cert, keyFile: c.client.key }, 'ERR_TLS_CREDENTIALS', c.client.key);
  });

  void it('useIdentityAsUsername without requireClientCertificate: ERR_TLS_OPTIONS, no listener left', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    const broker = new Broker({
      host: '127.0.0.1',
      port: 0,
      tls: { port: 0, certFile: c.server.cert, keyFile: c.server.key, caFile: c.ca.cert, useIdentityAsUsername: 'CN' },
    });
    await assert.rejects(
      broker.listen(),
      (err: unknown) => err instanceof FennecError && err.code === 'ERR_TLS_OPTIONS',
    );
    assert.deepEqual(broker.addresses, []);
    await broker.close();
  });

  void it('a cipher list OpenSSL refuses: ERR_TLS_OPTIONS naming it', async (t) => {
    const c = needCertificates(t);
    if (c === undefined) return;
    await expectListenError(
      { certFile: c.server.cert, keyFile: c.server.key, ciphers: 'NO-SUCH-CIPHER' },
      'ERR_TLS_OPTIONS',
      'NO-SUCH-CIPHER',
    );
  });

  void it('requireClientCertificate without caFile: ERR_TLS_OPTIONS', async () => {
    const broker = new Broker({
      host: '127.0.0.1',
      port: 0,
      tls: { port: 0, certFile: 'a.pem', keyFile: 'a.key', requireClientCertificate: true },
    });
    await assert.rejects(
      broker.listen(),
      (err: unknown) => err instanceof FennecError && err.code === 'ERR_TLS_OPTIONS',
    );
    await broker.close();
  });
});

void describe("Mosquitto's mosquitto_sub over TLS", () => {
  let url = '';
  const pool = new ClientPool(() => url);
  after(() => pool.closeAll());

  for (const version of VERSIONS) {
    void it(`mosquitto_sub --cafile connects over TLS and receives a message (${versionName(version)})`, async (t) => {
      const c = needCertificates(t);
      if (c === undefined || !requireProgram(t, 'mosquitto_sub', 'mosquitto-clients')) return;
      const { broker, tlsPort, tcpPort } = await startTlsBroker(t, {}, c.server);
      url = `mqtt://127.0.0.1:${tcpPort}`;
      const id = `mosq-tls-${version}`;
      const subscribed = waitForBrokerEvent(broker, 'subscribed', (client) => client.clientId === id);
      const sub = runProgram(
        'mosquitto_sub',
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(tlsPort),
          '--cafile',
          c.ca.cert,
          '-V',
          version === 5 ? 'mqttv5' : 'mqttv311',
        ].concat(['-i', id, '-t', 'tls/mosquitto', '-C', '1', '-q', '1']),
        10_000,
      );
      await subscribed.catch((err: unknown) => {
        throw new Error(`mosquitto_sub did not subscribe over TLS: ${(err as Error).message}; ${sub.stderr()}`);
      });
      const { client } = await pool.connect({ clientId: `plain-pub-${version}` });
      await client.publishAsync('tls/mosquitto', 'over tls', { qos: 1 });
      await pool.end(client);
      const result = await sub.exited;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, 'over tls\n');
    });
  }
});
