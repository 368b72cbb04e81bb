/**
 * The password file: one `user:hash` line per user, hashed with scrypt, and the `authenticate` hook
 * built on it. Blank lines and lines starting with `#` are ignored. A hash reads
 * `$scrypt$ln=15,r=8,p=1$<salt, base64>$<key, base64>`: the cost parameters travel with each hash,
 * so they can be raised later without invalidating older lines. Mosquitto's `$6$` and `$7$` hashes
 * are read and verified too (mosquitto-hashes.ts), so a Mosquitto password file works unchanged.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { FennecError } from '../errors/index.js';
import { ReasonCode } from '../protocol/index.js';
import type { AuthenticateRequest, AuthenticateResult, BrokerHooks } from '../broker/hooks.js';
import { isMosquittoHash, parseMosquittoHash, verifyMosquittoHash, type MosquittoHash } from './mosquitto-hashes.js';

/** scrypt cost parameters: N = 2^ln, block size r, parallelism p (RFC 7914). */
export interface ScryptParameters {
  /** log2 of the CPU/memory cost N; memory used is 128 * 2^ln * r bytes. */
  ln: number;
  r: number;
  p: number;
}

/** The parameters `hashPassword` uses unless told otherwise: 32 MiB and about 0.1 s per hash. */
export const defaultScryptParameters: Readonly<ScryptParameters> = { ln: 15, r: 8, p: 1 };

/** Bounds a hash in a file may ask for, so that a bad line cannot make one verification take the machine. */
const LN_RANGE = [1, 20] as const;
const R_RANGE = [1, 32] as const;
const P_RANGE = [1, 16] as const;
/** Most memory one verification may use, in bytes (1 GiB). */
const MAX_MEMORY_BYTES = 1 << 30;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/** One parsed hash. */
export interface PasswordHash {
  parameters: ScryptParameters;
  salt: Buffer;
  key: Buffer;
}

function derive(
  password: Buffer | string,
  salt: Buffer,
  length: number,
  parameters: ScryptParameters,
): Promise<Buffer> {
  const memory = 128 * 2 ** parameters.ln * parameters.r;
  const options: ScryptOptions = {
    N: 2 ** parameters.ln,
    r: parameters.r,
    p: parameters.p,
    // Node refuses by default what needs more than 32 MiB; the bound is checked when the hash is parsed.
    maxmem: 2 * memory + 1024 * 1024,
  };
  // The asynchronous scrypt runs on libuv's thread pool: the event loop goes on meanwhile.
  return new Promise((resolve, reject) => {
    scrypt(password, salt, length, options, (err, key) => (err === null ? resolve(key) : reject(err)));
  });
}

/** Hashes `password` with a fresh 16-byte random salt; returns the `$scrypt$...` string of a password file. */
export async function hashPassword(
  password: Buffer | string,
  parameters: ScryptParameters = defaultScryptParameters,
): Promise<string> {
  const problem = checkParameters(parameters);
  if (problem !== undefined) throw new FennecError('ERR_PASSWORD_HASH', `bad scrypt parameters: ${problem}`);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, parameters);
  return formatHash({ parameters, salt, key });
}

/** The `$scrypt$ln=..,r=..,p=..$salt$key` form of `hash`. */
export function formatHash(hash: PasswordHash): string {
  const { ln, r, p } = hash.parameters;
  return `$scrypt$ln=${ln},r=${r},p=${p}$${hash.salt.toString('base64')}$${hash.key.toString('base64')}`;
}

