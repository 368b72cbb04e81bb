// The interop helpers themselves: a missing program fails CI and is skipped loudly elsewhere,
// and a child process that outlives its timeout is killed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findProgram, requireProgram, runProgram } from './support.js';

const missing = 'fennec-no-such-program';

void describe('requireProgram', () => {
  void it('reports an installed program as present, without skipping', () => {
    const skipped: (string | undefined)[] = [];
    assert.equal(requireProgram({ skip: (m) => skipped.push(m) }, 'node', 'nodejs', { PATH: process.env.PATH }), true);
    assert.deepEqual(skipped, []);
  });

  void it('fails under CI=true with a message naming the Debian package when the program is missing', () => {
    const skipped: (string | undefined)[] = [];
    assert.throws(
      () =>
        requireProgram({ skip: (m) => skipped.push(m) }, missing, 'some-debian-package', {
          PATH: '/nonexistent',
          CI: 'true',
        }),
      /fennec-no-such-program is not installed: install the Debian package some-debian-package/,
    );
    assert.deepEqual(skipped, []);
  });

  void it('skips the test outside CI, warning on the console with the Debian package', (t) => {
    const warn = t.mock.method(console, 'warn', () => undefined);
    const skipped: (string | undefined)[] = [];
    const present = requireProgram({ skip: (m) => skipped.push(m) }, missing, 'some-debian-package', {
      PATH: '/nonexistent',
    });
    assert.equal(present, false);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0] ?? '', /some-debian-package/);
    assert.equal(warn.mock.callCount(), 1);
    assert.match(String(warn.mock.calls[0]?.arguments[0]), /SKIPPED.*some-debian-package/);
  });

  void it('finds programs only in the directories of PATH', () => {
    assert.equal(findProgram('node', '/nonexistent'), undefined);
    assert.equal(findProgram('node', process.env.PATH), findProgram('node'));
  });
});

void describe('runProgram', () => {
  void it('collects stdout as lines and the exit code', async () => {
    const run = runProgram(process.execPath, ['-e', 'console.log("one"); console.log("two"); process.exit(3)']);
    const result = await run.exited;
    assert.equal(result.code, 3);
    assert.deepEqual(run.lines, ['one', 'two']);
    assert.equal(result.timedOut, false);
  });

  void it('kills a program that runs past its timeout', async () => {
    const run = runProgram(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], 300);
    const result = await run.exited;
    assert.equal(result.timedOut, true);
    assert.equal(result.signal, 'SIGKILL');
  });

  void it('rejects a wait for lines when the program ends before printing them', async () => {
    const run = runProgram(process.execPath, ['-e', 'console.log("only")']);
    await assert.rejects(run.waitForLines(2), /ended after 1 of 2 lines/);
  });
});
