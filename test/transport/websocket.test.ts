// The WebSocket listeners (ws://, wss://) against a real broker on loopback: MQTT.js over WebSocket
// exchanging messages with a TCP client, raw frames that split and coalesce packets, refused HTTP
// requests, X-Forwarded-For and per-listener anonymous access. Certificates for wss are made with
// the `openssl` command (Debian package openssl).
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { Broker } from '../../src/broker/broker.js';
import type { ClientInfo } from '../../src/broker/hooks.js';
import type { BrokerOptions, ListenerOptions } from '../../src/broker/options.js';
import { listenerUrl } from '../../src/transport/listener.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { VERSIONS } from '../helpers/broker.js';
import * as pkt from '../helpers/packets.js';
import { WsRawClient } from '../helpers/ws-client.js';
import { findProgram, Inbox, requireProgram, waitForBrokerEvent, withTimeout, WAIT_MS } from '../interop/support.js';

const versionName = (version: 4 | 5): string => (version === 5 ? 'MQTT 5.0' : 'MQTT 3.1.1');

let certs: TestCertificates | undefined;
before(() => {
  if (findProgram('openssl') !== undefined) certs = makeTestCertificates();
});
after(() => certs?.remove());

/** A broker with `listeners` on 127.0.0.1, closed after the test; resolves with each listener's URL by name. */
async function startBroker(
  t: TestContext,
  listeners: ListenerOptions[],
  options: BrokerOptions = {},
): Promise<{ broker: Broker; urls: Map<string, string> }> {
  const broker = new Broker({ host: '127.0.0.1', ...options, listeners });
  await broker.listen();
  t.after(() => broker.close());
  return { broker, urls: new Map(broker.addresses.map((address) => [address.name, listenerUrl(address)])) };
}

/** An MQTT.js client connected to `url`, ended after the test. */
async function mqttClient(
  t: TestContext,
  url: string,
  options: IClientOptions,
): Promise<{ client: MqttClient; inbox: Inbox }> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: WAIT_MS, ...options });
  const inbox = new Inbox(client);
  t.after(() => client.endAsync(true));
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    }),
    WAIT_MS,
    `CONNACK over ${url}`,
  );
  return { client, inbox };
}

/** Both directions, QoS 0, 1 and 2, between a client on `wsUrl` and one on `tcpUrl`. */
async function exchange(t: TestContext, version: 4 | 5, wsUrl: string, tcpUrl: string, wsOptions: IClientOptions = {}) {
  const web = await mqttClient(t, wsUrl, { protocolVersion: version, clientId: 'web', ...wsOptions });
  const tcp = await mqttClient(t, tcpUrl, { protocolVersion: version, clientId: 'tcp' });
  await web.client.subscribeAsync('to-web/#', { qos: 2 });
  await tcp.client.subscribeAsync('to-tcp/#', { qos: 2 });
  for (const qos of [0, 1, 2] as const) {
    await tcp.client.publishAsync(`to-web/${qos}`, `tcp says ${qos}`, { qos });
    await web.client.publishAsync(`to-tcp/${qos}`, `web says ${qos}`, { qos });
  }
  const toWeb = await web.inbox.waitFor(3);
  const toTcp = await tcp.inbox.waitFor(3);
  assert.deepEqual(
    toWeb.map((m) => [m.topic, m.payload, m.packet.qos]),
    [0, 1, 2].map((qos) => [`to-web/${qos}`, `tcp says ${qos}`, qos]),
  );
  assert.deepEqual(
    toTcp.map((m) => [m.topic, m.payload, m.packet.qos]),
    [0, 1, 2].map((qos) => [`to-tcp/${qos}`, `web says ${qos}`, qos]),
  );
}

