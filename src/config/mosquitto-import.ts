/**
 * Translates a Mosquitto configuration file (`mosquitto.conf`) into Fennec's YAML: listeners,
 * TLS, authentication, persistence and limits. Every line it cannot translate becomes a
 * `# not translated: ...` comment saying why, and whatever Fennec's schema would refuse is left out
 * the same way, so that the output loads as it is.
 *
 * At most one plain MQTT listener and one TLS one become the short form (`host` / `port` and the
 * `tls:` section); any other set of listeners (a WebSocket one, or two of a kind) becomes a
 * `listeners:` list, each entry with `protocol` (mqtt, mqtts, ws, wss), `host`, `port` and the TLS
 * keys of the `tls:` section, since the list replaces the short form.
 */
import { stringify } from 'yaml';
import { mosquittoKeyHints } from './mosquitto-keys.js';
import { validateFile } from './schema.js';

/** A listener as the Mosquitto file describes it. */
interface MosquittoListener {
  port: number;
  host: string;
  websockets: boolean;
  tls: Record<string, unknown>;
  line: number;
}

/** What `importMosquittoConfig` makes of a file. */
export interface MosquittoImport {
  /** The Fennec configuration file: comments, then YAML. */
  yaml: string;
  /** One `line N: TEXT: why` per line not translated, as the comments say. */
  notTranslated: string[];
}

/** Builds the Fennec file while remembering which Mosquitto line set each key. */
class Translation {
  readonly top: Record<string, unknown> = {};
  readonly limits: Record<string, unknown> = {};
  readonly notes: string[] = [];
  readonly comments: string[] = [];
  /** Dotted Fennec key -> the Mosquitto line that set it. */
  readonly origin = new Map<string, string>();

  set(key: string, value: unknown, origin: string): void {
    if (key.startsWith('limits.')) this.limits[key.slice('limits.'.length)] = value;
    else this.top[key] = value;
    this.origin.set(key, origin);
  }

  skip(origin: string, why: string): void {
    this.notes.push(`${origin}: ${why}`);
  }
}

const TLS_KEYS: Record<string, string> = {
  cafile: 'ca_file',
  certfile: 'cert_file',
  keyfile: 'key_file',
  require_certificate: 'require_client_certificate',
  use_identity_as_username: 'use_identity_as_username',
  tls_version: 'min_version',
  ciphers: 'ciphers',
};

/** Mosquitto's numeric limits: the Fennec key, and how a Mosquitto value maps (undefined: it cannot). */
const LIMITS: Record<string, { key: string; map: (n: number) => number | undefined; note?: string }> = {
  max_queued_messages: { key: 'limits.max_queued_messages', map: (n) => (n > 0 ? n : undefined) },
  max_queued_bytes: { key: 'limits.max_queued_bytes', map: (n) => (n >= 0 ? n : undefined) },
  // Mosquitto's 0 is "no limit"; Fennec's ceiling is the number of packet identifiers.
  max_inflight_messages: { key: 'limits.max_inflight_messages', map: (n) => (n === 0 ? 65_535 : n) },
  max_packet_size: { key: 'limits.maximum_packet_size', map: (n) => (n === 0 ? 268_435_460 : n) },
  message_size_limit: {
    key: 'limits.maximum_packet_size',
    map: (n) => (n === 0 ? 268_435_460 : n),
    note: 'message_size_limit bounded the payload; limits.maximum_packet_size bounds the whole packet',
  },
  max_connections: { key: 'limits.max_connections', map: (n) => (n < 0 ? 0 : n) },
  max_keepalive: {
    key: 'server_keep_alive',
    map: (n) => n,
    note: 'server_keep_alive is imposed on every MQTT 5.0 client; 3.1.1 clients keep their own keep alive',
  },
};

function parseBoolean(value: string): boolean | undefined {
  return value === 'true' ? true : value === 'false' ? false : undefined;
}

function parseInteger(value: string): number | undefined {
  return /^-?\d{1,10}$/.test(value) ? Number(value) : undefined;
}

/** A listener's TLS option, translated into the `tls:` section's key and value; a string says why not. */
function tlsOption(name: string, value: string): [string, unknown] | string {
  const key = TLS_KEYS[name]!;
  if (name === 'require_certificate') {
    const flag = parseBoolean(value);
    return flag === undefined ? 'expected true or false' : [key, flag];
  }
  if (name === 'use_identity_as_username') {
    const flag = parseBoolean(value);
    if (flag === undefined) return 'expected true or false';
    return [key, flag ? 'CN' : false];
  }
  if (name === 'tls_version') {
    const version = { 'tlsv1.2': 'TLSv1.2', 'tlsv1.3': 'TLSv1.3' }[value];
    return version === undefined ? 'Fennec accepts TLSv1.2 or TLSv1.3 as the oldest version' : [key, version];
  }
  return [key, value];
}

