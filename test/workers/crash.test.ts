// `fennec broker --workers 2` and its stores: each worker keeps its sessions in its own SQLite file,
// so a crash of the whole process group after QoS 1 acknowledgements loses none of them; a worker
// that dies ends the broker (exit 70), and a data directory written with another count is refused.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { ClientPool } from '../interop/support.js';
import { idOn, WorkersProcess } from './workers-process.js';
import { fennecBin } from '../helpers/cli.js';

void describe('fennec broker --workers 2: crashes and restarts', () => {
  let broker: WorkersProcess;
  const pool = new ClientPool(() => broker.url);
  after(() => pool.closeAll());

  void it('SIGKILL of the whole process group after QoS 1 acknowledgements, then a restart: every acknowledged message is delivered', async (t) => {
    broker = await WorkersProcess.start(t);
    // Persistent subscribers on both workers, publishers on both: half the messages cross workers.
    const subIds = [idOn(0, 'crash-s'), idOn(1, 'crash-s')];
    for (const clientId of subIds) {
      const sub = await pool.connect({ clientId, clean: false, protocolVersion: 4 });
      await sub.client.subscribeAsync('crash/#', { qos: 1 });
      await pool.end(sub.client);
    }
    const pubs = [
      await pool.connect({ clientId: idOn(0, 'crash-p') }),
      await pool.connect({ clientId: idOn(1, 'crash-p') }),
    ];
    const count = 200;
    await Promise.all(
      pubs.map(async (pub, p) => {
        // publishAsync resolves on PUBACK: each of these was acknowledged.
        for (let i = 0; i < count; i++) await pub.client.publishAsync(`crash/p${p}`, `${p}-${i}`, { qos: 1 });
      }),
    );
    await broker.killGroup('SIGKILL');
    await pool.closeAll();
    await broker.spawn();
    for (const clientId of subIds) {
      const sub = await pool.connect({ clientId, clean: false, protocolVersion: 4 });
      assert.equal(sub.connack.sessionPresent, true, `${clientId}'s session survived on its worker`);
      const messages = await sub.inbox.waitFor(2 * count, 15_000);
      const payloads = new Set(messages.map((m) => m.payload));
      for (const p of [0, 1]) {
        for (let i = 0; i < count; i++) assert.ok(payloads.has(`${p}-${i}`), `${clientId} got ${p}-${i}`);
      }
    }
  });

  void it('a worker that dies ends the broker with exit code 70 and a line naming it', async (t) => {
    broker = await WorkersProcess.start(t);
    const workers = execFileSync('pgrep', ['-P', String(broker.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n');
    assert.equal(workers.length, 2);
    process.kill(Number(workers[1]), 'SIGKILL');
    const ended = await broker.whenEnded();
    assert.equal(ended.code, 70);
    assert.match(ended.stderr, /fennec: worker \d was killed by SIGKILL; stopping the others/);
  });

  void it('SIGTERM stops every worker gracefully: exit code 0, nothing left running', async (t) => {
    broker = await WorkersProcess.start(t);
    const workers = execFileSync('pgrep', ['-P', String(broker.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n');
    const ended = await broker.stop('SIGTERM');
    assert.equal(ended.code, 0, ended.stderr);
    for (const pid of workers) assert.throws(() => process.kill(Number(pid), 0), 'worker gone');
  });

  void it('a data directory written with workers: 2 is refused with 1 or 3 workers (exit 78, the count named)', async (t) => {
    broker = await WorkersProcess.start(t);
    await broker.stop('SIGTERM');
    assert.ok(existsSync(join(broker.dataDir, 'fennec-w2.db')), 'worker 2 has its own store file');
    for (const count of ['1', '3']) {
      let status: number | undefined;
      let stderr = '';
      try {
        execFileSync(
          process.execPath,
          [fennecBin, 'broker', '--port', '0', '--data-dir', broker.dataDir, '--workers', count],
          {
            encoding: 'utf8',
            stdio: 'pipe',
            timeout: 20_000,
          },
        );
      } catch (err) {
        status = (err as { status: number }).status;
        stderr = (err as { stderr: string }).stderr;
      }
      assert.equal(status, 78, stderr);
      assert.match(stderr, new RegExp(`^fennec: .* was written with workers: 2, not ${count}`, 'm'));
    }
  });
});
