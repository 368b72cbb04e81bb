// `fennec passwd` as a user runs it (`node bin/fennec.js passwd ...` in a child process), and
// `fennec broker` with a `password_file`: hashes written by passwd verify in the broker, and SIGHUP
// reads the file again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PasswordFile } from '../../src/auth/password-file.js';
import { ExitCode } from '../../src/cli/errors.js';
import {
  ClientPool,
  killAllPrograms,
  requireProgram,
  runProgram,
  withTimeout,
  type RunningProcess,
} from '../interop/support.js';
import { cliEnvironment as environment, fennecBin as fennec } from '../helpers/cli.js';

/** Longest a `fennec` process may run in these tests before it is killed, in ms. */
const PROCESS_TIMEOUT_MS = 10_000;

/** The environment without FENNEC_* variables, which the broker command would read as settings. */
// Without FENNEC_* settings, and in memory: these tests are not about the store (test/persistence is).

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `fennec passwd ...args` with `input` on its standard input (a pipe, not a terminal), or none. */
function passwd(args: readonly string[], input?: string): Promise<Result> {
  const child = spawn(process.execPath, [fennec, 'passwd', ...args], {
    env: environment,
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: PROCESS_TIMEOUT_MS,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Lines of `text` that are not empty. */
function linesOf(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}

/** The user names of a password file, in order. */
function usersOf(path: string): string[] {
  return linesOf(readFileSync(path, 'utf8'))
    .filter((line) => !line.startsWith('#'))
    .map((line) => line.slice(0, line.lastIndexOf(':')));
}

let dir = '';
let serial = 0;
/** A fresh path in the temporary directory. */
const fresh = (name: string): string => join(dir, `${name}-${++serial}`);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fennec-passwd-'));
});

after(async () => {
  await killAllPrograms();
  rmSync(dir, { recursive: true, force: true });
});

/** Asserts that `result` failed with `exitCode` and one stderr line matching `message`. */
function assertFails(result: Result, exitCode: number, message: RegExp): void {
  assert.equal(result.code, exitCode, `exit code; stderr: ${result.stderr}`);
  const lines = linesOf(result.stderr);
  assert.equal(lines.length, 1, `one line on stderr: ${result.stderr}`);
  assert.match(lines[0]!, message);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
}

void describe('fennec passwd', () => {
  void it('-c creates a file with mode 0600 holding one scrypt line that verifies', async () => {
    const path = fresh('create');
    const result = await passwd(['-c', path, 'alice', '--password', 'wonderland']);
    assert.equal(result.code, ExitCode.Ok, result.stderr);
    assert.equal(result.stderr, '');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const lines = linesOf(readFileSync(path, 'utf8'));
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^alice:\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    const file = await PasswordFile.load(path);
    assert.equal(await file.verify('alice', 'wonderland'), true);
    assert.equal(await file.verify('alice', 'wonderlant'), false);
  });

  void it('adds a user read from the first line of standard input, keeping comments and the other users', async () => {
    const path = fresh('add');
    assert.equal((await passwd(['-c', path, 'alice', '--password', 'a'])).code, 0);
    writeFileSync(path, `# team\n${readFileSync(path, 'utf8')}`);
    const result = await passwd([path, 'bob'], 'builder\nnot this line\n');
    assert.equal(result.code, ExitCode.Ok, result.stderr);
    assert.equal(readFileSync(path, 'utf8').split('\n')[0], '# team');
    assert.deepEqual(usersOf(path), ['alice', 'bob']);
    const file = await PasswordFile.load(path);
    assert.equal(await file.verify('bob', 'builder'), true);
    assert.equal(await file.verify('alice', 'a'), true);
  });

  void it('takes a CRLF line from standard input without its CR', async () => {
    const path = fresh('crlf');
    assert.equal((await passwd(['-c', path, 'carol'], 'pass\r\n')).code, 0);
    assert.equal(await (await PasswordFile.load(path)).verify('carol', 'pass'), true);
  });

  void it("updates a user's password in place", async () => {
    const path = fresh('update');
    assert.equal((await passwd(['-c', path, 'alice', '--password', 'old'])).code, 0);
    assert.equal((await passwd([path, 'bob', '--password', 'b'])).code, 0);
    assert.equal((await passwd([path, 'alice', '--password', 'new'])).code, 0);
    assert.deepEqual(usersOf(path), ['alice', 'bob']);
    const file = await PasswordFile.load(path);
    assert.equal(await file.verify('alice', 'new'), true);
    assert.equal(await file.verify('alice', 'old'), false);
    assert.equal(await file.verify('bob', 'b'), true);
  });

  void it('-c overwrites an existing file with the one user', async () => {
    const path = fresh('overwrite');
    assert.equal((await passwd(['-c', path, 'alice', '--password', 'a'])).code, 0);
    assert.equal((await passwd(['-c', path, 'bob', '--password', 'b'])).code, 0);
    assert.deepEqual(usersOf(path), ['bob']);
  });

  void it('-D deletes a user and keeps the others', async () => {
    const path = fresh('delete');
    assert.equal((await passwd(['-c', path, 'alice', '--password', 'a'])).code, 0);
    assert.equal((await passwd([path, 'bob', '--password', 'b'])).code, 0);
    const result = await passwd(['-D', path, 'alice']);
    assert.equal(result.code, ExitCode.Ok, result.stderr);
    assert.deepEqual(usersOf(path), ['bob']);
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  void it(`-D of a user not in the file fails with exit code ${ExitCode.NoUser}`, async () => {
    const path = fresh('nouser');
    assert.equal((await passwd(['-c', path, 'alice', '--password', 'a'])).code, 0);
    const before = readFileSync(path, 'utf8');
    assertFails(await passwd(['-D', path, 'zed']), ExitCode.NoUser, /^fennec: .*: no user zed$/);
    assert.equal(readFileSync(path, 'utf8'), before, 'the file is unchanged');
  });

  void it(`a missing file without -c fails with exit code ${ExitCode.NoInput}, before asking for a password`, async () => {
    const path = fresh('missing');
    assertFails(
      await passwd([path, 'alice'], 'unused\n'),
      ExitCode.NoInput,
      /^fennec: .*missing-\d+: no such file \(use -c to create it\)$/,
    );
  });

  void it(`a file with a bad line fails with exit code ${ExitCode.DataError}, naming the file and line`, async () => {
    const path = fresh('badline');
    writeFileSync(path, '# ok\nalice\n');
    assertFails(
      await passwd([path, 'bob', '--password', 'b']),
      ExitCode.DataError,
      /^fennec: .*badline-\d+:2: expected user:hash$/,
    );
    assertFails(await passwd(['-D', path, 'alice']), ExitCode.DataError, /:2: expected user:hash$/);
  });

  void it(`no password on standard input, or an empty one, fails with exit code ${ExitCode.DataError}`, async () => {
    const path = fresh('empty');
    assertFails(await passwd(['-c', path, 'alice']), ExitCode.DataError, /^fennec: no password on standard input$/);
    assertFails(await passwd(['-c', path, 'alice'], '\n'), ExitCode.DataError, /^fennec: the password is empty$/);
    assertFails(await passwd(['-c', path, 'alice', '--password', '']), ExitCode.DataError, /the password is empty$/);
    assert.throws(() => statSync(path), { code: 'ENOENT' }, 'nothing was written');
  });

  void it(`bad arguments fail with exit code ${ExitCode.Usage}`, async () => {
    const path = fresh('usage');
    assertFails(
      await passwd(['-c', '-D', path, 'a']),
      ExitCode.Usage,
      /-c \(--create\) and -D \(--delete\) cannot go together/,
    );
    assertFails(
      await passwd(['-D', path, 'a', '--password', 'x']),
      ExitCode.Usage,
      /--password makes no sense with -D/,
    );
    assertFails(
      await passwd(['-c', path, '#hash', '--password', 'x']),
      ExitCode.Usage,
      /USER: the user name starts with #/,
    );
    assertFails(await passwd(['-c', path, ' pad', '--password', 'x']), ExitCode.Usage, /white space/);
    assertFails(await passwd([path]), ExitCode.Usage, /missing required argument 'user'/);
  });

  void it(`a file that cannot be written fails with exit code ${ExitCode.CannotCreate}`, async () => {
    const path = join(dir, 'no-such-directory', 'passwords');
    assertFails(
      await passwd(['-c', path, 'a', '--password', 'x']),
      ExitCode.CannotCreate,
      /^fennec: .*passwords: cannot write: /,
    );
  });
});

/**
 * Runs `fennec passwd ...args` on a pseudo-terminal (`script` from bsdutils), typing each of `answers`
 * once its prompt has appeared; returns what the terminal showed.
 */
async function passwdOnTerminal(args: readonly string[], answers: readonly string[]): Promise<Result> {
  const command = [process.execPath, fennec, 'passwd', ...args]
    .map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`)
    .join(' ');
  const child = spawn('script', ['-qec', command, '/dev/null'], {
    env: environment,
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: PROCESS_TIMEOUT_MS,
  });
  let stdout = '';
  let stderr = '';
  const prompts = ['Password: ', 'Password again: '];
  let answered = 0;
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    // Each answer goes once its prompt shows, as a person would type it.
    while (answered < answers.length && stdout.includes(prompts[answered]!)) {
      child.stdin.write(`${answers[answered]!}\r`);
      answered++;
    }
    if (answered === answers.length) child.stdin.end();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

void describe('fennec passwd on a terminal', () => {
  void it('asks twice without echoing the password and writes the user', async (t) => {
    if (!requireProgram(t, 'script', 'bsdutils')) return;
    const path = fresh('tty');
    const result = await passwdOnTerminal(['-c', path, 'tty-user'], ['tty-secret', 'tty-secret']);
    assert.equal(result.code, ExitCode.Ok, `${result.stdout} ${result.stderr}`);
    assert.match(result.stdout, /Password: [\s\S]*Password again: /);
    assert.ok(!result.stdout.includes('tty-secret'), `the password was echoed: ${JSON.stringify(result.stdout)}`);
    assert.equal(await (await PasswordFile.load(path)).verify('tty-user', 'tty-secret'), true);
  });

  void it(`fails with exit code ${ExitCode.DataError} when the two passwords differ, writing nothing`, async (t) => {
    if (!requireProgram(t, 'script', 'bsdutils')) return;
    const path = fresh('tty-differ');
    const result = await passwdOnTerminal(['-c', path, 'tty-user'], ['one', 'two']);
    assert.equal(result.code, ExitCode.DataError, result.stdout);
    assert.match(result.stdout, /fennec: the passwords differ/);
    assert.throws(() => statSync(path), { code: 'ENOENT' });
  });
});

void describe('fennec broker with a password_file', () => {
  let url = '';
  const pool = new ClientPool(() => url);

  after(async () => {
    await pool.closeAll();
  });

  /** Starts `fennec broker` with a configuration file holding `lines`; waits for its listening line. */
  async function startBrokerWith(lines: string[]): Promise<{ process: RunningProcess; port: number }> {
    const config = fresh('fennec.yaml');
    writeFileSync(config, `${lines.join('\n')}\n`);
    const running = runProgram(
      process.execPath,
      [fennec, 'broker', '--port', '0', '--config', config],
      PROCESS_TIMEOUT_MS,
      environment,
    );
    const [line] = await running.waitForLines(1);
    const match = /listening mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(line ?? '');
    assert.ok(match, `unexpected first line: ${line}; stderr: ${running.stderr()}`);
    return { process: running, port: Number(match[1]) };
  }

  /** Resolves once the broker's stderr holds `text`. */
  async function stderrHas(running: RunningProcess, text: string): Promise<void> {
    await withTimeout(
      (async () => {
        while (!running.stderr().includes(text)) await new Promise((resolve) => setTimeout(resolve, 20));
      })(),
      5000,
      `"${text}" on the broker's stderr (got ${running.stderr()})`,
    );
  }

  /** The CONNACK return code MQTT.js reports for a refused 3.1.1 client. */
  async function refusedCode(options: {
    username?: string;
    password?: string;
    clientId: string;
  }): Promise<number | undefined> {
    const err = await pool.connect({ ...options, protocolVersion: 4 }).then(
      () => assert.fail('the client was accepted'),
      (e: unknown) => e as Error & { code?: number },
    );
    return err.code;
  }

  void it('accepts a user written by fennec passwd, refuses a wrong password, and forgets a deleted user on SIGHUP', async () => {
    const path = fresh('broker-passwords');
    assert.equal((await passwd(['-c', path, 'alice', '--password', 'wonderland'])).code, 0);
    assert.equal((await passwd([path, 'bob', '--password', 'builder'])).code, 0);
    const { process: broker, port } = await startBrokerWith([
      `password_file: ${path}`,
      'allow_anonymous: false',
      // The reloads are logged at info; the default level is warn.
      'log_level: info',
    ]);
    url = `mqtt://127.0.0.1:${port}`;
    const { client } = await pool.connect({ clientId: 'alice-1', username: 'alice', password: 'wonderland' });
    await pool.end(client);
    assert.equal(await refusedCode({ clientId: 'alice-2', username: 'alice', password: 'wrong' }), 4);
    assert.equal(await refusedCode({ clientId: 'anon' }), 5);

    assert.equal((await passwd(['-D', path, 'alice'])).code, 0);
    broker.child.kill('SIGHUP');
    await stderrHas(broker, 'password file reloaded');
    assert.equal(await refusedCode({ clientId: 'alice-3', username: 'alice', password: 'wonderland' }), 4);
    const { client: bob } = await pool.connect({ clientId: 'bob', username: 'bob', password: 'builder' });
    await pool.end(bob);

    // A bad file on SIGHUP is logged, and the users loaded before stay.
    writeFileSync(path, 'garbage\n');
    broker.child.kill('SIGHUP');
    await stderrHas(broker, 'password file not reloaded');
    const { client: bobAgain } = await pool.connect({ clientId: 'bob-2', username: 'bob', password: 'builder' });
    await pool.end(bobAgain);

    broker.child.kill('SIGTERM');
    const result = await broker.exited;
    assert.equal(result.code, 0, result.stderr);
  });

  void it(`a missing password_file stops the broker at start with exit code ${ExitCode.Config}, naming the file`, async () => {
    const path = fresh('absent-passwords');
    const config = fresh('fennec.yaml');
    writeFileSync(config, `password_file: ${path}\n`);
    const result = await runProgram(
      process.execPath,
      [fennec, 'broker', '--port', '0', '--config', config],
      PROCESS_TIMEOUT_MS,
      environment,
    ).exited;
    assert.equal(result.code, ExitCode.Config, result.stderr);
    const lines = linesOf(result.stderr);
    assert.equal(lines.length, 1, result.stderr);
    assert.equal(lines[0], `fennec: ${path}: cannot read the password file: no such file`);
  });
});
