// 25: the built-in SCRAM-SHA-256 method (RFC 5802, RFC 7677) end to end over a real socket, against
// a SCRAM client written here from the RFCs, independent of src/auth.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker } from '../helpers/broker.js';
import { deriveScramCredentials, scramSha256, SCRAM_SHA_256, type ScramCredentials } from '../../src/auth/scram.js';

const hmac = (key: Buffer, text: string): Buffer => createHmac('sha256', key).update(text).digest();
const xor = (a: Buffer, b: Buffer): Buffer => Buffer.from(a.map((byte, i) => byte ^ b[i]!));

/** A broker whose SCRAM user store holds `alice` with password `wonderland`. */
async function scramBroker(t: Parameters<typeof startBroker>[0]): Promise<number> {
  const users = new Map<string, ScramCredentials>([['alice', await deriveScramCredentials('wonderland')]]);
  const { port } = await startBroker(t, {
    hooks: { authMethods: { [SCRAM_SHA_256]: scramSha256({ get: (name) => users.get(name) }) } },
  });
  return port;
}

interface ScramRun {
  client: RawClient;
  /** The CONNACK's reason code. */
  code: number;
  /** The server's final message, when CONNACK carried one. */
  serverFinal: string | undefined;
  /** The server signature the client expects (RFC 5802 section 3). */
  expectedSignature: string;
}

/** Runs the client side of SCRAM-SHA-256 as `user` with `password` up to CONNACK. */
async function scramConnect(port: number, user: string, password: string): Promise<ScramRun> {
  const client = await RawClient.open(port, 5);
  const clientNonce = randomBytes(18).toString('base64');
  const clientFirstBare = `n=${user},r=${clientNonce}`;
  client.send(
    pkt.connect({
      version: 5,
      clientId: `scram-${user}`,
      properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: Buffer.from(`n,,${clientFirstBare}`) },
    }),
  );
  const challenge = await client.next('auth');
  assert.equal(challenge.reasonCode, 0x18);
  assert.equal(challenge.properties.authenticationMethod, SCRAM_SHA_256);
  const serverFirst = challenge.properties.authenticationData?.toString() ?? '';
  const fields = new Map(serverFirst.split(',').map((part) => [part[0], part.slice(2)] as const));
  const nonce = fields.get('r') ?? '';
  assert.ok(nonce.startsWith(clientNonce) && nonce.length > clientNonce.length, 'the server extends the nonce');
  const salt = Buffer.from(fields.get('s') ?? '', 'base64');
  const iterations = Number(fields.get('i'));
  assert.ok(iterations >= 4096, `iterations ${iterations}`);
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = createHash('sha256').update(clientKey).digest();
  const withoutProof = `c=biws,r=${nonce}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const proof = xor(clientKey, hmac(storedKey, authMessage)).toString('base64');
  client.send(
    pkt.auth(0x18, {
      authenticationMethod: SCRAM_SHA_256,
      authenticationData: Buffer.from(`${withoutProof},p=${proof}`),
    }),
  );
  const connack = await client.next('connack');
  const expectedSignature = hmac(hmac(salted, 'Server Key'), authMessage).toString('base64');
  return {
    client,
    code: connack.reasonCode,
    serverFinal: connack.properties.authenticationData?.toString(),
    expectedSignature,
  };
}

describe('25 SCRAM-SHA-256 (v5)', () => {
  it('[MQTT-4.12.0-5] the right password is accepted: CONNACK 0x00 carries a server signature the client verifies', async (t) => {
    const port = await scramBroker(t);
    const run = await scramConnect(port, 'alice', 'wonderland');
    assert.equal(run.code, 0);
    assert.equal(run.serverFinal, `v=${run.expectedSignature}`);
    await run.client.ping();
  });

  it('[MQTT-4.12.0-4] a wrong password is refused with CONNACK 0x86 and a close', async (t) => {
    const port = await scramBroker(t);
    const run = await scramConnect(port, 'alice', 'looking-glass');
    assert.equal(run.code, 0x86);
    assert.equal(run.serverFinal, undefined);
    await run.client.closed();
  });

  it('an unknown user goes through the same exchange and is refused with CONNACK 0x86', async (t) => {
    const port = await scramBroker(t);
    const run = await scramConnect(port, 'mallory', 'wonderland');
    assert.equal(run.code, 0x86);
    await run.client.closed();
  });

  it("a client-final message with a nonce other than the server's is refused with CONNACK 0x87", async (t) => {
    const port = await scramBroker(t);
    const client = await RawClient.open(port, 5);
    client.send(
      pkt.connect({
        version: 5,
        clientId: 'bad-nonce',
        properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: Buffer.from('n,,n=alice,r=abc') },
      }),
    );
    await client.next('auth');
    client.send(
      pkt.auth(0x18, { authenticationMethod: SCRAM_SHA_256, authenticationData: Buffer.from('c=biws,r=abc,p=AAAA') }),
    );
    assert.equal((await client.next('connack')).reasonCode, 0x87);
    await client.closed();
  });

  it('deriveScramCredentials gives the StoredKey and ServerKey of RFC 5802 for a given salt', async () => {
    const salt = Buffer.from('salt-for-test');
    const derived = await deriveScramCredentials('pencil', { salt, iterations: 4096 });
    const salted = pbkdf2Sync('pencil', salt, 4096, 32, 'sha256');
    assert.deepEqual(derived.storedKey, createHash('sha256').update(hmac(salted, 'Client Key')).digest());
    assert.deepEqual(derived.serverKey, hmac(salted, 'Server Key'));
    assert.equal(derived.iterations, 4096);
  });
});
