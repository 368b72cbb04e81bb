// docs/configuration.md documents every key the schema accepts, with the default the loader
// applies, every environment variable, and an example file that is valid.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { defaultTlsOptions } from '../../src/broker/options.js';
import {
  configKeys,
  defaultConfig,
  environmentVariables,
  limitSpecs,
  parseConfigText,
  type LimitKey,
} from '../../src/config/index.js';

const doc = readFileSync('docs/configuration.md', 'utf8');

/** The rows of the key tables (between `## Keys` and the next `## ` heading): key name -> default cell. */
function documentedKeys(): Map<string, string> {
  const start = doc.indexOf('\n## Keys');
  assert.ok(start >= 0, 'docs/configuration.md has a "## Keys" section');
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    const key = /^`([a-z_.]+)`$/.exec(cells[1] ?? '')?.[1];
    if (key !== undefined) rows.set(key, cells[4] ?? '');
  }
  return rows;
}

/** The default the loader applies for a documented key, as text; undefined for a key unset by default. */
function defaultOf(key: string): string | undefined {
  if (key.startsWith('tls.')) {
    // The TLS listener's host is the broker's own; keys without a default (files, ciphers) read `none`.
    if (key === 'tls.host') return 'host';
    const camel = key.slice('tls.'.length).replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
    const value = (defaultTlsOptions as Record<string, string | number | boolean>)[camel];
    return value === undefined ? 'none' : String(value);
  }
  if (key.startsWith('limits.')) {
    return String(defaultConfig.limits[limitSpecs[key.slice('limits.'.length) as LimitKey].option]);
  }
  const camel = key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
  const config = defaultConfig as unknown as Record<string, string | number | undefined>;
  assert.ok(camel in config, `defaultConfig has ${camel}`);
  const value = config[camel];
  return value === undefined ? undefined : String(value);
}

void describe('docs/configuration.md', () => {
  void it('documents every key the schema accepts', () => {
    const documented = documentedKeys();
    const missing = configKeys().filter((key) => !documented.has(key));
    assert.deepEqual(missing, [], `keys missing from docs/configuration.md: ${missing.join(', ')}`);
  });

  void it('documents no key the schema refuses', () => {
    const accepted = new Set(configKeys());
    const stale = [...documentedKeys().keys()].filter((key) => !accepted.has(key));
    assert.deepEqual(stale, [], `documented keys the schema does not accept: ${stale.join(', ')}`);
  });

  void it('gives each key the default the loader applies', () => {
    for (const [key, cell] of documentedKeys()) {
      const value = defaultOf(key);
      // A key unset by default (e.g. password_file, acl_file) is documented as unset or none.
      if (value === undefined) assert.ok(cell === 'unset' || cell === 'none', `default of ${key}`);
      else assert.equal(cell, `\`${value}\``, `default of ${key}`);
    }
  });

  void it('documents every environment variable and the key it sets', () => {
    for (const [variable, key] of Object.entries(environmentVariables)) {
      const row = new RegExp(`^\\|\\s*\`${variable}\`\\s*\\|\\s*\`${key}\`\\s*\\|`, 'm');
      assert.ok(row.test(doc), `docs/configuration.md has a row saying ${variable} sets ${key}`);
    }
  });

  void it('shows an example file that is valid and sets every key', () => {
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(example !== undefined, 'docs/configuration.md has a ```yaml example');
    const config = parseConfigText(example, 'docs/configuration.md');
    const sections = Object.keys(config.limits ?? {}).length - 1 + Object.keys(config.tls ?? {}).length - 1;
    assert.equal(Object.keys(config).length + sections, configKeys().length);
  });
});
