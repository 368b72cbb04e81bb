// Mosquitto's password files in Fennec: `$6$` and `$7$` hashes verified (vectors written by Debian's
// mosquitto_passwd 2.0.11, and ones made here by the format), a file made by mosquitto_passwd used
// unchanged by `fennec broker`, `fennec passwd` adding scrypt users to such a file, and `fennec passwd -U`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, pbkdf2Sync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMosquittoHash, verifyMosquittoHash } from '../../src/auth/mosquitto-hashes.js';
import { parsePasswordFile, PasswordFile, PasswordFileError } from '../../src/auth/password-file.js';
import { ExitCode } from '../../src/cli/errors.js';
import { cliEnvironment as environment, fennecBin as fennec } from '../helpers/cli.js';
import { ClientPool, killAllPrograms, requireProgram, runProgram, type RunningProcess } from '../interop/support.js';

const PROCESS_TIMEOUT_MS = 10_000;

/** Written by `mosquitto_passwd -b FILE user pass` (2.0.11, its default sha512-pbkdf2). */
const MOSQUITTO_7 =
  '$7$101$GQkLkP0ARABV7/jh$7Kohv+++zHFh0rYvQ6MbUv0vzvTWTRrhgb0Ia3IC+4Tib1NFNYKDCbJ1qZ9zpuYHnSEUApRYugaSYNuX0cS/Dg==';
/** Written by `mosquitto_passwd -H sha512 -b FILE user pass` (2.0.11). */
const MOSQUITTO_6 =
  '$6$YMjv8RL/KpS6ee/y$qMLFoS/NPrXleaxi0od2HvOvNitdbYGjqXF0McORMJCyoK7eLKZvdYNdRjeDjckHk1NW+PuFoPURBtVXwdQmXg==';

function parsed(text: string): ReturnType<typeof parseMosquittoHash> & object {
  const hash = parseMosquittoHash(text);
  if (typeof hash === 'string') assert.fail(`not a hash: ${hash}`);
  return hash;
}

let dir = '';
let serial = 0;
const fresh = (name: string): string => join(dir, `${name}-${++serial}`);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fennec-mosquitto-pw-'));
});

