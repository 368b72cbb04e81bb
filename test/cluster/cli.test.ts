// `fennec broker` as a cluster node: two processes on one Redis route a message between them; the
// node id is printed at start; a Redis that cannot be reached is one line and exit code 69.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { cliEnvironment, fennecBin } from '../helpers/cli.js';
import { startRedis } from '../helpers/redis-server.js';

interface Started {
  child: ChildProcess;
  nodeId: string;
  url: string;
}

/** Starts `fennec broker ARGS`; resolves with its node id and MQTT URL once it prints them. */
function startFennec(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [fennecBin, 'broker', '--memory', '--port', '0', ...args], {
    env: cliEnvironment,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`fennec did not start: ${stderr}`)), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const node = /fennec cluster node (\S+)/.exec(stdout);
      const url = /fennec listening (mqtt:\/\/\S+)/.exec(stdout);
      if (node !== null && url !== null) {
        clearTimeout(timer);
        resolve({ child, nodeId: node[1]!, url: url[1]! });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`fennec exited with ${code}: ${stderr}`));
    });
  });
}

void describe('fennec broker as a cluster node', () => {
  void it('routes a QoS 1 message between two processes, one configured by file, one by --cluster-redis', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const dir = mkdtempSync(join(tmpdir(), 'fennec-cluster-cli-'));
    const file = join(dir, 'fennec.yaml');
    writeFileSync(file, `cluster:\n  redis: ${redis.url}\n  node_id: from-file\n`);
    const a = await startFennec(['--config', file]);
    const b = await startFennec(['--cluster-redis', redis.url]);
    const clients: mqtt.MqttClient[] = [];
    redis.beforeStop(async () => {
      await Promise.all(clients.map((client) => client.endAsync(true)));
      for (const { child } of [a, b]) {
        child.kill('SIGTERM');
        if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
      }
      rmSync(dir, { recursive: true, force: true });
    });
    assert.equal(a.nodeId, 'from-file');
    assert.match(b.nodeId, new RegExp(`-${b.child.pid}$`), 'default node id: HOSTNAME-PID');
    const sub = await mqtt.connectAsync(b.url, { clientId: 'sub', reconnectPeriod: 0 });
    const pub = await mqtt.connectAsync(a.url, { clientId: 'pub', reconnectPeriod: 0 });
    clients.push(sub, pub);
    const received: string[] = [];
    sub.on('message', (_topic, payload) => received.push(payload.toString()));
    await sub.subscribeAsync('cli/#', { qos: 1 });
    // The route reaches node A a moment after the SUBACK: probe with QoS 0 until one arrives.
    const deadline = Date.now() + 10_000;
    while (!received.includes('probe')) {
      assert.ok(Date.now() < deadline, 'the route of node B reached node A');
      await pub.publishAsync('cli/probe', 'probe', { qos: 0 });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await pub.publishAsync('cli/real', 'real', { qos: 1 });
    const until = Date.now() + 10_000;
    while (!received.includes('real') && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(received.includes('real'));
  });

  void it('exits with 69 and one line when Redis cannot be reached', async () => {
    const child = spawn(
      process.execPath,
      [fennecBin, 'broker', '--memory', '--port', '0', '--cluster-redis', 'redis://127.0.0.1:1'],
      {
        env: cliEnvironment,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 69);
    const lines = stderr.split('\n').filter((line) => line.startsWith('fennec:'));
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /^fennec: cannot reach the cluster's Redis at redis:\/\/127.0.0.1:1/);
  });

  void it('exits with 69 when its port is taken, after joining the cluster (it leaves, not lingers)', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const address = taken.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const child = spawn(
      process.execPath,
      [fennecBin, 'broker', '--memory', '--port', String(port), '--cluster-redis', redis.url],
      { env: cliEnvironment, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    assert.equal(code, 69, stderr);
    assert.match(stderr, /^fennec: cannot listen on 127\.0\.0\.1:\d+/m);
  });

  void it('exits with 78 and one line naming the file and cluster.wait_aof on a Redis older than 7.2', async (t) => {
    const redis = await startRedis(t);
    if (redis === undefined) return;
    const version = /v=(\d+)\.(\d+)/.exec(execFileSync('redis-server', ['--version']).toString());
    const major = Number(version?.[1]);
    if (major > 7 || (major === 7 && Number(version?.[2]) >= 2)) {
      t.skip('this redis-server has WAITAOF: nothing to refuse (test/cluster/topologies.test.ts runs with it)');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'fennec-cluster-cli-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'fennec.yaml');
    writeFileSync(file, `cluster:\n  redis: ${redis.url}\n  wait_aof: true\n`);
    const child = spawn(process.execPath, [fennecBin, 'broker', '--memory', '--port', '0', '--config', file], {
      env: cliEnvironment,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 78);
    const lines = stderr.split('\n').filter((line) => line.startsWith('fennec:'));
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!, /^fennec: .*fennec\.yaml: cluster\.wait_aof needs Redis 7\.2 or later \(WAITAOF\)/);
  });
});
