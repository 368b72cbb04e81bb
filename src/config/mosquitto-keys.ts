/**
 * Mosquitto's configuration keys that are not Fennec keys where a Mosquitto user writes them, each
 * with the Fennec key that does the same (or none, and why). The loader turns an unknown key found
 * here into a hint (load.ts); `fennec import-config` uses the same words for what it leaves out.
 * Keys Fennec shares with Mosquitto (`port`, `password_file`, `acl_file`, `allow_anonymous`,
 * `retain_available`, `max_keepalive`, `log_dest`, `pid_file`) are not listed: they are Fennec keys.
 */

/** What a Mosquitto key is in Fennec. */
export interface MosquittoKeyHint {
  /** The Fennec key (dotted, with its section) that does the same, when there is one. */
  fennecKey?: string;
  /** What differs, or why there is no such key. */
  note: string;
}

const noKey = (note: string): MosquittoKeyHint => ({ note });
const key = (fennecKey: string, note = ''): MosquittoKeyHint => ({ fennecKey, note });

/** Mosquitto's keys by name. */
export const mosquittoKeyHints: Readonly<Record<string, MosquittoKeyHint>> = {
  listener: key('port', 'with host for its address; a TLS listener is the tls: section'),
  bind_address: key('host'),
  bind_interface: noKey('listen on the address of that interface with host'),
  socket_domain: noKey('host picks the address family'),
  protocol: noKey('a TLS listener is the tls: section; fennec import-config translates whole listeners'),
  max_inflight_messages: key('limits.max_inflight_messages'),
  max_queued_messages: key('limits.max_queued_messages'),
  max_queued_bytes: key('limits.max_queued_bytes'),
  max_inflight_bytes: noKey('in-flight messages are bounded by count, limits.max_inflight_messages'),
  message_size_limit: key('limits.maximum_packet_size', 'which bounds the whole packet, not only the payload'),
  max_packet_size: key('limits.maximum_packet_size'),
  max_connections: key('limits.max_connections', 'where 0, not -1, means no limit'),
  max_topic_alias: key('limits.topic_alias_maximum'),
  max_qos: key('maximum_qos'),
  persistence_location: key('data_dir', 'the directory of the SQLite store'),
  persistence_file: key('data_dir', 'the store is always the file fennec.db in that directory'),
  autosave_interval: noKey('every QoS 1/2 change is committed before it is acknowledged (persistence: sqlite)'),
  autosave_on_changes: noKey('every QoS 1/2 change is committed before it is acknowledged (persistence: sqlite)'),
  persistent_client_expiration: key(
    'limits.max_session_expiry_interval',
    'which caps MQTT 5.0 sessions; 3.1.1 persistent sessions do not expire',
  ),
  log_type: key('log_level', 'one level: fatal, error, warn, info, debug or trace'),
  log_timestamp: noKey('every log line carries its time'),
  log_timestamp_format: noKey('every log line carries its time in milliseconds since 1970'),
  connection_messages: key('log_level', 'connections are logged at info'),
  cafile: key('tls.ca_file'),
  capath: noKey('put the CA certificates in one PEM file, tls.ca_file'),
  certfile: key('tls.cert_file'),
  keyfile: key('tls.key_file'),
  require_certificate: key('tls.require_client_certificate'),
  use_identity_as_username: key('tls.use_identity_as_username', 'which takes a subject field, CN as in Mosquitto'),
  use_subject_as_username: noKey('tls.use_identity_as_username takes one subject field, such as CN'),
  tls_version: key('tls.min_version', 'TLSv1.2 or TLSv1.3'),
  ciphers: key('tls.ciphers'),
  'ciphers_tls1.3': noKey("TLS 1.3 suites are Node's defaults"),
  crlfile: noKey('certificate revocation lists are not read'),
  dhparamfile: noKey('ECDHE key exchange needs no parameter file'),
  psk_file: noKey('TLS pre-shared keys are not supported'),
  psk_hint: noKey('TLS pre-shared keys are not supported'),
  per_listener_settings: noKey('password_file, acl_file and allow_anonymous apply to the whole broker'),
  include_dir: noKey('the configuration is one file'),
  user: noKey('Fennec does not change user; start it as the user it should run as'),
  allow_zero_length_clientid: noKey('a client with an empty id is given one when it starts a clean session'),
  auto_id_prefix: noKey('assigned client ids are random'),
  clientid_prefixes: noKey('refuse client ids with an authenticate hook'),
  queue_qos0_messages: noKey('QoS 0 messages are never queued for offline sessions'),
  upgrade_outgoing_qos: noKey('messages go at the lower of the published and the granted QoS'),
  set_tcp_nodelay: noKey('writes are batched per turn of the event loop'),
  check_retain_source: noKey('the ACL is checked when a message is published'),
  mount_point: noKey('topics are not prefixed per listener'),
  use_username_as_clientid: noKey('the client id is the one in CONNECT'),
  http_dir: noKey('Fennec serves no files over HTTP'),
  websockets_log_level: noKey('log_level covers every listener'),
  websockets_headers_size: noKey('WebSocket upgrade headers are not configurable'),
  plugin: noKey('an embedder registers hooks (docs/hooks.md)'),
  auth_plugin: noKey('an embedder registers hooks (docs/hooks.md)'),
};

/** The hint of a Mosquitto key as the loader words it after `unknown key; `, or undefined when it is none. */
export function mosquittoKeyHint(name: string): string | undefined {
  const hint = Object.hasOwn(mosquittoKeyHints, name) ? mosquittoKeyHints[name] : undefined;
  if (hint === undefined) return undefined;
  if (hint.fennecKey === undefined) return `Mosquitto's ${name} has no Fennec key: ${hint.note}`;
  const note = hint.note === '' ? '' : ` (${hint.note})`;
  return `Mosquitto's ${name} is ${hint.fennecKey} in Fennec${note}`;
}
