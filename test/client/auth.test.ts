// Enhanced authentication (5.0 section 4.12) through the client's `authentication` callbacks, against
// the Fennec broker's SCRAM-SHA-256 method: CONNECT with Authentication Method and Data, the AUTH
// 0x18 exchange, the server's signature checked in onSuccess, refusals, and re-authentication.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { deriveScramCredentials, scramSha256, SCRAM_SHA_256, type ScramCredentials } from '../../src/auth/scram.js';
import { connect, MqttClientError, type ClientAuthentication, type MqttClient } from '../../src/client/index.js';
import { startBroker, type CleanupContext } from '../helpers/broker.js';
import { withTimeout } from '../interop/support.js';

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();
const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((byte, i) => byte ^ b[i]!));

/** A broker whose SCRAM users are alice/wonderland; its port. */
async function scramBroker(t: CleanupContext): Promise<number> {
  const users = new Map<string, ScramCredentials>([['alice', await deriveScramCredentials('wonderland')]]);
  const { port } = await startBroker(t, {
    hooks: { authMethods: { [SCRAM_SHA_256]: scramSha256({ get: (name) => users.get(name) }) } },
  });
  return port;
}

/**
 * The client side of SCRAM-SHA-256 (RFC 5802) as `authentication` callbacks, written here from the
 * RFC. `password` is read at each exchange; `verified` counts server signatures that checked out.
 */
function scram(user: string, credentials: { password: string }): ClientAuthentication & { verified: number } {
  let clientFirstBare = '';
  let expectedSignature = '';
  const auth = {
    method: SCRAM_SHA_256,
    verified: 0,
    data: () => {
      clientFirstBare = `n=${user},r=${randomBytes(18).toString('base64')}`;
      return Buffer.from(`n,,${clientFirstBare}`);
    },
    onChallenge: (data: Buffer | undefined) => {
      const serverFirst = data?.toString() ?? '';
      const fields = new Map(serverFirst.split(',').map((part) => [part[0], part.slice(2)] as const));
      const salted = pbkdf2Sync(
        credentials.password,
        Buffer.from(fields.get('s') ?? '', 'base64'),
        Number(fields.get('i')),
        32,
        'sha256',
      );
      const clientKey = hmac(salted, 'Client Key');
      const storedKey = createHash('sha256').update(clientKey).digest();
      const withoutProof = `c=biws,r=${fields.get('r') ?? ''}`;
      const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
      expectedSignature = hmac(hmac(salted, 'Server Key'), authMessage).toString('base64');
      const proof = xor(clientKey, hmac(storedKey, authMessage)).toString('base64');
      return Buffer.from(`${withoutProof},p=${proof}`);
    },
    onSuccess: (data: Buffer | undefined) => {
      if (data?.toString() !== `v=${expectedSignature}`) throw new Error('the server signature does not verify');
      auth.verified++;
    },
  };
  return auth;
}

async function client(t: CleanupContext, port: number, authentication: ClientAuthentication): Promise<MqttClient> {
  const c = await connect(`mqtt://127.0.0.1:${port}`, { reconnect: false, authentication });
  t.after(() => c.end());
  return c;
}

async function rejection(promise: Promise<unknown>): Promise<MqttClientError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof MqttClientError, `an MqttClientError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

void describe('client enhanced authentication (v5)', () => {
  void it('authenticates with SCRAM-SHA-256 through AUTH 0x18 and checks the server signature of CONNACK [MQTT-4.12.0-3] [MQTT-4.12.0-5]', async (t) => {
    const port = await scramBroker(t);
    const auth = scram('alice', { password: 'wonderland' });
    const c = await client(t, port, auth);
    assert.equal(auth.verified, 1, 'the server signature verified');
    const messages = c.messages('after/auth');
    await c.subscribe({ topicFilter: 'after/auth', qos: 1 });
    await c.publish('after/auth', 'in', { qos: 1 });
    const m = await withTimeout(messages.next(), 5_000, 'a message');
    assert.equal(m.done, false);
    assert.equal(m.value.payload.toString(), 'in');
  });

  void it('rejects with ERR_CLIENT_REFUSED and CONNACK 0x86 when the password is wrong', async (t) => {
    const port = await scramBroker(t);
    const err = await rejection(
      connect(`mqtt://127.0.0.1:${port}`, { authentication: scram('alice', { password: 'x' }) }),
    );
    assert.equal(err.code, 'ERR_CLIENT_REFUSED');
    assert.equal(err.reasonCode, 0x86);
  });

  void it('closes with ERR_CLIENT_AUTH when onSuccess refuses the broker final data, and when onChallenge throws', async (t) => {
    const port = await scramBroker(t);
    const distrustful = {
      ...scram('alice', { password: 'wonderland' }),
      onSuccess: () => Promise.reject(new Error('no')),
    };
    const refused = await rejection(connect(`mqtt://127.0.0.1:${port}`, { authentication: distrustful }));
    assert.equal(refused.code, 'ERR_CLIENT_AUTH');
    const failing = {
      ...scram('alice', { password: 'wonderland' }),
      onChallenge: () => {
        throw new Error('no key');
      },
    };
    const failed = await rejection(connect(`mqtt://127.0.0.1:${port}`, { authentication: failing }));
    assert.equal(failed.code, 'ERR_CLIENT_AUTH');
    assert.match(failed.message, /no key/);
  });

  void it('re-authenticates on the connection with AUTH 0x19 and the method of CONNECT, and stays connected [MQTT-4.12.1-1]', async (t) => {
    const port = await scramBroker(t);
    const auth = scram('alice', { password: 'wonderland' });
    const c = await client(t, port, auth);
    await c.reauthenticate();
    assert.equal(auth.verified, 2, 'the second server signature verified too');
    assert.equal(c.connected, true);
    await c.publish('still/here', 'yes', { qos: 1 });
  });

  void it('rejects reauthenticate() when the broker refuses it with DISCONNECT [MQTT-4.12.1-2]', async (t) => {
    const port = await scramBroker(t);
    const credentials = { password: 'wonderland' };
    const c = await client(t, port, scram('alice', credentials));
    credentials.password = 'changed';
    const err = await rejection(c.reauthenticate());
    assert.equal(err.code, 'ERR_CLIENT_DISCONNECTED');
    // The DISCONNECT's reason code is the broker's choice (0x86 is not a DISCONNECT code); a failure one
    assert.ok((err.reasonCode ?? 0) >= 0x80, `a failure reason code, got ${err.reasonCode}`);
  });

  void it('refuses reauthenticate() with ERR_CLIENT_AUTH on a client without the authentication option', async (t) => {
    const { port } = await startBroker(t);
    const c = await connect(`mqtt://127.0.0.1:${port}`, { reconnect: false });
    t.after(() => c.end());
    assert.equal((await rejection(c.reauthenticate())).code, 'ERR_CLIENT_AUTH');
  });
});
