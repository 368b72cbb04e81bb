// The configuration file from the command line: `fennec check-config FILE` and `fennec broker --config FILE`,
// run as a user would run them, with exit codes and the file:line of each issue on stderr.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { temporaryConfigFiles } from '../helpers/config-files.js';

/** The repository root: this file runs from dist/test/unit/. */
const root = fileURLToPath(new URL('../../..', import.meta.url));
const fennec = join(root, 'bin', 'fennec.js');
/** A command that has not finished by then has hung; it is killed and the test fails. */
const TIMEOUT_MS = 15_000;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment of the test run without any FENNEC_* variable, plus `extra`. */
function environment(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('FENNEC_')) env[name] = value;
  // In memory unless a test says otherwise: these tests are not about the store.
  return { ...env, FENNEC_PERSISTENCE: 'none', ...extra };
}

/**
 * Runs `fennec ...args`. When `untilListening` is set, waits for the `listening` line, then sends
 * SIGTERM and waits for the exit.
 */
function runFennec(
  args: string[],
  options: { env?: Record<string, string>; untilListening?: boolean } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fennec, ...args], { cwd: root, env: environment(options.env) });
    let stdout = '';
    let stderr = '';
    // One SIGTERM only: the broker stops gracefully on the first; a second one would kill it outright.
    let stopping = false;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`fennec ${args.join(' ')} did not finish in ${TIMEOUT_MS} ms; stdout: ${stdout}; stderr: ${stderr}`),
      );
    }, TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (options.untilListening === true && !stopping && stdout.includes('listening')) {
        stopping = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** The port in `fennec listening mqtt://HOST:PORT`. */
function listeningAddress(run: Run): { host: string; port: number } {
  const match = /listening mqtt:\/\/(.+):(\d+)/.exec(run.stdout);
  assert.ok(match, `expected a listening line; stdout: ${run.stdout}; stderr: ${run.stderr}`);
  return { host: match[1]!, port: Number(match[2]) };
}

const configFiles = temporaryConfigFiles('fennec-config-cli-');
/** Writes `lines` to a new file in a temporary directory and returns its path. */
const writeConfig = (lines: string[]): string => configFiles.write(lines);

void describe('fennec check-config', () => {
  void it('prints FILE: ok and exits 0 for a valid file', async () => {
    const path = writeConfig(['port: 1883', 'limits:', '  max_queued_messages: 10']);
    const run = await runFennec(['check-config', path]);
    assert.equal(run.code, 0, `signal ${run.signal}; stderr: ${run.stderr}`);
    assert.equal(run.stdout, `${path}: ok\n`);
    assert.equal(run.stderr, '');
  });

  void it('prints every issue with its file:line:column and exits 78', async () => {
    const path = writeConfig(['port: 70000', 'limits:', '  max_inflight: 3']);
    const run = await runFennec(['check-config', path]);
    assert.equal(run.code, 78);
    assert.equal(run.stdout, '');
    const lines = run.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 2, run.stderr);
    assert.ok(lines[0]!.startsWith(`fennec: ${path}:1:7: port: must be an integer from 0 to 65535`), lines[0]);
    assert.ok(lines[1]!.startsWith(`fennec: ${path}:3:3: limits.max_inflight: unknown key`), lines[1]);
  });

  void it('reports a YAML syntax error with its file and line and exits 78', async () => {
    const path = writeConfig(['port: 1883', 'host: [a', 'log_level: info']);
    const run = await runFennec(['check-config', path]);
    assert.equal(run.code, 78);
    // The parser notices the unclosed `[` where the next key starts.
    assert.ok(run.stderr.startsWith(`fennec: ${path}:3:1: YAML syntax error: `), run.stderr);
  });

  void it('names a missing file and exits 78', async () => {
    const path = join(configFiles.directory(), 'does-not-exist.yaml');
    const run = await runFennec(['check-config', path]);
    assert.equal(run.code, 78);
    assert.equal(run.stderr, `fennec: ${path}: cannot read the file: no such file\n`);
  });

  void it('exits 2 when the file argument is missing', async () => {
    const run = await runFennec(['check-config']);
    assert.equal(run.code, 2);
  });
});

void describe('fennec broker --config', () => {
  void it('prints each issue of an invalid file with its file:line and exits 78, without a stack trace', async () => {
    const path = writeConfig(['host: 127.0.0.1', 'port: 0', 'limits:', '  maximum_packet_size: 0']);
    const run = await runFennec(['broker', '--config', path]);
    assert.equal(run.code, 78);
    assert.equal(run.stdout, '');
    assert.equal(
      run.stderr,
      `fennec: ${path}:4:24: limits.maximum_packet_size: must be an integer from 1 to 268435460 bytes, got 0\n`,
    );
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  });

  void it('exits 78 naming the file when it does not exist', async () => {
    const path = join(configFiles.directory(), 'absent.yaml');
    const run = await runFennec(['broker', '--config', path]);
    assert.equal(run.code, 78);
    assert.equal(run.stderr, `fennec: ${path}: cannot read the file: no such file\n`);
  });

  void it("listens on the file's port, not on the --port flag's default", async () => {
    const path = writeConfig(['host: 127.0.0.1', 'port: 0', 'log_level: silent']);
    const run = await runFennec(['broker', '--config', path], { untilListening: true });
    assert.notEqual(listeningAddress(run).port, 1883);
    assert.equal(run.code, 0, `signal ${run.signal}; stderr: ${run.stderr}`);
  });

  void it("takes a --host flag given on the command line over the file's host", async () => {
    // 192.0.2.1 (TEST-NET-1) is on no interface: listening there would fail with exit code 69.
    const path = writeConfig(['host: 192.0.2.1', 'port: 0', 'log_level: silent']);
    const run = await runFennec(['broker', '--config', path, '--host', '127.0.0.1'], { untilListening: true });
    assert.equal(listeningAddress(run).host, '127.0.0.1');
    assert.equal(run.code, 0, `signal ${run.signal}; stderr: ${run.stderr}`);
  });

  void it("takes FENNEC_HOST over the file's host, and a --host flag over FENNEC_HOST", async () => {
    const path = writeConfig(['host: 192.0.2.1', 'port: 0', 'log_level: silent']);
    const fromEnvironment = await runFennec(['broker', '--config', path], {
      env: { FENNEC_HOST: '127.0.0.1' },
      untilListening: true,
    });
    assert.equal(listeningAddress(fromEnvironment).host, '127.0.0.1');
    const fromFlag = await runFennec(['broker', '--config', path, '--host', '127.0.0.1'], {
      env: { FENNEC_HOST: '192.0.2.1' },
      untilListening: true,
    });
    assert.equal(listeningAddress(fromFlag).host, '127.0.0.1');
  });

  void it('exits 78 naming an invalid environment variable', async () => {
    const run = await runFennec(['broker', '--port', '0'], { env: { FENNEC_PORT: 'eighteen' } });
    assert.equal(run.code, 78);
    assert.match(run.stderr, /^fennec: environment: FENNEC_PORT: must be an integer from 0 to 65535/);
  });
});
