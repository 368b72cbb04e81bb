/**
 * Where each setting comes from: command-line flags over environment variables over the file over
 * the defaults, option by option as the option table (options.ts) lists them.
 */
import { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.js';
import type { OptionSpec } from './fields.js';
import {
  defaultHttpConfig,
  defaultClusterConfig,
  httpOptionSpecs,
  optionSpecs,
  type FennecConfig,
  type ResolvedConfig,
  type SettableBrokerOptions,
} from './options.js';
import { validateFile } from './schema.js';

export type { ResolvedConfig } from './options.js';

const topLevelEntries = Object.entries(optionSpecs as Record<string, OptionSpec>).filter(
  ([, spec]) => spec.section === '',
);
const limitEntries = Object.entries(optionSpecs as Record<string, OptionSpec>).filter(
  ([, spec]) => spec.section === 'limits',
);

/**
 * The defaults, documented in docs/configuration.md: the table's, BrokerOptions' own for its
 * fields; an option without a default is present and undefined.
 */
export const defaultConfig = {
  ...Object.fromEntries(topLevelEntries.map(([name, spec]) => [name, spec.default])),
  limits: Object.fromEntries(limitEntries.map(([name, spec]) => [name, spec.default])),
} as ResolvedConfig;

/** Environment variables read by mergeConfig, each with the file key it overrides. */
export const environmentVariables: Readonly<Record<string, string>> = Object.fromEntries(
  topLevelEntries.flatMap(([, spec]) => (spec.env === undefined ? [] : [[spec.env, spec.key]])),
);

/**
 * Reads the FENNEC_* variables of `env`, validated like the file's keys. An empty variable counts as unset.
 * @throws ConfigError with source `environment`, naming each bad variable.
 */
export function configFromEnvironment(env: NodeJS.ProcessEnv): FennecConfig {
  const raw: Record<string, unknown> = {};
  const variableOf = new Map<string, string>();
  for (const [, spec] of topLevelEntries) {
    const value = spec.env === undefined ? undefined : env[spec.env];
    if (spec.env === undefined || value === undefined || value === '') continue;
    // A variable is always text; a numeric option reads the digits as the number they spell.
    raw[spec.key] = spec.field.schema instanceof z.ZodNumber && /^\d+$/.test(value) ? Number(value) : value;
    variableOf.set(spec.key, spec.env);
  }
  const result = validateFile(raw);
  if (result.success) return result.config;
  const issues: ConfigIssue[] = result.issues.map((issue) => {
    const key = String(issue.path[0]);
    const variable = variableOf.get(key);
    const given = variable === undefined ? '' : `, got ${JSON.stringify(env[variable])}`;
    return { path: variable ?? key, line: 0, column: 0, message: `${issue.message}${given}` };
  });
  throw new ConfigError('environment', issues);
}

/**
 * `top`'s settings over `base`'s; a limit or `http` setting left out of `top` keeps `base`'s value,
 * `tls` is taken whole.
 */
function overlay(base: FennecConfig, top: FennecConfig): FennecConfig {
  const merged: Record<string, unknown> = { ...base };
  for (const [name, value] of Object.entries(top)) {
    if (value === undefined) continue;
    if (name === 'limits') merged[name] = { ...base.limits, ...top.limits };
    else if (name === 'http') merged[name] = { ...base.http, ...top.http };
    else if (name === 'cluster') merged[name] = { ...base.cluster, ...top.cluster };
    else merged[name] = value;
  }
  return merged;
}

/**
 * The HTTP listener's settings when the file or a flag asked for it (the `http:` section,
 * `--http-port`), with `FENNEC_ADMIN_TOKEN` over the file's token; undefined: no HTTP listener. The
 * variable alone turns nothing on.
 */
function resolveHttp(given: FennecConfig['http'], env: NodeJS.ProcessEnv): ResolvedConfig['http'] {
  if (given === undefined) return undefined;
  const variable = httpOptionSpecs.adminToken.env;
  const token = env[variable];
  return { ...defaultHttpConfig, ...given, ...(token === undefined || token === '' ? {} : { adminToken: token }) };
}

/**
 * Decides every setting: `flags` (only those the user gave) over the FENNEC_* variables of `env`
 * over `fileConfig` over the defaults.
 * @throws ConfigError when an environment variable is invalid.
 */
export function mergeConfig(
  fileConfig: FennecConfig,
  flags: FennecConfig,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConfig {
  const fromEnvironment = configFromEnvironment(env);
  if (fileConfig.listeners !== undefined && fromEnvironment.port !== undefined) {
    const message =
      "sets the port of the short form's one listener, but the configuration file lists its listeners (listeners:)";
    throw new ConfigError('environment', [{ path: 'FENNEC_PORT', line: 0, column: 0, message }]);
  }
  const merged = overlay(overlay(fileConfig, fromEnvironment), flags);
  const given = merged as Record<string, unknown>;
  const defaults = defaultConfig as Record<string, unknown>;
  const resolved: Record<string, unknown> = {};
  for (const [name] of topLevelEntries) resolved[name] = given[name] ?? defaults[name];
  const limits: Record<string, unknown> = { ...defaultConfig.limits };
  for (const [name] of limitEntries) {
    const value = (merged.limits as Record<string, unknown> | undefined)?.[name];
    if (value !== undefined) limits[name] = value;
  }
  resolved.limits = limits;
  if (merged.tls !== undefined) resolved.tls = merged.tls;
  if (merged.listeners !== undefined) resolved.listeners = merged.listeners;
  const http = resolveHttp(merged.http, env);
  if (http !== undefined) resolved.http = http;
  const cluster = merged.cluster;
  if (cluster !== undefined) {
    // A node id without a Redis URL makes no cluster: reported rather than silently ignored.
    if (cluster.redis === undefined) {
      const message = 'is required in the cluster: section (or give --cluster-redis URL)';
      throw new ConfigError('configuration', [{ path: 'cluster.redis', line: 0, column: 0, message }]);
    }
    resolved.cluster = { ...defaultClusterConfig, ...cluster, redis: cluster.redis };
  }
  return resolved as ResolvedConfig;
}

/** The BrokerOptions a resolved configuration asks for (the hooks, logger and store are the caller's). */
export function toBrokerOptions(config: ResolvedConfig): SettableBrokerOptions {
  const options: Record<string, unknown> = {};
  const values = config as Record<string, unknown>;
  for (const [name, spec] of topLevelEntries) {
    if (spec.target === 'broker' && values[name] !== undefined) options[name] = values[name];
  }
  Object.assign(options, config.limits);
  if (config.tls !== undefined) options.tls = config.tls;
  if (config.listeners !== undefined) {
    // The auth files are `fennec broker`'s to read; the broker gets the rest of each listener.
    options.listeners = config.listeners.map(({ passwordFile: _password, aclFile: _acl, ...listener }) => listener);
  }
  return options;
}
