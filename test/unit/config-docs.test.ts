// docs/configuration.md: its key tables are the ones the option table generates, they document every
// key the schema accepts with the default the loader applies, and its example file is valid.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { regenerateCommand, renderTable, tableMarkers, tableNames, updateConfigDocs } from '../../src/config/docs.js';
import {
  configKeys,
  defaultConfig,
  defaultListenerOptions,
  defaultHttpConfig,
  defaultClusterConfig,
  defaultTlsOptions,
  listenerOptionSpecs,
  clusterOptionSpecs,
  environmentVariables,
  limitSpecs,
  parseConfigText,
  type LimitKey,
} from '../../src/config/index.js';

const doc = readFileSync('docs/configuration.md', 'utf8');

/** The rows of the key tables (between `## Keys` and the next `## ` heading): each key (and alias) -> default cell. */
function documentedKeys(): Map<string, string> {
  const start = doc.indexOf('\n## Keys');
  assert.ok(start >= 0, 'docs/configuration.md has a "## Keys" section');
  const end = doc.indexOf('\n## ', start + 1);
  const section = doc.slice(start, end < 0 ? undefined : end);
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    // `key` or `key` or `alias`
    const keys = /^`([a-z_.[\]]+)`(?: or `([a-z_.]+)`)?$/.exec(cells[1] ?? '');
    if (keys === null) continue;
    for (const key of keys.slice(1)) if (key !== undefined) rows.set(key, cells[5] ?? '');
  }
  return rows;
}

/** The default the loader applies for a documented key, as text; undefined for a key unset by default. */
function defaultOf(key: string): string | undefined {
  const camel = (snake: string): string => snake.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
  if (key.startsWith('listeners[].')) {
    const value = (defaultListenerOptions as Record<string, string | number | boolean>)[
      camel(key.slice('listeners[].'.length))
    ];
    return value === undefined ? undefined : String(value);
  }
  if (key.startsWith('tls.')) {
    const value = (defaultTlsOptions as Record<string, string | number | boolean>)[camel(key.slice('tls.'.length))];
    return value === undefined ? undefined : String(value);
  }
  if (key.startsWith('http.')) {
    const value = (defaultHttpConfig as Record<string, string | number | undefined>)[camel(key.slice('http.'.length))];
    return value === undefined ? undefined : String(value);
  }
  // The URL and the node id have no default: unset, the broker is not a node, and the node id is
  // made at start; the operational options have theirs.
  if (key.startsWith('cluster.')) {
    const value = (defaultClusterConfig as Record<string, string | number | boolean | undefined>)[
      camel(key.slice('cluster.'.length))
    ];
    return value === undefined ? undefined : String(value);
  }
  if (key.startsWith('limits.')) {
    return String(defaultConfig.limits[limitSpecs[key.slice('limits.'.length) as LimitKey].option]);
  }
  // The one top-level key whose name is not the camelCase of its key; its alias shares its row.
  const name = key === 'maximum_qos' ? 'maximumQoS' : key === 'max_keepalive' ? 'serverKeepAlive' : camel(key);
  const config = defaultConfig as unknown as Record<string, string | number | undefined>;
  assert.ok(name in config, `defaultConfig has ${name}`);
  const value = config[name];
  return value === undefined ? undefined : String(value);
}

