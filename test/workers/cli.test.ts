// `fennec broker --workers N` on the command line: bad counts and options the workers cannot serve
// are refused naming the flag or key (exit 2 for a flag, 78 for the file), Mosquitto's own clients
// talk across workers, and a server-assigned client id (empty) is served too.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { temporaryConfigFiles } from '../helpers/config-files.js';
import { cliEnvironment as environment, fennecBin as fennec } from '../helpers/cli.js';
import { ClientPool, killAllPrograms, requireProgram, runProgram } from '../interop/support.js';
import { idOn, WorkersProcess } from './workers-process.js';

const configFiles = temporaryConfigFiles('fennec-workers-cli-');

/** Runs `fennec broker ARGS` to its end (it must refuse to start). */
async function refused(args: string[]): Promise<{ code: number | null; stderr: string }> {
  // A file with listeners takes no --port.
  const port = args.includes('--config') ? [] : ['--port', '0'];
  const run = runProgram(process.execPath, [fennec, 'broker', ...port, ...args], 15_000, environment);
  const { code, stderr, timedOut } = await run.exited;
  assert.equal(timedOut, false, 'it refused to start');
  return { code, stderr };
}

void describe('fennec broker --workers: the command line', () => {
  const pool = new ClientPool(() => broker.url);
  let broker: WorkersProcess;
  after(async () => {
    await pool.closeAll();
    await killAllPrograms();
  });

  for (const value of ['0', 'x', '65']) {
    void it(`--workers ${value} is a bad flag naming --workers (exit 2)`, async () => {
      const { code, stderr } = await refused(['--workers', value]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /^fennec: option '--workers <n>' argument '.*' is invalid/m);
    });
  }

  void it('workers: "x" in the file is a configuration error naming the key and line (exit 78)', async () => {
    const path = configFiles.write(['port: 0', 'workers: "x"']);
    const { code, stderr } = await refused(['--config', path]);
    assert.equal(code, 78, stderr);
    assert.match(stderr, /workers/);
    assert.match(stderr, /:2\b/, 'the line of the key');
  });

  void it('workers: 0 in the file is a configuration error naming the key (exit 78)', async () => {
    const path = configFiles.write(['port: 0', 'workers: 0']);
    const { code, stderr } = await refused(['--config', path]);
    assert.equal(code, 78, stderr);
    assert.match(stderr, /workers.*must be an integer from 1 to 64/);
  });

  void it('a WebSocket listener with --workers 2 is refused naming --ws-port (exit 78)', async () => {
    const { code, stderr } = await refused(['--workers', '2', '--memory', '--ws-port', '0']);
    assert.equal(code, 78, stderr);
    assert.match(stderr, /^fennec: --ws-port: WebSocket listeners are not served with workers: 2/m);
  });

  void it('a TLS listener in the file with workers: 2 is refused naming listeners[1].protocol (exit 78)', async () => {
    const path = configFiles.write([
      'workers: 2',
      'persistence: none',
      'listeners:',
      '  - { protocol: mqtt, port: 0 }',
      '  - { protocol: mqtts, port: 0, cert_file: /nonexistent.pem, key_file: /nonexistent.key }',
    ]);
    const { code, stderr } = await refused(['--config', path]);
    assert.equal(code, 78, stderr);
    assert.match(stderr, /listeners\[1\]\.protocol: mqtts listeners are not served with workers: 2/);
  });

  void it('mosquitto_sub on worker 2 receives what mosquitto_pub publishes on worker 1, QoS 0, 1 and 2', async (t) => {
    if (
      !requireProgram(t, 'mosquitto_sub', 'mosquitto-clients') ||
      !requireProgram(t, 'mosquitto_pub', 'mosquitto-clients')
    ) {
      return;
    }
    broker = await WorkersProcess.start(t);
    const port = String(broker.port);
    const sub = runProgram(
      'mosquitto_sub',
      ['-p', port, '-i', idOn(1, 'mosq-s'), '-t', 'mosq/#', '-q', '2', '-v', '-C', '3'],
      15_000,
    );
    // Publish until the route is known on worker 1, then the three messages.
    const probe = runProgram(
      'mosquitto_sub',
      ['-p', port, '-i', idOn(1, 'mosq-probe'), '-t', 'probe/m', '-C', '1'],
      15_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    while (probe.child.exitCode === null) {
      await runProgram('mosquitto_pub', ['-p', port, '-i', idOn(0, 'mosq-pp'), '-t', 'probe/m', '-m', 'p'], 5000)
        .exited;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    for (const qos of ['0', '1', '2']) {
      const pub = runProgram(
        'mosquitto_pub',
        ['-p', port, '-i', idOn(0, 'mosq-p'), '-t', `mosq/q${qos}`, '-m', `m${qos}`, '-q', qos],
        5000,
      );
      assert.equal((await pub.exited).code, 0);
    }
    const lines = await sub.waitForLines(3);
    assert.deepEqual(lines, ['mosq/q0 m0', 'mosq/q1 m1', 'mosq/q2 m2']);
  });

  void it('$SYS/broker/cluster/nodes/wK/clients shows the clients of every worker, on either worker', async (t) => {
    const path = configFiles.write(['sys_interval: 1']);
    broker = await WorkersProcess.start(t, 2, ['--config', path]);
    const others = [];
    for (let i = 0; i < 3; i++) others.push(await pool.connect({ clientId: idOn(1, `sys-other-${i}`) }));
    const watcher = await pool.connect({ clientId: idOn(0, 'sys-watch') });
    await watcher.client.subscribeAsync('$SYS/broker/cluster/nodes/+/clients', { qos: 0 });
    const deadline = Date.now() + 10_000;
    const latest = (node: string): string | undefined =>
      watcher.inbox.messages.filter((m) => m.topic === `$SYS/broker/cluster/nodes/${node}/clients`).at(-1)?.payload;
    while ((latest('w1') !== '1' || latest('w2') !== '3') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(latest('w1'), '1', 'worker 1: the watcher');
    assert.equal(latest('w2'), '3', 'worker 2: three clients, as worker 2 reported them to worker 1');
  });

  void it('--http-port: worker 1 serves HTTP, and the primary prints its listening line', async (t) => {
    broker = await WorkersProcess.start(t, 2, ['--http-port', '0']);
    const line = /fennec listening (http:\/\/127\.0\.0\.1:\d+)$/m;
    // Printed after the mqtt:// line, maybe in a later chunk.
    for (let i = 0; i < 50 && !line.test(broker.stdout); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    const http = line.exec(broker.stdout);
    assert.ok(http !== null, broker.stdout);
    const response = await fetch(`${http[1]}/health`);
    assert.equal(response.status, 200);
    const metrics = await (await fetch(`${http[1]}/metrics`)).text();
    assert.match(metrics, /fennec_cluster_/, 'every worker in the cluster metrics');
  });

  void it('-d: the background primary starts its workers, writes the pid file, and stops them on SIGTERM', async () => {
    const dir = configFiles.directory();
    const pidFile = `${dir}/daemon.pid`;
    const run = runProgram(
      process.execPath,
      [fennec, 'broker', '-d', '--port', '0', '--workers', '2', '--memory', '--pid-file', pidFile],
      20_000,
      environment,
    );
    const result = await run.exited;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^fennec listening mqtt:\/\/127\.0\.0\.1:\d+$/m);
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    const children = () =>
      execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
        .trim()
        .split('\n');
    assert.equal(children().length, 2, 'two workers');
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && existsSync(pidFile); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(existsSync(pidFile), false, 'the pid file is removed once stopped');
    const alive = (): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && alive(); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(alive(), false, 'the primary is gone');
  });

  void it('clients with an empty client id [MQTT-3.1.3-6] are assigned one and served, whichever worker takes them', async (t) => {
    broker = await WorkersProcess.start(t);
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push(await pool.connect({ clientId: '', clean: true, protocolVersion: 4 }));
    for (const c of clients) await c.client.subscribeAsync('anon/t', { qos: 1 });
    const pub = await pool.connect({ clientId: idOn(0, 'anon-p') });
    // Round robin put some on each worker.
    await pub.client.publishAsync('anon/t', 'to all', { qos: 1 });
    for (const c of clients) assert.equal((await c.inbox.waitFor(1))[0]!.payload, 'to all');
  });
});
