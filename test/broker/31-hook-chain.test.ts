// 31: hooks that combine. Several hooks objects chain per kind in registration order: each answers
// or abstains (undefined), the first decisive answer wins, and all abstaining allows; a hook that
// throws refuses with its kind's reason code, is logged by name, and crashes nothing; the password
// file, the ACL and an embedder's hook work together; observations also go out on
// node:diagnostics_channel. Each protocol test runs for 3.1.1 and 5.0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Acl, aclHooks } from '../../src/auth/acl.js';
import { hashPassword, PasswordFile } from '../../src/auth/password-file.js';
import { Broker } from '../../src/broker/broker.js';
import type { AuthMethod, BrokerHooks } from '../../src/broker/hooks.js';
import { FennecError } from '../../src/errors/index.js';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { cite, sleep, startBroker, VERSIONS, waitUntil } from '../helpers/broker.js';
import { capturingLogger } from '../helpers/log.js';

/** Cheap scrypt parameters for the test users (the file format carries them per hash). */
const FAST = { ln: 10, r: 8, p: 1 } as const;

let dir = '';
let passwordPath = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fennec-31-hooks-'));
  passwordPath = join(dir, 'passwords');
  const lines = [`alice:${await hashPassword('wonderland', FAST)}`, `monitor:${await hashPassword('watch', FAST)}`];
  writeFileSync(passwordPath, `${lines.join('\n')}\n`);
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** A message the broker itself publishes (as $SYS would be). */
function brokerMessage(topic: string, payload: string): Parameters<Broker['publish']>[0] {
  return {
    topic,
    payload: Buffer.from(payload),
    qos: 0,
    retain: false,
    properties: undefined,
    publisherId: '',
    receivedAt: Date.now(),
  };
}

