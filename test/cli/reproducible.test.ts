// What a plain clone can run without the team's shared folder: the conformance report reads the
// statement lists kept in spec/, and the side-by-side benchmark falls back to `fennec bench` when
// the mqload tools are not beside the checkout (a dry run, and one short run against Fennec alone;
// its figures are printed, never asserted on).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repositoryRoot } from '../helpers/cli.js';

const TIMEOUT_MS = 60_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  program: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Result> {
  const child = spawn(program, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: TIMEOUT_MS });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A TCP port nobody listens on now (the benchmark script takes a port number, not 0). */
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

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'fennec-clone-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The environment with no mqload tools to be found. */
const withoutTools = (): NodeJS.ProcessEnv => ({ ...process.env, MQLOAD_TOOLS: join(dir, 'no-mqload-here') });

void describe('a plain clone', () => {
  void it('keeps the MQTT statement lists in spec/, and spec-coverage reads them from any directory', async () => {
    for (const file of ['mqtt-3.1.1-statements.tsv', 'mqtt-5.0-statements.tsv']) {
      const text = readFileSync(join(repositoryRoot, 'spec', file), 'utf8');
      assert.ok(text.startsWith('id\tsection\tapplies_to\tsummary\n'), file);
    }
    const result = await run(process.execPath, [join(repositoryRoot, 'scripts', 'spec-coverage.mjs')], dir);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^MQTT 3\.1\.1: \d+ of 127 server statements named by a test/m);
    assert.match(result.stdout, /^MQTT 5\.0: \d+ of 224 server statements named by a test/m);
  });

  void it('runs bench/brokers.sh with fennec bench when mqload is not beside it (dry run)', async () => {
    const out = join(dir, 'dry');
    const result = await run(
      'bash',
      [
        join(repositoryRoot, 'bench', 'brokers.sh'),
        '--dry-run',
        '--brokers',
        'fennec aedes',
        '--tests',
        'fanin-q1 conn',
        '--runs',
        '1',
        '--duration',
        '3',
        '--out',
        out,
      ],
      dir,
      withoutTools(),
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /mqload tools not found at .*no-mqload-here; falling back to fennec bench/);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 8, result.stdout);
    assert.match(
      lines[0]!,
      /^broker: node .*bin\/fennec\.js broker --port 18832 --log-level warn --config .*bench\/fennec-bench\.yaml$/,
    );
    assert.match(lines[1]!, /^load: +node .*bin\/fennec\.js bench fanin -q 1 -P 8 -w 64 -d 3 --port 18832 --json$/);
    assert.match(lines[3]!, /bench conn -c 10000 --connect-concurrency 100 -d 5 /);
    assert.match(lines[4]!, /^broker: node .*bench\/aedes-server\.mjs 18832$/);
    assert.equal(existsSync(out), false, 'a dry run writes nothing');
  });

  void it('runs one short fallback measurement against Fennec and writes a RESULT line summarize.mjs reads', async () => {
    const out = join(dir, 'short');
    const port = await freePort();
    const result = await run(
      'bash',
      [
        join(repositoryRoot, 'bench', 'brokers.sh'),
        '--brokers',
        'fennec',
        '--tests',
        'fanin-q1',
        '--runs',
        '1',
        '--duration',
        '1',
        '--port',
        String(port),
        '--out',
        out,
      ],
      dir,
      withoutTools(),
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const line = readFileSync(join(out, 'fennec', 'results.txt'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('RESULT '));
    assert.ok(line, result.stdout);
    assert.match(line, / broker=fennec test=fanin-q1 run=1 rc=0$/);
    assert.match(line, / lost=0 dup=0 reorder=0 errors=0 /, 'QoS 1: nothing lost');
    assert.match(line, / msgs_per_s=[1-9]\d* /);
    assert.match(readFileSync(join(out, 'summary.md'), 'utf8'), /\| fanin-q1 \| [\d.]+k? \|/);
  });
});
