// The ACL file: parsing (with the file and line of each error), and the decisions of its rules:
// read, write, readwrite, deny, anonymous and per-user rules, %u / %c patterns, subscription coverage.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Acl, AclFileError, aclHooks } from '../../src/auth/acl.js';
import type { ClientIdentity } from '../../src/broker/hooks.js';
import { ConfigError, mergeConfig, parseConfigText } from '../../src/config/index.js';

const anonymous: ClientIdentity = { clientId: 'anon-1', username: undefined };
const alice: ClientIdentity = { clientId: 'alice-phone', username: 'alice' };
const bob: ClientIdentity = { clientId: 'bob-1', username: 'bob' };

function parse(...lines: string[]): Acl {
  return Acl.parse(lines.join('\n'), 'test.acl');
}

/** The AclFileError that parsing `lines` throws. */
function parseError(...lines: string[]): AclFileError {
  try {
    parse(...lines);
  } catch (err) {
    assert.ok(err instanceof AclFileError, `expected an AclFileError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the ACL to be refused');
}

void describe('ACL file parsing', () => {
  void it('reads topic, user and pattern lines, with comments, blank lines and indentation', () => {
    const acl = parse(
      '# anonymous clients',
      'topic read public/#',
      '',
      '   # an indented comment',
      'user alice',
      '  topic write alice/out',
      'topic alice/both',
      'user bob',
      'topic read bob/in',
      'pattern readwrite devices/%c/#',
    );
    assert.equal(acl.mayRead(anonymous, 'public/news'), true);
    assert.equal(acl.mayRead(alice, 'public/news'), false, 'anonymous rules are not every user’s');
    assert.equal(acl.mayWrite(alice, 'alice/out'), true);
    assert.equal(acl.mayRead(alice, 'alice/out'), false);
    assert.equal(acl.mayRead(alice, 'alice/both'), true, 'no access keyword: readwrite');
    assert.equal(acl.mayWrite(alice, 'alice/both'), true);
    assert.equal(acl.mayRead(bob, 'bob/in'), true);
    assert.equal(acl.mayWrite(bob, 'alice/both'), false);
    assert.equal(acl.mayWrite(bob, 'devices/bob-1/state'), true, 'patterns apply to every client');
  });

  void it('accepts CRLF line endings and an empty file, which allows nothing', () => {
    const acl = Acl.parse('user alice\r\ntopic read a/b\r\n', 'crlf.acl');
    assert.equal(acl.mayRead(alice, 'a/b'), true);
    const empty = Acl.parse('', 'empty.acl');
    assert.equal(empty.mayRead(anonymous, 'a'), false);
    assert.equal(empty.mayWrite(alice, 'a'), false);
  });

  void it('takes the rest of a user line as the username, spaces included', () => {
    const acl = parse('user John Smith', 'topic read a');
    assert.equal(acl.mayRead({ clientId: 'c', username: 'John Smith' }, 'a'), true);
    assert.equal(acl.mayRead({ clientId: 'c', username: 'John' }, 'a'), false);
  });

  void it('appends to a user’s rules when the user appears again', () => {
    const acl = parse('user alice', 'topic read a', 'user bob', 'topic read b', 'user alice', 'topic read c');
    assert.equal(acl.mayRead(alice, 'a'), true);
    assert.equal(acl.mayRead(alice, 'c'), true);
    assert.equal(acl.mayRead(alice, 'b'), false);
  });

  const errors: [string, string[], number, RegExp][] = [
    ['an unknown keyword', ['topic read a', 'topics read b'], 2, /unknown keyword "topics"/],
    ['a user line without a name', ['# users', 'user', 'topic a'], 2, /`user` needs a username/],
    ['a topic line without a filter', ['topic'], 1, /`topic` needs a topic filter/],
    ['an access keyword without a filter', ['', '', 'pattern deny'], 3, /`pattern deny` needs a topic filter/],
    ['an invalid filter', ['user alice', 'topic read a/#/b'], 2, /"a\/#\/b" is not a valid topic filter/],
    ['a wildcard glued to a level', ['topic read a/b+'], 1, /"a\/b\+" is not a valid topic filter/],
    ['a $share filter', ['topic read $share/g/a'], 1, /a \$share filter is not one/],
    [
      'an unknown access keyword, `topic rw alice/#`',
      ['user alice', 'topic rw alice/#'],
      2,
      /unknown access keyword "rw" \(did you mean readwrite\?\): expected read, write, readwrite or deny/,
    ],
    [
      'a misspelt access keyword, `topic raed sensors/#`',
      ['topic raed sensors/#'],
      1,
      /unknown access keyword "raed" \(did you mean read\?\)/,
    ],
    [
      'a misspelt deny in a pattern',
      ['', 'pattern dney users/%u/#'],
      2,
      /unknown access keyword "dney" \(did you mean deny\?\)/,
    ],
    ['an access keyword in capitals', ['topic READ a'], 1, /unknown access keyword "READ" \(did you mean read\?\)/],
    [
      'a subscribe access type',
      ['topic subscribe a/#'],
      1,
      /an ACL file has no subscribe access .*read allows subscribing/,
    ],
    ['an unsubscribe access type', ['topic unsubscribe a/#'], 1, /an ACL file has no unsubscribe access/],
    ['a word that is no access keyword', ['topic sensors a/#'], 1, /unknown access keyword "sensors": expected/],
    [
      'a filter with a space after an access keyword',
      ['topic read a b/#'],
      1,
      /"a b\/#": a topic filter in an ACL file cannot hold white space/,
    ],
    ['a filter with a tab', ['pattern write a\tb'], 1, /cannot hold white space/],
    ['an unknown directive', ['user bob', 'topic a', 'group admins'], 3, /unknown keyword "group"/],
    ['a bad wildcard after an access keyword', ['topic deny a/#/b'], 1, /"a\/#\/b" is not a valid topic filter/],
  ];
  for (const [what, lines, line, message] of errors) {
    void it(`refuses ${what}, naming the file and line ${line}`, () => {
      const error = parseError(...lines);
      assert.equal(error.code, 'ERR_ACL_FILE');
      assert.equal(error.file, 'test.acl');
      assert.equal(error.line, line);
      assert.ok(error.message.startsWith(`test.acl:${line}: `), error.message);
      assert.match(error.message, message);
    });
  }

  void it('loads a file from disk, and names a missing one', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fennec-acl-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'acl');
    writeFileSync(file, 'user alice\ntopic read a/#\n');
    const acl = await Acl.load(file);
    assert.equal(acl.mayRead(alice, 'a/b'), true);
    writeFileSync(file, 'user alice\nread a/#\n');
    await assert.rejects(Acl.load(file), (err: unknown) => {
      assert.ok(err instanceof AclFileError);
      assert.equal(err.message, `${file}:2: unknown keyword "read": expected topic, pattern, user or a # comment`);
      return true;
    });
    const missing = join(dir, 'missing');
    await assert.rejects(Acl.load(missing), (err: unknown) => {
      assert.ok(err instanceof AclFileError);
      assert.equal(err.code, 'ERR_ACL_FILE');
      assert.equal(err.message, `${missing}: cannot read the ACL file: no such file`);
      return true;
    });
  });
});

