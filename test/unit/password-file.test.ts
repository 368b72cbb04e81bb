// The password file format, scrypt hashing and verification, the failed-login table and the address
// and configuration pieces of authentication; no sockets.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  formatHash,
  hashPassword,
  parseHash,
  parsePasswordFile,
  PasswordFile,
  PasswordFileError,
  verifyPassword,
  type PasswordHash,
} from '../../src/auth/password-file.js';
import { isLoopbackAddress } from '../../src/broker/addresses.js';
import { anonymousNotice } from '../../src/cli/broker.js';
import { FailedLogins, type FailedLoginPolicy } from '../../src/broker/failed-logins.js';
import { parseConfigText, mergeConfig, toBrokerOptions, ConfigError } from '../../src/config/index.js';

const FAST = { ln: 8, r: 8, p: 1 } as const;

function parsed(text: string): PasswordHash {
  const hash = parseHash(text);
  if (typeof hash === 'string') assert.fail(`not a hash: ${hash}`);
  return hash;
}

void describe('password hashes', () => {
  void it('hash to $scrypt$ln=..,r=..,p=..$salt$key and verify the right password only', async () => {
    const text = await hashPassword('correct horse', FAST);
    assert.match(text, /^\$scrypt\$ln=8,r=8,p=1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    const hash = parsed(text);
    assert.equal(await verifyPassword('correct horse', hash), true);
    assert.equal(await verifyPassword('correct horsE', hash), false);
    assert.equal(await verifyPassword(Buffer.from('correct horse'), hash), true, 'the UTF-8 bytes verify too');
    assert.equal(formatHash(hash), text);
  });

  void it('use the default parameters ln=15, r=8, p=1 and a fresh salt each time', async () => {
    const [one, two] = await Promise.all([hashPassword('same'), hashPassword('same')]);
    assert.match(one, /^\$scrypt\$ln=15,r=8,p=1\$/);
    assert.notEqual(one, two, 'a random salt per hash');
    assert.equal(await verifyPassword('same', parsed(two)), true);
  });

  void it('verify a hash with other parameters: they travel with the hash', async () => {
    const hash = parsed(await hashPassword('p', { ln: 9, r: 4, p: 2 }));
    assert.deepEqual(hash.parameters, { ln: 9, r: 4, p: 2 });
    assert.equal(await verifyPassword('p', hash), true);
  });

  void it('refuse malformed hashes and parameters out of bounds, saying what is wrong', () => {
    const salt = Buffer.alloc(16, 1).toString('base64');
    const key = Buffer.alloc(32, 2).toString('base64');
    const cases: [string, RegExp][] = [
      ['plain', /must read \$scrypt\$/],
      [`$bcrypt$ln=15,r=8,p=1$${salt}$${key}`, /must read \$scrypt\$/],
      [`$scrypt$n=15,r=8,p=1$${salt}$${key}`, /ln=N,r=N,p=N/],
      [`$scrypt$ln=0,r=8,p=1$${salt}$${key}`, /ln must be an integer from 1 to 20/],
      [`$scrypt$ln=21,r=8,p=1$${salt}$${key}`, /ln must be/],
      [`$scrypt$ln=20,r=32,p=1$${salt}$${key}`, /more than 1 GiB/],
      [`$scrypt$ln=15,r=8,p=17$${salt}$${key}`, /p must be/],
      [`$scrypt$ln=15,r=8,p=1$not base64!$${key}`, /base64/],
      [`$scrypt$ln=15,r=8,p=1$AAAA$${key}`, /salt must be 8 to 64 bytes/],
      [`$scrypt$ln=15,r=8,p=1$${salt}$AAAA`, /key must be 16 to 64 bytes/],
    ];
    for (const [text, problem] of cases) {
      const result = parseHash(text);
      assert.equal(typeof result, 'string', text);
      assert.match(result as string, problem, text);
    }
  });

  void it('refuse to hash with parameters out of bounds', async () => {
    await assert.rejects(hashPassword('x', { ln: 30, r: 8, p: 1 }), { code: 'ERR_PASSWORD_HASH' });
  });
});

void describe('password files', () => {
  const hash = `$scrypt$ln=8,r=8,p=1$${Buffer.alloc(16, 1).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

  void it('skip blank lines and # comments, accept CRLF, and split each line at its last colon', () => {
    const users = parsePasswordFile(
      ['# header', '', '   ', `alice:${hash}`, '  # indented comment', `bob:${hash}\r`, `x:y:${hash}`, ''].join('\n'),
      'pw',
    );
    assert.deepEqual([...users.keys()], ['alice', 'bob', 'x:y']);
    assert.equal(users.get('bob')?.entry.line, 6);
  });

  void it('name the file and line of the first bad line', () => {
    const cases: [string[], string][] = [
      [[`alice:${hash}`, 'no colon here'], 'pw:2: expected user:hash'],
      [[`:${hash}`], 'pw:1: the user name is empty'],
      [[` alice:${hash}`], 'pw:1: the user name starts or ends with white space'],
      [[`al\u0007ice:${hash}`], 'pw:1: the user name holds a control character'],
      [['', 'alice:$scrypt$x'], 'pw:2: user alice: the hash must read $scrypt$ln=N,r=N,p=N$SALT$KEY'],
      [[`alice:${hash}`, '#', `alice:${hash}`], 'pw:3: user alice is already on line 1'],
    ];
    for (const [lines, message] of cases) {
      assert.throws(
        () => parsePasswordFile(lines.join('\n'), 'pw'),
        (err: unknown) =>
          err instanceof PasswordFileError && err.code === 'ERR_PASSWORD_FILE' && err.message === message,
        message,
      );
    }
  });
});

void describe('a PasswordFile', () => {
  void it('runs at most maxConcurrentVerifications at once and refuses logins past the queue with 0x89', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fennec-pwfile-'));
    try {
      const path = join(dir, 'pw');
      writeFileSync(path, `alice:${await hashPassword('a', FAST)}\n`);
      const file = await PasswordFile.load(path, { maxConcurrentVerifications: 1, maxQueuedVerifications: 1 });
      const request = {
        clientId: 'c',
        username: 'alice',
        password: Buffer.from('a'),
        remoteAddress: undefined,
        protocolVersion: 4,
      } as const;
      const first = file.authenticate(request);
      const second = file.authenticate(request);
      assert.equal(file.pendingVerifications, 2, 'one running, one waiting');
      assert.deepEqual(await file.authenticate(request), {
        ok: false,
        reasonCode: 0x89,
        reasonString: 'too many logins at once',
      });
      assert.deepEqual(await Promise.all([first, second]), [{ ok: true }, { ok: true }]);
      assert.equal(file.pendingVerifications, 0);
      assert.deepEqual(await file.authenticate({ ...request, password: Buffer.from('b') }), {
        ok: false,
        reasonCode: 0x86,
        reasonString: 'bad user name or password',
      });
      // A client without a user name is left to the hooks after the file and to allowAnonymous
      assert.equal(await file.authenticate({ ...request, username: undefined, password: undefined }), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('failed logins', () => {
  const policy: FailedLoginPolicy = {
    freeAttempts: 3,
    windowMs: 60_000,
    firstDelayMs: 250,
    maxDelayMs: 4000,
    maxAddresses: 3,
  };

  void it('are free for the first attempts, then delayed from 250 ms doubling up to the cap', () => {
    const table = new FailedLogins(policy, () => 0);
    const delays = Array.from({ length: 10 }, () => table.fail('192.0.2.1'));
    assert.deepEqual(delays, [0, 0, 0, 250, 500, 1000, 2000, 4000, 4000, 4000]);
    assert.equal(table.failures('192.0.2.1'), 10);
  });

  void it('are counted per address', () => {
    const table = new FailedLogins({ ...policy, freeAttempts: 1 }, () => 0);
    assert.equal(table.fail('192.0.2.1'), 0);
    assert.equal(table.fail('192.0.2.2'), 0);
    assert.equal(table.fail('192.0.2.1'), 250);
  });

  void it('start a new count after a quiet window', () => {
    let now = 0;
    const table = new FailedLogins({ ...policy, freeAttempts: 1 }, () => now);
    table.fail('a');
    now = 30_000;
    assert.equal(table.fail('a'), 250, 'within the window of the previous failure');
    now = 30_000 + 60_001;
    assert.equal(table.failures('a'), 0);
    assert.equal(table.fail('a'), 0, 'a new count');
  });

  void it('remember at most maxAddresses, forgetting the one idle longest', () => {
    const table = new FailedLogins({ ...policy, freeAttempts: 0 }, () => 0);
    table.fail('a');
    table.fail('b');
    table.fail('a');
    table.fail('c');
    table.fail('d');
    assert.equal(table.size, 3);
    assert.equal(table.failures('b'), 0, 'b, idle longest, was forgotten');
    assert.equal(table.failures('a'), 2);
    assert.equal(table.fail('b'), 250, 'b starts over');
  });

  void it('delay nothing with a first delay of 0', () => {
    const table = new FailedLogins({ ...policy, freeAttempts: 0, firstDelayMs: 0 }, () => 0);
    assert.deepEqual([table.fail('a'), table.fail('a'), table.fail('a')], [0, 0, 0]);
  });
});

void describe('loopback addresses', () => {
  void it('are 127.0.0.0/8, ::1 and IPv4-mapped 127.x; nothing else, and not an unknown address', () => {
    for (const address of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) {
      assert.equal(isLoopbackAddress(address), true, address);
    }
    for (const address of [undefined, '', '0.0.0.0', '::', '10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', '127.0.0.256']) {
      assert.equal(isLoopbackAddress(address), false, String(address));
    }
  });
});

void describe('the start-up notice of fennec broker', () => {
  void it('says anonymous clients are refused, and how to allow them, on a non-loopback address by default', () => {
    assert.equal(
      anonymousNotice('loopback', '0.0.0.0'),
      'clients without a user name are refused on 0.0.0.0 except over loopback; set allow_anonymous: true in the configuration file to allow them',
    );
    assert.match(anonymousNotice('loopback', '::') ?? '', /refused on \[::\] except over loopback/);
  });

  void it('says nothing on a loopback address or when allow_anonymous is set', () => {
    assert.equal(anonymousNotice('loopback', '127.0.0.1'), undefined);
    assert.equal(anonymousNotice('loopback', '::1'), undefined);
    assert.equal(anonymousNotice(true, '0.0.0.0'), undefined);
    assert.equal(anonymousNotice(false, '0.0.0.0'), undefined);
  });
});

void describe('authentication configuration', () => {
  void it('reads password_file and allow_anonymous, and maps allow_anonymous and the limits to BrokerOptions', () => {
    const file = parseConfigText(
      'password_file: /etc/fennec/passwords\nallow_anonymous: false\nlimits:\n  login_failure_max_delay_ms: 9000\n',
      'f.yaml',
    );
    const config = mergeConfig(file, {}, {});
    assert.equal(config.passwordFile, '/etc/fennec/passwords');
    const options = toBrokerOptions(config);
    assert.equal(options.allowAnonymous, false);
    assert.equal(options.loginFailureMaxDelayMs, 9000);
    assert.equal(mergeConfig({}, {}, {}).allowAnonymous, 'loopback');
    assert.equal(parseConfigText('allow_anonymous: loopback\n', 'f.yaml').allowAnonymous, 'loopback');
  });

  void it('refuses a bad allow_anonymous or an empty password_file, naming the key, file and line', () => {
    assert.throws(
      () => parseConfigText('port: 1883\nallow_anonymous: sometimes\npassword_file: ""\n', 'f.yaml'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.message ===
          'f.yaml:2:18: allow_anonymous: must be true, false or loopback, got "sometimes"\n' +
            'f.yaml:3:16: password_file: must be a non-empty string (a file path), got ""',
    );
  });
});
