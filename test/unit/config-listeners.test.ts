// The `listeners:` list of the configuration file and BrokerOptions.listeners: each entry maps to
// its fields, and a wrong or inconsistent entry is reported with its index, key, file and line.
// Also: relative paths in the file resolve against the file's directory.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Broker } from '../../src/broker/broker.js';
import {
  ConfigError,
  InvalidOptionError,
  loadConfigFile,
  mergeConfig,
  parseConfigText,
  toBrokerOptions,
} from '../../src/config/index.js';
import { temporaryConfigFiles } from '../helpers/config-files.js';

const files = temporaryConfigFiles('fennec-listeners-');

/** The one-line messages of the ConfigError that `lines` raise. */
function issuesOf(lines: string[]): string[] {
  try {
    parseConfigText(lines.join('\n') + '\n', 'fennec.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  assert.fail('the configuration was accepted');
}

void describe('configuration: listeners', () => {
  void it('maps each entry to BrokerOptions.listeners, leaving the auth files to fennec broker', () => {
    const config = parseConfigText(
      [
        'host: 0.0.0.0',
        'listeners:',
        '  - protocol: mqtt',
        '    port: 1883',
        '    allow_anonymous: true',
        '  - name: browsers',
        '    protocol: wss',
        '    host: 127.0.0.1',
        '    port: 8081',
        '    path: /ws',
        '    trust_proxy: true',
        '    cert_file: /etc/fennec/server.pem',
        '    key_file: /etc/fennec/server.key',
        '    min_version: TLSv1.3',
        '    password_file: /etc/fennec/web-users',
        '    acl_file: /etc/fennec/web.acl',
      ].join('\n'),
      'fennec.yaml',
    );
    assert.equal(config.listeners?.[1]?.passwordFile, '/etc/fennec/web-users');
    const options = toBrokerOptions(mergeConfig(config, {}, {}));
    assert.deepEqual(options.listeners, [
      { protocol: 'mqtt', port: 1883, allowAnonymous: true },
      {
        name: 'browsers',
        protocol: 'wss',
        host: '127.0.0.1',
        port: 8081,
        path: '/ws',
        trustProxy: true,
        certFile: '/etc/fennec/server.pem',
        keyFile: '/etc/fennec/server.key',
        minVersion: 'TLSv1.3',
      },
    ]);
    assert.equal(options.host, '0.0.0.0');
  });

  void it('reports a bad value with the index of its listener, its key, the file and the line', () => {
    const issues = issuesOf([
      'listeners:',
      '  - protocol: mqtt',
      '    port: 1883',
      '  - protocol: ws',
      '    port: 8080',
      '  - protocol: ws',
      '    port: 70000',
      '  - protocol: websocket',
      '    port: 1',
    ]);
    assert.deepEqual(issues, [
      'fennec.yaml:7:11: listeners[2].port: must be an integer from 0 to 65535 (a TCP port; 0 picks a free one), got 70000',
      'fennec.yaml:8:15: listeners[3].protocol: must be one of mqtt, mqtts, ws, wss, got "websocket"',
    ]);
  });

  void it('reports a secure listener without its certificate files at the entry, and TLS keys on a plain one at the key', () => {
    const issues = issuesOf([
      'listeners:',
      '  - protocol: wss',
      '    port: 8081',
      '  - protocol: ws',
      '    port: 8080',
      '    cert_file: server.pem',
      '  - protocol: mqtts',
      '    port: 8883',
      '    path: /mqtt',
      '    trust_proxy: true',
      '    cert_file: server.pem',
      '    key_file: server.key',
    ]);
    assert.deepEqual(issues, [
      'fennec.yaml:2:5: listeners[0].cert_file: is required for a wss listener (a PEM file path)',
      'fennec.yaml:2:5: listeners[0].key_file: is required for a wss listener (a PEM file path)',
      'fennec.yaml:6:16: listeners[1].cert_file: applies to mqtts and wss listeners, not ws',
      'fennec.yaml:9:11: listeners[2].path: applies to ws and wss listeners, not mqtts',
      'fennec.yaml:10:18: listeners[2].trust_proxy: applies to mqtt (PROXY protocol), ws and wss (X-Forwarded-For) listeners; the PROXY protocol before TLS is not supported',
    ]);
  });

  void it('refuses an unknown key in a listener with a suggestion, a missing port and a path without a slash', () => {
    const issues = issuesOf([
      'listeners:',
      '  - protocol: ws',
      '    port: 8080',
      '    paht: /mqtt',
      '    cert_fle: server.pem',
      '  - protocol: ws',
      '  - name: web',
      '    protocol: ws',
      '    port: 8082',
      '    path: mqtt',
    ]);
    assert.deepEqual(issues, [
      'fennec.yaml:4:5: listeners[0].paht: unknown key; did you mean listeners[].path?',
      'fennec.yaml:5:5: listeners[0].cert_fle: unknown key; did you mean listeners[].cert_file?',
      'fennec.yaml:6:5: listeners[1].port: must be an integer from 0 to 65535 (a TCP port; 0 picks a free one)',
      'fennec.yaml:10:11: listeners[2].path: must be an HTTP path starting with / (no spaces, query or fragment), got "mqtt"',
    ]);
  });

  void it('refuses two listeners of one name, also a given name that repeats a default one', () => {
    assert.deepEqual(
      issuesOf([
        'listeners:',
        '  - protocol: ws',
        '    port: 8080',
        '  - name: ws-0',
        '    protocol: mqtt',
        '    port: 1883',
      ]),
      ['fennec.yaml:4:11: listeners[1].name: has the name "ws-0", which another listener has; give each a unique name'],
    );
  });

  void it('refuses the short form port and tls next to listeners, and an empty list', () => {
    assert.deepEqual(issuesOf(['port: 1883', 'listeners:', '  - protocol: ws', '    port: 8080']), [
      'fennec.yaml:1:7: port: belongs to the short form of one listener; with listeners: give every listener in the list (top level host stays their default address)',
    ]);
    assert.deepEqual(issuesOf(['listeners: []']), [
      'fennec.yaml:1:12: listeners: must list at least one listener (or be left out for the short form host / port / tls)',
    ]);
  });

  void it('refuses FENNEC_PORT when the file lists its listeners', () => {
    const config = parseConfigText('listeners:\n  - protocol: mqtt\n    port: 1883\n', 'fennec.yaml');
    assert.throws(() => mergeConfig(config, {}, { FENNEC_PORT: '1884' }), /environment: FENNEC_PORT: sets the port/);
  });

  void it('new Broker() checks its listeners with the same rules, naming the field and its file key', () => {
    assert.throws(
      () =>
        new Broker({
          listeners: [
            { protocol: 'mqtt', port: 0 },
            { protocol: 'wss', port: 70_000 },
          ],
        }),
      (err: unknown) => {
        assert.ok(err instanceof InvalidOptionError);
        assert.deepEqual(
          err.issues.map((issue) => `${issue.option} (${issue.key})`),
          [
            'listeners[1].port (listeners[1].port)',
            'listeners[1].certFile (listeners[1].cert_file)',
            'listeners[1].keyFile (listeners[1].key_file)',
          ],
        );
        return true;
      },
    );
  });
});

void describe('configuration: paths', () => {
  void it("resolves relative paths in the file against the file's directory, whatever the working directory", async () => {
    const dir = join(files.directory(), 'etc');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'fennec.yaml');
    writeFileSync(
      file,
      [
        'data_dir: data',
        'password_file: passwords',
        'acl_file: ./acl/rules',
        'tls:',
        '  cert_file: certs/server.pem',
        '  key_file: /absolute/server.key',
        'limits:',
        '  max_queued_messages: 5',
      ].join('\n'),
    );
    const config = await loadConfigFile(file);
    assert.equal(config.dataDir, join(dir, 'data'));
    assert.equal(config.passwordFile, join(dir, 'passwords'));
    assert.equal(config.aclFile, join(dir, 'acl', 'rules'));
    assert.equal(config.tls?.certFile, join(dir, 'certs', 'server.pem'));
    assert.equal(config.tls?.keyFile, '/absolute/server.key');
    assert.equal(config.limits?.maxQueuedMessages, 5);
  });

  void it("resolves a listener's files against the file's directory too", async () => {
    const file = files.write([
      'listeners:',
      '  - protocol: wss',
      '    port: 0',
      '    cert_file: server.pem',
      '    key_file: server.key',
      '    ca_file: ../ca.pem',
      '    password_file: users',
      '    acl_file: rules.acl',
    ]);
    const [listener] = (await loadConfigFile(file)).listeners ?? [];
    const dir = files.directory();
    assert.deepEqual(
      [listener?.certFile, listener?.keyFile, listener?.caFile, listener?.passwordFile, listener?.aclFile],
      [
        join(dir, 'server.pem'),
        join(dir, 'server.key'),
        join(dir, '..', 'ca.pem'),
        join(dir, 'users'),
        join(dir, 'rules.acl'),
      ],
    );
  });

  void it('leaves paths from flags and variables relative, for the working directory', () => {
    const config = mergeConfig({}, { dataDir: 'flag-data' }, { FENNEC_DATA_DIR: 'env-data' });
    assert.equal(config.dataDir, 'flag-data');
    assert.equal(mergeConfig({}, {}, { FENNEC_DATA_DIR: 'env-data' }).dataDir, 'env-data');
  });
});
