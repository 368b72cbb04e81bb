/**
 * The options of one entry of the configuration file's `listeners:` list: the fields of
 * `BrokerOptions.listeners[]`. A secure listener (`mqtts`, `wss`) also takes the TLS keys of the
 * `tls:` table but `host` and `port` (tls-options.ts). Part of the option table
 * (src/config/options.ts); documented in docs/configuration.md, which is generated from it.
 */
import { z } from 'zod';
import {
  boolean,
  field,
  integerIn,
  listenerProtocols,
  nonEmptyString,
  oneOf,
  type ListenerProtocol,
  type OptionSpec,
} from './fields.js';

/** The `listeners:` options, by the name of their field in `BrokerOptions.listeners[]`, in documentation order. */
export const listenerOptionSpecs = {
  name: {
    target: 'broker',
    section: 'listeners',
    key: 'name',
    field: nonEmptyString('a listener name'),
    unit: '',
    unsetText: '`PROTOCOL-INDEX` (`ws-2`)',
    doc: 'how logs and hooks (`ClientInfo.listener`) name the listener; unique in the list',
  },
  protocol: {
    target: 'broker',
    section: 'listeners',
    key: 'protocol',
    required: true,
    field: oneOf(listenerProtocols),
    unit: '',
    doc: '`mqtt` (TCP), `mqtts` (TLS), `ws` (WebSocket), `wss` (WebSocket over TLS). `mqtts` and `wss` need `cert_file` and `key_file`, and take every key of the [`tls:` section](#tls) but `host` and `port`',
  },
  host: {
    target: 'broker',
    section: 'listeners',
    key: 'host',
    field: nonEmptyString('a host name or IP address'),
    unit: '',
    unsetText: "the broker's `host`",
    doc: 'address to listen on',
  },
  port: {
    target: 'broker',
    section: 'listeners',
    key: 'port',
    required: true,
    field: integerIn(0, 65_535, '(a TCP port; 0 picks a free one)'),
    unit: 'TCP port',
    doc: 'port to listen on; `0` picks a free one (printed in `fennec listening ws://HOST:PORT/mqtt`)',
  },
  path: {
    target: 'broker',
    section: 'listeners',
    key: 'path',
    field: field(
      z.string({ error: 'must be an HTTP path starting with /' }).regex(/^\/[^\s?#]*$/, {
        error: 'must be an HTTP path starting with / (no spaces, query or fragment)',
      }),
      'string, an HTTP path',
    ),
    unit: '',
    default: '/mqtt',
    doc: '`ws` and `wss` only: the path that upgrades to MQTT; a request for another path gets 404, a plain HTTP request on it 426',
  },
  trustProxy: {
    target: 'broker',
    section: 'listeners',
    key: 'trust_proxy',
    field: boolean(),
    unit: '',
    default: false,
    doc: "a proxy or load balancer in front tells the client's address, which becomes the connection's (for logs, hooks and the per-address limits). `ws` and `wss`: the last entry of `X-Forwarded-For`. `mqtt`: the PROXY protocol (v1 or v2, as HAProxy and cloud load balancers send it): every connection must then start with its header, and one without is closed. Not on `mqtts`. Leave it off unless a proxy you run is the only way in: a client could write the header itself",
  },
  allowAnonymous: {
    target: 'broker',
    section: 'listeners',
    key: 'allow_anonymous',
    field: field(
      z.union([z.boolean(), z.literal('loopback')], { error: 'must be true, false or loopback' }),
      '`true`, `false` or `loopback`',
    ),
    unit: '',
    unsetText: 'the top level `allow_anonymous`',
    doc: 'who may connect without a user name on this listener, as the top level `allow_anonymous`, which it overrides',
  },
  passwordFile: {
    target: 'command',
    section: 'listeners',
    key: 'password_file',
    isPath: true,
    field: nonEmptyString('a file path'),
    unit: 'file path',
    unsetText: 'the top level `password_file`',
    doc: "password file for this listener's clients in place of the top level's (Mosquitto's `per_listener_settings`); relative to the configuration file's directory; re-read on SIGHUP",
  },
  aclFile: {
    target: 'command',
    section: 'listeners',
    key: 'acl_file',
    isPath: true,
    field: nonEmptyString('a file path'),
    unit: 'file path',
    unsetText: 'the top level `acl_file`',
    doc: "access control list for this listener's clients in place of the top level's; relative to the configuration file's directory; re-read on SIGHUP",
  },
} as const satisfies Record<string, OptionSpec>;

/** The TLS options a listener takes from the `tls:` table: all but its own address. */
export const listenerTlsOptionNames = [
  'certFile',
  'keyFile',
  'caFile',
  'requireClientCertificate',
  'useIdentityAsUsername',
  'minVersion',
  'ciphers',
] as const;

/** Whether `protocol` runs over TLS. */
export function isSecureProtocol(protocol: ListenerProtocol): boolean {
  return protocol === 'mqtts' || protocol === 'wss';
}

/** Whether `protocol` runs over WebSocket. */
export function isWebSocketProtocol(protocol: ListenerProtocol): boolean {
  return protocol === 'ws' || protocol === 'wss';
}

/** One problem of one listener entry: the option at fault (camelCase name) and what is wrong. */
export interface ListenerIssue {
  option: string;
  message: string;
}

/**
 * What is inconsistent in one listener whose values each passed their own schema, by option name:
 * TLS settings on a plain listener, missing certificate files on a secure one, a WebSocket setting
 * on an MQTT one, and the TLS section's own rules. `keyOf` names an option as the reader wrote it.
 */
export function listenerIssues(
  listener: Readonly<Record<string, unknown>>,
  keyOf: (option: string) => string,
): ListenerIssue[] {
  const protocol = listener.protocol as ListenerProtocol | undefined;
  if (protocol === undefined) return [];
  const issues: ListenerIssue[] = [];
  const given = (option: string): boolean => listener[option] !== undefined;
  if (isSecureProtocol(protocol)) {
    for (const option of ['certFile', 'keyFile']) {
      if (!given(option)) issues.push({ option, message: `is required for a ${protocol} listener (a PEM file path)` });
    }
  } else {
    for (const option of listenerTlsOptionNames) {
      if (given(option)) issues.push({ option, message: `applies to mqtts and wss listeners, not ${protocol}` });
    }
  }
  if (!isWebSocketProtocol(protocol) && given('path')) {
    issues.push({ option: 'path', message: `applies to ws and wss listeners, not ${protocol}` });
  }
  if (protocol === 'mqtts' && given('trustProxy')) {
    issues.push({
      option: 'trustProxy',
      message:
        'applies to mqtt (PROXY protocol), ws and wss (X-Forwarded-For) listeners; the PROXY protocol before TLS is not supported',
    });
  }
  if (listener.requireClientCertificate === true && !given('caFile')) {
    issues.push({
      option: 'requireClientCertificate',
      message: `needs ${keyOf('caFile')}, the CA that client certificates must chain to`,
    });
  }
  if (typeof listener.useIdentityAsUsername === 'string' && listener.requireClientCertificate !== true) {
    issues.push({
      option: 'useIdentityAsUsername',
      message: `needs ${keyOf('requireClientCertificate')}: true, so that every client has a verified certificate`,
    });
  }
  return issues;
}

/** The index of each listener whose name another listener before it already has. */
export function duplicateListenerNames(names: readonly (string | undefined)[]): number[] {
  const seen = new Set<string>();
  const duplicates: number[] = [];
  names.forEach((name, index) => {
    if (name === undefined) return;
    if (seen.has(name)) duplicates.push(index);
    seen.add(name);
  });
  return duplicates;
}
