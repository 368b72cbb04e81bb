// Fault injection in the spirit of Jepsen (docs/cluster.md, "Fault injection"): three `fennec broker`
// nodes on a real Redis (appendonly yes, appendfsync always), persistent QoS 1 and QoS 2 subscribers
// (MQTT 3.1.1 and 5.0), publishers of numbered QoS 1 and 2 messages through random nodes, while
// nodes are killed (SIGKILL) and restarted and Redis is frozen (SIGSTOP / SIGCONT) on a seeded
// schedule. The checker then finds, from every client's history, each acknowledged QoS 1 message
// delivered at least once and each QoS 2 message exactly once to every subscriber whose session
// lived, in per-publisher order. The seed is printed; FENNEC_FAULT_SEED replays a schedule, and
// FENNEC_FAULT_SECONDS sets how long faults are made (default 30). `npm run soak` runs longer.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startRedis } from '../helpers/redis-server.js';
import { describeResult } from './faults/checker.js';
import { faultSeed, runFaults } from './faults/run.js';

const seconds = Number(process.env['FENNEC_FAULT_SECONDS'] ?? 30);

void describe('cluster under faults', () => {
  void it(`keeps every acknowledged QoS 1 message (at least once) and QoS 2 message (exactly once), in order, while nodes are killed and Redis frozen for ${seconds} s`, {
    timeout: (seconds + 240) * 1000,
  }, async (t) => {
    const redis = await startRedis(t, { appendfsync: 'always' });
    if (redis === undefined) return;
    const dir = mkdtempSync(join(tmpdir(), 'fennec-faults-'));
    const seed = faultSeed();
    console.log(`fault run seed ${seed}: replay with FENNEC_FAULT_SEED=${seed}`);
    const run = await runFaults(redis, { seed, faultMs: seconds * 1000, subscriberNodes: 'own', dir, log: console.log });
    const summary = `seed ${seed}; ${run.faults.length} faults; history ${run.historyFile}\n${describeResult(run.result)}`;
    console.log(summary);
    assert.deepEqual(run.crashes, [], 'no node exited by itself');
    assert.deepEqual(run.result.stats.lostSessions, [], 'each node kept its sessions across SIGKILL (own data directory)');
    assert.ok(run.result.stats.acknowledged > 0, 'messages were acknowledged');
    assert.ok(run.faults.length > 0, 'faults were made');
    assert.equal(run.result.stats.subscribersChecked, 6);
    assert.ok(run.result.ok, summary);
    rmSync(dir, { recursive: true, force: true });
  });
});