void describe('ACL decisions', () => {
  void it('read allows reading and subscribing only; write allows publishing only', () => {
    const acl = parse('user alice', 'topic read in/#', 'topic write out/#');
    assert.equal(acl.mayRead(alice, 'in/x'), true);
    assert.equal(acl.maySubscribe(alice, 'in/#'), true);
    assert.equal(acl.mayWrite(alice, 'in/x'), false);
    assert.equal(acl.mayWrite(alice, 'out/x'), true);
    assert.equal(acl.mayRead(alice, 'out/x'), false);
    assert.equal(acl.maySubscribe(alice, 'out/x'), false);
  });

  void it('denies what no rule allows', () => {
    const acl = parse('user alice', 'topic a/b');
    assert.equal(acl.mayRead(alice, 'a/c'), false);
    assert.equal(acl.mayWrite(alice, 'a'), false);
    assert.equal(acl.mayWrite(bob, 'a/b'), false, 'a user without rules');
    assert.equal(acl.mayWrite(anonymous, 'a/b'), false, 'an anonymous client when no rule precedes `user`');
  });

  void it('lets a deny rule win over any allow rule, before or after it, from a user rule or a pattern', () => {
    const acl = parse('user alice', 'topic readwrite a/#', 'topic deny a/secret', 'pattern deny a/%u/private');
    assert.equal(acl.mayRead(alice, 'a/public'), true);
    assert.equal(acl.mayRead(alice, 'a/secret'), false);
    assert.equal(acl.mayWrite(alice, 'a/secret'), false);
    assert.equal(acl.mayRead(alice, 'a/alice/private'), false);
    assert.equal(acl.mayRead(alice, 'a/bob/private'), true);
    const first = parse('user alice', 'topic deny a/secret', 'topic a/#');
    assert.equal(first.mayRead(alice, 'a/secret'), false);
  });

  void it('matches `a/#` against `a` itself, and `+` against exactly one level', () => {
    const acl = parse('user alice', 'topic read a/#', 'topic read x/+/z');
    assert.equal(acl.mayRead(alice, 'a'), true);
    assert.equal(acl.mayRead(alice, 'a/b/c'), true);
    assert.equal(acl.mayRead(alice, 'x/y/z'), true);
    assert.equal(acl.mayRead(alice, 'x/z'), false);
    assert.equal(acl.mayRead(alice, 'x/y/y/z'), false);
  });

  void it('[MQTT-4.7.2-1] does not let a rule starting with a wildcard reach $ topics', () => {
    const acl = parse('user alice', 'topic read #', 'topic read +/info', 'user admin', 'topic read $SYS/#');
    assert.equal(acl.mayRead(alice, 'anything/at/all'), true);
    assert.equal(acl.mayRead(alice, '$SYS/broker/uptime'), false);
    assert.equal(acl.mayRead(alice, '$SYS/info'), false);
    assert.equal(acl.maySubscribe(alice, '$SYS/#'), false);
    assert.equal(acl.maySubscribe(alice, '#'), true);
    const admin = { clientId: 'ops', username: 'admin' };
    assert.equal(acl.mayRead(admin, '$SYS/broker/uptime'), true);
    assert.equal(acl.maySubscribe(admin, '$SYS/#'), true);
  });

  void it('allows a subscription only when a read rule covers every topic its filter matches', () => {
    const acl = parse('user alice', 'topic read a/#', 'topic read b/c', 'topic read d/+/f', 'topic read g/+');
    assert.equal(acl.maySubscribe(alice, 'a/+'), true, 'a/+ is covered by a/#');
    assert.equal(acl.maySubscribe(alice, 'a/#'), true);
    assert.equal(acl.maySubscribe(alice, 'a'), true);
    assert.equal(acl.maySubscribe(alice, 'b/+'), false, 'b/+ is not covered by b/c');
    assert.equal(acl.maySubscribe(alice, 'b/c'), true);
    assert.equal(acl.maySubscribe(alice, 'd/+/f'), true);
    assert.equal(acl.maySubscribe(alice, 'd/e/f'), true);
    assert.equal(acl.maySubscribe(alice, 'd/#'), false);
    assert.equal(acl.maySubscribe(alice, 'g/#'), false, 'g/# also matches g/x/y, which g/+ does not');
    assert.equal(acl.maySubscribe(alice, '#'), false);
  });

  void it('refuses a subscription that a deny rule covers, and allows one it only overlaps', () => {
    const acl = parse('user alice', 'topic read a/#', 'topic deny a/secret/#');
    assert.equal(acl.maySubscribe(alice, 'a/secret/x'), false);
    assert.equal(acl.maySubscribe(alice, 'a/secret/#'), false);
    assert.equal(acl.maySubscribe(alice, 'a/#'), true, 'allowed; the delivery check filters a/secret/...');
    assert.equal(acl.mayRead(alice, 'a/secret/x'), false);
  });

  void it('checks a shared subscription by its inner filter', () => {
    const acl = parse('user alice', 'topic read jobs/#');
    assert.equal(acl.maySubscribe(alice, '$share/workers/jobs/+'), true);
    assert.equal(acl.maySubscribe(alice, '$share/workers/other/+'), false);
    assert.equal(acl.maySubscribe(alice, '$share/workers'), false, 'a malformed shared filter');
  });

  void it('keeps the anonymous rules for clients without a username', () => {
    const acl = parse('topic read public/#', 'user alice', 'topic read private/#');
    assert.equal(acl.mayRead(anonymous, 'public/a'), true);
    assert.equal(acl.mayRead(anonymous, 'private/a'), false);
    assert.equal(acl.mayRead(alice, 'private/a'), true);
    assert.equal(acl.mayRead({ clientId: 'x', username: '' }, 'public/a'), false, 'an empty username is a username');
  });

  void it('substitutes %u and %c in patterns, in a whole level or part of one', () => {
    const acl = parse('pattern readwrite users/%u/#', 'pattern write clients/%c', 'pattern read feed/%u-%c');
    assert.equal(acl.mayWrite(alice, 'users/alice/inbox'), true);
    assert.equal(acl.mayWrite(alice, 'users/bob/inbox'), false);
    assert.equal(acl.maySubscribe(alice, 'users/alice/#'), true);
    assert.equal(acl.maySubscribe(alice, 'users/+/#'), false, 'a wildcard level is not the username');
    assert.equal(acl.mayWrite(alice, 'clients/alice-phone'), true);
    assert.equal(acl.mayWrite(bob, 'clients/alice-phone'), false);
    assert.equal(acl.mayRead(alice, 'feed/alice-alice-phone'), true);
    assert.equal(acl.mayRead(alice, 'feed/alice-bob-1'), false);
    assert.equal(acl.mayRead(alice, 'feed/alice-alice-phone2'), false);
  });

  void it('does not apply %u patterns to clients without a username, but does apply %c patterns', () => {
    const acl = parse('pattern read users/%u/#', 'pattern deny users/%u/#', 'pattern read clients/%c/#');
    assert.equal(acl.mayRead(anonymous, 'users//x'), false);
    assert.equal(acl.mayRead(anonymous, 'clients/anon-1/x'), true, 'the %u deny does not refuse everything');
  });

  void it('never lets a username or client id with +, # or / reach other clients’ topics through a pattern', () => {
    const acl = parse('pattern readwrite users/%u/#', 'pattern readwrite devices/%c');
    for (const username of ['+', '#', 'a/b', 'evil/#', 'x+']) {
      const client = { clientId: 'plain', username };
      assert.equal(acl.mayRead(client, 'users/victim/inbox'), false, username);
      assert.equal(acl.maySubscribe(client, 'users/victim/#'), false, username);
      assert.equal(acl.mayRead(client, `users/${username}`), false, `${username}: not even its literal topic`);
      assert.equal(acl.mayWrite(client, 'devices/plain'), true, `${username}: its %c rule still applies`);
    }
    const slashed = { clientId: 'a/b', username: 'mallory' };
    assert.equal(acl.mayWrite(slashed, 'devices/a/b'), false);
    assert.equal(acl.mayWrite(slashed, 'users/mallory/x'), true);
  });

  void it('refuses everything to a client whose unsafe username a deny pattern needs', () => {
    const acl = parse('pattern read #', 'pattern deny private/%u/#');
    assert.equal(acl.mayRead({ clientId: 'c', username: 'alice' }, 'news'), true);
    assert.equal(acl.mayRead({ clientId: 'c', username: 'al+ce' }, 'news'), false);
  });

  void it('gives hooks that follow the rules, and rules swapped behind a function', () => {
    let current = parse('user alice', 'topic read a');
    const hooks = aclHooks(() => current);
    const info = { ...alice, remoteAddress: undefined, protocolVersion: 5 as const };
    assert.equal(hooks.authorizeRead(alice, 'a'), true);
    assert.equal(hooks.authorizeSubscribe(info, 'a', 0), true);
    assert.equal(hooks.authorizePublish(info, 'a', 0, false), false);
    current = parse('user alice', 'topic write a');
    assert.equal(hooks.authorizeRead(alice, 'a'), false);
    assert.equal(hooks.authorizePublish(info, 'a', 0, false), true);
    const fixed = aclHooks(parse('user alice', 'topic read a'));
    assert.equal(fixed.authorizeRead(alice, 'a'), true);
    assert.equal(fixed.authorizeRead(bob, 'a'), false);
  });
});

void describe('acl_file configuration key', () => {
  void it('is read from the file, unset by default', () => {
    assert.equal(mergeConfig({}, {}, {}).aclFile, undefined);
    const config = parseConfigText('port: 1883\nacl_file: /etc/fennec/acl\n', 'fennec.yaml');
    assert.equal(mergeConfig(config, {}, {}).aclFile, '/etc/fennec/acl');
  });

  void it('refuses an empty or non-string value, naming the key, file and line', () => {
    for (const value of ['""', '42', '[a]']) {
      assert.throws(
        () => parseConfigText(`port: 1883\nacl_file: ${value}\n`, 'fennec.yaml'),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError);
          assert.match(err.message, /^fennec\.yaml:2:\d+: acl_file: must be a non-empty string \(a file path\)/);
          return true;
        },
      );
    }
  });
});

void describe('authorizeRead hook', () => {
  void it('is synchronous and returns a boolean for any identity', () => {
    const { authorizeRead } = aclHooks(parse('pattern read %c/#'));
    const result: boolean = authorizeRead({ clientId: 'c1', username: undefined }, 'c1/x');
    assert.equal(result, true);
    assert.equal(authorizeRead({ clientId: 'c2', username: undefined }, 'c1/x'), false);
  });
});
