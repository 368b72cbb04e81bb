// Without a cluster, nothing about Redis is loaded: the broker, the CLI's broker command and the
// package's entry point import no ioredis (a CommonJS module, so it would show in require.cache).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { repositoryRoot } from '../helpers/cli.js';

/** Imports `modules` in a fresh Node process; resolves with whether ioredis got loaded. */
function loadsRedis(modules: string[]): Promise<boolean> {
  const script = `
    import { createRequire } from 'node:module';
    for (const m of ${JSON.stringify(modules)}) await import(m);
    const require = createRequire(import.meta.url);
    console.log(Object.keys(require.cache).some((path) => path.includes('/node_modules/ioredis/')));
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: repositoryRoot }, (err, stdout) => {
      if (err !== null) reject(new Error(`the import failed: ${err.message}`));
      else resolve(stdout.trim() === 'true');
    });
  });
}

void describe('a broker alone loads nothing of Redis', () => {
  void it('imports no ioredis from the broker, the CLI broker command or the package entry point', async () => {
    assert.equal(
      await loadsRedis(['./dist/src/index.js', './dist/src/broker/broker.js', './dist/src/cli/broker.js']),
      false,
    );
  });

  void it('does load it with the cluster layer (the check above can fail)', async () => {
    assert.equal(await loadsRedis(['./dist/src/cluster/redis-bus.js']), true);
  });
});
