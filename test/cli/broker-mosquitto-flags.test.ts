// `fennec broker` typed as `mosquitto` is: -c FILE, -p PORT, -v for connection logs, -d in the
// background with a pid file; --version and -V; logs as JSON or pretty, to a file reopened on SIGHUP,
// or to syslog through `logger`. Each runs the real command in a child process.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { ExitCode } from '../../src/cli/errors.js';
import { killAllPrograms, requireProgram, runProgram, type RunningProcess } from '../interop/support.js';
import { cliEnvironment as environment, fennecBin as fennec, repositoryRoot } from '../helpers/cli.js';
import { temporaryConfigFiles } from '../helpers/config-files.js';
import { RawClient } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/broker.js';
import * as pkt from '../helpers/packets.js';

const PROCESS_TIMEOUT_MS = 15_000;
const files = temporaryConfigFiles('fennec-flags-');
const version = (JSON.parse(readFileSync(join(repositoryRoot, 'package.json'), 'utf8')) as { version: string }).version;
/** Background brokers started by these tests, killed at the end if a test left one running. */
const daemons = new Set<number>();

function runFennec(args: readonly string[]): RunningProcess {
  return runProgram(process.execPath, [fennec, ...args], PROCESS_TIMEOUT_MS, environment);
}

/** The port of a `fennec listening mqtt://127.0.0.1:PORT` line. */
function portOf(line: string | undefined): number {
  const match = /^fennec listening mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(line ?? '');
  assert.ok(match, `not a listening line: ${line}`);
  return Number(match[1]);
}

/** Starts `fennec broker ...args` and waits for its listening line. */
async function startBroker(args: readonly string[]): Promise<{ running: RunningProcess; port: number }> {
  const running = runFennec(['broker', ...args]);
  const [line] = await running.waitForLines(1);
  return { running, port: portOf(line) };
}

/** Connects a client named `clientId` and disconnects it cleanly. */
async function visit(port: number, clientId: string): Promise<void> {
  const client = await RawClient.connect(port, { clientId });
  client.send(pkt.disconnect(4));
  await client.closed();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

after(async () => {
  for (const pid of daemons) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  await killAllPrograms();
});

void describe('fennec --version and -V', () => {
  for (const args of [['--version'], ['-V'], ['broker', '--version'], ['broker', '-V']]) {
    void it(`\`fennec ${args.join(' ')}\` prints the version of package.json and exits with 0`, async () => {
      const result = await runFennec(args).exited;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${version}\n`);
      assert.equal(result.stderr, '');
    });
  }
});

void describe('fennec broker --help', () => {
  void it('lists flags that docs/cli.md and the README both document', async () => {
    const result = await runFennec(['broker', '--help']).exited;
    assert.equal(result.code, 0, result.stderr);
    const flags = [...new Set(result.stdout.match(/(?<![\w-])--?[a-zA-Z][a-z-]*/g))].filter(
      (flag) => flag !== '--help' && flag !== '-h',
    );
    assert.ok(flags.includes('-d') && flags.includes('--log-file'), `flags: ${flags.join(' ')}`);
    const cli = await readFile(join(repositoryRoot, 'docs', 'cli.md'), 'utf8');
    const section = cli.slice(cli.indexOf('## fennec broker'), cli.indexOf('## fennec passwd'));
    const readme = await readFile(join(repositoryRoot, 'README.md'), 'utf8');
    const running = readme.slice(readme.indexOf('## Running the broker'), readme.indexOf('### Embedding'));
    for (const flag of flags) {
      assert.ok(section.includes(`\`${flag}`), `${flag} is not in docs/cli.md's fennec broker section`);
      assert.ok(running.includes(`\`${flag}`), `${flag} is not in the README's Running the broker table`);
    }
  });
});

void describe('fennec broker errors', () => {
  for (const args of [['broker', '--bogus'], ['brokr'], ['broker', '-p', 'x'], ['broker', '--log-format', 'xml']]) {
    void it(`\`fennec ${args.join(' ')}\` is one line starting with fennec:, exit ${ExitCode.Usage}`, async () => {
      const result = await runFennec(args).exited;
      assert.equal(result.code, ExitCode.Usage, result.stderr);
      assert.match(result.stderr, /^fennec: [^\n]+\n$/);
    });
  }

  void it(`-v with --log-level is refused in one line, exit ${ExitCode.Usage}`, async () => {
    const result = await runFennec(['broker', '-v', '--log-level', 'debug']).exited;
    assert.equal(result.code, ExitCode.Usage);
    assert.match(result.stderr, /^fennec: option '-v, --verbose' cannot be used with option '--log-level <level>'\n$/);
  });
});