for (const v of VERSIONS) {
  const refusedPublish = v === 5 ? 0x87 : 0; // 3.1.1 acknowledges an unauthorized PUBLISH [MQTT-3.3.5-2]
  const refusedFilter = v === 5 ? 0x87 : 0x80;
  const noSubscribers = v === 5 ? 0x10 : 0; // 5.0 PUBACK says when nobody was subscribed
  const connect = (port: number, clientId: string, extra: pkt.ConnectOptions = {}) =>
    RawClient.connect(port, { version: v, clientId, ...extra });
  /** Sends CONNECT and returns the reason code (3.1.1: return code) of the CONNACK. */
  const connackCode = async (port: number, options: pkt.ConnectOptions): Promise<number> => {
    const client = await RawClient.open(port, v);
    client.send(pkt.connect({ version: v, ...options }));
    const connack = await client.next('connack', 5000);
    if (connack.reasonCode !== 0) await client.closed();
    return connack.reasonCode;
  };

  describe(`31 hook chains (v${v})`, () => {
    it(`${cite(v, 'MQTT-3.3.5-2', 'MQTT-3.3.5-2')} a PUBLISH the first hook abstains on and the second refuses is ${v === 5 ? 'refused with PUBACK 0x87' : 'acknowledged'} and not routed (v${v})`, async (t) => {
      const asked: string[] = [];
      const { port } = await startBroker(t, {
        hooks: [
          {
            name: 'first',
            authorizePublish: (_client, topic) => {
              asked.push(`first ${topic}`);
              return undefined;
            },
          },
          {
            name: 'second',
            authorizePublish: (_client, topic) => {
              asked.push(`second ${topic}`);
              return !topic.startsWith('secret/');
            },
          },
        ],
      });
      const reader = await connect(port, 'reader');
      await reader.subscribe('#', 1);
      const writer = await connect(port, 'writer');
      assert.equal(await writer.publish({ topic: 'secret/x', qos: 1, payload: 'no' }), refusedPublish);
      await reader.expectNothing(100);
      assert.equal(await writer.publish({ topic: 'open/x', qos: 1, payload: 'yes' }), 0);
      assert.equal((await reader.receive()).topic, 'open/x');
      assert.deepEqual(asked, ['first secret/x', 'second secret/x', 'first open/x', 'second open/x']);
    });

    it(`${cite(v, 'MQTT-3.8.4-5', 'MQTT-3.8.4-7')} the first decisive answer wins, whether it allows or refuses, and the hooks after it are not asked (v${v})`, async (t) => {
      const askedSecond: string[] = [];
      const { port } = await startBroker(t, {
        hooks: [
          {
            authorizeSubscribe: (_client, filter) =>
              filter === 'granted/#' ? true : filter === 'refused/#' ? false : undefined,
          },
          {
            authorizeSubscribe: (_client, filter) => {
              askedSecond.push(filter);
              return filter !== 'granted/#';
            },
          },
        ],
      });
      const client = await connect(port, 'subscriber');
      const codes = await client.subscribe(['granted/#', 'refused/#', 'other/#'], 1);
      assert.deepEqual(codes, [1, refusedFilter, 1]);
      assert.deepEqual(askedSecond, ['other/#'], 'asked only about the filter the first hook abstained on');
    });

    it(`a delivery the first read hook abstains on and the second refuses is skipped, and one every hook abstains on is made (v${v})`, async (t) => {
      const { port } = await startBroker(t, {
        hooks: [
          { authorizeRead: (): undefined => undefined },
          { authorizeRead: (_client, topic) => (topic.startsWith('hidden/') ? false : undefined) },
        ],
      });
      const reader = await connect(port, 'reader');
      await reader.subscribe('#', 0);
      const writer = await connect(port, 'writer');
      await writer.publish({ topic: 'hidden/x', payload: 'no' });
      await writer.publish({ topic: 'shown/x', payload: 'yes' });
      const received = await reader.receive();
      assert.equal(received.topic, 'shown/x');
      await reader.expectNothing(50);
    });

    it(`every hook abstaining allows the CONNECT, the SUBSCRIBE, the PUBLISH and the delivery, as no hook does (v${v})`, async (t) => {
      const abstain = (): undefined => undefined;
      const { port } = await startBroker(t, {
        hooks: {
          authenticate: abstain,
          authorizePublish: abstain,
          authorizeSubscribe: abstain,
          authorizeRead: abstain,
        },
      });
      const reader = await connect(port, 'reader', { username: 'nobody', password: 'anything' });
      assert.deepEqual(await reader.subscribe('a/#', 1), [1]);
      const writer = await connect(port, 'writer');
      assert.equal(await writer.publish({ topic: 'a/b', qos: 1, payload: 'hi' }), 0);
      assert.equal((await reader.receive()).payload.toString(), 'hi');
    });

    it(`${cite(v, 'MQTT-3.1.4-2', 'MQTT-3.1.4-2')} the password file, the ACL and an embedder's hook work together, each deciding what the hooks before it left (v${v})`, async (t) => {
      const passwords = await PasswordFile.load(passwordPath);
      const acl = Acl.parse(
        ['user alice', 'topic readwrite alice/#', 'topic write status/#', 'user monitor', 'topic read status/#'].join(
          '\n',
        ),
        '31.acl',
      );
      const isMonitorOfSys = (username: string | undefined, topic: string): true | undefined =>
        username === 'monitor' && topic.startsWith('$SYS/') ? true : undefined;
      // Registered before the ACL, so that what it grants the ACL's default deny does not take away.
      const embedder: BrokerHooks = {
        name: 'embedder',
        authenticate: (request) =>
          request.clientId.startsWith('banned-') ? { ok: false, reasonCode: 0x8a, reasonString: 'banned' } : undefined,
        authorizeSubscribe: (client, filter) => isMonitorOfSys(client.username, filter),
        authorizeRead: (client, topic) => isMonitorOfSys(client.username, topic),
      };
      const { broker, port } = await startBroker(t, {
        allowAnonymous: false,
        hooks: [embedder, passwords.hooks, aclHooks(acl)],
      });
      assert.deepEqual(broker.hooks.names, ['allow-anonymous', 'embedder', 'password-file', 'acl']);
      const alice = { username: 'alice', password: 'wonderland' };
      assert.equal(await connackCode(port, { clientId: 'anonymous' }), v === 5 ? 0x87 : 5, 'allow_anonymous refuses');
      assert.equal(
        await connackCode(port, { clientId: 'a', username: 'alice', password: 'guess' }),
        v === 5 ? 0x86 : 4,
        'the password file refuses a wrong password',
      );
      assert.equal(
        await connackCode(port, { clientId: 'banned-1', ...alice }),
        v === 5 ? 0x8a : 5,
        "the embedder's hook refuses before the password file is asked",
      );
      const monitor = await connect(port, 'monitor-1', { username: 'monitor', password: 'watch' });
      assert.deepEqual(await monitor.subscribe(['$SYS/#', 'status/#', 'alice/#']), [0, 0, refusedFilter]);
      const writer = await connect(port, 'alice-1', alice);
      assert.equal(await writer.publish({ topic: 'alice/notes', qos: 1, payload: 'mine' }), noSubscribers);
      assert.equal(await writer.publish({ topic: 'bob/notes', qos: 1, payload: 'not mine' }), refusedPublish);
      assert.equal(await writer.publish({ topic: 'status/alice', qos: 1, payload: 'online' }), 0);
      assert.equal((await monitor.receive()).topic, 'status/alice', 'the ACL lets the monitor read status/#');
      broker.publish(brokerMessage('$SYS/broker/clients', '2'));
      assert.equal((await monitor.receive()).topic, '$SYS/broker/clients', "the embedder's hook lets it read $SYS");
      await monitor.expectNothing(50);
    });

    it(`a hook that throws or rejects refuses with its kind's reason code, is logged once with its name, and the broker goes on (v${v})`, async (t) => {
      const { logger, lines } = capturingLogger();
      let afterAsked = 0;
      const { port } = await startBroker(t, {
        logger,
        hooks: [
          {
            name: 'fragile',
            authenticate: (request) => {
              if (request.clientId === 'boom') throw new Error('user database down');
              return undefined;
            },
            authorizePublish: (_client, topic) => {
              if (topic === 'boom') throw new Error('policy service down');
              return undefined;
            },
            authorizeSubscribe: (_client, filter) =>
              filter === 'boom/#' ? Promise.reject(new Error('policy service timed out')) : Promise.resolve(undefined),
          },
          {
            name: 'after',
            authorizePublish: () => {
              afterAsked++;
              return true;
            },
          },
        ],
      });
      assert.equal(
        await connackCode(port, { clientId: 'boom', username: 'u', password: 'secret-password' }),
        v === 5 ? 0x88 : 3,
        'a failing authenticate hook is Server unavailable',
      );
      const client = await connect(port, 'survivor');
      assert.equal(await client.publish({ topic: 'boom', qos: 1, payload: 'x' }), refusedPublish);
      assert.equal(afterAsked, 0, 'a failure ends the chain');
      assert.deepEqual(await client.subscribe(['boom/#', 'fine/#'], 1), [refusedFilter, 1]);
      const another = await connect(port, 'another');
      assert.equal(await another.publish({ topic: 'fine/x', qos: 1, payload: 'ok' }), 0);
      assert.equal((await client.receive()).topic, 'fine/x');
      const failures = lines.filter((line) => line['msg'] === 'hook failed');
      assert.deepEqual(
        failures.map((line) => [line['hook'], line['kind'], line['clientId'], line['err']]),
        [
          ['fragile', 'authenticate', 'boom', 'user database down'],
          ['fragile', 'authorizePublish', 'survivor', 'policy service down'],
          ['fragile', 'authorizeSubscribe', 'survivor', 'policy service timed out'],
        ],
      );
      assert.ok(!JSON.stringify(lines).includes('secret-password'), 'the password is never logged');
    });

    it(`an asynchronous chain decides in order and keeps the order of the client's packets (v${v})`, async (t) => {
      const slowAbstain = async (): Promise<undefined> => {
        await sleep(20);
        return undefined;
      };
      const { port } = await startBroker(t, {
        hooks: [
          { authenticate: slowAbstain, authorizePublish: slowAbstain },
          {
            authenticate: async (request) => {
              await sleep(5);
              return request.username === 'mallory' ? { ok: false, reasonCode: 0x86 } : { ok: true };
            },
            authorizePublish: (_client, topic) => topic !== 'no',
          },
        ],
      });
      assert.equal(await connackCode(port, { clientId: 'm', username: 'mallory', password: 'x' }), v === 5 ? 0x86 : 4);
      const reader = await connect(port, 'reader', { username: 'reader' });
      await reader.subscribe('#', 1);
      const writer = await connect(port, 'writer', { username: 'writer' });
      // Three QoS 1 PUBLISHes at once: each waits for the slow hook, and they are answered in order.
      writer.send(
        pkt.publish(v, { topic: 'a', qos: 1, packetId: 1, payload: '1' }),
        pkt.publish(v, { topic: 'no', qos: 1, packetId: 2, payload: '2' }),
        pkt.publish(v, { topic: 'b', qos: 1, packetId: 3, payload: '3' }),
      );
      const acks = [await writer.next('puback'), await writer.next('puback'), await writer.next('puback')];
      assert.deepEqual(
        acks.map((ack) => [ack.packetId, ack.reasonCode]),
        [
          [1, 0],
          [2, refusedPublish],
          [3, 0],
        ],
      );
      assert.equal((await reader.receive()).topic, 'a');
      assert.equal((await reader.receive()).topic, 'b');
    });

    it(`a hooks object added to a running broker is asked after the others, and one removed is asked no more (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { hooks: { name: 'base', authorizePublish: () => undefined } });
      const reader = await connect(port, 'reader');
      await reader.subscribe('#', 0);
      const client = await connect(port, 'client');
      const freeze: BrokerHooks = {
        name: 'freeze',
        authorizePublish: (_client, topic) => !topic.startsWith('frozen/'),
      };
      broker.hooks.add(freeze);
      assert.deepEqual(broker.hooks.names, ['allow-anonymous', 'base', 'freeze']);
      assert.equal(await client.publish({ topic: 'frozen/x', qos: 1, payload: 'x' }), refusedPublish);
      assert.equal(broker.hooks.remove(freeze), true);
      assert.equal(broker.hooks.remove(freeze), false, 'it was removed already');
      assert.equal(await client.publish({ topic: 'frozen/x', qos: 1, payload: 'x' }), 0);
    });

    it(`diagnostics_channel subscribers receive connected, subscribed, published, unsubscribed and disconnected, with their broker (v${v})`, async (t) => {
      const names = [
        'fennec:client.connected',
        'fennec:subscribed',
        'fennec:published',
        'fennec:unsubscribed',
        'fennec:client.disconnected',
      ];
      const seen: { channel: string; message: Record<string, unknown> }[] = [];
      const listeners = names.map((channel) => {
        const listener = (message: unknown): void => {
          seen.push({ channel, message: message as Record<string, unknown> });
        };
        diagnosticsChannel.subscribe(channel, listener);
        return () => diagnosticsChannel.unsubscribe(channel, listener);
      });
      t.after(() => listeners.forEach((unsubscribe) => unsubscribe()));
      const { broker, port } = await startBroker(t);
      const client = await connect(port, 'traced', { username: 'tracer' });
      await client.subscribe('d/#', 0);
      await client.publish({ topic: 'd/x', payload: 'payload' });
      await client.receive();
      await client.unsubscribe('d/#');
      await client.disconnect();
      await waitUntil(() => seen.some((event) => event.channel === 'fennec:client.disconnected'), 'disconnected');
      const ours = seen.filter((event) => event.message['broker'] === broker);
      assert.deepEqual(
        ours.map((event) => event.channel),
        names,
      );
      const [connected, subscribed, published, unsubscribed, disconnected] = ours.map((event) => event.message);
      const client1 = connected!['client'] as { clientId: string; username: string; sessionPresent: boolean };
      assert.equal(client1.clientId, 'traced');
      assert.equal(client1.username, 'tracer');
      assert.equal(client1.sessionPresent, false);
      const subscriptions = subscribed!['subscriptions'] as { topicFilter: string }[];
      assert.deepEqual(
        subscriptions.map((subscription) => subscription.topicFilter),
        ['d/#'],
      );
      const message = published!['message'] as { topic: string; payload: Buffer };
      assert.equal(message.topic, 'd/x');
      assert.equal(message.payload.toString(), 'payload');
      assert.equal(published!['deliveries'], 1);
      assert.deepEqual(unsubscribed!['topicFilters'], ['d/#']);
      assert.equal((disconnected!['client'] as { clientId: string }).clientId, 'traced');
    });
  });
}

describe('31 hook chains (v5 only)', () => {
  it('redirectConnect chains: the first Redirection wins, after hooks that abstain, and a CONNECT all abstain on goes on (v5)', async (t) => {
    const { port } = await startBroker(t, {
      hooks: [
        { redirectConnect: (): undefined => undefined },
        {
          redirectConnect: (client) =>
            Promise.resolve(
              client.clientId === 'moved' ? { serverReference: 'new.example.com', permanent: true } : undefined,
            ),
        },
        {
          redirectConnect: (client) =>
            client.clientId.startsWith('mov') ? { serverReference: 'never.example.com', permanent: false } : undefined,
        },
      ],
    });
    const moved = await RawClient.open(port, 5);
    moved.send(pkt.connect({ version: 5, clientId: 'moved' }));
    const connack = await moved.next('connack');
    assert.equal(connack.reasonCode, 0x9d);
    assert.equal(connack.properties.serverReference, 'new.example.com');
    await moved.closed();
    const stays = await RawClient.connect(port, { version: 5, clientId: 'stays' });
    assert.equal(stays.connack.properties.serverReference, undefined);
  });

  it('the authMethods of several hooks objects merge by name (v5)', async (t) => {
    const accept: AuthMethod = { start: () => ({ step: () => ({ kind: 'success' }) }) };
    const { port } = await startBroker(t, {
      hooks: [{ authMethods: { ONE: accept } }, { authMethods: { TWO: accept } }],
    });
    for (const method of ['ONE', 'TWO']) {
      const client = await RawClient.connect(port, {
        version: 5,
        clientId: method,
        properties: { authenticationMethod: method },
      });
      assert.equal(client.connack.properties.authenticationMethod, method);
    }
  });
});

describe('31 hook registration', () => {
  const invalid = (fn: () => unknown, pattern: RegExp): void =>
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof FennecError);
      assert.equal(err.code, 'ERR_INVALID_HOOKS');
      assert.match(err.message, pattern);
      return true;
    });

  it('refuses a misspelt hook, a hook that is not a function and an object registered twice, registering nothing', () => {
    const misspelt = { authorisePublish: () => true } as unknown as BrokerHooks;
    invalid(() => new Broker({ hooks: misspelt }), /hooks #2: authorisePublish is not a hook/);
    const broker = new Broker();
    invalid(
      () => broker.hooks.add({ name: 'odd', authenticate: 'yes' } as unknown as BrokerHooks),
      /odd: authenticate/,
    );
    const once: BrokerHooks = { name: 'once' };
    broker.hooks.add(once);
    invalid(() => broker.hooks.add(once), /once: is already registered/);
    assert.deepEqual(broker.hooks.names, ['allow-anonymous', 'once']);
  });

  it('refuses an authentication method name registered twice, and keeps the first', () => {
    const method: AuthMethod = { start: () => ({ step: () => ({ kind: 'success' }) }) };
    const broker = new Broker({ hooks: { name: 'scram', authMethods: { 'SCRAM-SHA-256': method } } });
    invalid(
      () => broker.hooks.add({ name: 'other', authMethods: { 'SCRAM-SHA-256': method } }),
      /other: authentication method "SCRAM-SHA-256" is already registered by scram/,
    );
    assert.deepEqual(broker.hooks.names, ['allow-anonymous', 'scram']);
    assert.equal(broker.hooks.authMethods.get('SCRAM-SHA-256'), method);
  });

  it('accepts an instance of a class, calling its methods with the instance as this', async (t) => {
    class Quota {
      private readonly allowed = new Set(['quota/ok']);
      authorizePublish(_client: unknown, topic: string): boolean {
        return this.allowed.has(topic);
      }
    }
    const { port } = await startBroker(t, { hooks: new Quota() });
    const client = await RawClient.connect(port, { version: 5, clientId: 'quota' });
    assert.equal(await client.publish({ topic: 'quota/ok', qos: 1, payload: 'x' }), 0x10, 'allowed, no subscribers');
    assert.equal(await client.publish({ topic: 'quota/no', qos: 1, payload: 'x' }), 0x87);
  });
});
