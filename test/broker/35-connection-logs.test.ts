// 35: the lines an operator reads, as `mosquitto -v` writes them: one info line per connect (address,
// client id, user, protocol version, keep-alive, clean start), one per close with its reason, and a
// warn line, held back to one per interval, when a limit fires. Each runs for 3.1.1 and 5.0.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker, VERSIONS, waitUntil } from '../helpers/broker.js';
import { capturingLogger } from '../helpers/log.js';
import type { AuthMethod } from '../../src/broker/hooks.js';

type Line = Record<string, unknown>;

/** The closing line of `clientId`, once it is written. */
async function closingLine(lines: Line[], clientId: string): Promise<Line> {
  const find = (): Line | undefined => lines.find((l) => l['event'] === 'disconnected' && l['clientId'] === clientId);
  await waitUntil(() => find() !== undefined, `the closing line of ${clientId} is written`, 3000);
  return find()!;
}

/** Waits until the broker has closed `client`, whatever it sent first. */
function gone(client: RawClient): Promise<void> {
  return waitUntil(() => client.closedYet, 'the broker closes the connection', 3000);
}

function limitWarnings(lines: Line[], limit: string): Line[] {
  return lines.filter((l) => l['level'] === 40 && l['limit'] === limit && typeof l['value'] !== 'undefined');
}

