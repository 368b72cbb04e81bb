/**
 * QoS 1 fan-in to a persistent subscriber, with each broker in its own process on 127.0.0.1:
 * Fennec in memory (`--memory`), Fennec with the SQLite store (durability `process` and `power`),
 * and Mosquitto with `persistence true` when it is installed. 8 MQTT.js publishers keep 64 QoS 1
 * PUBLISHes each without a PUBACK; one persistent subscriber (clean session 0) receives. Prints
 * delivered messages per second with the subscriber online, then PUBACKs per second with it offline
 * (every message queued for it), and the data directory's size at the end. Figures, not assertions.
 * With `qos` 2 every message and subscription is QoS 2 (PUBRECs counted offline): the cost of
 * holding each QoS 2 PUBLISH to a persistent subscriber until its delivery is committed.
 *
 *   npm run build && node dist/bench/persistence.js [seconds] [qos]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';

const seconds = Number(process.argv[2] ?? 5);
const qos = process.argv[3] === '2' ? 2 : 1;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PUBLISHERS = 8;
const WINDOW = 64;

/** A config raising the queue limit, so that an offline subscriber's messages are all kept (none dropped). */
function fennecConfig(dir: string): string {
  const file = join(dir, 'fennec.yaml');
  writeFileSync(file, 'limits:\n  max_queued_messages: 10000000\n');
  return file;
}

interface Target {
  name: string;
  start(dir: string, port: number): ChildProcess;
}

/** Fennec in its own process, with `flags` and the FENNEC_* variables in `env`. */
const fennec = (flags: string[], env: Record<string, string> = {}): Target['start'] => {
  return (dir, port) => {
    const args = ['broker', '--port', String(port), '--data-dir', dir, '--config', fennecConfig(dir), ...flags];
    return spawn(process.execPath, [join(root, 'bin', 'fennec.js'), ...args], {
      stdio: 'ignore',
      env: { ...process.env, FENNEC_LOG_LEVEL: 'error', ...env },
    });
  };
};

const targets: Target[] = [
  { name: 'fennec memory', start: fennec(['--memory']) },
  { name: 'fennec sqlite process', start: fennec([]) },
  { name: 'fennec sqlite power', start: fennec([], { FENNEC_DURABILITY: 'power' }) },
];
if (spawnSync('sh', ['-c', 'command -v mosquitto']).status === 0) {
  targets.push({
    name: 'mosquitto persistence',
    start: (dir, port) => {
      const conf = join(dir, 'mosquitto.conf');
      writeFileSync(
        conf,
        `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location ${dir}/\nmax_queued_messages 10000000\nmax_inflight_messages 1000\n`,
      );
      return spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    },
  });
} else {
  console.log('mosquitto not installed (apt-get install mosquitto): its row is left out');
}

function dirSize(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) total += statSync(join(dir, name)).size;
  return total;
}

async function connect(port: number, options: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, ...options });
    } catch (err) {
      if (attempt > 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function run(target: Target, port: number, offline: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fennec-bench-'));
  const broker = target.start(dir, port);
  try {
    const sub = await connect(port, { clientId: 'bench-sub', clean: false, protocolVersion: 4 });
    await sub.subscribeAsync('bench/+', { qos });
    let received = 0;
    let acked = 0;
    sub.on('message', () => received++);
    // Offline: the subscriber leaves, so every message is queued for it (to disk with a store).
    if (offline) await sub.endAsync();
    const publishers = await Promise.all(
      Array.from({ length: PUBLISHERS }, (_, i) => connect(port, { clientId: `bench-pub-${i}`, protocolVersion: 4 })),
    );
    const payload = Buffer.alloc(64, 1);
    let running = true;
    const loops = publishers.map(async (pub, i) => {
      const inflight = new Set<Promise<unknown>>();
      while (running) {
        const p = pub.publishAsync(`bench/${i}`, payload, { qos });
        inflight.add(p);
        void p.finally(() => {
          acked++;
          inflight.delete(p);
        });
        if (inflight.size >= WINDOW) await Promise.race(inflight);
      }
      await Promise.allSettled(inflight);
    });
    await new Promise((r) => setTimeout(r, 1000)); // warm-up
    const count = (): number => (offline ? acked : received);
    const from = count();
    const started = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const rate = ((count() - from) * 1000) / (Date.now() - started);
    running = false;
    await Promise.all(loops);
    await Promise.all(publishers.map((p) => p.endAsync()));
    if (!offline) await sub.endAsync();
    const what = offline ? `QoS ${qos} acks/s (subscriber offline)` : `QoS ${qos} msgs/s delivered (subscriber online)`;
    console.log(
      `${target.name.padEnd(24)} ${Math.round(rate).toString().padStart(8)} ${what}  data dir ${(dirSize(dir) / 1024).toFixed(0)} KiB`,
    );
  } finally {
    broker.kill('SIGTERM');
    await new Promise((r) => broker.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

let port = 20_000 + Math.floor(Math.random() * 20_000);
for (const offline of [false, true]) for (const target of targets) await run(target, port++, offline);
