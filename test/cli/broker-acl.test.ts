// `fennec broker` with `acl_file`: the rules apply from the start, SIGHUP re-reads the file, a bad
// file at start stops the command (exit 78, file and line named) and a bad file on SIGHUP is logged
// while the rules in force stay. Runs `node bin/fennec.js` (dist/ must be built).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode } from '../../src/cli/errors.js';
import { killAllPrograms, runProgram, type RunningProcess } from '../interop/support.js';
import { temporaryConfigFiles } from '../helpers/config-files.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/broker.js';
import { cliEnvironment as environment, fennecBin as fennec } from '../helpers/cli.js';

const PROCESS_TIMEOUT_MS = 10_000;
// Without FENNEC_* settings, and in memory: these tests are not about the store (test/persistence is).

const files = temporaryConfigFiles('fennec-acl-cli-');

/** Writes the ACL file and a configuration naming it; returns both paths. */
function writeFiles(aclLines: string[]): { config: string; acl: string } {
  const acl = join(files.directory(), `acl-${Math.random().toString(36).slice(2)}`);
  writeFileSync(acl, aclLines.join('\n') + '\n');
  return { acl, config: files.write([`acl_file: ${JSON.stringify(acl)}`, 'log_level: info']) };
}

async function startFennec(config: string): Promise<{ process: RunningProcess; port: number }> {
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

/** SUBACK codes alice (3.1.1) gets for `a/#` and `b/#` on a new connection. */
async function aliceSubscribes(port: number): Promise<number[]> {
  const alice = await RawClient.connect(port, { clientId: `alice-${Math.random()}`, username: 'alice' });
  const codes = await alice.subscribe(['a/#', 'b/#']);
  alice.destroy();
  return codes;
}

void describe('fennec broker with acl_file', () => {
  after(async () => {
    destroyAllClients();
    await killAllPrograms();
  });

  void it('enforces the file, re-reads it on SIGHUP, and keeps the rules in force when the new file is bad', async () => {
    const { config, acl } = writeFiles(['user alice', 'topic read a/#']);
    const { process: broker, port } = await startFennec(config);
    assert.deepEqual(await aliceSubscribes(port), [0, 0x80]);

    writeFileSync(acl, 'user alice\ntopic read b/#\n');
    broker.child.kill('SIGHUP');
    await waitUntil(() => broker.stderr().includes('ACL file reloaded'), 'the ACL file is reloaded', 5000);
    assert.deepEqual(await aliceSubscribes(port), [0x80, 0]);

    writeFileSync(acl, 'user alice\ntopic read a/#\nsubscribe b/#\n');
    broker.child.kill('SIGHUP');
    await waitUntil(() => broker.stderr().includes('ACL file not reloaded'), 'the bad ACL file is refused', 5000);
    assert.ok(broker.stderr().includes(`${acl}:3: unknown keyword \\"subscribe\\"`), broker.stderr());
    assert.deepEqual(await aliceSubscribes(port), [0x80, 0], 'the previous rules stay');

    broker.child.kill('SIGTERM');
    const result = await broker.exited;
    assert.equal(result.code, ExitCode.Ok, result.stderr);
  });

  void it(`refuses to start with an ACL file that does not parse, naming its line, with exit code ${ExitCode.Config}`, async () => {
    const { config, acl } = writeFiles(['# rules', 'user alice', 'topic read a/#/b']);
    const result = await runProgram(
      process.execPath,
      [fennec, 'broker', '--port', '0', '--config', config],
      PROCESS_TIMEOUT_MS,
      environment,
    ).exited;
    assert.equal(result.code, ExitCode.Config, result.stderr);
    const lines = result.stderr.split('\n').filter((line) => line.length > 0);
    assert.equal(lines.length, 1, result.stderr);
    assert.ok(lines[0]!.includes(`${acl}:3: "a/#/b" is not a valid topic filter`), lines[0]);
    assert.equal(result.stdout, '');
  });
});