for (const version of VERSIONS) {
  const v = version === 5 ? 'v5' : 'v3.1.1';
  describe(`35 connection logs (${v})`, () => {
    it(`a connect is one info line with the address, client id, user, protocol version, keep-alive and clean start (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger, allowAnonymous: true });
      const client = await RawClient.connect(port, { version, clientId: 'sensor-1', username: 'alice', keepAlive: 42 });
      const line = lines.find((l) => l['event'] === 'connected');
      assert.ok(line !== undefined, 'a connected line');
      assert.equal(line['level'], 30, 'at info');
      assert.equal(line['clientId'], 'sensor-1');
      assert.equal(line['username'], 'alice');
      assert.equal(line['remoteAddress'], `127.0.0.1:${client.socket.localPort}`);
      assert.equal(line['protocolVersion'], version === 5 ? '5.0' : '3.1.1');
      assert.equal(line['keepAlive'], 42);
      assert.equal(line['cleanStart'], true);
      assert.equal(line['listener'], 'mqtt', 'the name of the listener it came through');
      assert.equal(
        line['msg'],
        `client sensor-1 connected from 127.0.0.1:${client.socket.localPort} (MQTT ${version === 5 ? '5.0' : '3.1.1'}, user "alice", keep-alive 42 s, clean start, listener mqtt)`,
      );
    });

    it(`a client's DISCONNECT is logged as such (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger });
      const client = await RawClient.connect(port, { version, clientId: 'leaver' });
      client.send(pkt.disconnect(version, version === 5 ? 0x04 : 0));
      const line = await closingLine(lines, 'leaver');
      assert.equal(line['reason'], 'client-disconnect');
      assert.equal(line['level'], 30);
      if (version === 5) {
        assert.equal(line['reasonCode'], 0x04);
        assert.match(
          String(line['msg']),
          /^client leaver disconnected from 127\.0\.0\.1:\d+: client sent DISCONNECT with reason code 0x04$/,
        );
      } else {
        assert.match(String(line['msg']), /^client leaver disconnected from 127\.0\.0\.1:\d+: client sent DISCONNECT$/);
      }
    });

    it(`a keep-alive timeout is logged as such (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger });
      const client = await RawClient.connect(port, { version, clientId: 'sleeper', keepAlive: 1 });
      await gone(client);
      const line = await closingLine(lines, 'sleeper');
      assert.equal(line['reason'], 'keep-alive-timeout');
      assert.match(String(line['msg']), /keep-alive timeout/);
    });

    it(`a protocol error is logged with its reason code and message (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger });
      const client = await RawClient.connect(port, { version, clientId: 'twice' });
      client.send(pkt.connect({ version, clientId: 'twice' }));
      const line = await closingLine(lines, 'twice');
      assert.equal(line['reason'], 'protocol-error');
      assert.equal(line['code'], 'ERR_PROTOCOL_ERROR');
      assert.equal(line['reasonCode'], 0x82);
      assert.match(String(line['msg']), /protocol error 0x82: a second CONNECT on one connection$/);
    });

    it(`a takeover is logged on the connection taken over (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger });
      const first = await RawClient.connect(port, { version, clientId: 'twin' });
      await RawClient.connect(port, { version, clientId: 'twin' });
      await gone(first);
      const line = await closingLine(lines, 'twin');
      assert.equal(line['reason'], 'takeover');
      assert.match(String(line['msg']), /taken over by a new connection/);
    });

    it(`a client that closes its socket without DISCONNECT is logged as closed by the peer (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger });
      const client = await RawClient.connect(port, { version, clientId: 'vanisher' });
      client.socket.end();
      const line = await closingLine(lines, 'vanisher');
      assert.equal(line['reason'], 'closed-by-peer');
    });

    it(`a socket reset is logged as a socket error (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger });
      const client = await RawClient.connect(port, { version, clientId: 'reset' });
      client.socket.resetAndDestroy();
      const line = await closingLine(lines, 'reset');
      assert.equal(line['reason'], 'socket-error');
      assert.match(String(line['msg']), /socket error: .*ECONNRESET/);
    });

    it(`a server shutdown is logged for each client (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port, broker } = await startBroker(t, { logger });
      await RawClient.connect(port, { version, clientId: 'stayer' });
      await broker.close();
      const line = await closingLine(lines, 'stayer');
      assert.equal(line['reason'], 'server-shutdown');
    });

    it(`a refused CONNECT is logged with its reason code (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger, allowAnonymous: false });
      const client = await RawClient.open(port, version);
      client.send(pkt.connect({ version, clientId: 'nobody' }));
      await gone(client);
      const line = await closingLine(lines, 'nobody');
      assert.equal(line['reason'], 'connect-refused');
      assert.equal(line['reasonCode'], 0x87);
      assert.match(
        String(line['msg']),
        /^connection from 127\.0\.0\.1:\d+ \(client nobody\) closed: CONNECT refused with reason code 0x87/,
      );
    });

    it(`a packet over maximum_packet_size is a warn naming the limit and the client, and the close says so (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger, maximumPacketSize: 100 });
      const client = await RawClient.connect(port, { version, clientId: 'big' });
      client.send(pkt.publish(version, { topic: 't', payload: Buffer.alloc(200) }));
      await gone(client);
      const [warn] = limitWarnings(lines, 'maximum_packet_size');
      assert.ok(warn !== undefined, 'a warn line names maximum_packet_size');
      assert.equal(warn['clientId'], 'big');
      assert.equal(warn['value'], 100);
      assert.match(
        String(warn['msg']),
        /^limit maximum_packet_size reached by client big: packet of \d+ bytes exceeds/,
      );
      const line = await closingLine(lines, 'big');
      assert.equal(line['reason'], 'limit');
      assert.equal(line['limit'], 'maximum_packet_size');
      assert.equal(
        lines.some((l) => l['level'] === 30 && l['code'] === 'ERR_PACKET_TOO_LARGE'),
        false,
        'no longer an info line of its own',
      );
    });

    it(`a limit that fires again within limit_log_interval_ms is one warn line for that client (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger, maxSubscriptionsPerClient: 1 });
      const client = await RawClient.connect(port, { version, clientId: 'greedy' });
      await client.subscribe('a', 0);
      for (const filter of ['b', 'c', 'd']) await client.subscribe(filter, 0);
      const warns = limitWarnings(lines, 'max_subscriptions_per_client');
      assert.equal(warns.length, 1, 'three refusals, one line');
      assert.equal(warns[0]!['clientId'], 'greedy');
      // Another client has its own line.
      const other = await RawClient.connect(port, { version, clientId: 'greedy-2' });
      await other.subscribe('a', 0);
      await other.subscribe('b', 0);
      assert.equal(limitWarnings(lines, 'max_subscriptions_per_client').length, 2);
    });

    it(`with limit_log_interval_ms 0 each refusal is a warn line (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger, maxSubscriptionsPerClient: 1, limitLogIntervalMs: 0 });
      const client = await RawClient.connect(port, { version, clientId: 'greedy' });
      for (const filter of ['a', 'b', 'c', 'd']) await client.subscribe(filter, 0);
      assert.equal(limitWarnings(lines, 'max_subscriptions_per_client').length, 3);
    });

    it(`a message dropped at a full queue without a spool is a warn naming max_queued_messages (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('warn');
      const { port } = await startBroker(t, { logger, maxQueuedMessages: 1, maxSpoolBytes: 0 });
      const sleeper = await RawClient.connect(port, {
        version,
        clientId: 'offline',
        clean: false,
        ...sessionKept(version),
      });
      await sleeper.subscribe('q', 1);
      sleeper.send(pkt.disconnect(version));
      await gone(sleeper);
      const publisher = await RawClient.connect(port, { version, clientId: 'pub' });
      for (let i = 0; i < 3; i++) await publisher.publish({ topic: 'q', qos: 1, payload: `${i}` });
      const warns = limitWarnings(lines, 'max_queued_messages');
      assert.equal(warns.length, 1, 'two drops, one line');
      assert.equal(warns[0]!['clientId'], 'offline');
      assert.match(String(warns[0]!['msg']), /^limit max_queued_messages reached by client offline: message dropped$/);
    });

    it(`a connection over max_connections is a warn naming the limit, and its refusal is logged (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger, maxConnections: 1 });
      await RawClient.connect(port, { version, clientId: 'first' });
      const second = await RawClient.open(port, version);
      second.send(pkt.connect({ version, clientId: 'second' }));
      await gone(second);
      const [warn] = limitWarnings(lines, 'max_connections');
      assert.ok(warn !== undefined, 'a warn names max_connections');
      assert.equal(warn['remoteAddress'], '127.0.0.1');
      const line = await closingLine(lines, 'second');
      assert.equal(line['reason'], 'connect-refused');
      assert.equal(line['reasonCode'], 0x89);
    });

    it(`going over max_control_packet_rate is a warn and closes with the limit's name (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger, maxControlPacketRate: 2 });
      const client = await RawClient.connect(port, { version, clientId: 'pinger' });
      client.send(pkt.pingreq(), pkt.pingreq(), pkt.pingreq());
      await gone(client);
      assert.equal(limitWarnings(lines, 'max_control_packet_rate').length, 1);
      const line = await closingLine(lines, 'pinger');
      assert.equal(line['reason'], 'limit');
      assert.equal(line['limit'], 'max_control_packet_rate');
    });

    it(`a socket that sends no CONNECT in time is a warn naming connect_timeout_ms (${v})`, async (t) => {
      const { logger, lines } = capturingLogger('info');
      const { port } = await startBroker(t, { logger, connectTimeoutMs: 50 });
      const client = await RawClient.open(port, version);
      await gone(client);
      const [warn] = limitWarnings(lines, 'connect_timeout_ms');
      assert.ok(warn !== undefined);
      await waitUntil(
        () => lines.some((l) => l['event'] === 'disconnected' && l['limit'] === 'connect_timeout_ms'),
        'the close is logged',
      );
    });
  });
}

/** CONNECT fields that keep a session after the connection (3.1.1: Clean Session 0; 5.0: an expiry). */
function sessionKept(version: 4 | 5): pkt.ConnectOptions {
  return version === 5 ? { properties: { sessionExpiryInterval: 600 } } : {};
}

describe('35 connection logs: errors that are not protocol errors (v5)', () => {
  it('a hook that throws while handling a packet is logged as an error with its code (v5)', async (t) => {
    // Accepts CONNECT at once, and throws when the client asks to re-authenticate (AUTH 0x19).
    const fragile: AuthMethod = {
      start: (_client, reauthenticating) => {
        if (reauthenticating) throw new Error('the credential service is down');
        return { step: () => ({ kind: 'success' }) };
      },
    };
    const { logger, lines } = capturingLogger('info');
    const { port } = await startBroker(t, { logger, hooks: { authMethods: { FRAGILE: fragile } } });
    const client = await RawClient.connect(port, {
      version: 5,
      clientId: 'fragile',
      properties: { authenticationMethod: 'FRAGILE' },
    });
    client.send(pkt.auth(0x19, { authenticationMethod: 'FRAGILE' }));
    await gone(client);
    const line = await closingLine(lines, 'fragile');
    assert.equal(line['reason'], 'error');
    assert.equal(line['code'], 'ERR_HOOK_FAILED');
    assert.match(String(line['msg']), /: error ERR_HOOK_FAILED: the credential service is down$/);
  });
});

describe('35 connection logs: silence', () => {
  it('at warn, connects and disconnects write nothing', async (t) => {
    const { logger, lines } = capturingLogger('warn');
    const { port } = await startBroker(t, { logger });
    const client = await RawClient.connect(port, { clientId: 'quiet' });
    client.send(pkt.disconnect(4));
    await gone(client);
    assert.deepEqual(lines, []);
  });
});
