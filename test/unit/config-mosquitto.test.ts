// Mosquitto's configuration knowledge in Fennec: a Mosquitto key in a Fennec file gets a hint naming
// the Fennec key (file:line as other issues), and `importMosquittoConfig` translates a realistic
// mosquitto.conf into YAML that Fennec's loader accepts. No sockets.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { ConfigError, parseConfigText } from '../../src/config/index.js';
import { importMosquittoConfig } from '../../src/config/mosquitto-import.js';

/** The one issue `text` fails with. */
function onlyIssue(text: string): { path: string; line: number; message: string } {
  try {
    parseConfigText(text, 'fennec.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.issues.length, 1, err.message);
    return err.issues[0]!;
  }
  assert.fail(`accepted: ${text}`);
}

void describe('a Mosquitto key in a Fennec file', () => {
  // [Mosquitto key, a value Mosquitto takes, what the hint must say]
  const hints: [string, string, string][] = [
    [
      'listener',
      '1883',
      "Mosquitto's listener is port in Fennec (with host for its address; a TLS listener is the tls: section)",
    ],
    ['bind_address', '0.0.0.0', "Mosquitto's bind_address is host in Fennec"],
    [
      'bind_interface',
      'eth0',
      "Mosquitto's bind_interface has no Fennec key: listen on the address of that interface with host",
    ],
    ['socket_domain', 'ipv4', "Mosquitto's socket_domain has no Fennec key"],
    ['protocol', 'websockets', "Mosquitto's protocol has no Fennec key: a TLS listener is the tls: section"],
    ['max_inflight_messages', '20', "Mosquitto's max_inflight_messages is limits.max_inflight_messages in Fennec"],
    ['max_queued_messages', '1000', "Mosquitto's max_queued_messages is limits.max_queued_messages in Fennec"],
    ['max_queued_bytes', '0', "Mosquitto's max_queued_bytes is limits.max_queued_bytes in Fennec"],
    [
      'max_inflight_bytes',
      '0',
      "Mosquitto's max_inflight_bytes has no Fennec key: in-flight messages are bounded by count",
    ],
    [
      'message_size_limit',
      '1000',
      "Mosquitto's message_size_limit is limits.maximum_packet_size in Fennec (which bounds the whole packet",
    ],
    ['max_packet_size', '1000', "Mosquitto's max_packet_size is limits.maximum_packet_size in Fennec"],
    [
      'max_connections',
      '-1',
      "Mosquitto's max_connections is limits.max_connections in Fennec (where 0, not -1, means no limit)",
    ],
    ['max_topic_alias', '10', "Mosquitto's max_topic_alias is limits.topic_alias_maximum in Fennec"],
    ['max_qos', '1', "Mosquitto's max_qos is maximum_qos in Fennec"],
    ['persistence_location', '/var/lib/mosquitto/', "Mosquitto's persistence_location is data_dir in Fennec"],
    [
      'persistence_file',
      'mosquitto.db',
      "Mosquitto's persistence_file is data_dir in Fennec (the store is always the file fennec.db",
    ],
    ['autosave_interval', '1800', "Mosquitto's autosave_interval has no Fennec key: every QoS 1/2 change is committed"],
    [
      'autosave_on_changes',
      'false',
      "Mosquitto's autosave_on_changes has no Fennec key: every QoS 1/2 change is committed",
    ],
    [
      'persistent_client_expiration',
      '1d',
      "Mosquitto's persistent_client_expiration is limits.max_session_expiry_interval in Fennec",
    ],
    ['log_type', 'all', "Mosquitto's log_type is log_level in Fennec"],
    ['log_timestamp', 'true', "Mosquitto's log_timestamp has no Fennec key"],
    ['log_timestamp_format', '"%Y"', "Mosquitto's log_timestamp_format has no Fennec key"],
    [
      'connection_messages',
      'true',
      "Mosquitto's connection_messages is log_level in Fennec (connections are logged at info)",
    ],
    ['cafile', 'ca.pem', "Mosquitto's cafile is tls.ca_file in Fennec"],
    [
      'capath',
      '/etc/ssl/certs',
      "Mosquitto's capath has no Fennec key: put the CA certificates in one PEM file, tls.ca_file",
    ],
    ['certfile', 'server.pem', "Mosquitto's certfile is tls.cert_file in Fennec"],
    ['keyfile', 'server.key', "Mosquitto's keyfile is tls.key_file in Fennec"],
    ['require_certificate', 'true', "Mosquitto's require_certificate is tls.require_client_certificate in Fennec"],
    [
      'use_identity_as_username',
      'true',
      "Mosquitto's use_identity_as_username is tls.use_identity_as_username in Fennec",
    ],
    ['use_subject_as_username', 'true', "Mosquitto's use_subject_as_username has no Fennec key"],
    ['tls_version', 'tlsv1.2', "Mosquitto's tls_version is tls.min_version in Fennec (TLSv1.2 or TLSv1.3)"],
    ['ciphers', 'HIGH', "Mosquitto's ciphers is tls.ciphers in Fennec"],
    ['ciphers_tls1.3', 'TLS_AES_128_GCM_SHA256', "Mosquitto's ciphers_tls1.3 has no Fennec key"],
    ['crlfile', 'crl.pem', "Mosquitto's crlfile has no Fennec key"],
    ['dhparamfile', 'dh.pem', "Mosquitto's dhparamfile has no Fennec key"],
    ['psk_file', 'psk', "Mosquitto's psk_file has no Fennec key: TLS pre-shared keys are not supported"],
    ['psk_hint', 'hint', "Mosquitto's psk_hint has no Fennec key: TLS pre-shared keys are not supported"],
    ['per_listener_settings', 'true', "Mosquitto's per_listener_settings has no Fennec key"],
    [
      'include_dir',
      '/etc/mosquitto/conf.d',
      "Mosquitto's include_dir has no Fennec key: the configuration is one file",
    ],
    ['user', 'mosquitto', "Mosquitto's user has no Fennec key"],
    ['allow_zero_length_clientid', 'true', "Mosquitto's allow_zero_length_clientid has no Fennec key"],
    ['auto_id_prefix', 'auto-', "Mosquitto's auto_id_prefix has no Fennec key"],
    ['clientid_prefixes', 'sensor-', "Mosquitto's clientid_prefixes has no Fennec key"],
    [
      'queue_qos0_messages',
      'true',
      "Mosquitto's queue_qos0_messages has no Fennec key: QoS 0 messages are never queued",
    ],
    ['upgrade_outgoing_qos', 'true', "Mosquitto's upgrade_outgoing_qos has no Fennec key"],
    ['set_tcp_nodelay', 'true', "Mosquitto's set_tcp_nodelay has no Fennec key"],
    ['check_retain_source', 'true', "Mosquitto's check_retain_source has no Fennec key"],
    ['mount_point', 'site1/', "Mosquitto's mount_point has no Fennec key"],
    ['use_username_as_clientid', 'true', "Mosquitto's use_username_as_clientid has no Fennec key"],
    ['http_dir', '/var/www', "Mosquitto's http_dir has no Fennec key"],
    ['websockets_log_level', '255', "Mosquitto's websockets_log_level has no Fennec key"],
    ['websockets_headers_size', '4096', "Mosquitto's websockets_headers_size has no Fennec key"],
    ['plugin', '/usr/lib/x.so', "Mosquitto's plugin has no Fennec key: an embedder registers hooks"],
    ['auth_plugin', '/usr/lib/x.so', "Mosquitto's auth_plugin has no Fennec key: an embedder registers hooks"],
  ];
  for (const [key, value, hint] of hints) {
    void it(`${key}: names what it is in Fennec, with the file's line`, () => {
      const issue = onlyIssue(`# from mosquitto.conf\nport: 1883\n${key}: ${value}\n`);
      assert.equal(issue.path, key);
      assert.equal(issue.line, 3);
      assert.ok(issue.message.startsWith(`unknown key; ${hint}`), issue.message);
    });
  }

  void it('is hinted inside a section too: tls.certfile', () => {
    const issue = onlyIssue('tls:\n  cert_file: a.pem\n  key_file: a.key\n  cafile: ca.pem\n');
    assert.equal(issue.path, 'tls.cafile');
    assert.equal(issue.line, 4);
    assert.match(issue.message, /Mosquitto's cafile is tls.ca_file in Fennec/);
  });

  void it('leaves the keys Fennec shares with Mosquitto alone', () => {
    const config = parseConfigText(
      'port: 1883\nallow_anonymous: false\npassword_file: pw\nacl_file: acl\nmax_keepalive: 60\nretain_available: true\n',
      'fennec.yaml',
    );
    assert.equal(config.passwordFile, 'pw');
    assert.equal(config.serverKeepAlive, 60);
  });

  void it("keeps Fennec's own spelling hints for keys Mosquitto does not have", () => {
    assert.match(onlyIssue('max_inflight: 5\n').message, /did you mean limits.max_inflight_messages\?/);
  });

  void it("says what Mosquitto's persistence true and false are", () => {
    const issue = onlyIssue('persistence: true\n');
    assert.equal(issue.path, 'persistence');
    assert.match(
      issue.message,
      /got true; Mosquitto's persistence true is persistence: sqlite .*false is persistence: none/,
    );
  });

  void it('recognises a whole Mosquitto file given as a Fennec one', () => {
    const issue = onlyIssue('listener 1883\nallow_anonymous true\n');
    assert.match(
      issue.message,
      /this looks like a Mosquitto configuration file: fennec import-config FILE translates it/,
    );
  });
});

/** A mosquitto.conf as a Debian server might have it. */
const realistic = `# Place your local configuration in /etc/mosquitto/conf.d/
pid_file /run/mosquitto/mosquitto.pid
per_listener_settings false

persistence true
persistence_location /var/lib/mosquitto/
persistence_file mosquitto.db
autosave_interval 1800

log_dest file /var/log/mosquitto/mosquitto.log
log_type error
include_dir /etc/mosquitto/conf.d

allow_anonymous false
password_file /etc/mosquitto/passwd
acl_file /etc/mosquitto/acl
max_queued_messages 5000
max_inflight_messages 0
message_size_limit 10485760
max_keepalive 120
max_connections -1

listener 1883 0.0.0.0

listener 8883
cafile /etc/mosquitto/ca_certificates/ca.crt
certfile /etc/mosquitto/certs/server.crt
keyfile /etc/mosquitto/certs/server.key
require_certificate true
use_identity_as_username true
tls_version tlsv1.2

listener 9001 127.0.0.1
protocol websockets

listener 9443
protocol websockets
certfile /etc/mosquitto/certs/server.crt
keyfile /etc/mosquitto/certs/server.key
tls_version tlsv1.1
`;

void describe('importMosquittoConfig', () => {
  const { yaml, notTranslated } = importMosquittoConfig(realistic, 'mosquitto.conf');
  const document = parse(yaml) as Record<string, unknown>;

  void it('prints YAML that Fennec loads as it is, with every setting translated', () => {
    const config = parseConfigText(yaml, 'imported.yaml');
    assert.equal(config.allowAnonymous, false);
    assert.equal(config.passwordFile, '/etc/mosquitto/passwd');
    assert.equal(config.aclFile, '/etc/mosquitto/acl');
    assert.equal(config.pidFile, '/run/mosquitto/mosquitto.pid');
    assert.equal(config.logDest, 'file /var/log/mosquitto/mosquitto.log');
    assert.equal(config.persistence, 'sqlite');
    assert.equal(config.dataDir, '/var/lib/mosquitto/');
    assert.equal(config.serverKeepAlive, 120);
    assert.deepEqual(config.limits, {
      maxQueuedMessages: 5000,
      maxInflightMessages: 65_535,
      maximumPacketSize: 10_485_760,
      maxConnections: 0,
    });
    assert.equal(config.listeners?.length, 4);
  });

  void it('emits four listeners as a listeners: list with protocol, host, port and TLS keys, in file order', () => {
    // A WebSocket listener needs the list, and the list replaces the short form: no host, port or tls: at the top.
    assert.equal(document.host, undefined);
    assert.equal(document.port, undefined);
    assert.equal(document.tls, undefined);
    assert.deepEqual(document.listeners, [
      { protocol: 'mqtt', host: '0.0.0.0', port: 1883 },
      {
        protocol: 'mqtts',
        host: '0.0.0.0',
        port: 8883,
        ca_file: '/etc/mosquitto/ca_certificates/ca.crt',
        cert_file: '/etc/mosquitto/certs/server.crt',
        key_file: '/etc/mosquitto/certs/server.key',
        require_client_certificate: true,
        use_identity_as_username: 'CN',
        min_version: 'TLSv1.2',
      },
      { protocol: 'ws', host: '127.0.0.1', port: 9001 },
      {
        protocol: 'wss',
        host: '0.0.0.0',
        port: 9443,
        cert_file: '/etc/mosquitto/certs/server.crt',
        key_file: '/etc/mosquitto/certs/server.key',
      },
    ]);
  });

  void it('keeps the short form for one plain and one TLS listener', () => {
    const out = parse(
      importMosquittoConfig('listener 1883\nlistener 8883\ncertfile /c.pem\nkeyfile /k.pem\n', 'm.conf').yaml,
    ) as Record<string, unknown>;
    assert.deepEqual(
      { host: out.host, port: out.port, tls: out.tls, listeners: out.listeners },
      {
        host: '0.0.0.0',
        port: 1883,
        tls: { host: '0.0.0.0', port: 8883, cert_file: '/c.pem', key_file: '/k.pem' },
        listeners: undefined,
      },
    );
  });

  void it('writes a # not translated comment for each line it cannot translate, with its line number', () => {
    const comments = yaml.split('\n').filter((line) => line.startsWith('# not translated: '));
    assert.equal(comments.length, notTranslated.length);
    const lines = notTranslated.map((note) => Number(/^line (\d+):/.exec(note)?.[1]));
    assert.deepEqual(lines, [7, 8, 11, 12, 40]);
    assert.match(yaml, /# not translated: line 8: autosave_interval 1800: every QoS 1\/2 change is committed/);
    assert.match(
      yaml,
      /# not translated: line 12: include_dir \/etc\/mosquitto\/conf.d: the configuration is one file/,
    );
    assert.match(yaml, /# not translated: line 40: tls_version tlsv1.1: Fennec accepts TLSv1.2 or TLSv1.3/);
    assert.match(yaml, /# note: line 19: message_size_limit 10485760: message_size_limit bounded the payload/);
  });

  void it("leaves out a value Fennec's schema refuses, saying why, so the rest still loads", () => {
    const out = importMosquittoConfig('max_qos 3\nmax_queued_messages 0\nport 1884\n', 'm.conf');
    assert.match(out.yaml, /# not translated: line 1: max_qos 3: Fennec's maximum_qos refuses it: must be 0, 1 or 2/);
    assert.match(
      out.yaml,
      /# not translated: line 2: max_queued_messages 0: Fennec's limits.max_queued_messages has no value/,
    );
    const config = parseConfigText(out.yaml, 'out.yaml');
    assert.equal(config.port, 1884);
    assert.equal(config.maximumQoS, undefined);
  });

  void it("gives port and bind_address to Mosquitto's default listener, TLS keys to the listener above them", () => {
    const out = importMosquittoConfig(
      [
        'certfile a.pem',
        'keyfile a.key',
        'listener 1884',
        'port 1885',
        'bind_address 127.0.0.1',
        'listener 0 /run/m.sock',
        '',
      ].join('\n'),
      'm.conf',
    );
    const document = parse(out.yaml) as Record<string, unknown>;
    assert.deepEqual(document.tls, { host: '127.0.0.1', port: 1885, cert_file: 'a.pem', key_file: 'a.key' });
    assert.equal(document.port, 1884);
    assert.equal(document.host, '0.0.0.0');
    assert.match(
      out.yaml,
      /# not translated: line 6: listener 0 \/run\/m.sock: Fennec does not listen on Unix sockets/,
    );
  });

  void it('translates an empty file into comments only, which Fennec loads as the defaults', () => {
    const out = importMosquittoConfig('# nothing\n', 'empty.conf');
    assert.deepEqual(parseConfigText(out.yaml, 'out.yaml'), {});
  });
});