function checkParameters({ ln, r, p }: ScryptParameters): string | undefined {
  const inRange = (value: number, [min, max]: readonly [number, number]): boolean =>
    Number.isInteger(value) && value >= min && value <= max;
  if (!inRange(ln, LN_RANGE)) return `ln must be an integer from ${LN_RANGE[0]} to ${LN_RANGE[1]}`;
  if (!inRange(r, R_RANGE)) return `r must be an integer from ${R_RANGE[0]} to ${R_RANGE[1]}`;
  if (!inRange(p, P_RANGE)) return `p must be an integer from ${P_RANGE[0]} to ${P_RANGE[1]}`;
  if (128 * 2 ** ln * r > MAX_MEMORY_BYTES) return 'ln and r ask for more than 1 GiB of memory';
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses a `$scrypt$...` string; returns what is wrong with it as a string when it is not one. */
export function parseHash(text: string): PasswordHash | string {
  const parts = text.split('$');
  // '', 'scrypt', 'ln=15,r=8,p=1', salt, key
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== 'scrypt') {
    return 'the hash must read $scrypt$ln=N,r=N,p=N$SALT$KEY';
  }
  const match = /^ln=(\d{1,3}),r=(\d{1,3}),p=(\d{1,3})$/.exec(parts[2]!);
  if (match === null) return 'the scrypt parameters must read ln=N,r=N,p=N';
  const parameters = { ln: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  const problem = checkParameters(parameters);
  if (problem !== undefined) return problem;
  const [saltText, keyText] = [parts[3]!, parts[4]!];
  if (!BASE64.test(saltText) || !BASE64.test(keyText)) return 'the salt and key must be base64';
  const salt = Buffer.from(saltText, 'base64');
  const key = Buffer.from(keyText, 'base64');
  if (salt.length < 8 || salt.length > 64) return 'the salt must be 8 to 64 bytes';
  if (key.length < 16 || key.length > 64) return 'the key must be 16 to 64 bytes';
  return { parameters, salt, key };
}

/** Whether `password` matches `hash`; the comparison takes the same time wherever the keys differ. */
export async function verifyPassword(password: Buffer | string, hash: PasswordHash): Promise<boolean> {
  const key = await derive(password, hash.salt, hash.key.length, hash.parameters);
  return timingSafeEqual(key, hash.key);
}

/** A hash a password file may hold: Fennec's scrypt (written by `fennec passwd`), or Mosquitto's `$6$` / `$7$`. */
export type StoredHash = PasswordHash | MosquittoHash;

/** Parses any hash a password file may hold; returns what is wrong with it as a string when it is none. */
export function parseStoredHash(text: string): StoredHash | string {
  if (isMosquittoHash(text)) return parseMosquittoHash(text);
  const hash = parseHash(text);
  if (typeof hash === 'string' && !text.startsWith('$scrypt$')) {
    return `${hash}, or be one of Mosquitto's ($6$SALT$HASH, $7$ITERATIONS$SALT$HASH)`;
  }
  return hash;
}

/** Whether `password` matches `hash`, whichever its format; constant-time comparison either way. */
export function verifyStoredHash(password: Buffer | string, hash: StoredHash): Promise<boolean> {
  return 'parameters' in hash ? verifyPassword(password, hash) : verifyMosquittoHash(password, hash);
}

/**
 * Why a user name cannot go in a password file, or undefined when it can: it must be non-empty, hold
 * no control character (a line break would end the line), not start with `#` (a comment) and not start
 * or end with white space (blank lines and indentation would read differently).
 */
export function usernameProblem(username: string): string | undefined {
  if (username.length === 0) return 'the user name is empty';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(username)) return 'the user name holds a control character';
  if (username.startsWith('#')) return 'the user name starts with #';
  if (username.trim() !== username) return 'the user name starts or ends with white space';
  return undefined;
}

/** A problem in a password file: `FILE:LINE: message`. Code `ERR_PASSWORD_FILE`. */
export class PasswordFileError extends FennecError {
  /** The file, as given. */
  readonly file: string;
  /** 1-based line, or 0 when the problem is the whole file (missing, unreadable). */
  readonly line: number;

  constructor(file: string, line: number, message: string, options: { cause?: unknown } = {}) {
    super('ERR_PASSWORD_FILE', line > 0 ? `${file}:${line}: ${message}` : `${file}: ${message}`, options);
    this.file = file;
    this.line = line;
  }
}

/** One user line of a password file, as read. */
export interface PasswordEntry {
  username: string;
  /** The hash text as written. */
  hash: string;
  /** 1-based line of the file. */
  line: number;
}

/**
 * Parses the text of a password file (`file` names it in errors): each user line is `user:hash`,
 * split at the last `:` (a hash has none, so a user name may). Throws PasswordFileError at the first bad
 * line; returns users in file order with their parsed hashes.
 */
export function parsePasswordFile(text: string, file: string): Map<string, { entry: PasswordEntry; hash: StoredHash }> {
  const users = new Map<string, { entry: PasswordEntry; hash: StoredHash }>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    const number = i + 1;
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const colon = line.lastIndexOf(':');
    if (colon < 0) throw new PasswordFileError(file, number, 'expected user:hash');
    const username = line.slice(0, colon);
    const hashText = line.slice(colon + 1);
    const nameProblem = usernameProblem(username);
    if (nameProblem !== undefined) throw new PasswordFileError(file, number, nameProblem);
    const hash = parseStoredHash(hashText);
    if (typeof hash === 'string') throw new PasswordFileError(file, number, `user ${username}: ${hash}`);
    const earlier = users.get(username);
    if (earlier !== undefined) {
      throw new PasswordFileError(file, number, `user ${username} is already on line ${earlier.entry.line}`);
    }
    users.set(username, { entry: { username, hash: hashText, line: number }, hash });
  }
  return users;
}

/** Reads and parses a password file; a missing or unreadable one is a PasswordFileError naming it. */
export async function readPasswordFile(file: string): Promise<Map<string, { entry: PasswordEntry; hash: StoredHash }>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new PasswordFileError(file, 0, `cannot read the password file: ${reason}`, { cause: err });
  }
  return parsePasswordFile(text, file);
}

/** How many scrypt verifications a PasswordFile runs at once, and how many may wait. */
export interface PasswordFileOptions {
  /**
   * Verifications running at once; each holds a thread of libuv's pool (4 by default, shared with file
   * and DNS work) and 128 * 2^ln * r bytes (32 MiB by default). Default 2.
   */
  maxConcurrentVerifications?: number;
  /** Verifications waiting for a turn; past this, `authenticate` refuses with 0x89 Server busy (3.1.1: 3). Default 256. */
  maxQueuedVerifications?: number;
}