/** Parses the lines of a Mosquitto file into `t` and the listeners. */
function readLines(text: string, t: Translation): MosquittoListener[] {
  const listeners: MosquittoListener[] = [];
  // `port` and `bind_address` set Mosquitto's default listener; TLS keys and `protocol` set the
  // listener of the last `listener` line, or the default one before any.
  let defaultListener: MosquittoListener | undefined;
  let current: MosquittoListener | undefined;
  const theDefault = (line: number): MosquittoListener => {
    if (defaultListener === undefined) {
      defaultListener = { port: 1883, host: '0.0.0.0', websockets: false, tls: {}, line };
      listeners.push(defaultListener);
    }
    return defaultListener;
  };
  const target = (line: number): MosquittoListener => current ?? theDefault(line);
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const origin = `line ${index + 1}: ${line}`;
    const space = line.search(/\s/);
    const name = space < 0 ? line : line.slice(0, space);
    const value = space < 0 ? '' : line.slice(space + 1).trim();
    const integer = parseInteger(value);
    if (name === 'listener') {
      const [portText, host] = value.split(/\s+/);
      const port = parseInteger(portText ?? '');
      if (port === undefined || port < 0 || port > 65_535) {
        t.skip(origin, 'expected listener PORT [ADDRESS]');
        continue;
      }
      if (host?.startsWith('/') === true) {
        // Its settings must not land on another listener.
        current = { port, host, websockets: false, tls: {}, line: index + 1 };
        t.skip(origin, 'Fennec does not listen on Unix sockets');
        continue;
      }
      current = { port, host: host ?? '0.0.0.0', websockets: false, tls: {}, line: index + 1 };
      listeners.push(current);
    } else if (name === 'port' && integer !== undefined) {
      theDefault(index + 1).port = integer;
    } else if (name === 'bind_address' && value !== '') {
      theDefault(index + 1).host = value;
    } else if (name === 'protocol' && (value === 'websockets' || value === 'mqtt')) {
      target(index + 1).websockets = value === 'websockets';
    } else if (Object.hasOwn(TLS_KEYS, name)) {
      const option = tlsOption(name, value);
      if (typeof option === 'string') t.skip(origin, option);
      else target(index + 1).tls[option[0]] = option[1];
    } else if (name === 'allow_anonymous' && parseBoolean(value) !== undefined) {
      t.set('allow_anonymous', parseBoolean(value), origin);
    } else if ((name === 'password_file' || name === 'acl_file' || name === 'pid_file') && value !== '') {
      t.set(name, value, origin);
    } else if (name === 'log_dest' && /^(stderr|stdout|syslog|file \S.*)$/.test(value)) {
      // The same values; Mosquitto may log to several places, Fennec to one: the last line wins.
      if ('log_dest' in t.top)
        t.comments.push(`${origin}: Fennec logs to one place; this one replaces ${String(t.top['log_dest'])}`);
      t.set('log_dest', value, origin);
    } else if (name === 'persistence' && parseBoolean(value) !== undefined) {
      t.set('persistence', parseBoolean(value) === true ? 'sqlite' : 'none', origin);
    } else if (name === 'persistence_location' && value !== '') {
      t.set('data_dir', value, origin);
    } else if (Object.hasOwn(LIMITS, name) && integer !== undefined) {
      const limit = LIMITS[name]!;
      const mapped = limit.map(integer);
      if (mapped === undefined) t.skip(origin, `Fennec's ${limit.key} has no value meaning the same`);
      else t.set(limit.key, mapped, origin);
      if (limit.note !== undefined) t.comments.push(`${origin}: ${limit.note}`);
    } else if (name === 'per_listener_settings' && value === 'false') {
      // Mosquitto's default: the security settings apply to the whole broker, as in Fennec.
    } else if (name === 'retain_available' && parseBoolean(value) !== undefined) {
      t.set('retain_available', parseBoolean(value), origin);
    } else if (name === 'max_qos' && integer !== undefined) {
      t.set('maximum_qos', integer, origin);
    } else {
      const hint = Object.hasOwn(mosquittoKeyHints, name) ? mosquittoKeyHints[name]! : undefined;
      t.skip(origin, hint === undefined ? 'not a setting this translation knows' : hint.note || 'unexpected value');
    }
  }
  return listeners;
}

