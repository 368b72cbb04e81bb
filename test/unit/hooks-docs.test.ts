/**
 * Every hook of BrokerHooks and every diagnostics channel is documented in docs/hooks.md, so users
 * can rely on them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

describe('hooks documentation', () => {
  const doc = readFileSync('docs/hooks.md', 'utf8');

  it('lists every field of BrokerHooks', () => {
    const source = readFileSync('src/broker/hooks.ts', 'utf8');
    const body = /export interface BrokerHooks \{([\s\S]*?)\n\}/.exec(source)?.[1] ?? '';
    const fields = [...body.matchAll(/^ {2}(\w+)\?:/gm)].map((match) => match[1]!);
    assert.ok(fields.length >= 7, `expected the fields of BrokerHooks, found ${fields.join(', ')}`);
    const missing = fields.filter((field) => !doc.includes(`\`${field}\``));
    assert.deepEqual(missing, [], `undocumented hooks: ${missing.join(', ')}`);
  });

  it('lists every diagnostics channel', () => {
    const source = readFileSync('src/broker/diagnostics.ts', 'utf8');
    const channels = [...new Set([...source.matchAll(/'(fennec:[a-z.]+)'/g)].map((match) => match[1]!))];
    assert.equal(channels.length, 5);
    const missing = channels.filter((channel) => !doc.includes(`\`${channel}\``));
    assert.deepEqual(missing, [], `undocumented channels: ${missing.join(', ')}`);
  });
});