void describe('WebSocket listener (ws://)', () => {
  for (const version of VERSIONS) {
    void it(`carries QoS 0, 1 and 2 both ways between MQTT.js over ws:// and a TCP client (${versionName(version)})`, async (t) => {
      const { urls } = await startBroker(t, [
        { name: 'tcp', protocol: 'mqtt', port: 0 },
        { name: 'web', protocol: 'ws', port: 0 },
      ]);
      assert.match(urls.get('web') ?? '', /^ws:\/\/127\.0\.0\.1:\d+\/mqtt$/);
      await exchange(t, version, urls.get('web')!, urls.get('tcp')!);
    });
  }

  void it('serves MQTT on the configured path', async (t) => {
    const { urls } = await startBroker(t, [
      { name: 'tcp', protocol: 'mqtt', port: 0 },
      { name: 'web', protocol: 'ws', port: 0, path: '/broker/ws' },
    ]);
    assert.match(urls.get('web') ?? '', /\/broker\/ws$/);
    await exchange(t, 4, urls.get('web')!, urls.get('tcp')!);
  });

  void it('reads a packet split across frames and several packets in one frame [MQTT-6.0.0-2]', async (t) => {
    const { urls } = await startBroker(t, [{ name: 'web', protocol: 'ws', port: 0 }]);
    const client = await WsRawClient.open(urls.get('web')!);
    t.after(() => client.close());
    // CONNECT in three frames, cut inside the fixed header and inside the client id
    const connect = pkt.connect({ clientId: 'split-client' });
    client.sendFrames(connect.subarray(0, 1), connect.subarray(1, 9), connect.subarray(9));
    assert.equal((await client.next('connack')).reasonCode, 0);
    // SUBSCRIBE and a PUBLISH to it coalesced in one frame, with half of a second PUBLISH
    const second = pkt.publish(4, { topic: 'frames/b', payload: 'second', qos: 1, packetId: 7 });
    client.sendFrames(
      Buffer.concat([
        pkt.subscribe(4, 1, [{ topic: 'frames/#', qos: 1 }]),
        pkt.publish(4, { topic: 'frames/a', payload: 'first' }),
        second.subarray(0, 5),
      ]),
      second.subarray(5),
    );
    assert.deepEqual((await client.next('suback')).reasonCodes, [1]);
    const first = await client.next('publish');
    assert.equal(first.payload.toString(), 'first');
    // The broker's PUBACK for the second and its delivery to this subscriber may come in either order
    const packets = [await client.next(), await client.next()];
    const puback = packets.find((packet) => packet.type === 'puback');
    const again = packets.find((packet) => packet.type === 'publish');
    assert.equal(puback?.packetId, 7);
    assert.equal(again?.payload.toString(), 'second');
  });

  void it('answers in binary frames only and closes the connection on a text frame [MQTT-6.0.0-1]', async (t) => {
    const { urls } = await startBroker(t, [{ name: 'web', protocol: 'ws', port: 0 }]);
    const client = await WsRawClient.open(urls.get('web')!);
    t.after(() => client.close());
    client.sendFrames(pkt.connect({ clientId: 'texter' }));
    await client.next('connack');
    client.sendFrames(pkt.subscribe(4, 1, ['t']));
    await client.next('suback');
    assert.equal(client.textFrameReceived, false, 'every frame from the broker was binary');
    client.socket.send(pkt.publish(4, { topic: 't', payload: 'x' }).toString('latin1'));
    assert.equal(await client.closed(), 1003);
  });

  void it('sends DISCONNECT 0x8B to a 5.0 client over WebSocket when the broker closes', async (t) => {
    const { broker, urls } = await startBroker(t, [{ name: 'web', protocol: 'ws', port: 0 }]);
    const client = await WsRawClient.open(urls.get('web')!, 5);
    t.after(() => client.close());
    client.sendFrames(pkt.connect({ version: 5, clientId: 'closing' }));
    await client.next('connack');
    const closed = broker.close();
    assert.equal((await client.next('disconnect')).reasonCode, 0x8b);
    await closed;
  });

  void it('selects the sub-protocol mqtt when offered, and mqttv3.1 when only it is [MQTT-6.0.0-4]', async (t) => {
    const { urls } = await startBroker(t, [{ name: 'web', protocol: 'ws', port: 0 }]);
    const both = await WsRawClient.open(urls.get('web')!, 4, ['mqttv3.1', 'mqtt']);
    t.after(() => both.close());
    assert.equal(both.socket.protocol, 'mqtt');
    const old = await WsRawClient.open(urls.get('web')!, 3, ['mqttv3.1']);
    t.after(() => old.close());
    assert.equal(old.socket.protocol, 'mqttv3.1');
    old.sendFrames(pkt.connect({ version: 3, clientId: 'v31' }));
    assert.equal((await old.next('connack')).reasonCode, 0);
  });

  void it('closes a connection whose WebSocket message is larger than the maximum packet size (1009)', async (t) => {
    const { urls } = await startBroker(t, [{ name: 'web', protocol: 'ws', port: 0 }], { maximumPacketSize: 1024 });
    const client = await WsRawClient.open(urls.get('web')!);
    t.after(() => client.close());
    client.sendFrames(pkt.connect({ clientId: 'big' }));
    await client.next('connack');
    client.sendFrames(pkt.publish(4, { topic: 'big', payload: Buffer.alloc(2000) }));
    assert.equal(await client.closed(), 1009);
  });

  void it('answers a plain HTTP request with 426 on the path and 404 elsewhere, and an upgrade on another path or sub-protocol with 4xx, and keeps serving', async (t) => {
    const { urls } = await startBroker(t, [{ name: 'web', protocol: 'ws', port: 0 }]);
    const url = new URL(urls.get('web')!);
    const get = (path: string, headers: Record<string, string> = {}): Promise<number> =>
      withTimeout(
        new Promise<number>((resolve, reject) => {
          const request = httpRequest({ host: url.hostname, port: url.port, path, headers }, (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          });
          request.once('error', reject);
          request.end();
        }),
        WAIT_MS,
        `an HTTP answer for ${path}`,
      );
    assert.equal(await get('/mqtt'), 426);
    assert.equal(await get('/'), 404);
    assert.equal(await get('/elsewhere?x=1'), 404);
    const upgrade = {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    };
    assert.equal(await get('/other', { ...upgrade, 'sec-websocket-protocol': 'mqtt' }), 404);
    assert.equal(await get('/mqtt', { ...upgrade, 'sec-websocket-protocol': 'chat' }), 400);
    assert.equal(await get('/mqtt', { ...upgrade, 'sec-websocket-version': '99' }), 400);
    await assert.rejects(WsRawClient.open(`ws://${url.host}/nope`), /HTTP 404/);
    // Garbage that is not HTTP at all
    await withTimeout(
      new Promise<void>((resolve) => {
        const socket = netConnect({ host: url.hostname, port: Number(url.port) }, () =>
          socket.end('\x10\x00garbage\r\n\r\n'),
        );
        socket.on('error', () => resolve());
        socket.on('close', () => resolve());
        socket.resume();
      }),
      WAIT_MS,
      'the broker closing a connection that sent garbage',
    );
    const client = await WsRawClient.open(urls.get('web')!);
    t.after(() => client.close());
    client.sendFrames(pkt.connect({ clientId: 'after-refusals' }));
    assert.equal((await client.next('connack')).reasonCode, 0);
  });

  void it('takes the client address from X-Forwarded-For only on a listener with trustProxy, and judges allow_anonymous: loopback by it', async (t) => {
    const { broker, urls } = await startBroker(t, [
      { name: 'direct', protocol: 'ws', port: 0 },
      { name: 'proxied', protocol: 'ws', port: 0, trustProxy: true },
    ]);
    const forwarded = { headers: { 'x-forwarded-for': '198.51.100.7, 203.0.113.9' } };
    const addressOver = async (name: string, clientId: string): Promise<ClientInfo> => {
      const connected = waitForBrokerEvent(broker, 'clientConnected', (client) => client.clientId === clientId);
      const client = await WsRawClient.open(urls.get(name)!, 4, ['mqtt'], forwarded);
      t.after(() => client.close());
      client.sendFrames(pkt.connect({ clientId, username: 'someone' }));
      assert.equal((await client.next('connack')).reasonCode, 0);
      const [info] = await connected;
      return info;
    };
    const direct = await addressOver('direct', 'direct-client');
    assert.equal(direct.remoteAddress, '127.0.0.1');
    assert.equal(direct.listener, 'direct');
    const proxied = await addressOver('proxied', 'proxied-client');
    // the last entry: the one the trusted proxy appended
    assert.equal(proxied.remoteAddress, '203.0.113.9');
    assert.equal(proxied.listener, 'proxied');
    // A local proxy must not make remote clients look local to allow_anonymous: loopback
    const anonymous = await WsRawClient.open(urls.get('proxied')!, 4, ['mqtt'], forwarded);
    t.after(() => anonymous.close());
    anonymous.sendFrames(pkt.connect({ clientId: 'proxied-anonymous' }));
    assert.equal((await anonymous.next('connack')).reasonCode, 5);
  });

  void it('admits anonymous clients on a listener that allows them and refuses them on one that does not', async (t) => {
    const { urls } = await startBroker(
      t,
      [
        { name: 'open', protocol: 'ws', port: 0, allowAnonymous: true },
        { name: 'closed', protocol: 'ws', port: 0, allowAnonymous: false },
        { name: 'default', protocol: 'mqtt', port: 0 },
      ],
      { allowAnonymous: false },
    );
    for (const version of VERSIONS) {
      const open = await WsRawClient.open(urls.get('open')!, version);
      t.after(() => open.close());
      open.sendFrames(pkt.connect({ version, clientId: `anon-${version}` }));
      assert.equal((await open.next('connack')).reasonCode, 0);
      const closed = await WsRawClient.open(urls.get('closed')!, version);
      t.after(() => closed.close());
      closed.sendFrames(pkt.connect({ version, clientId: `anon-refused-${version}` }));
      // 0x87 Not authorized (3.1.1: 5)
      assert.equal((await closed.next('connack')).reasonCode, version === 5 ? 0x87 : 5);
    }
    // A listener without its own setting follows the broker's
    await assert.rejects(
      mqtt.connectAsync(urls.get('default')!, { reconnectPeriod: 0, connectTimeout: WAIT_MS }),
      /Not authorized/i,
    );
  });
});

