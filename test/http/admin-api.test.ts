// The admin HTTP API of AdminServer over a real broker: health and readiness, clients and sessions
// listed, paged and searched on the server, a client disconnected (5.0: DISCONNECT 0x98), a session
// deleted, retained messages listed and deleted, a message published; every change seen over MQTT.
// The bearer token: required off loopback (a second address of this machine, and an injected peer
// address) and for every change; without it, 401 and nothing changes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker, waitUntil, type CleanupContext } from '../helpers/broker.js';
import { AdminServer } from '../../src/http/server.js';
import type { Broker } from '../../src/broker/broker.js';

const TOKEN = 'test-admin-token-1';

interface Api {
  broker: Broker;
  port: number;
  admin: AdminServer;
  /** Sends a request to the admin server; `token` adds the bearer header. */
  call: (method: string, path: string, options?: { token?: string; body?: unknown }) => Promise<Reply>;
}

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

async function request(
  base: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function startApi(t: CleanupContext, host = '127.0.0.1'): Promise<Api> {
  const { broker, port } = await startBroker(t);
  const admin = new AdminServer(broker, { host, port: 0, adminToken: TOKEN });
  const address = await admin.listen();
  t.after(() => admin.close());
  const base = `http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  return { broker, port, admin, call: (method, path, options) => request(base, method, path, options) };
}

/** A list endpoint's reply. */
interface ListReply {
  items: Record<string, unknown>[];
  nextCursor: string | null;
  total: number;
}

const list = (reply: Reply): ListReply => reply.json as unknown as ListReply;
const ids = (reply: Reply): unknown[] => list(reply).items.map((item) => item['clientId']);

/** The machine's first non-loopback IPv4 address, if it has one. */
function otherAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

describe('admin API: health', () => {
  it('/health is 200 while the process runs; /ready is 200 while the broker listens and 503 once it stops', async (t) => {
    const { broker, call } = await startApi(t);
    assert.deepEqual(await call('GET', '/health'), { status: 200, json: { status: 'ok' } });
    assert.deepEqual(await call('GET', '/ready'), { status: 200, json: { status: 'ready' } });
    await broker.close();
    const ready = await call('GET', '/ready');
    assert.equal(ready.status, 503);
    assert.equal((await call('GET', '/health')).status, 200);
  });

  it('answers an unknown path with 404 and a known path with another method with 405, in JSON', async (t) => {
    const { call } = await startApi(t);
    const missing = await call('GET', '/api/v1/nothing');
    assert.equal(missing.status, 404);
    assert.equal((missing.json['error'] as { code: string }).code, 'not_found');
    const wrong = await call('PUT', '/api/v1/clients', { token: TOKEN });
    assert.equal(wrong.status, 405);
  });
});

describe('admin API: clients and sessions', () => {
  it('lists connected clients with subscriptions, queue depth and in-flight, paged by cursor in client id order', async (t) => {
    const { port, call } = await startApi(t);
    for (const id of ['c-3', 'c-1', 'c-5', 'c-2', 'c-4']) {
      const client = await RawClient.connect(port, { version: 5, clientId: id, username: `user-${id}` });
      if (id === 'c-1') await client.subscribe(['a/#', 'b'], 1);
    }
    const first = await call('GET', '/api/v1/clients?limit=2');
    assert.equal(first.status, 200);
    assert.deepEqual(ids(first), ['c-1', 'c-2']);
    assert.equal(list(first).total, 5);
    assert.equal(list(first).nextCursor, 'c-2');
    const c1 = list(first).items[0]!;
    assert.deepEqual(c1['subscriptions'], [
      { topicFilter: 'a/#', qos: 1 },
      { topicFilter: 'b', qos: 1 },
    ]);
    assert.equal(c1['queued'], 0);
    assert.equal(c1['inflight'], 0);
    assert.equal(c1['connected'], true);
    assert.equal(c1['protocolVersion'], 5);
    assert.equal(c1['username'], 'user-c-1');
    const second = await call('GET', '/api/v1/clients?limit=2&cursor=c-2');
    assert.deepEqual(ids(second), ['c-3', 'c-4']);
    const last = await call('GET', '/api/v1/clients?limit=2&cursor=c-4');
    assert.deepEqual(ids(last), ['c-5']);
    assert.equal(list(last).nextCursor, null);
  });

  it('searches clients and sessions by a substring of the client id or the user name (?q=)', async (t) => {
    const { port, call } = await startApi(t);
    await RawClient.connect(port, { clientId: 'sensor-kitchen', username: 'alice' });
    await RawClient.connect(port, { clientId: 'sensor-garage', username: 'bob' });
    await RawClient.connect(port, { clientId: 'dashboard', username: 'alice' });
    assert.deepEqual(ids(await call('GET', '/api/v1/clients?q=sensor')), ['sensor-garage', 'sensor-kitchen']);
    assert.deepEqual(ids(await call('GET', '/api/v1/clients?q=alice')), ['dashboard', 'sensor-kitchen']);
    assert.deepEqual(ids(await call('GET', '/api/v1/sessions?q=garage')), ['sensor-garage']);
    assert.equal(list(await call('GET', '/api/v1/clients?q=nobody')).total, 0);
  });

  it('refuses a bad limit with 400 and a message naming it', async (t) => {
    const { call } = await startApi(t);
    for (const limit of ['0', '1001', 'ten', '-1']) {
      const reply = await call('GET', `/api/v1/clients?limit=${limit}`);
      assert.equal(reply.status, 400, `limit=${limit}`);
      assert.match((reply.json['error'] as { message: string }).message, /^limit must be an integer from 1 to 1000/);
    }
  });

  it('shows one client, or 404 for one not connected', async (t) => {
    const { port, call } = await startApi(t);
    await RawClient.connect(port, { clientId: 'one/with slash' });
    const one = await call('GET', `/api/v1/clients/${encodeURIComponent('one/with slash')}`);
    assert.equal(one.status, 200);
    assert.equal(one.json['clientId'], 'one/with slash');
    assert.equal((await call('GET', '/api/v1/clients/nobody')).status, 404);
  });

  it('disconnects a 5.0 client with DISCONNECT 0x98 (Administrative action) and a 3.1.1 client by closing, with the token', async (t) => {
    const { port, broker, call } = await startApi(t);
    const v5 = await RawClient.connect(port, { version: 5, clientId: 'v5' });
    const v4 = await RawClient.connect(port, { version: 4, clientId: 'v4' });
    const refused = await call('DELETE', '/api/v1/clients/v5');
    assert.equal(refused.status, 401, 'a change needs the token, even from loopback');
    assert.ok(broker.clients.has('v5'), 'nothing changed');
    const done = await call('DELETE', '/api/v1/clients/v5', { token: TOKEN });
    assert.deepEqual(done, { status: 200, json: { clientId: 'v5', disconnected: true } });
    const disconnect = await v5.next('disconnect');
    assert.equal(disconnect.reasonCode, 0x98);
    await v5.closed();
    assert.equal((await call('DELETE', '/api/v1/clients/v4', { token: TOKEN })).status, 200);
    await v4.closed();
    assert.equal((await call('DELETE', '/api/v1/clients/v4', { token: TOKEN })).status, 404);
  });

  it('lists an offline session with its queued messages, and deletes it so that the client starts afresh', async (t) => {
    const { port, broker, call } = await startApi(t);
    const keeper = await RawClient.connect(port, { version: 4, clientId: 'keeper', clean: false });
    await keeper.subscribe('q/#', 1);
    keeper.destroy();
    await waitUntil(() => broker.sessions.get('keeper')?.online === false, 'keeper is offline');
    const pub = await RawClient.connect(port, { clientId: 'pub' });
    await pub.publish({ topic: 'q/1', payload: 'a', qos: 1 });
    await pub.publish({ topic: 'q/2', payload: 'b', qos: 1 });
    const sessions = list(await call('GET', '/api/v1/sessions?q=keeper'));
    assert.equal(sessions.total, 1);
    assert.equal(sessions.items[0]!['connected'], false);
    assert.equal(sessions.items[0]!['queued'], 2);
    assert.equal((await call('DELETE', '/api/v1/sessions/keeper')).status, 401);
    assert.ok(broker.sessions.has('keeper'), 'nothing changed without the token');
    assert.deepEqual(await call('DELETE', '/api/v1/sessions/keeper', { token: TOKEN }), {
      status: 200,
      json: { clientId: 'keeper', deleted: true },
    });
    const back = await RawClient.connect(port, { version: 4, clientId: 'keeper', clean: false });
    assert.equal(back.connack.sessionPresent, false, 'the session was deleted');
    await back.expectNothing();
    assert.equal((await call('DELETE', '/api/v1/sessions/nobody', { token: TOKEN })).status, 404);
  });

  it('deletes the session of a connected 5.0 client: DISCONNECT 0x98, then the session is gone', async (t) => {
    const { port, broker, call } = await startApi(t);
    const client = await RawClient.connect(port, {
      version: 5,
      clientId: 'live',
      properties: { sessionExpiryInterval: 3600 },
    });
    assert.equal((await call('DELETE', '/api/v1/sessions/live', { token: TOKEN })).status, 200);
    assert.equal((await client.next('disconnect')).reasonCode, 0x98);
    assert.equal(broker.sessions.has('live'), false);
  });
});

describe('admin API: retained messages and publishing', () => {
  it('lists retained messages by topic substring, and a deleted one is no longer delivered', async (t) => {
    const { port, call } = await startApi(t);
    const pub = await RawClient.connect(port, { clientId: 'pub' });
    await pub.publish({ topic: 'home/kitchen/temp', payload: '21.5', qos: 1, retain: true });
    await pub.publish({ topic: 'home/garage/temp', payload: Buffer.from([0xff, 0x00]), qos: 1, retain: true });
    await pub.publish({ topic: 'office/temp', payload: '19', qos: 1, retain: true });
    const home = list(await call('GET', '/api/v1/retained?q=home/'));
    assert.equal(home.total, 2);
    assert.deepEqual(
      home.items.map((item) => [item['topic'], item['payload'], item['encoding']]),
      [
        ['home/garage/temp', '/wA=', 'base64'],
        ['home/kitchen/temp', '21.5', 'utf8'],
      ],
    );
    const path = `/api/v1/retained/${encodeURIComponent('home/kitchen/temp')}`;
    assert.equal((await call('DELETE', path)).status, 401);
    assert.deepEqual(await call('DELETE', path, { token: TOKEN }), {
      status: 200,
      json: { topic: 'home/kitchen/temp', deleted: true },
    });
    // The path may also carry the topic's slashes as they are.
    assert.equal((await call('DELETE', '/api/v1/retained/office/temp', { token: TOKEN })).status, 200);
    assert.equal((await call('DELETE', path, { token: TOKEN })).status, 404);
    const reader = await RawClient.connect(port, { clientId: 'reader' });
    await reader.subscribe(['home/kitchen/temp', 'office/temp', 'home/garage/temp']);
    const only = await reader.next('publish');
    assert.equal(only.topic, 'home/garage/temp');
    await reader.expectNothing();
  });

  it('publishes a message that MQTT subscribers receive, in UTF-8 or base64, retained when asked', async (t) => {
    const { port, call } = await startApi(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe('cmd/#', 1);
    const sent = await call('POST', '/api/v1/publish', {
      token: TOKEN,
      body: { topic: 'cmd/reboot', payload: 'now', qos: 1 },
    });
    assert.deepEqual(sent, { status: 200, json: { topic: 'cmd/reboot', deliveries: 1 } });
    const message = await sub.next('publish');
    assert.equal(message.topic, 'cmd/reboot');
    assert.equal(message.payload.toString(), 'now');
    assert.equal(message.qos, 1);
    await call('POST', '/api/v1/publish', {
      token: TOKEN,
      body: { topic: 'cmd/bytes', payload: 'AQID', encoding: 'base64', retain: true },
    });
    assert.deepEqual([...(await sub.next('publish')).payload], [1, 2, 3]);
    const late = await RawClient.connect(port, { clientId: 'late' });
    await late.subscribe('cmd/bytes');
    assert.equal((await late.next('publish')).retain, true);
  });

  it('refuses a bad publish with 400 naming the field, and one without the token with 401; nothing is published', async (t) => {
    const { port, call } = await startApi(t);
    const sub = await RawClient.connect(port, { clientId: 'sub' });
    await sub.subscribe('#');
    const cases: [unknown, RegExp][] = [
      ['{not json', /^the body is not JSON/],
      [{ payload: 'x' }, /^topic: /],
      [{ topic: 'a/#' }, /^topic: "a\/#" is not a valid topic name/],
      [{ topic: 'a', qos: 3 }, /^qos: must be 0, 1 or 2/],
      [{ topic: 'a', retain: 'yes' }, /^retain: must be true or false/],
      [{ topic: 'a', encoding: 'hex' }, /^encoding: must be utf8 or base64/],
      [{ topic: 'a', payload: '***', encoding: 'base64' }, /^payload: is not base64/],
      [{ topic: 'a', colour: 'red' }, /unknown field colour/],
    ];
    for (const [body, message] of cases) {
      const reply = await call('POST', '/api/v1/publish', { token: TOKEN, body });
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.match((reply.json['error'] as { message: string }).message, message);
    }
    assert.equal((await call('POST', '/api/v1/publish', { body: { topic: 'a', payload: 'x' } })).status, 401);
    await sub.expectNothing();
  });
});

describe('admin API: bodies', () => {
  it('answers a body larger than the maximum packet size with 413, publishing nothing', async (t) => {
    const { broker, port } = await startBroker(t, { maximumPacketSize: 1024 });
    const admin = new AdminServer(broker, { port: 0, adminToken: TOKEN });
    const { port: httpPort } = await admin.listen();
    t.after(() => admin.close());
    const sub = await RawClient.connect(port, { clientId: 'sub' });
    await sub.subscribe('#');
    const reply = await request(`http://127.0.0.1:${httpPort}`, 'POST', '/api/v1/publish', {
      token: TOKEN,
      body: { topic: 'big', payload: 'x'.repeat(4096) },
    }).catch((err: unknown) => ({ status: -1, json: { error: String(err) } }));
    assert.equal(reply.status, 413, JSON.stringify(reply.json));
    await sub.expectNothing();
  });
});

