// The `http:` section and the operations options: parsed with lines for errors, merged with
// `--http-port` and FENNEC_ADMIN_TOKEN, and the listener on only when the file or a flag asks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, mergeConfig, parseConfigText } from '../../src/config/index.js';
import { Broker } from '../../src/broker/broker.js';
import { InvalidOptionError } from '../../src/config/errors.js';

const issuesOf = (text: string): string[] => {
  try {
    parseConfigText(text, 'fennec.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((issue) => `${issue.line}: ${issue.path}: ${issue.message}`);
    throw err;
  }
  return [];
};

describe('configuration: http and operations', () => {
  it('reads the http section, sys_interval, sys_events and shutdown_timeout_ms', () => {
    const config = parseConfigText(
      'sys_interval: 5\nsys_events: true\nshutdown_timeout_ms: 2000\nhttp:\n  host: 0.0.0.0\n  port: 9100\n  admin_token: abc\n',
      'fennec.yaml',
    );
    assert.deepEqual(config, {
      sysInterval: 5,
      sysEvents: true,
      shutdownTimeoutMs: 2000,
      http: { host: '0.0.0.0', port: 9100, adminToken: 'abc' },
    });
  });

  it('reports a bad http key or value at its line', () => {
    assert.deepEqual(issuesOf('http:\n  port: 70000\n'), [
      '2: http.port: must be an integer from 0 to 65535 (a TCP port; 0 picks a free one), got 70000',
    ]);
    assert.match(issuesOf('http:\n  token: x\n')[0] ?? '', /^2: http.token: unknown key/);
    assert.match(
      issuesOf('sys_interval: -1\n')[0] ?? '',
      /^1: sys_interval: must be an integer from 0 to 86400 seconds/,
    );
  });

  it('turns the HTTP listener on only with the section or --http-port, FENNEC_ADMIN_TOKEN over the file', () => {
    assert.equal(
      mergeConfig({}, {}, { FENNEC_ADMIN_TOKEN: 'env' }).http,
      undefined,
      'the variable alone turns nothing on',
    );
    assert.deepEqual(mergeConfig({}, { http: { port: 0 } }, {}).http, { host: '127.0.0.1', port: 0 });
    const merged = mergeConfig(
      { http: { host: '0.0.0.0', adminToken: 'file' } },
      { http: { port: 9100 } },
      {
        FENNEC_ADMIN_TOKEN: 'env',
      },
    );
    assert.deepEqual(merged.http, { host: '0.0.0.0', port: 9100, adminToken: 'env' });
    assert.equal(
      mergeConfig({ http: { adminToken: 'file' } }, {}, { FENNEC_ADMIN_TOKEN: '' }).http?.adminToken,
      'file',
    );
    assert.equal(mergeConfig({}, {}, {}).shutdownTimeoutMs, 10_000);
    assert.equal(mergeConfig({}, {}, {}).sysInterval, 10);
  });

  it('checks sysInterval and sysEvents of new Broker() as the file does', () => {
    assert.throws(() => new Broker({ sysInterval: 1.5 }), InvalidOptionError);
    assert.equal(new Broker().options.sysInterval, 10);
    assert.equal(new Broker().options.sysEvents, false);
  });
});
