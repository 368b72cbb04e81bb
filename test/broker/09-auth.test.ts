// 09: authentication. A password file (`user:hash`, scrypt) behind the `authenticate` hook, anonymous
// clients (no user name) admitted on loopback by default, refusals mapped to 3.1.1 return codes and
// 5.0 reason codes, and failed logins from one address slowed down. Each runs for 3.1.1 and 5.0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hashPassword, PasswordFile } from '../../src/auth/password-file.js';
import type { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import type { AuthMethod } from '../../src/broker/hooks.js';
import * as pkt from '../helpers/packets.js';
import type { ConnackIn } from '../helpers/parse.js';
import { RawClient } from '../helpers/raw-client.js';
import { cite, sleep, startBroker, VERSIONS, waitUntil, type CleanupContext } from '../helpers/broker.js';
import { capturingLogger } from '../helpers/log.js';

/** The repository root: this file runs as dist/test/broker/09-auth.test.js. */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Cheap scrypt parameters for the users these tests make (the file format carries them per hash). */
const FAST = { ln: 10, r: 8, p: 1 } as const;

/** 3.1.1 CONNACK return codes and 5.0 reason codes these tests expect. */
const BAD_CREDENTIALS = { 4: 4, 5: 0x86 } as const;
const NOT_AUTHORIZED = { 4: 5, 5: 0x87 } as const;
const SERVER_UNAVAILABLE = { 4: 3, 5: 0x88 } as const;

const label = (version: 4 | 5): string => (version === 5 ? 'v5' : 'v3.1.1');

let dir = '';
let passwordPath = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fennec-09-auth-'));
  passwordPath = join(dir, 'passwords');
  writeFileSync(
    passwordPath,
    [
      '# users of the 09-auth tests',
      '',
      `alice:${await hashPassword('wonderland', FAST)}`,
      `bob:${await hashPassword('builder', FAST)}`,
      `with:colon:${await hashPassword('c', FAST)}`,
      '',
    ].join('\n'),
  );
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** A broker whose `authenticate` hook is the test password file. */
async function passwordBroker(
  t: CleanupContext,
  options: BrokerOptions = {},
): Promise<{ broker: Broker; port: number; file: PasswordFile }> {
  const file = await PasswordFile.load(passwordPath);
  const started = await startBroker(t, { ...options, hooks: { authenticate: file.authenticate } });
  return { ...started, file };
}

/** Sends CONNECT with `options` and returns the CONNACK. */
async function connack(port: number, options: pkt.ConnectOptions): Promise<{ client: RawClient; connack: ConnackIn }> {
  const client = await RawClient.open(port, options.version ?? 4);
  client.send(pkt.connect(options));
  return { client, connack: await client.next('connack', 5000) };
}

/**
 * A loopback listener of the test's own that hands each socket to `broker.handle` saying its local
 * address is `localAddress`: how a broker listening on a public interface sees its clients.
 */
async function relabelledListener(
  t: CleanupContext,
  broker: Broker,
  localAddress: string | undefined,
): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket, { remoteAddress: '198.51.100.7', remotePort: socket.remotePort, localAddress });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

