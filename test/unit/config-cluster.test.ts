// The `cluster:` section and `--cluster-redis`: parsed with lines for errors, merged with the flag,
// and absent (a broker alone) unless the file or the flag asks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, mergeConfig, parseConfigText } from '../../src/config/index.js';
import { execFile } from 'node:child_process';
import { cliEnvironment, fennecBin } from '../helpers/cli.js';

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
      '3: cluster.redis: must be a Redis URL (redis://HOST:PORT or rediss://HOST:PORT), got "http://x"',
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

  void it('is absent without the section or the flag, and the flag sets redis over the file', () => {
    assert.equal(mergeConfig({}, {}, {}).cluster, undefined);
    const file = parseConfigText('cluster:\n  redis: redis://file:1\n  node_id: n1\n', 'fennec.yaml');
    assert.deepEqual(mergeConfig(file, { cluster: { redis: 'redis://flag:2' } }, {}).cluster, {
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
