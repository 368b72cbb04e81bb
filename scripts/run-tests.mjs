// Runs every compiled test file (dist/test/**/*.test.js) with Node's built-in test runner.
// Node 20's `--test` takes no globs, so the files are listed here; one file at a time, since the
// network tests open thousands of sockets and time out under contention. Extra arguments pass through
// (e.g. `node scripts/run-tests.mjs --test-name-pattern=codec`).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const only = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const files = only.length > 0 ? only : collect('dist/test');
if (files.length === 0) {
  console.error('run-tests: no test files under dist/test; run `npm run build` first');
  process.exit(1);
}
// The 1,000-client tests hold both ends of every connection in one process: raise the soft limit
// on open files to the hard limit first (a shell builtin, hence the shell).
const raiseFileLimit = 'h=$(ulimit -Hn); [ "$h" = unlimited ] && h=65536; ulimit -n "$h" 2>/dev/null; exec "$0" "$@"';
const args = ['--test', '--test-concurrency=1', '--test-reporter=spec', ...flags, ...files];
const result = spawnSync('/bin/sh', ['-c', raiseFileLimit, process.execPath, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