for (const version of VERSIONS) {
  describe(`09 password file (${label(version)})`, () => {
    it('accepts a user with the right password', async (t) => {
      const { port } = await passwordBroker(t);
      const client = await RawClient.connect(port, {
        version,
        clientId: 'alice-1',
        username: 'alice',
        password: 'wonderland',
      });
      assert.equal(client.connack.reasonCode, 0);
      await client.ping();
    });

    it('accepts a user name holding a colon (a line splits at its last colon)', async (t) => {
      const { port } = await passwordBroker(t);
      const client = await RawClient.connect(port, {
        version,
        clientId: 'colon',
        username: 'with:colon',
        password: 'c',
      });
      assert.equal(client.connack.reasonCode, 0);
    });

    it(`${cite(version, 'MQTT-3.2.2-4 MQTT-3.2.2-5', 'MQTT-3.1.4-2 MQTT-3.2.2-6 MQTT-3.2.2-7')} refuses a wrong password with ${version === 5 ? 'CONNACK 0x86' : 'return code 4'}, Session Present 0, and closes`, async (t) => {
      const { port } = await passwordBroker(t);
      const { client, connack: ack } = await connack(port, {
        version,
        clientId: 'alice-2',
        username: 'alice',
        password: 'looking-glass',
      });
      assert.equal(ack.reasonCode, BAD_CREDENTIALS[version]);
      assert.equal(ack.sessionPresent, false);
      await client.closed();
    });

    it(`refuses an unknown user with ${version === 5 ? 'CONNACK 0x86' : 'return code 4'}`, async (t) => {
      const { port } = await passwordBroker(t);
      const { client, connack: ack } = await connack(port, {
        version,
        clientId: 'mallory',
        username: 'mallory',
        password: 'wonderland',
      });
      assert.equal(ack.reasonCode, BAD_CREDENTIALS[version]);
      await client.closed();
    });

    it('refuses a known user who sends no password', async (t) => {
      const { port } = await passwordBroker(t);
      const { client, connack: ack } = await connack(port, { version, clientId: 'nopw', username: 'bob' });
      assert.equal(ack.reasonCode, BAD_CREDENTIALS[version]);
      await client.closed();
    });

    it('refuses a user deleted with `fennec passwd -D` once the file is reloaded, and keeps the others', async (t) => {
      const path = join(dir, `deleted-${version}`);
      writeFileSync(path, `carol:${await hashPassword('one', FAST)}\ndave:${await hashPassword('two', FAST)}\n`, {
        mode: 0o600,
      });
      const file = await PasswordFile.load(path);
      const { port } = await startBroker(t, { hooks: { authenticate: file.authenticate } });
      (await RawClient.connect(port, { version, clientId: 'c1', username: 'carol', password: 'one' })).destroy();
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, [join(root, 'bin', 'fennec.js'), 'passwd', '-D', path, 'carol'], {
          stdio: 'ignore',
          timeout: 10_000,
        });
        child.on('error', reject);
        child.on('close', resolve);
      });
      assert.equal(code, 0, 'fennec passwd -D exits with 0');
      // Still in memory until the file is read again.
      (await RawClient.connect(port, { version, clientId: 'c2', username: 'carol', password: 'one' })).destroy();
      assert.equal(await file.reload(), 1);
      const refused = await connack(port, { version, clientId: 'c3', username: 'carol', password: 'one' });
      assert.equal(refused.connack.reasonCode, BAD_CREDENTIALS[version]);
      const dave = await RawClient.connect(port, { version, clientId: 'd', username: 'dave', password: 'two' });
      assert.equal(dave.connack.reasonCode, 0);
    });

    it('keeps the users it had when a reload finds a bad file', async (t) => {
      const path = join(dir, `bad-reload-${version}`);
      writeFileSync(path, `erin:${await hashPassword('three', FAST)}\n`);
      const file = await PasswordFile.load(path);
      const { port } = await startBroker(t, { hooks: { authenticate: file.authenticate } });
      writeFileSync(path, 'erin-without-a-hash\n');
      await assert.rejects(file.reload(), { code: 'ERR_PASSWORD_FILE', message: `${path}:1: expected user:hash` });
      const client = await RawClient.connect(port, { version, clientId: 'e', username: 'erin', password: 'three' });
      assert.equal(client.connack.reasonCode, 0);
    });

    it('logs each failed login once at warn with the remote address and client id, never the password', async (t) => {
      const { logger, lines, raw } = capturingLogger();
      const { port } = await passwordBroker(t, { logger });
      const { client } = await connack(port, {
        version,
        clientId: 'logged',
        username: 'alice',
        password: 'secret-guess-1234',
      });
      await client.closed();
      const refusals = lines.filter((line) => line['msg'] === 'login refused');
      assert.equal(refusals.length, 1, JSON.stringify(lines));
      const [entry] = refusals;
      assert.equal(entry?.['level'], 40, 'warn');
      assert.equal(entry?.['clientId'], 'logged');
      assert.equal(entry?.['remoteAddress'], '127.0.0.1');
      assert.equal(entry?.['reasonCode'], 0x86);
      assert.ok(!raw.join('\n').includes('secret-guess-1234'), 'the password is not logged');
    });
  });

  describe(`09 anonymous clients (${label(version)})`, () => {
    it('admits a client without a user name on a loopback address by default, password file or not', async (t) => {
      const { port } = await passwordBroker(t);
      const client = await RawClient.connect(port, { version, clientId: 'anon-loopback' });
      assert.equal(client.connack.reasonCode, 0);
      const bare = await startBroker(t);
      (await RawClient.connect(bare.port, { version, clientId: 'anon-bare' })).destroy();
    });

    it(`refuses a client without a user name with ${version === 5 ? 'CONNACK 0x87' : 'return code 5'} when allowAnonymous is false`, async (t) => {
      const { port } = await passwordBroker(t, { allowAnonymous: false });
      const { client, connack: ack } = await connack(port, { version, clientId: 'anon-refused' });
      assert.equal(ack.reasonCode, NOT_AUTHORIZED[version]);
      await client.closed();
      // A user with a password still gets in.
      const alice = await RawClient.connect(port, {
        version,
        clientId: 'a',
        username: 'alice',
        password: 'wonderland',
      });
      assert.equal(alice.connack.reasonCode, 0);
    });

    it('refuses a client without a user name by default when the local address is not loopback', async (t) => {
      const { broker } = await startBroker(t);
      const port = await relabelledListener(t, broker, '203.0.113.5');
      const { client, connack: ack } = await connack(port, { version, clientId: 'anon-public' });
      assert.equal(ack.reasonCode, NOT_AUTHORIZED[version]);
      await client.closed();
    });

    it('refuses a client without a user name by default on a transport that gives no local address', async (t) => {
      const { broker } = await startBroker(t);
      const port = await relabelledListener(t, broker, undefined);
      const { connack: ack } = await connack(port, { version, clientId: 'anon-unknown' });
      assert.equal(ack.reasonCode, NOT_AUTHORIZED[version]);
    });

    it('admits a client without a user name on a non-loopback address when allowAnonymous is true', async (t) => {
      const { broker } = await startBroker(t, { allowAnonymous: true });
      const port = await relabelledListener(t, broker, '203.0.113.5');
      const client = await RawClient.connect(port, { version, clientId: 'anon-allowed' });
      assert.equal(client.connack.reasonCode, 0);
    });

    it('admits a user with a password on a non-loopback address by default', async (t) => {
      const { broker } = await passwordBroker(t);
      const port = await relabelledListener(t, broker, '203.0.113.5');
      const client = await RawClient.connect(port, { version, clientId: 'a', username: 'bob', password: 'builder' });
      assert.equal(client.connack.reasonCode, 0);
    });
  });

  describe(`09 authenticate hooks (${label(version)})`, () => {
    it(`a hook that throws refuses the client (${version === 5 ? 'CONNACK 0x88' : 'return code 3'}) and the broker serves the next one`, async (t) => {
      let calls = 0;
      const { port } = await startBroker(t, {
        hooks: {
          authenticate: (request) => {
            calls++;
            if (request.username === 'boom') throw new Error('directory offline');
            return { ok: true };
          },
        },
      });
      const { client, connack: ack } = await connack(port, {
        version,
        clientId: 'boom',
        username: 'boom',
        password: 'x',
      });
      assert.equal(ack.reasonCode, SERVER_UNAVAILABLE[version]);
      await client.closed();
      const next = await RawClient.connect(port, { version, clientId: 'fine', username: 'fine', password: 'x' });
      assert.equal(next.connack.reasonCode, 0);
      assert.equal(calls, 2);
    });

    it('a hook whose promise rejects refuses the client the same way', async (t) => {
      const { port } = await startBroker(t, {
        hooks: { authenticate: () => Promise.reject(new Error('timeout')) },
      });
      const { connack: ack } = await connack(port, { version, clientId: 'rej', username: 'u', password: 'p' });
      assert.equal(ack.reasonCode, SERVER_UNAVAILABLE[version]);
    });

    it(`a hook that answers Not authorized gets ${version === 5 ? 'CONNACK 0x87' : 'return code 5'} and counts as a failed login`, async (t) => {
      const { broker, port } = await startBroker(t, {
        hooks: { authenticate: () => ({ ok: false, reasonCode: 0x87, reasonString: 'banned' }) },
      });
      const { connack: ack } = await connack(port, { version, clientId: 'banned', username: 'u', password: 'p' });
      assert.equal(ack.reasonCode, NOT_AUTHORIZED[version]);
      if (version === 5) assert.equal(ack.properties.reasonString, 'banned');
      assert.equal(broker.counters.loginFailures, 1);
    });
  });

  describe(`09 failed logins slowed down (${label(version)})`, () => {
    it('delays refusals past the free ones, without holding up other clients, and counts them', async (t) => {
      const firstDelayMs = 400;
      const { broker, port } = await passwordBroker(t, {
        loginFailureFreeAttempts: 1,
        loginFailureFirstDelayMs: firstDelayMs,
        loginFailureMaxDelayMs: 800,
      });
      const bad = { version, username: 'alice', password: 'nope' } as const;
      const free = await connack(port, { ...bad, clientId: 'guess-1' });
      assert.equal(free.connack.reasonCode, BAD_CREDENTIALS[version]);
      assert.equal(broker.counters.loginFailuresDelayed, 0);

      // The second failure from 127.0.0.1 waits; meanwhile a good login goes through at once.
      const started = Date.now();
      const order: string[] = [];
      const slow = connack(port, { ...bad, clientId: 'guess-2' }).then((result) => {
        order.push('refusal');
        return result;
      });
      // Once the second failure is counted (a good login before it would clear the first one)
      await waitUntil(() => broker.counters.loginFailures === 2, 'the second failure counted');
      const good = await RawClient.connect(port, { version, clientId: 'good', username: 'bob', password: 'builder' });
      order.push('good login');
      await good.ping();
      const refused = await slow;
      const elapsed = Date.now() - started;
      assert.equal(refused.connack.reasonCode, BAD_CREDENTIALS[version]);
      assert.deepEqual(order, ['good login', 'refusal']);
      // Generous bound: the timer never fires early, and scheduling only adds to it.
      assert.ok(
        elapsed >= firstDelayMs - 50,
        `the refusal came after ${elapsed} ms, before the ${firstDelayMs} ms delay`,
      );
      assert.equal(broker.counters.loginFailures, 2);
      assert.equal(broker.counters.loginFailuresDelayed, 1);
      // The good login came after the second failure was counted, and cleared the address's count.
      assert.equal(broker.failedLogins.failures('127.0.0.1'), 0);
    });

    it('a successful login clears the failure count of its address, so the next mistake is not delayed', async (t) => {
      const { broker, port } = await passwordBroker(t, {
        loginFailureFreeAttempts: 1,
        loginFailureFirstDelayMs: 5000,
        loginFailureMaxDelayMs: 5000,
      });
      const bad = { version, username: 'alice', password: 'nope' } as const;
      assert.equal((await connack(port, { ...bad, clientId: 'typo-1' })).connack.reasonCode, BAD_CREDENTIALS[version]);
      assert.equal(broker.failedLogins.failures('127.0.0.1'), 1);
      const good = await RawClient.connect(port, { version, clientId: 'right', username: 'bob', password: 'builder' });
      assert.equal(broker.failedLogins.failures('127.0.0.1'), 0);
      await good.disconnect();
      // Without the reset this would be the second failure in the window, refused only after 5 s.
      const again = await connack(port, { ...bad, clientId: 'typo-2' });
      assert.equal(again.connack.reasonCode, BAD_CREDENTIALS[version]);
      assert.equal(broker.counters.loginFailuresDelayed, 0);
      assert.equal(broker.failedLogins.failures('127.0.0.1'), 1);
    });

    it('an anonymous login does not clear the failure count of its address', async (t) => {
      const file = await PasswordFile.load(passwordPath);
      const { broker, port } = await startBroker(t, { hooks: { authenticate: file.authenticate } }); // anonymous allowed on loopback
      const bad = { version, username: 'alice', password: 'nope' } as const;
      assert.equal((await connack(port, { ...bad, clientId: 'typo-1' })).connack.reasonCode, BAD_CREDENTIALS[version]);
      const anonymous = await RawClient.connect(port, { version, clientId: 'anon' });
      await anonymous.ping();
      assert.equal(broker.failedLogins.failures('127.0.0.1'), 1);
    });

    it(`${cite(version, 'MQTT-3.1.4-5', 'MQTT-3.1.4-6')} a PUBLISH sent right after a CONNECT whose refusal is delayed is never processed`, async (t) => {
      const { broker, port } = await passwordBroker(t, { loginFailureFreeAttempts: 0, loginFailureFirstDelayMs: 300 });
      const watcher = await RawClient.connect(port, {
        version,
        clientId: 'watcher',
        username: 'bob',
        password: 'builder',
      });
      await watcher.subscribe('leak/#');
      const intruder = await RawClient.open(port, version);
      intruder.send(
        pkt.connect({ version, clientId: 'intruder', username: 'alice', password: 'nope' }),
        pkt.publish(version, { topic: 'leak/data', payload: 'should not pass' }),
      );
      const ack = await intruder.next('connack', 5000);
      assert.equal(ack.reasonCode, BAD_CREDENTIALS[version]);
      await intruder.closed();
      assert.equal(broker.counters.loginFailuresDelayed, 1);
      await watcher.ping();
      assert.equal(broker.counters.messagesReceived, 0);
      assert.deepEqual(watcher.unread, []);
    });

    it('does not delay anything with loginFailureFirstDelayMs 0', async (t) => {
      const { broker, port } = await passwordBroker(t, { loginFailureFreeAttempts: 0, loginFailureFirstDelayMs: 0 });
      for (let i = 0; i < 3; i++) {
        const { connack: ack } = await connack(port, { version, clientId: `g${i}`, username: 'x', password: 'y' });
        assert.equal(ack.reasonCode, BAD_CREDENTIALS[version]);
      }
      assert.equal(broker.counters.loginFailures, 3);
      assert.equal(broker.counters.loginFailuresDelayed, 0);
    });

    it('a client that hangs up during the delay is simply closed; the broker goes on', async (t) => {
      const { broker, port } = await passwordBroker(t, {
        loginFailureFreeAttempts: 0,
        loginFailureFirstDelayMs: 300,
      });
      const quitter = await RawClient.open(port, version);
      quitter.send(pkt.connect({ version, clientId: 'quitter', username: 'alice', password: 'nope' }));
      await waitUntil(() => broker.counters.loginFailuresDelayed === 1, 'the refusal is delayed', 3000);
      quitter.destroy();
      await sleep(400);
      assert.equal(broker.counters.loginFailures, 1);
      const client = await RawClient.connect(port, {
        version,
        clientId: 'after',
        username: 'bob',
        password: 'builder',
      });
      assert.equal(client.connack.reasonCode, 0);
    });
  });
}

