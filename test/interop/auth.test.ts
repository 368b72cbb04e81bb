// Clients nobody here wrote against a Fennec broker with a password file: MQTT.js (3.1.1 and 5.0)
// and Mosquitto's `mosquitto_pub -u -P` / `mosquitto_sub -u -P`.
import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword, PasswordFile } from '../../src/auth/password-file.js';
import type { Broker } from '../../src/broker/broker.js';
import {
  ClientPool,
  killAllPrograms,
  portOf,
  requireProgram,
  runProgram,
  startBroker,
  waitForBrokerEvent,
} from './support.js';

/** Longest any one mosquitto_* process may run before it is killed, in ms. */
const PROCESS_TIMEOUT_MS = 10_000;

void describe('clients with user names and passwords against a password file', () => {
  let dir = '';
  let broker: Broker;
  let url = '';
  const pool = new ClientPool(() => url);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fennec-interop-auth-'));
    const path = join(dir, 'passwords');
    // Cheaper scrypt parameters than the default keep the suite quick; they travel with the hash.
    const fast = { ln: 10, r: 8, p: 1 };
    writeFileSync(
      path,
      `alice:${await hashPassword('wonderland', fast)}\nbob:${await hashPassword('b u i l d', fast)}\n`,
    );
    const passwords = await PasswordFile.load(path);
    // No anonymous clients at all: every client here must log in. The refusals here all come from
    // 127.0.0.1, so the failed-login delay (tested in test/broker/09-auth) is turned off.
    ({ broker, url } = await startBroker({
      allowAnonymous: false,
      loginFailureFirstDelayMs: 0,
      hooks: { authenticate: passwords.authenticate },
    }));
  });

  after(async () => {
    await pool.closeAll();
    await killAllPrograms();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const protocolVersion of [4, 5] as const) {
    const name = protocolVersion === 5 ? 'MQTT 5.0' : 'MQTT 3.1.1';

    void it(`MQTT.js (${name}) logs in with the right password and exchanges messages`, async () => {
      const { client, inbox } = await pool.connect({
        protocolVersion,
        clientId: `mqttjs-alice-${protocolVersion}`,
        username: 'alice',
        password: 'wonderland',
      });
      await client.subscribeAsync('auth/mqttjs', { qos: 1 });
      await client.publishAsync('auth/mqttjs', 'logged in', { qos: 1 });
      const [message] = await inbox.waitFor(1);
      assert.equal(message?.payload, 'logged in');
      await pool.end(client);
    });

    const badCode = protocolVersion === 5 ? 0x86 : 4;
    void it(`MQTT.js (${name}) is refused with ${badCode === 4 ? 'return code 4' : 'reason code 0x86'} for a wrong password or an unknown user`, async () => {
      for (const [username, password] of [
        ['alice', 'looking-glass'],
        ['mallory', 'wonderland'],
      ] as const) {
        const err = await pool
          .connect({ protocolVersion, clientId: `mqttjs-bad-${protocolVersion}`, username, password })
          .then(
            () => assert.fail(`${username} was accepted`),
            (e: unknown) => e as Error & { code?: number },
          );
        assert.equal(err.code, badCode, `${username}: ${err.message}`);
      }
    });

    const anonymousCode = protocolVersion === 5 ? 0x87 : 5;
    void it(`MQTT.js (${name}) without a user name is refused with ${anonymousCode === 5 ? 'return code 5' : 'reason code 0x87'} when allowAnonymous is false`, async () => {
      const err = await pool.connect({ protocolVersion, clientId: `mqttjs-anon-${protocolVersion}` }).then(
        () => assert.fail('the anonymous client was accepted'),
        (e: unknown) => e as Error & { code?: number },
      );
      assert.equal(err.code, anonymousCode, err.message);
    });
  }

  function needsMosquittoClients(t: TestContext): boolean {
    return (
      requireProgram(t, 'mosquitto_sub', 'mosquitto-clients') && requireProgram(t, 'mosquitto_pub', 'mosquitto-clients')
    );
  }

  for (const version of ['mqttv311', 'mqttv5'] as const) {
    void it(`mosquitto_pub -u -P (${version}) publishes with the right password to mosquitto_sub -u -P`, async (t) => {
      if (!needsMosquittoClients(t)) return;
      const server = ['-h', '127.0.0.1', '-p', String(portOf(url)), '-V', version];
      const id = `mosq-sub-${version}`;
      const subscribed = waitForBrokerEvent(broker, 'subscribed', (client) => client.clientId === id);
      const sub = runProgram(
        'mosquitto_sub',
        [...server, '-i', id, '-u', 'bob', '-P', 'b u i l d', '-t', 'auth/mosq', '-C', '1', '-v'],
        PROCESS_TIMEOUT_MS,
      );
      await subscribed.catch((err: unknown) => {
        throw new Error(`mosquitto_sub did not subscribe: ${(err as Error).message}; ${sub.stderr()}`);
      });
      const pub = await runProgram(
        'mosquitto_pub',
        [...server, '-u', 'alice', '-P', 'wonderland', '-t', 'auth/mosq', '-m', 'hello'],
        PROCESS_TIMEOUT_MS,
      ).exited;
      assert.equal(pub.code, 0, pub.stderr);
      const result = await sub.exited;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, 'auth/mosq hello\n');
    });

    void it(`mosquitto_pub -u -P (${version}) with a wrong password fails and says so`, async (t) => {
      if (!needsMosquittoClients(t)) return;
      const server = ['-h', '127.0.0.1', '-p', String(portOf(url)), '-V', version];
      const result = await runProgram(
        'mosquitto_pub',
        [...server, '-u', 'alice', '-P', 'wrong', '-t', 'auth/mosq', '-m', 'nope'],
        PROCESS_TIMEOUT_MS,
      ).exited;
      assert.notEqual(result.code, 0, 'mosquitto_pub fails');
      assert.match(result.stderr, /bad user name or password|not authori[sz]ed/i);
    });
  }
});
