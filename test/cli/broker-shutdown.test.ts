// `fennec broker` stopping: SIGTERM with several MQTT 5.0 clients connected gives each DISCONNECT
// 0x8B, flushes the SQLite store and exits 0, and a restart finds a persistent session's queued
// message; a second signal while stopping exits at once (130 / 143) saying why; a stop longer than
// shutdown_timeout_ms exits 70. Also `--http-port`: the `listening http://` line, /health, /metrics.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pkt from '../helpers/packets.js';
import { RawClient, destroyAllClients } from '../helpers/raw-client.js';
import { killAllPrograms, runProgram, type RunningProcess } from '../interop/support.js';
import { cliEnvironment, fennecBin } from '../helpers/cli.js';
import { ExitCode } from '../../src/cli/errors.js';

const PROCESS_TIMEOUT_MS = 15_000;
const directories: string[] = [];

/** A new empty directory, removed after the tests. */
function temporaryDirectory(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fennec-shutdown-'));
  directories.push(dir);
  return dir;
}

/** Starts `fennec broker` with `args` and reads the MQTT (and HTTP) ports from its listening lines. */
async function startFennec(
  args: readonly string[],
  env: NodeJS.ProcessEnv = cliEnvironment,
  lines = 1,
): Promise<{ running: RunningProcess; port: number; httpPort?: number }> {
  const running = runProgram(process.execPath, [fennecBin, 'broker', '--port', '0', ...args], PROCESS_TIMEOUT_MS, env);
  const printed = await running.waitForLines(lines);
  const port = Number(/listening mqtt:\/\/127\.0\.0\.1:(\d+)$/.exec(printed[0] ?? '')?.[1]);
  assert.ok(port > 0, `unexpected lines: ${printed.join(' / ')}`);
  const http = /listening http:\/\/127\.0\.0\.1:(\d+)$/.exec(printed[1] ?? '');
  return { running, port, ...(http === null ? {} : { httpPort: Number(http[1]) }) };
}

/** A TCP client that sends CONNECT and never reads nor closes its side: the broker must cut it off. */
async function stubbornClient(port: number): Promise<Socket> {
  const socket = connectTcp({ port, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(pkt.connect({ version: 5, clientId: `stubborn-${port}` }));
  socket.pause();
  socket.on('error', () => undefined);
  return socket;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('fennec broker: graceful shutdown', () => {
  after(async () => {
    destroyAllClients();
    await killAllPrograms();
    for (const dir of directories) rmSync(dir, { recursive: true, force: true });
  });

  it('on SIGTERM sends each 5.0 client DISCONNECT 0x8B, exits 0, and a restart finds a queued message of a persistent session', async () => {
    const dataDir = temporaryDirectory();
    const env = { ...cliEnvironment, FENNEC_PERSISTENCE: 'sqlite' };
    const first = await startFennec(['--data-dir', dataDir], env);
    const keeper = await RawClient.connect(first.port, {
      version: 5,
      clientId: 'keeper',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    await keeper.subscribe('jobs/#', 1);
    keeper.send(pkt.disconnect(5));
    await keeper.closed();
    const publisher = await RawClient.connect(first.port, { version: 5, clientId: 'publisher' });
    // PUBACK comes once the message is committed for the offline session.
    assert.equal(await publisher.publish({ topic: 'jobs/1', payload: 'queued before the stop', qos: 1 }), 0);
    const others = await Promise.all(
      ['a', 'b', 'c'].map((id) => RawClient.connect(first.port, { version: 5, clientId: `connected-${id}` })),
    );
    const connected = [publisher, ...others];
    first.running.child.kill('SIGTERM');
    for (const client of connected) {
      const disconnect = await client.next('disconnect');
      assert.equal(disconnect.reasonCode, 0x8b, 'Server shutting down');
      await client.closed();
    }
    const result = await first.running.exited;
    assert.equal(result.signal, null);
    assert.equal(result.code, ExitCode.Ok, result.stderr);

    const second = await startFennec(['--data-dir', dataDir], env);
    const back = await RawClient.connect(second.port, {
      version: 5,
      clientId: 'keeper',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    assert.equal(back.connack.sessionPresent, true, 'the session survived the stop');
    const message = await back.next('publish');
    assert.equal(message.payload.toString(), 'queued before the stop');
    second.running.child.kill('SIGTERM');
    assert.equal((await second.running.exited).code, ExitCode.Ok);
  });

  for (const [firstSignal, secondSignal, code] of [
    ['SIGTERM', 'SIGINT', 130],
    ['SIGINT', 'SIGTERM', 143],
  ] as const) {
    it(`exits at once with ${code} on a ${secondSignal} that comes while a ${firstSignal} stop is under way`, async () => {
      const { running, port } = await startFennec(['--memory']);
      const socket = await stubbornClient(port);
      await sleep(100);
      // The stubborn client keeps the stop waiting about a second, until the broker cuts it off.
      running.child.kill(firstSignal);
      await sleep(200);
      running.child.kill(secondSignal);
      const result = await running.exited;
      socket.destroy();
      assert.equal(result.signal, null);
      assert.equal(result.code, code, result.stderr);
      assert.match(result.stderr, new RegExp(`^fennec: ${secondSignal} while stopping; exiting at once`, 'm'));
    });
  }

  it('exits 70 when stopping takes longer than shutdown_timeout_ms', async () => {
    const dir = temporaryDirectory();
    const config = join(dir, 'fennec.yaml');
    writeFileSync(config, 'shutdown_timeout_ms: 100\n');
    const { running, port } = await startFennec(['--memory', '--config', config]);
    const socket = await stubbornClient(port);
    await sleep(100);
    running.child.kill('SIGTERM');
    const result = await running.exited;
    socket.destroy();
    assert.equal(result.code, ExitCode.Software, result.stderr);
    assert.match(result.stderr, /^fennec: stopping took longer than shutdown_timeout_ms \(100 ms\); exiting$/m);
  });

  it('with --http-port prints `listening http://127.0.0.1:PORT` and serves /health and /metrics there', async () => {
    const { running, httpPort } = await startFennec(['--memory', '--http-port', '0'], cliEnvironment, 2);
    assert.ok(httpPort !== undefined && httpPort > 0);
    const health = await fetch(`http://127.0.0.1:${httpPort}/health`);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    assert.match(metrics, /^fennec_connections_accepted_total 0$/m);
    running.child.kill('SIGTERM');
    assert.equal((await running.exited).code, ExitCode.Ok);
  });
});
