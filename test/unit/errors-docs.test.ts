/**
 * Every error code used in src/ is documented in docs/errors.md, so users can rely on it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

describe('error codes', () => {
  it('every ERR_ code used in src/ is listed in docs/errors.md', () => {
    const used = new Set<string>();
    for (const file of sourceFiles('src')) {
      for (const match of readFileSync(file, 'utf8').matchAll(/'(ERR_[A-Z_]+)'/g)) used.add(match[1]!);
    }
    assert.ok(used.size > 5, `expected to find error codes in src/, found ${used.size}`);
    const doc = readFileSync('docs/errors.md', 'utf8');
    const missing = [...used].filter((code) => !doc.includes(`\`${code}\``));
    assert.deepEqual(missing, [], `undocumented error codes: ${missing.join(', ')}`);
  });
});