after(async () => {
  await killAllPrograms();
  rmSync(dir, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end with no input. */
function run(program: string, args: readonly string[]): Promise<Result> {
  const child = spawn(program, args, {
    env: environment,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: PROCESS_TIMEOUT_MS,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const passwd = (args: readonly string[]): Promise<Result> => run(process.execPath, [fennec, 'passwd', ...args]);

void describe("Mosquitto's password hashes", () => {
  void it("verify mosquitto_passwd's $7$ (PBKDF2-SHA512, 101 rounds) and $6$ (salted SHA-512) hashes", async () => {
    const seven = parsed(MOSQUITTO_7);
    assert.equal(seven.kind, 'pbkdf2-sha512');
    assert.equal(seven.kind === 'pbkdf2-sha512' && seven.iterations, 101);
    assert.equal(seven.salt.length, 12);
    assert.equal(await verifyMosquittoHash('pass', seven), true);
    assert.equal(await verifyMosquittoHash('Pass', seven), false);
    const six = parsed(MOSQUITTO_6);
    assert.equal(six.kind, 'sha512');
    assert.equal(await verifyMosquittoHash('pass', six), true);
    assert.equal(await verifyMosquittoHash('pass ', six), false);
  });

  void it('verify hashes made by the format, with UTF-8 passwords, other salts and rounds', async () => {
    const salt = Buffer.from('0123456789abcdef', 'hex');
    const password = 'grüße:with colon';
    const six = `$6$${salt.toString('base64')}$${createHash('sha512').update(Buffer.from(password)).update(salt).digest('base64')}`;
    assert.equal(await verifyMosquittoHash(password, parsed(six)), true);
    assert.equal(await verifyMosquittoHash('grusse:with colon', parsed(six)), false);
    const seven = `$7$1000$${salt.toString('base64')}$${pbkdf2Sync(password, salt, 1000, 64, 'sha512').toString('base64')}`;
    assert.equal(await verifyMosquittoHash(password, parsed(seven)), true);
    // The same key under other rounds is another hash.
    const otherRounds = seven.replace('$7$1000$', '$7$999$');
    assert.equal(await verifyMosquittoHash(password, parsed(otherRounds)), false);
  });

  void it('refuse malformed $6$ and $7$ hashes, naming the file, line and problem', () => {
    const salt = Buffer.alloc(12, 1).toString('base64');
    const key = Buffer.alloc(64, 2).toString('base64');
    const cases: [string, RegExp][] = [
      [`$6$${salt}`, /\$6\$ hash must read \$6\$SALT\$HASH/],
      [`$6$${salt}$${key}$x`, /\$6\$ hash must read/],
      [`$7$${salt}$${key}`, /\$7\$ hash must read \$7\$ITERATIONS\$SALT\$HASH/],
      [`$7$0$${salt}$${key}`, /iterations of a \$7\$ hash must be an integer from 1 to 1000000/],
      [`$7$2000000$${salt}$${key}`, /iterations/],
      [`$7$ten$${salt}$${key}`, /iterations/],
      [`$6$not base64!$${key}`, /base64/],
      [`$6$${salt}$${Buffer.alloc(32).toString('base64')}`, /hash must be 64 bytes/],
      [`$5$${salt}$${key}`, /must read \$scrypt\$.*or be one of Mosquitto's/],
    ];
    for (const [hash, problem] of cases) {
      assert.throws(
        () => parsePasswordFile(`# users\nalice:${hash}\n`, 'pw'),
        (err: unknown) =>
          err instanceof PasswordFileError && err.message.startsWith('pw:2: user alice: ') && problem.test(err.message),
        hash,
      );
    }
  });

  void it('are verified by a PasswordFile next to scrypt lines', async () => {
    const path = fresh('mixed');
    writeFileSync(path, `seven:${MOSQUITTO_7}\nsix:${MOSQUITTO_6}\n`);
    assert.equal((await passwd([path, 'fresh', '--password', 'new one'])).code, 0);
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    assert.deepEqual(
      lines.slice(0, 2),
      [`seven:${MOSQUITTO_7}`, `six:${MOSQUITTO_6}`],
      'Mosquitto lines kept as they are',
    );
    assert.match(lines[2]!, /^fresh:\$scrypt\$ln=15,r=8,p=1\$/, 'a new entry is written with scrypt');
    const file = await PasswordFile.load(path);
    assert.equal(await file.verify('seven', 'pass'), true);
    assert.equal(await file.verify('six', 'pass'), true);
    assert.equal(await file.verify('fresh', 'new one'), true);
    assert.equal(await file.verify('seven', 'wrong'), false);
    assert.equal(await file.verify('six', 'wrong'), false);
  });
});

void describe('fennec passwd -U', () => {
  void it('hashes every plain user:password line in place with scrypt, keeping comments, mode 0600', async () => {
    const path = fresh('plain');
    writeFileSync(path, '# team\nalice:wonder:land\n\nbob:builder\r\n');
    const result = await passwd(['-U', path]);
    assert.equal(result.code, ExitCode.Ok, result.stderr);
    assert.equal(result.stderr, '');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const lines = readFileSync(path, 'utf8').split('\n');
    assert.equal(lines[0], '# team');
    assert.equal(lines[2], '');
    assert.match(lines[1]!, /^alice:\$scrypt\$/);
    assert.match(lines[3]!, /^bob:\$scrypt\$/);
    const file = await PasswordFile.load(path);
    assert.equal(await file.verify('alice', 'wonder:land'), true, 'split at the first colon, as Mosquitto does');
    assert.equal(await file.verify('bob', 'builder'), true, 'a CRLF line without its CR');
  });

  void it(`refuses a file that already holds hashes with exit code ${ExitCode.DataError}, changing nothing`, async () => {
    const path = fresh('hashed');
    const text = `carol:plain\nseven:${MOSQUITTO_7}\n`;
    writeFileSync(path, text);
    const result = await passwd(['-U', path]);
    assert.equal(result.code, ExitCode.DataError);
    assert.match(
      result.stderr,
      /^fennec: .*hashed-\d+:2: user seven already has a hash; -U converts plain passwords only/,
    );
    assert.equal(readFileSync(path, 'utf8'), text);
  });

  void it('fails on a missing file (66), an empty password (65), and with a user or -c (2)', async () => {
    const missing = await passwd(['-U', join(dir, 'none')]);
    assert.equal(missing.code, ExitCode.NoInput);
    assert.match(missing.stderr, /^fennec: .*none: no such file\n$/);
    const empty = fresh('empty');
    writeFileSync(empty, 'dave:\n');
    const emptyResult = await passwd(['-U', empty]);
    assert.equal(emptyResult.code, ExitCode.DataError);
    assert.match(emptyResult.stderr, /:1: user dave: the password is empty/);
    assert.equal((await passwd(['-U', empty, 'dave'])).code, ExitCode.Usage);
    assert.equal((await passwd(['-U', '-c', empty])).code, ExitCode.Usage);
    const noUser = await passwd([empty]);
    assert.equal(noUser.code, ExitCode.Usage);
    assert.match(noUser.stderr, /missing required argument 'user'/);
  });
});

void describe("fennec broker with mosquitto_passwd's files", () => {
  let url = '';
  const pool = new ClientPool(() => url);
  after(async () => {
    await pool.closeAll();
  });

  async function startBrokerWith(passwordFile: string): Promise<RunningProcess> {
    const config = fresh('fennec.yaml');
    writeFileSync(config, `password_file: ${passwordFile}\nallow_anonymous: false\n`);
    const running = runProgram(
      process.execPath,
      [fennec, 'broker', '--port', '0', '--config', config],
      PROCESS_TIMEOUT_MS,
      environment,
    );
    const [line] = await running.waitForLines(1);
    const match = /listening mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(line ?? '');
    assert.ok(match, `unexpected first line: ${line}; stderr: ${running.stderr()}`);
    url = `mqtt://127.0.0.1:${match[1]}`;
    return running;
  }

  async function refusedCode(username: string, password: string): Promise<number | undefined> {
    const err = await pool.connect({ clientId: `refused-${++serial}`, username, password, protocolVersion: 4 }).then(
      () => assert.fail('the client was accepted'),
      (e: unknown) => e as Error & { code?: number },
    );
    return err.code;
  }

  void it('logs in users of a file made by mosquitto_passwd ($7$, -H sha512, -U) and refuses wrong passwords', async (t) => {
    if (!requireProgram(t, 'mosquitto_passwd', 'mosquitto')) return;
    if (!requireProgram(t, 'mosquitto_pub', 'mosquitto-clients')) return;
    const path = fresh('mosquitto-passwords');
    assert.equal((await run('mosquitto_passwd', ['-c', '-b', path, 'alice', 'wonderland'])).code, 0);
    assert.equal((await run('mosquitto_passwd', ['-H', 'sha512', '-b', path, 'bob', 'builder'])).code, 0);
    const plain = fresh('mosquitto-plain');
    writeFileSync(plain, 'carol:secret\n');
    assert.equal((await run('mosquitto_passwd', ['-U', plain])).code, 0);
    writeFileSync(path, readFileSync(path, 'utf8') + readFileSync(plain, 'utf8'));
    const text = readFileSync(path, 'utf8');
    assert.match(text, /^alice:\$7\$101\$/m, 'mosquitto_passwd writes $7$ by default');
    assert.match(text, /^bob:\$6\$/m);
    assert.match(text, /^carol:\$7\$/m);

    const broker = await startBrokerWith(path);
    for (const [username, password] of [
      ['alice', 'wonderland'],
      ['bob', 'builder'],
      ['carol', 'secret'],
    ] as const) {
      const { client } = await pool.connect({ clientId: username, username, password });
      await pool.end(client);
      assert.equal(await refusedCode(username, `${password}!`), 4, `${username} with a wrong password`);
    }
    // Mosquitto's own client, with the password from the same file.
    const port = new URL(url).port;
    const ok = await run('mosquitto_pub', ['-p', port, '-u', 'alice', '-P', 'wonderland', '-t', 't', '-m', 'x']);
    assert.equal(ok.code, 0, ok.stderr);
    const refused = await run('mosquitto_pub', ['-p', port, '-u', 'alice', '-P', 'nope', '-t', 't', '-m', 'x']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not authori[sz]ed|bad user name or password/i);
    broker.child.kill('SIGTERM');
    assert.equal((await broker.exited).code, 0);
  });
});