void describe('docs/configuration.md', () => {
  void it(`shows the key tables the option table generates (${regenerateCommand} regenerates them)`, () => {
    for (const name of tableNames) {
      const { begin, end } = tableMarkers(name);
      const start = doc.indexOf(begin);
      const stop = doc.indexOf(end, start);
      assert.ok(start >= 0 && stop > start, `docs/configuration.md has the markers of the "${name}" table`);
      // Line by line, so that a failure shows the rows that differ rather than the whole document.
      const shown = doc
        .slice(start + begin.length, stop)
        .trim()
        .split('\n');
      const generated = renderTable(name).split('\n');
      assert.deepEqual(shown, generated, `the "${name}" table is stale: run ${regenerateCommand}`);
    }
    assert.equal(doc, updateConfigDocs(doc), `docs/configuration.md is stale: run ${regenerateCommand}`);
  });

  void it('documents every key the schema accepts, aliases included', () => {
    const documented = documentedKeys();
    const missing = configKeys({ aliases: true }).filter((key) => !documented.has(key));
    assert.deepEqual(missing, [], `keys missing from docs/configuration.md: ${missing.join(', ')}`);
  });

  void it('documents no key the schema refuses', () => {
    const accepted = new Set(configKeys({ aliases: true }));
    const stale = [...documentedKeys().keys()].filter((key) => !accepted.has(key));
    assert.deepEqual(stale, [], `documented keys the schema does not accept: ${stale.join(', ')}`);
  });

  void it('gives each key the default the loader applies', () => {
    for (const [key, cell] of documentedKeys()) {
      const value = defaultOf(key);
      // A key unset by default (password_file, tls.cert_file) says so, or what stands in for it
      // (tls.host, and a listener's settings that fall back on the top level's).
      const standIns = new Set<string>(["the broker's `host`"]);
      for (const spec of Object.values(listenerOptionSpecs)) if ('unsetText' in spec) standIns.add(spec.unsetText);
      for (const spec of Object.values(clusterOptionSpecs)) if ('unsetText' in spec) standIns.add(spec.unsetText);
      if (value === undefined) assert.ok(cell === 'unset' || standIns.has(cell), `default of ${key}: ${cell}`);
      else assert.equal(cell, `\`${value}\``, `default of ${key}`);
    }
  });

  void it('documents every environment variable and the key it sets', () => {
    for (const [variable, key] of Object.entries(environmentVariables)) {
      const row = new RegExp(`^\\|\\s*\`${variable}\`\\s*\\|\\s*\`${key}\`\\s*\\|`, 'm');
      assert.ok(row.test(doc), `docs/configuration.md has a row saying ${variable} sets ${key}`);
    }
  });

  void it('shows example files that are valid and together set every key', () => {
    // The first example sets every key of the short form; the second, with listeners:, every listener key.
    const [shortForm, withListeners] = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
    assert.ok(shortForm !== undefined && withListeners !== undefined, 'docs/configuration.md has two ```yaml examples');
    const config = parseConfigText(shortForm, 'docs/configuration.md');
    const sections =
      Object.keys(config.limits ?? {}).length -
      1 +
      Object.keys(config.tls ?? {}).length -
      1 +
      Object.keys(config.http ?? {}).length -
      1 +
      Object.keys(config.cluster ?? {}).length -
      1;
    const listenerKeys = new Set(
      (parseConfigText(withListeners, 'docs/configuration.md').listeners ?? []).flatMap((listener) =>
        Object.keys(listener).filter((name) => name in listenerOptionSpecs),
      ),
    );
    assert.equal(Object.keys(config).length + sections + listenerKeys.size, configKeys().length);
  });
});

void describe('the generator of the key tables', () => {
  void it('replaces what lies between the markers and leaves the prose around them alone', () => {
    const { begin, end } = tableMarkers('limits');
    const others = ['keys', 'tls', 'listeners', 'http', 'cluster'].map((name) => tableMarkers(name));
    const text = [
      'before',
      ...others.flatMap(({ begin: b, end: e }) => [b, e]),
      'between',
      begin,
      '| an old | table |',
      end,
      'after',
    ].join('\n');
    const updated = updateConfigDocs(text);
    assert.ok(updated.startsWith('before\n'));
    assert.ok(updated.endsWith(`${end}\nafter`));
    assert.ok(updated.includes(`between\n${begin}\n\n${renderTable('limits')}\n\n${end}`));
    assert.doesNotMatch(updated, /an old/);
  });

  void it('refuses a document that lacks the markers of a table, naming it', () => {
    assert.throws(() => updateConfigDocs('# Configuration\n'), /lacks the markers of the "keys" table/);
  });

  void it('gives each option one row, with its key, BrokerOptions field, type, unit, default and doc', () => {
    const row = renderTable('limits')
      .split('\n')
      .find((line) => line.startsWith('| `limits.max_inflight_messages` '));
    assert.ok(row !== undefined);
    assert.deepEqual(
      row
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim())
        .slice(0, 5),
      [
        '`limits.max_inflight_messages`',
        '`maxInflightMessages`',
        'integer, 1 to 65535',
        'messages per session',
        '`1000`',
      ],
    );
  });
});