/** A random hash of the same kind and cost as the first of `users` (scrypt by default): no password matches it. */
function decoyLike(users: ReadonlyMap<string, StoredHash>): StoredHash {
  const model = users.values().next().value;
  if (model === undefined || 'parameters' in model) {
    const parameters = model === undefined ? { ...defaultScryptParameters } : { ...model.parameters };
    return { parameters, salt: randomBytes(SALT_BYTES), key: randomBytes(KEY_BYTES) };
  }
  return { ...model, salt: randomBytes(model.salt.length), key: randomBytes(model.key.length) };
}

/**
 * The users of a password file, held in memory and verified against with scrypt. `reload()` reads the
 * file again and replaces the users only when the whole file is valid; `fennec broker` calls it on SIGHUP.
 */
export class PasswordFile {
  private users: Map<string, StoredHash>;
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private running = 0;
  /** Verifications waiting for a turn, first come first served. */
  private readonly queue: (() => void)[] = [];
  /**
   * A hash no password matches, verified for unknown users so that they take as long as known ones:
   * of the same kind and cost as the file's first user (a file of Mosquitto's fast hashes would
   * otherwise tell unknown users apart by their slow scrypt).
   */
  private decoy: StoredHash;

  private constructor(
    /** The file, as given. */
    readonly path: string,
    users: Map<string, StoredHash>,
    options: PasswordFileOptions,
  ) {
    this.users = users;
    this.decoy = decoyLike(users);
    this.maxConcurrent = Math.max(1, options.maxConcurrentVerifications ?? 2);
    this.maxQueued = Math.max(0, options.maxQueuedVerifications ?? 256);
  }

  /** Reads `path`. @throws PasswordFileError when it is missing, unreadable or has a bad line. */
  static async load(path: string, options: PasswordFileOptions = {}): Promise<PasswordFile> {
    return new PasswordFile(path, PasswordFile.hashes(await readPasswordFile(path)), options);
  }

  private static hashes(parsed: Map<string, { hash: StoredHash }>): Map<string, StoredHash> {
    return new Map([...parsed].map(([username, { hash }]) => [username, hash]));
  }

  /** Reads the file again; on any error throws and keeps the users it had. Returns the number of users. */
  async reload(): Promise<number> {
    const users = PasswordFile.hashes(await readPasswordFile(this.path));
    this.users = users;
    this.decoy = decoyLike(users);
    return users.size;
  }

  /** Number of users. */
  get size(): number {
    return this.users.size;
  }

  /** Whether `username` is in the file. */
  has(username: string): boolean {
    return this.users.has(username);
  }

  /**
   * Whether `username` exists and `password` is theirs. An unknown user costs one scrypt all the same.
   * Waits for a turn when `maxConcurrentVerifications` are running.
   */
  async verify(username: string, password: Buffer | string): Promise<boolean> {
    // A waiter is handed the slot of the verification that ends, so `running` never exceeds the maximum.
    if (this.running >= this.maxConcurrent) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.running++;
    try {
      // Looked up once the turn comes, so a reload meanwhile is seen.
      const hash = this.users.get(username);
      const matches = await verifyStoredHash(password, hash ?? this.decoy);
      return hash !== undefined && matches;
    } finally {
      const next = this.queue.shift();
      if (next !== undefined) next();
      else this.running--;
    }
  }

  /** Verifications running and waiting, now. */
  get pendingVerifications(): number {
    return this.running + this.queue.length;
  }

  /**
   * The `authenticate` hook (BrokerHooks.authenticate) of this file. A client without a user name is
   * not this file's business: the hook abstains (undefined), leaving it to the hooks after it and
   * to `allowAnonymous`, which the broker asks first. A user name with no password, an unknown user
   * or a wrong password get 0x86 Bad User Name or Password (3.1.1: 4); a login finding the
   * verification queue full gets 0x89 Server busy (3.1.1: 3).
   */
  authenticate = async (request: AuthenticateRequest): Promise<AuthenticateResult | undefined> => {
    if (request.username === undefined) return undefined;
    if (request.password === undefined) {
      return { ok: false, reasonCode: ReasonCode.BadUserNameOrPassword, reasonString: 'a password is required' };
    }
    if (this.running >= this.maxConcurrent && this.queue.length >= this.maxQueued) {
      return { ok: false, reasonCode: ReasonCode.ServerBusy, reasonString: 'too many logins at once' };
    }
    if (await this.verify(request.username, request.password)) return { ok: true };
    return { ok: false, reasonCode: ReasonCode.BadUserNameOrPassword, reasonString: 'bad user name or password' };
  };

  /** This file as a hooks object named `password-file`, to register (and remove) as it is. */
  readonly hooks: BrokerHooks = { name: 'password-file', authenticate: this.authenticate };
}