/** Puts the listeners where Fennec has them: `host`/`port`, `tls:`, and `listeners:` for the rest. */
function placeListeners(listeners: MosquittoListener[], t: Translation): Record<string, unknown>[] {
  const isSecure = (listener: MosquittoListener): boolean =>
    listener.tls.cert_file !== undefined || listener.tls.key_file !== undefined;
  const plain = listeners.filter((listener) => !listener.websockets && !isSecure(listener));
  const secure = listeners.filter((listener) => !listener.websockets && isSecure(listener));
  const shortForm = plain.length <= 1 && secure.length <= 1 && plain.length + secure.length === listeners.length;
  const list: Record<string, unknown>[] = [];
  let plainTaken = false;
  for (const listener of listeners) {
    const origin = `line ${listener.line}: listener ${listener.port}`;
    if (!shortForm) {
      const protocol = listener.websockets
        ? isSecure(listener)
          ? 'wss'
          : 'ws'
        : isSecure(listener)
          ? 'mqtts'
          : 'mqtt';
      t.origin.set(`listeners.${list.length}`, origin);
      list.push({ protocol, host: listener.host, port: listener.port, ...listener.tls });
    } else if (!isSecure(listener)) {
      plainTaken = true;
      t.set('host', listener.host, origin);
      t.set('port', listener.port, origin);
    } else {
      t.top.tls = { host: listener.host, port: listener.port, ...listener.tls };
      for (const key of Object.keys(t.top.tls as object)) t.origin.set(`tls.${key}`, origin);
    }
  }
  // A list listens only where it says; the short form always has its plain listener.
  if (shortForm && listeners.length > 0 && !plainTaken) {
    t.comments.push(
      'Mosquitto had no plain MQTT listener; Fennec listens on host and port all the same (127.0.0.1:1883 by default)',
    );
  }
  // Mosquitto 2 refuses anonymous clients once a listener is configured, unless told otherwise.
  if (listeners.length > 0 && !('allow_anonymous' in t.top)) {
    t.set('allow_anonymous', false, 'Mosquitto 2 default with listeners configured');
    t.comments.push("allow_anonymous: false is Mosquitto 2's default once a listener is configured");
  }
  return list;
}

/** Drops every key Fennec's schema refuses, noting the Mosquitto line it came from; repeats until none is left. */
function dropRefused(t: Translation, listeners: Record<string, unknown>[]): void {
  for (let round = 0; round < 20; round++) {
    const data: Record<string, unknown> = { ...t.top };
    if (Object.keys(t.limits).length > 0) data.limits = t.limits;
    if (listeners.length > 0) data.listeners = listeners;
    const result = validateFile(data);
    if (result.success) return;
    for (const issue of result.issues) {
      const path = issue.path.map(String);
      const dotted = path.join('.');
      if (path[0] === 'listeners') {
        // A listener entry Fennec refuses goes whole: half a listener would listen where nobody asked.
        const index = Number(path[1]);
        t.skip(t.origin.get(`listeners.${index}`) ?? dotted, `Fennec's ${dotted} refuses it: ${issue.message}`);
        listeners.splice(index, 1);
        break;
      }
      const section =
        path[0] === 'limits' ? t.limits : path[0] === 'tls' ? (t.top.tls as Record<string, unknown>) : t.top;
      const leaf = path.length > 1 ? path[1]! : path[0]!;
      const origin = t.origin.get(dotted) ?? dotted;
      t.skip(origin, `Fennec's ${dotted} refuses it: ${issue.message}`);
      if (path.length <= 1 && path[0] === 'tls') delete t.top.tls;
      else if (section !== undefined) delete section[leaf];
    }
  }
}

/** Translates the text of a Mosquitto configuration file; `source` names it in the header comment. */
export function importMosquittoConfig(text: string, source: string): MosquittoImport {
  const t = new Translation();
  const listeners = readLines(text, t);
  const list = placeListeners(listeners, t);
  if (!('persistence' in t.top)) {
    t.comments.push(
      "Mosquitto's persistence is off by default; Fennec keeps its state in data_dir unless persistence: none",
    );
  }
  dropRefused(t, list);
  // The listener first, as a reader looks for it.
  const { host, port, ...rest } = t.top;
  const config: Record<string, unknown> = { host, port, ...rest };
  if (host === undefined) delete config.host;
  if (port === undefined) delete config.port;
  if (Object.keys(t.limits).length > 0) config.limits = t.limits;
  if (list.length > 0) config.listeners = list;
  const header = [
    `# Fennec configuration translated from ${source} by fennec import-config.`,
    ...t.comments.map((comment) => `# note: ${comment}`),
    ...t.notes.map((note) => `# not translated: ${note}`),
  ];
  const body = Object.keys(config).length === 0 ? '' : stringify(config);
  return { yaml: `${header.join('\n')}\n${body}`, notTranslated: t.notes };
}
