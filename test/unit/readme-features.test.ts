// The README tells the truth about its tests: every row of its feature table ("MQTT 5 features and
// the tests that prove them") is done and names test files that exist, and every other test file
// the README names exists too. A renamed or deleted test fails here instead of leaving a claim behind.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { repositoryRoot } from '../helpers/cli.js';

const readme = readFileSync(join(repositoryRoot, 'README.md'), 'utf8');

/** The rows (cells, trimmed) of the markdown table under the heading `title`. */
function tableRows(title: string): string[][] {
  const start = readme.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `the README has a "${title}" section`);
  const lines = readme.slice(start).split('\n').slice(2);
  const table = lines.slice(lines.findIndex((line) => line.startsWith('|')));
  const rows = table.slice(
    0,
    table.findIndex((line) => !line.startsWith('|')),
  );
  // The header and its separator line.
  return rows.slice(2).map((row) =>
    row
      .slice(1, -1)
      .split('|')
      .map((cell) => cell.trim()),
  );
}

/**
 * The test files a cell names: `test/dir/name.test.ts`, `test/dir/name` (the extension left out), or
 * a bare `name` in the directory of the path before it in the cell (test/broker/ at first).
 */
function namedTests(cell: string): string[] {
  let directory = 'test/broker';
  const files: string[] = [];
  for (const [, name] of cell.matchAll(/`([^`]+)`/g)) {
    let path = name!.startsWith('test/') ? name! : `${directory}/${name!}`;
    if (!/\.(ts|js|mjs)$/.test(path)) path += '.test.ts';
    directory = dirname(path);
    files.push(path);
  }
  return files;
}

void describe('the README', () => {
  const rows = tableRows('MQTT 5 features and the tests that prove them');

  void it('has a feature table whose every row is done and names at least one test', () => {
    assert.ok(rows.length >= 10, `${rows.length} rows`);
    for (const [feature, status, tests] of rows) {
      assert.equal(status, 'done', feature);
      assert.ok(namedTests(tests ?? '').length > 0, `no test named for: ${feature}`);
    }
  });

  for (const [feature, , tests] of rows) {
    void it(`names only test files that exist: ${feature!.slice(0, 60)}`, () => {
      for (const file of namedTests(tests ?? ''))
        assert.ok(existsSync(join(repositoryRoot, file)), `${file} (${feature})`);
    });
  }

  void it('names only test files that exist, anywhere in its text', () => {
    const named = [...readme.matchAll(/`(test\/[^`\s]+\.test\.ts)`/g)].map((match) => match[1]!);
    assert.ok(named.length > 10);
    for (const file of new Set(named)) assert.ok(existsSync(join(repositoryRoot, file)), file);
  });
});
