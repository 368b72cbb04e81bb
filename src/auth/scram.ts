/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) as an MQTT 5.0 enhanced authentication method: the client
 * proves it knows the password without sending it, and the broker proves it holds the user's keys.
 * Channel binding is not supported (gs2 header `n,,` or `y,,`).
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { ReasonCode } from '../protocol/index.js';
import type { AuthExchange, AuthMethod, AuthStep } from '../broker/hooks.js';

/** The Authentication Method name of SCRAM-SHA-256. */
export const SCRAM_SHA_256 = 'SCRAM-SHA-256';

/** What the broker keeps of a user's password (RFC 5802 section 3): never the password itself. */
export interface ScramCredentials {
  salt: Buffer;
  /** PBKDF2 iterations; RFC 7677 asks for at least 4,096. */
  iterations: number;
  /** H(ClientKey), 32 bytes. */
  storedKey: Buffer;
  /** HMAC(SaltedPassword, "Server Key"), 32 bytes. */
  serverKey: Buffer;
}

/** Where SCRAM looks users up; provided by the embedder. */
export interface ScramUserStore {
  /** The credentials of `username`, or undefined when there is no such user. */
  get(username: string): ScramCredentials | undefined | Promise<ScramCredentials | undefined>;
}

const pbkdf2Async = promisify(pbkdf2);
const hmac = (key: Buffer, text: string | Buffer): Buffer => createHmac('sha256', key).update(text).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();

/** The salted password of RFC 5802: PBKDF2-HMAC-SHA-256 of the password, 32 bytes. */
export function saltedPassword(password: string, salt: Buffer, iterations: number): Promise<Buffer> {
  return pbkdf2Async(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
}

/** Derives the credentials to store for `password`: a random 16-byte salt and 4,096 iterations unless given. */
export async function deriveScramCredentials(
  password: string,
  options: { salt?: Buffer; iterations?: number } = {},
): Promise<ScramCredentials> {
  const salt = options.salt ?? randomBytes(16);
  const iterations = options.iterations ?? 4096;
  const salted = await saltedPassword(password, salt, iterations);
  return {
    salt,
    iterations,
    storedKey: sha256(hmac(salted, 'Client Key')),
    serverKey: hmac(salted, 'Server Key'),
  };
}

/** The `k=v` attributes of a SCRAM message, in order; undefined when one is not of that form. */
function attributes(message: string): Map<string, string> | undefined {
  const out = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part.length < 2 || part[1] !== '=') return undefined;
    out.set(part[0]!, part.slice(2));
  }
  return out;
}

/** RFC 5802 section 5.1: `=2C` and `=3D` in a user name stand for `,` and `=`. */
function decodeUsername(name: string): string | undefined {
  if (/=(?!2C|3D)/.test(name)) return undefined;
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

const malformed: AuthStep = {
  kind: 'failure',
  reasonCode: ReasonCode.NotAuthorized,
  reasonString: 'malformed SCRAM message',
};

/**
 * The SCRAM-SHA-256 method, for `BrokerHooks.authMethods[SCRAM_SHA_256]`. An unknown user goes through
 * the exchange with made-up credentials, so the answer (CONNACK 0x86) does not tell users apart.
 */
export function scramSha256(store: ScramUserStore): AuthMethod {
  const secret = randomBytes(32);
  return {
    start(): AuthExchange {
      let round = 0;
      let clientFirstBare = '';
      let serverFirst = '';
      let nonce = '';
      let gs2Header = '';
      let credentials: ScramCredentials | undefined;
      let known = false;
      const first = async (text: string): Promise<AuthStep> => {
        // gs2 header: no channel binding ('n' or 'y'), no authorization identity
        const match = /^([ny]),,(.*)$/.exec(text);
        if (match === null) return malformed;
        gs2Header = `${match[1]!},,`;
        clientFirstBare = match[2]!;
        const attrs = attributes(clientFirstBare);
        const rawName = attrs?.get('n');
        const clientNonce = attrs?.get('r');
        if (rawName === undefined || clientNonce === undefined || clientNonce.length === 0) return malformed;
        const username = decodeUsername(rawName);
        if (username === undefined) return malformed;
        credentials = await store.get(username);
        known = credentials !== undefined;
        if (credentials === undefined) {
          const salt = hmac(secret, username).subarray(0, 16);
          credentials = { salt, iterations: 4096, storedKey: randomBytes(32), serverKey: randomBytes(32) };
        }
        nonce = clientNonce + randomBytes(18).toString('base64');
        serverFirst = `r=${nonce},s=${credentials.salt.toString('base64')},i=${credentials.iterations}`;
        return { kind: 'continue', data: Buffer.from(serverFirst) };
      };
      const final = (text: string): AuthStep => {
        const proofAt = text.lastIndexOf(',p=');
        if (proofAt < 0 || credentials === undefined) return malformed;
        const withoutProof = text.slice(0, proofAt);
        const attrs = attributes(withoutProof);
        if (attrs?.get('c') !== Buffer.from(gs2Header).toString('base64') || attrs.get('r') !== nonce) return malformed;
        const proof = Buffer.from(text.slice(proofAt + 3), 'base64');
        const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
        const clientSignature = hmac(credentials.storedKey, authMessage);
        if (proof.length !== clientSignature.length) return malformed;
        const clientKey = Buffer.alloc(proof.length);
        for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i]! ^ clientSignature[i]!;
        if (!known || !timingSafeEqual(sha256(clientKey), credentials.storedKey)) {
          return { kind: 'failure', reasonCode: ReasonCode.BadUserNameOrPassword, reasonString: 'invalid proof' };
        }
        const serverSignature = hmac(credentials.serverKey, authMessage);
        return { kind: 'success', data: Buffer.from(`v=${serverSignature.toString('base64')}`) };
      };
      return {
        step(data: Buffer | undefined): AuthStep | Promise<AuthStep> {
          round++;
          const text = data?.toString('utf8') ?? '';
          if (round === 1) return first(text);
          if (round === 2) return final(text);
          return malformed;
        },
      };
    },
  };
}