void describe('fennec broker -c -p -v', () => {
  void it('-c reads the file and -p overrides its port', async () => {
    const log = join(files.directory(), 'c.log');
    const config = files.write(['port: 1', 'log_level: info', `log_dest: file ${log}`]);
    const { running, port } = await startBroker(['-c', config, '-p', '0', '--memory']);
    assert.notEqual(port, 1);
    await waitUntil(
      () => existsSync(log) && readFileSync(log, 'utf8').includes('"msg":"listening"'),
      'logged to the file',
    );
    running.child.kill('SIGTERM');
    assert.equal((await running.exited).code, 0);
  });

  void it('without -v a connect writes nothing; with -v it is an info line with the client', async () => {
    const quiet = await startBroker(['-p', '0', '--memory']);
    await visit(quiet.port, 'quiet-client');
    quiet.running.child.kill('SIGTERM');
    const quietResult = await quiet.running.exited;
    assert.equal(quietResult.stderr, '', 'the default level, warn, says nothing of connections');

    const verbose = await startBroker(['-p', '0', '--memory', '-v']);
    await visit(verbose.port, 'loud-client');
    await waitUntil(() => verbose.running.stderr().includes('disconnected'), 'the close is logged');
    verbose.running.child.kill('SIGTERM');
    const lines = (await verbose.running.exited).stderr
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const connected = lines.find((line) => line['event'] === 'connected');
    assert.equal(connected?.['clientId'], 'loud-client');
    assert.equal(connected?.['level'], 30);
    const disconnected = lines.find((line) => line['event'] === 'disconnected');
    assert.equal(disconnected?.['reason'], 'client-disconnect');
  });
});

