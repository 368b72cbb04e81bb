/**
 * The options of the configuration file's `http:` section: the HTTP listener of `fennec broker` that
 * serves Prometheus metrics (`/metrics`), health checks and the admin API (docs/operations.md).
 * Part of the option table (src/config/options.ts); documented in docs/configuration.md, which is
 * generated from it.
 */
import { integerIn, nonEmptyString, type OptionSpec } from './fields.js';

/** The `http:` options, by the name of their field in the resolved configuration's `http`. */
export const httpOptionSpecs = {
  host: {
    target: 'command',
    section: 'http',
    key: 'host',
    field: nonEmptyString('a host name or IP address'),
    unit: '',
    default: '127.0.0.1',
    doc: 'address the HTTP listener (metrics, health, admin API) listens on. Requests from other than loopback need the admin token',
  },
  port: {
    target: 'command',
    section: 'http',
    key: 'port',
    field: integerIn(0, 65_535, '(a TCP port; 0 picks a free one)'),
    unit: 'TCP port',
    default: 8080,
    doc: 'port of the HTTP listener; `0` picks a free one (printed in `fennec listening http://HOST:PORT`). `fennec broker --http-port N` sets it and turns the listener on without an `http:` section',
  },
  adminToken: {
    target: 'command',
    section: 'http',
    key: 'admin_token',
    env: 'FENNEC_ADMIN_TOKEN',
    field: nonEmptyString('a bearer token'),
    unit: '',
    doc: 'bearer token (`Authorization: Bearer TOKEN`) required by every request not from loopback and by every admin request that changes state (disconnect, delete, publish). Unset: those requests get 401. The variable `FENNEC_ADMIN_TOKEN` overrides it, which keeps it out of the file',
  },
} as const satisfies Record<string, OptionSpec>;