describe('09 enhanced authentication failures (v5)', () => {
  it('an enhanced authentication method that refuses with 0x87 counts as a failed login and is logged', async (t) => {
    const deny: AuthMethod = {
      start: () => ({ step: () => ({ kind: 'failure', reasonCode: 0x87, reasonString: 'no' }) }),
    };
    const { logger, lines } = capturingLogger();
    const { broker, port } = await startBroker(t, { hooks: { authMethods: { DENY: deny } }, logger });
    const { connack: ack } = await connack(port, {
      version: 5,
      clientId: 'enh',
      properties: { authenticationMethod: 'DENY' },
    });
    assert.equal(ack.reasonCode, 0x87);
    assert.equal(broker.counters.loginFailures, 1);
    assert.equal(lines.filter((line) => line['msg'] === 'login refused').length, 1);
  });

  it('a CONNECT naming an Authentication Method is not anonymous: allowAnonymous false leaves it to the method', async (t) => {
    const allow: AuthMethod = { start: () => ({ step: () => ({ kind: 'success' }) }) };
    const { port } = await startBroker(t, { hooks: { authMethods: { ALLOW: allow } }, allowAnonymous: false });
    const client = await RawClient.connect(port, {
      version: 5,
      clientId: 'enh-ok',
      properties: { authenticationMethod: 'ALLOW' },
    });
    assert.equal(client.connack.reasonCode, 0);
  });
});
