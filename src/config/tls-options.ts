/**
 * The options of the configuration file's `tls:` section: the fields of `BrokerOptions.tls`, the
 * TLS listener. Part of the option table (src/config/options.ts); documented in
 * docs/configuration.md, which is generated from it.
 */
import { z } from 'zod';
import {
  boolean,
  field,
  integerIn,
  nonEmptyString,
  oneOf,
  requiredString,
  tlsMinVersions,
  type OptionSpec,
} from './fields.js';

/** The `tls:` options, by the name of their field in `BrokerOptions.tls`, in documentation order. */
export const tlsOptionSpecs = {
  host: {
    target: 'broker',
    section: 'tls',
    key: 'host',
    field: nonEmptyString('a host name or IP address'),
    unit: '',
    unsetText: "the broker's `host`",
    doc: "address the TLS listener listens on; by default the broker's `host`",
  },
  port: {
    target: 'broker',
    section: 'tls',
    key: 'port',
    field: integerIn(0, 65_535, '(a TCP port; 0 picks a free one)'),
    unit: 'TCP port',
    default: 8883,
    doc: 'port of the TLS listener; `0` picks a free one (printed in `fennec listening mqtts://HOST:PORT`)',
  },
  certFile: {
    target: 'broker',
    section: 'tls',
    key: 'cert_file',
    isPath: true,
    required: true,
    field: requiredString('a PEM certificate file path'),
    unit: 'PEM file',
    doc: 'the server certificate, followed by any intermediate certificates',
  },
  keyFile: {
    target: 'broker',
    section: 'tls',
    key: 'key_file',
    isPath: true,
    required: true,
    field: requiredString('a PEM private key file path'),
    unit: 'PEM file',
    doc: "the server's private key, not encrypted",
  },
  caFile: {
    target: 'broker',
    section: 'tls',
    key: 'ca_file',
    isPath: true,
    field: nonEmptyString('a PEM CA certificate file path'),
    unit: 'PEM file',
    doc: 'the CA(s) client certificates must chain to. Given, clients are asked for a certificate: one that does not verify (another CA, expired) is refused, and a verified one is shown to the hooks (`ClientInfo.certificate`)',
  },
  requireClientCertificate: {
    target: 'broker',
    section: 'tls',
    key: 'require_client_certificate',
    field: boolean(),
    unit: '',
    default: false,
    doc: "mutual TLS: a client without a certificate from `ca_file`'s CA is refused before it can send CONNECT. Needs `ca_file`",
  },
  useIdentityAsUsername: {
    target: 'broker',
    section: 'tls',
    key: 'use_identity_as_username',
    field: field(
      z.union([z.literal(false), z.string().regex(/^[A-Za-z][A-Za-z0-9.]*$/)], {
        error: 'must be false or a certificate subject field such as CN',
      }),
      '`false` or a subject field (`CN`, `O`...)',
    ),
    unit: '',
    default: false,
    doc: "like Mosquitto's `use_identity_as_username`: that field of the client certificate's subject becomes the client's username, whatever CONNECT says, for the `authenticate` hook and ACLs; a certificate without the field gets CONNACK 0x87 (3.1.1: 0x05). Needs `require_client_certificate: true`",
  },
  minVersion: {
    target: 'broker',
    section: 'tls',
    key: 'min_version',
    field: oneOf(tlsMinVersions),
    unit: '',
    default: 'TLSv1.2',
    doc: 'oldest TLS version accepted; a client that offers only older versions fails the handshake',
  },
  ciphers: {
    target: 'broker',
    section: 'tls',
    key: 'ciphers',
    field: nonEmptyString('an OpenSSL cipher list'),
    unit: '',
    doc: "OpenSSL cipher list for TLS 1.2 (`ECDHE-ECDSA-AES128-GCM-SHA256:...`); TLS 1.3 suites are not affected. Unset: Node's default list",
  },
} as const satisfies Record<string, OptionSpec>;
