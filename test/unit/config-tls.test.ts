// The `tls:` section of the configuration file: its keys map to BrokerOptions.tls, and a missing
// or inconsistent key is reported with its file, line and key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, mergeConfig, parseConfigText, toBrokerOptions } from '../../src/config/index.js';

/** The one-line messages of the ConfigError that `text` raises. */
function issuesOf(text: string): string[] {
  try {
    parseConfigText(text, 'fennec.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message.split('\n');
  }
  assert.fail('the configuration was accepted');
}

void describe('configuration: tls', () => {
  void it('maps every key of the section to BrokerOptions.tls', () => {
    const config = parseConfigText(
      [
        'tls:',
        '  host: 0.0.0.0',
        '  port: 8884',
        '  cert_file: server.pem',
        '  key_file: server.key',
        '  ca_file: ca.pem',
        '  require_client_certificate: true',
        '  use_identity_as_username: CN',
        '  min_version: TLSv1.3',
        '  ciphers: ECDHE-ECDSA-AES128-GCM-SHA256',
      ].join('\n'),
      'fennec.yaml',
    );
    const options = toBrokerOptions(mergeConfig(config, {}, {}));
    assert.deepEqual(options.tls, {
      host: '0.0.0.0',
      port: 8884,
      certFile: 'server.pem',
      keyFile: 'server.key',
      caFile: 'ca.pem',
      requireClientCertificate: true,
      useIdentityAsUsername: 'CN',
      minVersion: 'TLSv1.3',
      ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    });
  });

  void it('starts no TLS listener when the section is left out', () => {
    assert.equal(toBrokerOptions(mergeConfig(parseConfigText('port: 1883\n', 'fennec.yaml'), {}, {})).tls, undefined);
  });

  void it('requires cert_file and key_file, naming each', () => {
    assert.deepEqual(issuesOf('port: 1883\ntls:\n  port: 8883\n'), [
      'fennec.yaml:3:3: tls.cert_file: is required (a PEM certificate file path)',
      'fennec.yaml:3:3: tls.key_file: is required (a PEM private key file path)',
    ]);
  });

  void it('refuses require_client_certificate without ca_file, at its line', () => {
    assert.deepEqual(issuesOf('tls:\n  cert_file: a.pem\n  key_file: a.key\n  require_client_certificate: true\n'), [
      'fennec.yaml:4:31: tls.require_client_certificate: needs ca_file, the CA that client certificates must chain to',
    ]);
  });

  void it('refuses use_identity_as_username without require_client_certificate, at its line', () => {
    assert.deepEqual(
      issuesOf('tls:\n  cert_file: a.pem\n  key_file: a.key\n  ca_file: ca.pem\n  use_identity_as_username: CN\n'),
      [
        'fennec.yaml:5:29: tls.use_identity_as_username: needs require_client_certificate: true, so that every client has a verified certificate',
      ],
    );
  });

  void it('refuses a TLS version other than TLSv1.2 and TLSv1.3, and true as use_identity_as_username', () => {
    assert.deepEqual(
      issuesOf(
        'tls:\n  cert_file: a.pem\n  key_file: a.key\n  min_version: TLSv1.1\n  use_identity_as_username: true\n',
      ),
      [
        'fennec.yaml:4:16: tls.min_version: must be one of TLSv1.2, TLSv1.3, got "TLSv1.1"',
        'fennec.yaml:5:29: tls.use_identity_as_username: must be false or a certificate subject field such as CN, got true',
      ],
    );
  });
});
