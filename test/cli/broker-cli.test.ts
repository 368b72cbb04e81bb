// `fennec broker` as a user runs it: `node bin/fennec.js broker ...` in a child process (the
// compiled CLI in dist/ must exist: the test command builds first).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { ExitCode } from '../../src/cli/errors.js';
import { ClientPool, killAllPrograms, runProgram, type RunningProcess } from '../interop/support.js';
import { cliEnvironment as environment, fennecBin as fennec } from '../helpers/cli.js';

/** Longest a `fennec` process may run in these tests before it is killed, in ms. */
const PROCESS_TIMEOUT_MS = 10_000;

/** The environment without FENNEC_* variables, which the broker command would read as settings. */
// Without FENNEC_* settings, and in memory: these tests are not about the store (test/persistence is).

/** Runs `node bin/fennec.js ...args`. */
function runFennec(args: readonly string[]): RunningProcess {
  return runProgram(process.execPath, [fennec, ...args], PROCESS_TIMEOUT_MS, environment);
}

/** Lines of `text` that are not empty. */
function linesOf(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}

/** Starts `fennec broker --port 0` and reads the port from its `listening mqtt://...` line. */
async function startBrokerCommand(): Promise<{ process: RunningProcess; port: number }> {
  const running = runFennec(['broker', '--port', '0']);
  const [line] = await running.waitForLines(1);
  const match = /listening mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(line ?? '');
  assert.ok(match, `unexpected first line: ${line}`);
  const port = Number(match[1]);
  assert.ok(port > 0 && port < 65_536, `not a port: ${port}`);
  return { process: running, port };
}

void describe('fennec broker', () => {
  let url = '';
  const pool = new ClientPool(() => url);

  after(async () => {
    await pool.closeAll();
    await killAllPrograms();
  });

  void it('prints one `listening mqtt://127.0.0.1:PORT` line and serves MQTT on that port', async () => {
    const { process: broker, port } = await startBrokerCommand();
    url = `mqtt://127.0.0.1:${port}`;
    const { client, inbox } = await pool.connect({ clientId: 'cli-roundtrip' });
    await client.subscribeAsync('cli/hello', { qos: 1 });
    await client.publishAsync('cli/hello', 'from the command line', { qos: 1 });
    const [message] = await inbox.waitFor(1);
    assert.equal(message?.payload, 'from the command line');
    await pool.end(client);
    broker.child.kill('SIGTERM');
    const result = await broker.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(linesOf(result.stdout).length, 1, `stdout: ${result.stdout}`);
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    for (const protocolVersion of [4, 5] as const) {
      const how = protocolVersion === 5 ? 'after DISCONNECT 0x8B (server shutting down)' : '';
      void it(
        `stops on ${signal} with exit code 0, first closing the connection of an MQTT ${protocolVersion === 4 ? '3.1.1' : '5.0'} client ${how}`.trimEnd(),
        async () => {
          const { process: broker, port } = await startBrokerCommand();
          url = `mqtt://127.0.0.1:${port}`;
          const { client } = await pool.connect({ clientId: `cli-${signal}-${protocolVersion}`, protocolVersion });
          const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
          const reasons: (number | undefined)[] = [];
          client.on('disconnect', (packet) => reasons.push(packet.reasonCode));
          // The broker exits with 0 only once every connection has closed: Broker.close waits for them.
          broker.child.kill(signal);
          const result = await broker.exited;
          assert.equal(result.timedOut, false, 'the broker did not stop in time');
          assert.equal(result.signal, null, `ended by ${result.signal}, not by exiting`);
          assert.equal(result.code, ExitCode.Ok, result.stderr);
          await closed;
          assert.equal(client.connected, false);
          assert.deepEqual(reasons, protocolVersion === 5 ? [0x8b] : []);
          await pool.end(client);
        },
      );
    }
  }

  void it(`reports a port in use in one line on stderr, without a stack trace, and exits with ${ExitCode.Unavailable}`, async () => {
    const blocker = createServer();
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const { port } = blocker.address() as AddressInfo;
    try {
      const result = await runFennec(['broker', '--port', String(port)]).exited;
      assert.equal(result.code, ExitCode.Unavailable, result.stderr);
      const lines = linesOf(result.stderr);
      assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
      assert.match(lines[0]!, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.match(lines[0]!, /in use/);
      assert.doesNotMatch(result.stderr, /^\s+at /m);
      assert.equal(result.stdout, '');
    } finally {
      blocker.close();
    }
  });

  for (const [args, mentions] of [
    [['--port', 'abc'], '--port'],
    [['--port', '70000'], '--port'],
    [['--bogus'], '--bogus'],
    [['--log-level', 'loud'], '--log-level'],
  ] as const) {
    void it(`rejects \`broker ${args.join(' ')}\` in one line on stderr naming ${mentions}, with exit code ${ExitCode.Usage}`, async () => {
      const result = await runFennec(['broker', ...args]).exited;
      assert.equal(result.code, ExitCode.Usage, result.stderr);
      const lines = linesOf(result.stderr);
      assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
      assert.ok(lines[0]!.includes(mentions), lines[0]);
      assert.equal(result.stdout, '');
    });
  }

  for (const [args, misspelt, suggestion] of [
    [['brokr'], 'brokr', 'broker'],
    [['broker', '--prot', '1883'], '--prot', '--port'],
  ] as const) {
    void it(`rejects the misspelt \`${args.join(' ')}\` in one line on stderr that suggests ${suggestion}, with exit code ${ExitCode.Usage}`, async () => {
      const result = await runFennec(args).exited;
      assert.equal(result.code, ExitCode.Usage, result.stderr);
      const lines = linesOf(result.stderr);
      assert.equal(lines.length, 1, `stderr: ${result.stderr}`);
      assert.ok(lines[0]!.includes(misspelt), lines[0]);
      assert.ok(lines[0]!.includes(`Did you mean ${suggestion}?`), lines[0]);
    });
  }

  for (const args of [['--help'], ['broker', '--help']]) {
    void it(`prints usage for \`${args.join(' ')}\` on stdout and exits with 0`, async () => {
      const result = await runFennec(args).exited;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^Usage: fennec/);
      if (args[0] === 'broker') assert.match(result.stdout, /--port <port>/);
      assert.equal(result.stderr, '');
    });
  }
});