void describe('fennec broker log formats and destinations', () => {
  void it('--log-format pretty writes one readable line per entry, without the fields its message says', async () => {
    const { running, port } = await startBroker(['-p', '0', '--memory', '-v', '--log-format', 'pretty']);
    await visit(port, 'pretty-client');
    await waitUntil(() => running.stderr().includes('disconnected'), 'the close is logged');
    running.child.kill('SIGTERM');
    const stderr = (await running.exited).stderr;
    assert.match(
      stderr,
      /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: client pretty-client connected from 127\.0\.0\.1:\d+ \(MQTT 3\.1\.1, no user name, keep-alive 60 s, clean start, listener mqtt\)$/m,
    );
    assert.match(
      stderr,
      /^\[[^\]]+\] INFO: client pretty-client disconnected from 127\.0\.0\.1:\d+: client sent DISCONNECT$/m,
    );
    assert.doesNotMatch(stderr, /^\{/m, 'no JSON line');
  });

  void it('on a terminal the default format is pretty', async (t) => {
    if (!requireProgram(t, 'script', 'bsdutils')) return;
    const pidFile = join(files.directory(), 'tty.pid');
    const command = [process.execPath, fennec, 'broker', '-p', '0', '--memory', '-v', '--pid-file', pidFile]
      .map((arg) => `'${arg}'`)
      .join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: environment,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const closed = new Promise((resolve) => child.on('close', resolve));
    try {
      await waitUntil(() => /fennec listening mqtt:\/\/127\.0\.0\.1:\d+/.test(output), 'the broker listens', 10_000);
      const port = Number(/fennec listening mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1]);
      await visit(port, 'tty-client');
      await waitUntil(() => output.includes('tty-client disconnected'), 'the close is logged', 5000);
      // Colours on a terminal: the level is wrapped in escape sequences.
      const escape = String.fromCharCode(0x1b);
      assert.ok(
        output.includes(`] ${escape}[32mINFO${escape}[39m: `) &&
          /client tty-client connected from 127\.0\.0\.1/.test(output),
        JSON.stringify(output),
      );
      assert.doesNotMatch(output, /"event":"connected"/);
    } finally {
      if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGTERM');
      child.stdin.end();
      await closed;
    }
  });

  void it('--log-file writes JSON to the file and reopens it on SIGHUP after logrotate renamed it', async () => {
    const log = join(files.directory(), 'rotate.log');
    const { running, port } = await startBroker(['-p', '0', '--memory', '-v', '--log-file', log]);
    await visit(port, 'before-rotation');
    await waitUntil(() => readFileSync(log, 'utf8').includes('before-rotation disconnected'), 'logged to the file');
    renameSync(log, `${log}.1`);
    running.child.kill('SIGHUP');
    await waitUntil(() => existsSync(log), 'the file is made again on SIGHUP');
    await visit(port, 'after-rotation');
    await waitUntil(() => readFileSync(log, 'utf8').includes('after-rotation disconnected'), 'logged to the new file');
    running.child.kill('SIGTERM');
    const result = await running.exited;
    assert.equal(result.code, 0);
    assert.equal(result.stderr, '', 'nothing on stderr');
    const rotated = readFileSync(`${log}.1`, 'utf8');
    const current = readFileSync(log, 'utf8');
    assert.ok(rotated.includes('before-rotation') && !rotated.includes('after-rotation'));
    assert.ok(current.includes('after-rotation') && !current.includes('before-rotation'));
    for (const line of current.trim().split('\n')) JSON.parse(line);
  });

  void it(`an unwritable --log-file is one line, exit ${ExitCode.CannotCreate}`, async () => {
    const result = await runFennec(['broker', '-p', '0', '--memory', '--log-file', '/proc/fennec.log']).exited;
    assert.equal(result.code, ExitCode.CannotCreate, result.stderr);
    assert.match(result.stderr, /^fennec: log_dest: cannot open log file \/proc\/fennec\.log: [^\n]+\n$/);
  });

  void it('log_dest: syslog passes each line with its priority to the syslog socket through logger', async (t) => {
    if (!requireProgram(t, 'logger', 'bsdutils')) return;
    const socket = join(files.directory(), 'syslog.sock');
    let received = '';
    const server: Server = createServer((connection) => {
      connection.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const config = files.write(['log_level: info', `log_dest: syslog ${socket}`]);
      const { running, port } = await startBroker(['-c', config, '-p', '0', '--memory']);
      await visit(port, 'syslog-client');
      await waitUntil(() => received.includes('syslog-client disconnected'), 'the close reaches syslog', 5000);
      running.child.kill('SIGTERM');
      assert.equal((await running.exited).code, 0);
      // <30>: facility daemon (3) x 8 + severity info (6); tagged fennec, as logger writes it.
      assert.match(
        received,
        /<30>[^\n]* fennec(\[\d+\])?: \{[^\n]*"event":"connected"[^\n]*"clientId":"syslog-client"/,
      );
    } finally {
      server.close();
    }
  });
});

void describe('fennec broker -d', () => {
  void it('runs in the background with its pid file, exits 0 once it listens, and stops on SIGTERM removing the pid file', async () => {
    const pidFile = join(files.directory(), 'daemon.pid');
    const log = join(files.directory(), 'daemon.log');
    const result = await runFennec([
      'broker',
      '-d',
      '-p',
      '0',
      '--memory',
      '-v',
      '--pid-file',
      pidFile,
      '--log-file',
      log,
    ]).exited;
    assert.equal(result.code, 0, result.stderr);
    const port = portOf(result.stdout.trim());
    const pid = Number(readFileSync(pidFile, 'utf8'));
    daemons.add(pid);
    assert.ok(isAlive(pid), 'the background broker runs after the command exited');
    await visit(port, 'daemon-client');
    await waitUntil(() => readFileSync(log, 'utf8').includes('daemon-client disconnected'), 'it logs to its file');
    process.kill(pid, 'SIGTERM');
    await waitUntil(() => !isAlive(pid), 'the background broker stops on SIGTERM', 5000);
    assert.equal(existsSync(pidFile), false, 'the pid file is removed');
  });

  void it(`passes on the error of a background broker that cannot start: one line, its exit code`, async () => {
    const config = files.write(['port: abc']);
    const result = await runFennec(['broker', '-d', '-c', config]).exited;
    assert.equal(result.code, ExitCode.Config);
    assert.match(result.stderr, /^fennec: [^\n]*:1:7: port: must be an integer[^\n]*\n$/);
    assert.equal(result.stdout, '');
  });
});
