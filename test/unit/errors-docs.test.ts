/**
 * docs/errors.md documents exactly the codes of the error code table (src/errors/codes.ts), which
 * the compiler holds every FennecError to, so users can rely on what the page lists.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { errorCodes, type FennecErrorCode } from '../../src/errors/index.js';

/** The codes of docs/errors.md's table, in page order: the first cell of each row. */
function documentedCodes(): string[] {
  const doc = readFileSync('docs/errors.md', 'utf8');
  return [...doc.matchAll(/^\|\s*`(ERR_[A-Z0-9_]+)`\s*\|/gm)].map((match) => match[1]!);
}

const tableCodes = Object.keys(errorCodes) as FennecErrorCode[];

describe('error codes', () => {
  it('the error code table holds the codes the broker throws', () => {
    // A guard against reading an empty table or the wrong page: both sides must be substantial.
    assert.ok(tableCodes.length > 20, `expected the table to list the codes, found ${tableCodes.length}`);
    assert.ok(documentedCodes().length > 20, 'expected docs/errors.md to have a table of codes');
  });

  it('every code of the table is documented in docs/errors.md', () => {
    const documented = new Set(documentedCodes());
    const missing = tableCodes.filter((code) => !documented.has(code));
    assert.deepEqual(missing, [], `undocumented error codes: ${missing.join(', ')}`);
  });

  it('docs/errors.md documents no code that is not in the table, and each code once', () => {
    const documented = documentedCodes();
    const unknown = documented.filter((code) => !Object.hasOwn(errorCodes, code));
    assert.deepEqual(unknown, [], `documented codes no error carries: ${unknown.join(', ')}`);
    const twice = documented.filter((code, index) => documented.indexOf(code) !== index);
    assert.deepEqual(twice, [], `codes documented twice: ${twice.join(', ')}`);
  });

  it('every code has a one-line meaning', () => {
    for (const code of tableCodes) {
      const meaning: string = errorCodes[code];
      assert.match(meaning, /^\S[^\n]*$/, `${code} needs a one-line meaning`);
    }
  });
});
