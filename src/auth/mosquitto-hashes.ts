/**
 * Mosquitto's password hashes, read so that a Mosquitto `password_file` works in Fennec unchanged:
 * - `$6$SALT$HASH` (mosquitto_passwd before 2.0, `-H sha512`): HASH = SHA-512(password bytes, then salt bytes);
 * - `$7$ITERATIONS$SALT$HASH` (mosquitto_passwd 2.0's default, `-H sha512-pbkdf2`): HASH = PBKDF2-HMAC-SHA512
 *   of the password with the salt, ITERATIONS rounds, 64 bytes.
 * SALT and HASH are base64; mosquitto_passwd writes a 12-byte salt and a 64-byte hash. Fennec only
 * verifies these; it writes scrypt hashes (password-file.ts).
 */
import { createHash, pbkdf2, timingSafeEqual } from 'node:crypto';

/** A `$6$` hash: one salted SHA-512. */
export interface MosquittoSha512Hash {
  kind: 'sha512';
  salt: Buffer;
  key: Buffer;
}

/** A `$7$` hash: PBKDF2-HMAC-SHA512. */
export interface MosquittoPbkdf2Hash {
  kind: 'pbkdf2-sha512';
  /** PBKDF2 rounds; mosquitto_passwd writes 101. */
  iterations: number;
  salt: Buffer;
  key: Buffer;
}

/** A hash of Mosquitto's password file. */
export type MosquittoHash = MosquittoSha512Hash | MosquittoPbkdf2Hash;

/** Most PBKDF2 rounds accepted: a bad line must not make one login take the machine (about a second). */
export const MAX_PBKDF2_ITERATIONS = 1_000_000;
/** SHA-512's output, in bytes: both formats store exactly this much. */
const SHA512_BYTES = 64;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Whether `text` claims to be one of Mosquitto's formats (starts `$6$` or `$7$`). */
export function isMosquittoHash(text: string): boolean {
  return text.startsWith('$6$') || text.startsWith('$7$');
}

function saltAndKey(saltText: string, keyText: string): { salt: Buffer; key: Buffer } | string {
  if (!BASE64.test(saltText) || !BASE64.test(keyText)) return 'the salt and hash must be base64';
  const salt = Buffer.from(saltText, 'base64');
  const key = Buffer.from(keyText, 'base64');
  if (salt.length < 1 || salt.length > 64) return 'the salt must be 1 to 64 bytes';
  if (key.length !== SHA512_BYTES) return `the hash must be ${SHA512_BYTES} bytes (SHA-512)`;
  return { salt, key };
}

/** Parses a `$6$` or `$7$` hash; returns what is wrong with it as a string when it is not one. */
export function parseMosquittoHash(text: string): MosquittoHash | string {
  const parts = text.split('$');
  if (parts[1] === '6') {
    // '', '6', salt, hash
    if (parts.length !== 4) return "Mosquitto's $6$ hash must read $6$SALT$HASH";
    const parsed = saltAndKey(parts[2]!, parts[3]!);
    return typeof parsed === 'string' ? parsed : { kind: 'sha512', ...parsed };
  }
  if (parts[1] === '7') {
    // '', '7', iterations, salt, hash
    if (parts.length !== 5) return "Mosquitto's $7$ hash must read $7$ITERATIONS$SALT$HASH";
    const iterations = /^\d{1,7}$/.test(parts[2]!) ? Number(parts[2]) : NaN;
    if (!(iterations >= 1 && iterations <= MAX_PBKDF2_ITERATIONS)) {
      return `the iterations of a $7$ hash must be an integer from 1 to ${MAX_PBKDF2_ITERATIONS}`;
    }
    const parsed = saltAndKey(parts[3]!, parts[4]!);
    return typeof parsed === 'string' ? parsed : { kind: 'pbkdf2-sha512', iterations, ...parsed };
  }
  return 'not a Mosquitto hash ($6$ or $7$)';
}

/** The derived key of `password` under `hash`'s salt (and rounds). PBKDF2 runs on libuv's thread pool. */
function derive(password: Buffer | string, hash: MosquittoHash): Promise<Buffer> {
  if (hash.kind === 'sha512') {
    return Promise.resolve(createHash('sha512').update(password).update(hash.salt).digest());
  }
  return new Promise((resolve, reject) => {
    pbkdf2(password, hash.salt, hash.iterations, SHA512_BYTES, 'sha512', (err, key) =>
      err === null ? resolve(key) : reject(err),
    );
  });
}

/** Whether `password` matches a Mosquitto hash; the comparison takes the same time wherever the keys differ. */
export async function verifyMosquittoHash(password: Buffer | string, hash: MosquittoHash): Promise<boolean> {
  const key = await derive(password, hash);
  // Both are 64 bytes (checked when parsed), so timingSafeEqual never throws here.
  return timingSafeEqual(key, hash.key);
}
