// scripts/cluster-demo.sh, the README's three nodes on one machine: started on free ports given by
// its environment, it runs Redis and three nodes; a message published on each node reaches
// subscribers on the other two; SIGINT (Ctrl-C) stops all four processes and the script exits 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import mqtt from 'mqtt';
import { repositoryRoot } from '../helpers/cli.js';
import { requireProgram } from '../interop/support.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** Whether something accepts connections on `port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

void describe('scripts/cluster-demo.sh', () => {
  void it(
    'runs Redis and three nodes that route to each other, and stops them all on SIGINT',
    { timeout: 120_000 },
    async (t) => {
      if (!requireProgram(t, 'redis-server', 'redis-server')) return;
      const ports = [await freePort(), await freePort(), await freePort()];
      const redisPort = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'fennec-demo-'));
      const script = spawn('bash', [join(repositoryRoot, 'scripts', 'cluster-demo.sh')], {
        env: {
          ...process.env,
          FENNEC_DEMO_PORTS: ports.join(' '),
          FENNEC_DEMO_REDIS_PORT: String(redisPort),
          FENNEC_DEMO_DIR: dir,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      script.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      script.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => script.once('exit', (code) => resolve(code)));
      const clients: mqtt.MqttClient[] = [];
      t.after(async () => {
        await Promise.all(clients.map((client) => client.endAsync(true)));
        if (script.exitCode === null) script.kill('SIGTERM');
        await exited;
        rmSync(dir, { recursive: true, force: true });
      });
      const deadline = Date.now() + 60_000;
      while (!out.includes('cluster ready:')) {
        assert.ok(Date.now() < deadline && script.exitCode === null, `the script did not get ready: ${out}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const urls = ports.map((port) => `mqtt://127.0.0.1:${port}`);
      assert.match(out, new RegExp(`cluster ready: ${urls.join(' ')}`));
      const received: string[][] = [[], [], []];
      for (const [i, url] of urls.entries()) {
        const sub = await mqtt.connectAsync(url, { clientId: `demo-sub-${i}`, reconnectPeriod: 0 });
        clients.push(sub);
        sub.on('message', (_topic, payload) => received[i]!.push(payload.toString()));
        await sub.subscribeAsync('demo/#', { qos: 1 });
      }
      const pubs = await Promise.all(
        urls.map((url, i) => mqtt.connectAsync(url, { clientId: `demo-pub-${i}`, reconnectPeriod: 0 })),
      );
      clients.push(...pubs);
      // Routes reach the other nodes a moment after the SUBACK: probe at QoS 0 until each node hears each.
      const everyone = (): boolean => received.every((got) => [0, 1, 2].every((i) => got.includes(`probe-${i}`)));
      while (!everyone()) {
        assert.ok(Date.now() < deadline, `routes did not spread: ${JSON.stringify(received)}`);
        await Promise.all(pubs.map((pub, i) => pub.publishAsync('demo/probe', `probe-${i}`, { qos: 0 })));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await Promise.all(pubs.map((pub, i) => pub.publishAsync('demo/real', `real-${i}`, { qos: 1 })));
      while (!received.every((got) => [0, 1, 2].every((i) => got.includes(`real-${i}`)))) {
        assert.ok(Date.now() < deadline, `QoS 1 messages did not cross nodes: ${JSON.stringify(received)}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await Promise.all(clients.splice(0).map((client) => client.endAsync(true)));
      script.kill('SIGINT');
      assert.equal(await exited, 0, out);
      assert.match(out, /cluster-demo: stopped/);
      for (const port of [...ports, redisPort]) assert.equal(await listening(port), false, `port ${port} closed`);
    },
  );
});
