// The `cluster:` section and `--cluster-redis`: parsed with lines for errors, merged with the flag,
// and absent (a broker alone) unless the file or the flag asks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, defaultClusterConfig, mergeConfig, parseConfigText } from '../../src/config/index.js';
import { execFile } from 'node:child_process';
import { cliEnvironment, fennecBin } from '../helpers/cli.js';
import { parseRedisUrl, redactedRedisUrl } from '../../src/config/redis-url.js';

const issuesOf = (text: string): string[] => {
  try {
    parseConfigText(text, 'fennec.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((issue) => `${issue.line}: ${issue.path}: ${issue.message}`);
    throw err;
  }
  return [];
};

void describe('configuration: cluster', () => {
  void it('reads the cluster section: redis and node_id', () => {
    const config = parseConfigText('cluster:\n  redis: redis://127.0.0.1:6390\n  node_id: node-a\n', 'fennec.yaml');
    assert.deepEqual(config, { cluster: { redis: 'redis://127.0.0.1:6390', nodeId: 'node-a' } });
  });

  void it('reports a bad URL, a bad node id, a missing redis and an unknown key at their lines', () => {
    assert.deepEqual(issuesOf('port: 1883\ncluster:\n  redis: http://x\n'), [
      '3: cluster.redis: must be a Redis URL (redis://HOST:PORT, rediss://HOST:PORT, redis+sentinel://HOST:PORT[,HOST:PORT]/MASTER or redis+cluster://HOST:PORT[,HOST:PORT]), got "http://x"',
    ]);
    assert.match(
      issuesOf('cluster:\n  redis: redis://h\n  node_id: "a b"\n')[0] ?? '',
      /^3: cluster.node_id: must be a node id/,
    );
    assert.match(issuesOf('cluster:\n  node_id: a\n')[0] ?? '', /cluster.redis: is required in the cluster: section/);
    assert.match(issuesOf('cluster:\n  redis: redis://h\n  nodes: 3\n')[0] ?? '', /^3: cluster.nodes: unknown key/);
  });

  void it('reads lease_ms, and reports one out of range at its line', () => {
    const config = parseConfigText('cluster:\n  redis: redis://h\n  lease_ms: 1500\n', 'fennec.yaml');
    assert.deepEqual(config, { cluster: { redis: 'redis://h', leaseMs: 1500 } });
    assert.match(
      issuesOf('cluster:\n  redis: redis://h\n  lease_ms: 100\n')[0] ?? '',
      /^3: cluster.lease_ms: must be an integer from 300 to 600000 milliseconds/,
    );
  });

  void it('reads Sentinel and Redis Cluster URLs into what the client needs', () => {
    assert.deepEqual(parseRedisUrl('redis+sentinel://s1:26380,[::1],s3/mymaster'), {
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26380 },
        { host: '::1', port: 26379 },
        { host: 's3', port: 26379 },
      ],
      name: 'mymaster',
      db: 0,
    });
    assert.deepEqual(parseRedisUrl('redis+sentinel://:p%40ss@s1:1/m/3'), {
      kind: 'sentinel',
      sentinels: [{ host: 's1', port: 1 }],
      name: 'm',
      db: 3,
      password: 'p@ss',
    });
    assert.deepEqual(parseRedisUrl('redis+cluster://user:pw@c1:7000,c2:7001'), {
      kind: 'cluster',
      nodes: [
        { host: 'c1', port: 7000 },
        { host: 'c2', port: 7001 },
      ],
      username: 'user',
      password: 'pw',
    });
    assert.deepEqual(parseRedisUrl('rediss://h:6380'), { kind: 'server', url: 'rediss://h:6380' });
    assert.equal(redactedRedisUrl('redis+cluster://user:secret@c1:7000'), 'redis+cluster://user:***@c1:7000');
  });

  void it('refuses a bad URL given to RedisBus directly with ERR_CLUSTER_REDIS_URL, saying what is wrong', async () => {
    const { RedisBus } = await import('../../src/cluster/redis-bus.js');
    assert.throws(
      () => new RedisBus({ redis: 'redis+sentinel://s1:26379' }),
      (err: Error & { code?: string }) =>
        err.code === 'ERR_CLUSTER_REDIS_URL' && /must name the master after the Sentinels/.test(err.message),
    );
  });

  void it('reports what is wrong with a Sentinel or Redis Cluster URL at its line', () => {
    assert.deepEqual(issuesOf('cluster:\n  redis: redis+sentinel://s1:26379\n'), [
      '2: cluster.redis: must name the master after the Sentinels (redis+sentinel://HOST:PORT[,HOST:PORT]/MASTER[/DB]), got "redis+sentinel://s1:26379"',
    ]);
    assert.deepEqual(issuesOf('cluster:\n  redis: redis+cluster://c1:70000\n'), [
      '2: cluster.redis: has a bad port in "c1:70000" (1 to 65535) (redis+cluster://HOST:PORT[,HOST:PORT]), got "redis+cluster://c1:70000"',
    ]);
    assert.match(
      issuesOf('cluster:\n  redis: redis+cluster://c1:7000/0\n')[0] ?? '',
      /^2: cluster.redis: takes no path/,
    );
    assert.match(
      issuesOf('cluster:\n  redis: redis+cluster://c1:7000,:1\n')[0] ?? '',
      /^2: cluster.redis: has a bad address ":1"/,
    );
  });

  void it('reads the operational options and reports bad values at their lines', () => {
    const text =
      'cluster:\n  redis: redis://h\n  unavailable_ack_ms: 2000\n  ping_interval_ms: 500\n  ping_timeout_ms: 1500\n  stats_interval_ms: 1000\n  wait_replicas: 1\n  wait_timeout_ms: 250\n  wait_aof: true\n';
    assert.deepEqual(parseConfigText(text, 'fennec.yaml'), {
      cluster: {
        redis: 'redis://h',
        unavailableAckMs: 2000,
        pingIntervalMs: 500,
        pingTimeoutMs: 1500,
        statsIntervalMs: 1000,
        waitReplicas: 1,
        waitTimeoutMs: 250,
        waitAof: true,
      },
    });
    assert.match(
      issuesOf('cluster:\n  redis: redis://h\n  wait_replicas: -1\n')[0] ?? '',
      /^3: cluster.wait_replicas: must be an integer from 0 to 100 replicas/,
    );
    assert.match(
      issuesOf('cluster:\n  redis: redis://h\n  wait_aof: yes please\n')[0] ?? '',
      /^3: cluster.wait_aof: must be true or false/,
    );
  });

  void it('is absent without the section or the flag, and the flag sets redis over the file', () => {
    assert.equal(mergeConfig({}, {}, {}).cluster, undefined);
    const file = parseConfigText('cluster:\n  redis: redis://file:1\n  node_id: n1\n', 'fennec.yaml');
    assert.deepEqual(mergeConfig(file, { cluster: { redis: 'redis://flag:2' } }, {}).cluster, {
      ...defaultClusterConfig,
      redis: 'redis://flag:2',
      nodeId: 'n1',
    });
  });

  void it('refuses a bad --cluster-redis with exit code 2 and one line', async () => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [fennecBin, 'broker', '--cluster-redis', 'nope', '--port', '0'], {
        env: cliEnvironment,
        timeout: 20_000,
      });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code, stderr }));
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /cluster-redis.*must be a Redis URL/);
  });
});