describe('admin API: the bearer token', () => {
  it('answers a request from an address other than loopback with 401 unless it has the token', async (t) => {
    const address = otherAddress();
    if (address === undefined) {
      if (process.env['CI'] === 'true') assert.fail('CI must have a non-loopback address for this test');
      t.skip(
        'SKIPPED LOUDLY: no non-loopback IPv4 address on this machine (the injected-address test covers the rule)',
      );
      return;
    }
    const { call } = await startApi(t, address);
    const refused = await call('GET', '/api/v1/clients');
    assert.equal(refused.status, 401);
    assert.equal((refused.json['error'] as { code: string }).code, 'unauthorized');
    assert.equal((await call('GET', '/metrics')).status, 401);
    assert.equal((await call('GET', '/api/v1/clients', { token: 'wrong' })).status, 401);
    assert.equal((await call('GET', '/api/v1/clients', { token: `${TOKEN}x` })).status, 401);
    assert.equal((await call('GET', '/api/v1/clients', { token: TOKEN })).status, 200);
  });

  it('applies the rule to the peer address of each request (injected): loopback reads freely, nothing else does', async (t) => {
    const { admin } = await startApi(t);
    const ask = (remoteAddress: string, method: string, url: string, authorization?: string) =>
      admin.dispatch({
        method,
        url,
        remoteAddress,
        headers: authorization === undefined ? {} : { authorization },
        body: Buffer.from(method === 'POST' ? '{"topic":"x"}' : ''),
      });
    assert.equal((await ask('10.1.2.3', 'GET', '/api/v1/sessions')).status, 401);
    assert.equal((await ask('::ffff:10.1.2.3', 'GET', '/health')).status, 401);
    assert.equal((await ask('fd00::7', 'GET', '/api/v1/retained')).status, 401);
    assert.equal((await ask('10.1.2.3', 'GET', '/api/v1/sessions', `Bearer ${TOKEN}`)).status, 200);
    assert.equal((await ask('127.0.0.1', 'GET', '/api/v1/sessions')).status, 200);
    assert.equal((await ask('::1', 'GET', '/metrics')).status, 200);
    assert.equal((await ask('::ffff:127.0.0.1', 'GET', '/ready')).status, 200);
    assert.equal((await ask('127.0.0.1', 'POST', '/api/v1/publish')).status, 401);
    assert.equal((await ask('127.0.0.1', 'POST', '/api/v1/publish', `Basic ${TOKEN}`)).status, 401);
    assert.equal((await ask('127.0.0.1', 'POST', '/api/v1/publish', `Bearer ${TOKEN}`)).status, 200);
  });

  it('refuses every change when no token is configured, even from loopback', async (t) => {
    const { broker } = await startBroker(t);
    const admin = new AdminServer(broker, { port: 0 });
    t.after(() => admin.close());
    const reply = await admin.dispatch({
      method: 'POST',
      url: '/api/v1/publish',
      remoteAddress: '127.0.0.1',
      headers: { authorization: 'Bearer anything' },
      body: Buffer.from('{"topic":"x"}'),
    });
    assert.equal(reply.status, 401);
    assert.match(JSON.stringify(reply.body), /none is configured/);
  });
});
