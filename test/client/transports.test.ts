// The client's other transports against the real broker: mqtts:// with the CA, the server name
// and a client certificate, and ws:// through a small `ws` server that hands each WebSocket to
// `broker.handle()`. Every server, broker and client is closed when its test ends.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { Broker } from '../../src/broker/broker.js';
import { connect, type ClientMessage } from '../../src/client/index.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/certificates.js';
import { VERSIONS, sleep, startBroker } from '../helpers/broker.js';

let certs: TestCertificates | undefined;
before(() => {
  certs = makeTestCertificates();
});
after(() => certs?.remove());

async function firstMessage(iterator: AsyncIterator<ClientMessage>): Promise<ClientMessage> {
  const result = await Promise.race([iterator.next(), sleep(2_000).then(() => assert.fail('no message in 2 s'))]);
  assert.equal(result.done, false);
  return result.value;
}

for (const v of VERSIONS) {
  void describe(`client over ws:// (v${v})`, () => {
    void it(`connects with the mqtt sub-protocol on the URL's path, and round-trips a QoS 1 message (v${v})`, async (t) => {
      const { broker } = await startBroker(t);
      const paths: string[] = [];
      const protocols: string[] = [];
      const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      await new Promise<void>((resolve) => wss.once('listening', resolve));
      wss.on('connection', (ws, request) => {
        paths.push(request.url ?? '');
        protocols.push(ws.protocol);
        // The addresses of the underlying socket, so that the broker's loopback rule for anonymous clients applies
        const { localAddress, remoteAddress, remotePort } = request.socket;
        broker.handle(createWebSocketStream(ws), { localAddress, remoteAddress, remotePort });
      });
      t.after(() => new Promise<void>((resolve) => wss.close(() => resolve())));
      const { port } = wss.address() as { port: number };
      const c = await connect(`ws://127.0.0.1:${port}`, { protocolVersion: v, reconnect: false });
      t.after(() => c.end());
      await c.subscribe({ topicFilter: 'over/ws', qos: 1 });
      const messages = c.messages();
      await c.publish('over/ws', 'hello', { qos: 1 });
      assert.equal((await firstMessage(messages)).payload.toString(), 'hello');
      assert.deepEqual(paths, ['/mqtt']);
      assert.deepEqual(protocols, ['mqtt']);
      for (const client of wss.clients) client.terminate();
    });
  });
}

void describe('client over mqtts://', () => {
  void it('verifies the broker against the given CA, presents a client certificate, and round-trips a message', async (t) => {
    assert.ok(certs !== undefined);
    const broker = new Broker({
      host: '127.0.0.1',
      port: 0,
      tls: {
        port: 0,
        certFile: certs.server.cert,
        keyFile: certs.server.key,
        caFile: certs.ca.cert,
        requireClientCertificate: true,
      },
    });
    const address = await broker.listen();
    t.after(() => broker.close());
    const url = `mqtts://127.0.0.1:${address.tls!.port}`;
    const c = await connect(url, {
      reconnect: false,
      tls: {
        ca: readFileSync(certs.ca.cert),
        cert: readFileSync(certs.client.cert),
        key: readFileSync(certs.client.key),
      },
    });
    t.after(() => c.end());
    await c.subscribe('secure');
    const messages = c.messages();
    await c.publish('secure', 'tls', { qos: 1 });
    assert.equal((await firstMessage(messages)).payload.toString(), 'tls');
  });

  void it('refuses a broker whose certificate the given CA did not sign, with ERR_CLIENT_CONNECT', async (t) => {
    assert.ok(certs !== undefined);
    const broker = new Broker({
      host: '127.0.0.1',
      port: 0,
      tls: { port: 0, certFile: certs.server.cert, keyFile: certs.server.key },
    });
    const address = await broker.listen();
    t.after(() => broker.close());
    await assert.rejects(
      connect(`mqtts://127.0.0.1:${address.tls!.port}`, {
        reconnect: false,
        tls: { ca: readFileSync(certs.otherCa.cert) },
      }),
      { code: 'ERR_CLIENT_CONNECT' },
    );
  });
});