void describe('secure WebSocket listener (wss://)', () => {
  for (const version of VERSIONS) {
    void it(`carries QoS 0, 1 and 2 both ways between MQTT.js over wss:// and a TCP client (${versionName(version)})`, async (t) => {
      if (!requireProgram(t, 'openssl', 'openssl')) return;
      assert.ok(certs !== undefined);
      const { urls } = await startBroker(t, [
        { name: 'tcp', protocol: 'mqtt', port: 0 },
        { name: 'secure', protocol: 'wss', port: 0, certFile: certs.server.cert, keyFile: certs.server.key },
      ]);
      assert.match(urls.get('secure') ?? '', /^wss:\/\/127\.0\.0\.1:\d+\/mqtt$/);
      await exchange(t, version, urls.get('secure')!, urls.get('tcp')!, {
        ca: readFileSync(certs.ca.cert),
        rejectUnauthorized: true,
      });
    });
  }

  void it('shows the hooks the verified client certificate of a wss client', async (t) => {
    if (!requireProgram(t, 'openssl', 'openssl')) return;
    assert.ok(certs !== undefined);
    const seen: ClientInfo[] = [];
    const { urls } = await startBroker(
      t,
      [
        {
          name: 'secure',
          protocol: 'wss',
          port: 0,
          certFile: certs.server.cert,
          keyFile: certs.server.key,
          caFile: certs.ca.cert,
          requireClientCertificate: true,
          useIdentityAsUsername: 'CN',
        },
      ],
      { hooks: { authenticate: (request) => (seen.push(request), { ok: true }) } },
    );
    const client = await WsRawClient.open(urls.get('secure')!, 4, ['mqtt'], {
      ca: readFileSync(certs.ca.cert),
      cert: readFileSync(certs.client.cert),
      key: readFileSync(certs.client.key),
    });
    t.after(() => client.close());
    client.sendFrames(pkt.connect({ clientId: 'cert-client', username: 'claimed' }));
    assert.equal((await client.next('connack')).reasonCode, 0);
    assert.equal(seen[0]?.username, 'sensor-1', 'the CN replaced the username CONNECT claimed');
    assert.equal(seen[0]?.certificate?.subject.CN, 'sensor-1');
    assert.equal(seen[0]?.listener, 'secure');
  });

  void it('reloadTls serves new wss connections with a renewed certificate while an open one stays up', async (t) => {
    if (!requireProgram(t, 'openssl', 'openssl')) return;
    assert.ok(certs !== undefined);
    const certFile = join(certs.dir, 'wss-reload.pem');
    const keyFile = join(certs.dir, 'wss-reload.key');
    copyFileSync(certs.server.cert, certFile);
    copyFileSync(certs.server.key, keyFile);
    const { broker, urls } = await startBroker(t, [{ name: 'secure', protocol: 'wss', port: 0, certFile, keyFile }]);
    const ca = readFileSync(certs.ca.cert);
    const fingerprint = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;
    const before = await WsRawClient.open(urls.get('secure')!, 4, ['mqtt'], { ca });
    t.after(() => before.close());
    before.sendFrames(pkt.connect({ clientId: 'before-reload' }));
    await before.next('connack');
    copyFileSync(certs.renewedServer.cert, certFile);
    copyFileSync(certs.renewedServer.key, keyFile);
    assert.equal(await broker.reloadTls(), fingerprint(certs.renewedServer.cert));
    const url = new URL(urls.get('secure')!);
    const presented = await withTimeout(
      new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca }, () => {
          resolve(socket.getPeerCertificate().fingerprint256);
          socket.destroy();
        });
        socket.once('error', reject);
      }),
      WAIT_MS,
      'a TLS handshake with the wss listener',
    );
    assert.equal(presented, fingerprint(certs.renewedServer.cert));
    const after = await WsRawClient.open(urls.get('secure')!, 4, ['mqtt'], { ca });
    t.after(() => after.close());
    after.sendFrames(pkt.connect({ clientId: 'after-reload' }));
    await after.next('connack');
    before.sendFrames(pkt.pingreq());
    await before.next('pingresp');
  });
});
