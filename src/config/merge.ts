/**
 * Where each setting comes from: command-line flags over environment variables over the file over
 * the defaults.
 */
import { defaultBrokerOptions, type AllowAnonymous, type BrokerOptions, type TlsOptions } from '../broker/options.js';
import type { SharedSubscriptionStrategy } from '../broker/shared.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import {
  fileSchema,
  limitKeys,
  limitSpecs,
  toFennecConfig,
  type ConfigLimits,
  type FennecConfig,
  type LogLevel,
  type Persistence,
  type Durability,
} from './schema.js';

/** A configuration with every setting decided. */
export interface ResolvedConfig {
  host: string;
  port: number;
  dataDir: string;
  logLevel: LogLevel;
  persistence: Persistence;
  durability: Durability;
  sharedSubscriptionStrategy: SharedSubscriptionStrategy;
  responseInformationPrefix: string;
  /** BrokerOptions' maximumQoS (spelt so that it is the camelCase of `maximum_qos`). */
  maximumQos: 0 | 1 | 2;
  retainAvailable: boolean;
  wildcardSubscriptionAvailable: boolean;
  subscriptionIdentifiersAvailable: boolean;
  /** Path of the ACL file; undefined: no access control. */
  aclFile: string | undefined;
  /** Password file authenticating clients with a user name; undefined: none (every user name passes). */
  passwordFile: string | undefined;
  allowAnonymous: AllowAnonymous;
  limits: Required<ConfigLimits>;
  /** The TLS listener; absent: none. Its own defaults are BrokerOptions' (`defaultTlsOptions`). */
  tls?: TlsOptions;
}

/**
 * The defaults, documented in docs/configuration.md; host, port, the shared subscription strategy and
 * limits are BrokerOptions' own.
 */
export const defaultConfig: ResolvedConfig = {
  host: defaultBrokerOptions.host,
  port: defaultBrokerOptions.port,
  dataDir: './data',
  logLevel: 'info',
  persistence: 'sqlite',
  durability: 'process',
  sharedSubscriptionStrategy: defaultBrokerOptions.sharedSubscriptionStrategy,
  responseInformationPrefix: defaultBrokerOptions.responseInformationPrefix,
  maximumQos: defaultBrokerOptions.maximumQoS,
  retainAvailable: defaultBrokerOptions.retainAvailable,
  wildcardSubscriptionAvailable: defaultBrokerOptions.wildcardSubscriptionAvailable,
  subscriptionIdentifiersAvailable: defaultBrokerOptions.subscriptionIdentifiersAvailable,
  aclFile: undefined,
  passwordFile: undefined,
  allowAnonymous: defaultBrokerOptions.allowAnonymous,
  limits: Object.fromEntries(
    limitKeys.map((key) => [limitSpecs[key].option, defaultBrokerOptions[limitSpecs[key].option]]),
  ) as Required<ConfigLimits>,
};

/** Environment variables read by mergeConfig, each with the file key it overrides. */
export const environmentVariables = {
  FENNEC_HOST: 'host',
  FENNEC_PORT: 'port',
  FENNEC_DATA_DIR: 'data_dir',
  FENNEC_LOG_LEVEL: 'log_level',
  FENNEC_PERSISTENCE: 'persistence',
  FENNEC_DURABILITY: 'durability',
} as const;

type EnvironmentVariable = keyof typeof environmentVariables;

/**
 * Reads the FENNEC_* variables of `env`, validated like the file's keys. An empty variable counts as unset.
 * @throws ConfigError with source `environment`, naming each bad variable.
 */
export function configFromEnvironment(env: NodeJS.ProcessEnv): FennecConfig {
  const raw: Record<string, unknown> = {};
  const variableOf = new Map<string, EnvironmentVariable>();
  for (const [variable, key] of Object.entries(environmentVariables) as [EnvironmentVariable, string][]) {
    const value = env[variable];
    if (value === undefined || value === '') continue;
    raw[key] = key === 'port' && /^\d+$/.test(value) ? Number(value) : value;
    variableOf.set(key, variable);
  }
  const result = fileSchema.safeParse(raw, { reportInput: true });
  if (result.success) return toFennecConfig(result.data);
  const issues: ConfigIssue[] = result.error.issues.map((issue) => {
    const key = String(issue.path[0]);
    const variable = variableOf.get(key);
    const given = variable === undefined ? '' : `, got ${JSON.stringify(env[variable])}`;
    return { path: variable ?? key, line: 0, column: 0, message: `${issue.message}${given}` };
  });
  throw new ConfigError('environment', issues);
}

/** `top`'s settings over `base`'s; a limit left out of `top` keeps `base`'s value. */
function overlay(base: FennecConfig, top: FennecConfig): FennecConfig {
  const merged: FennecConfig = { ...base };
  if (top.host !== undefined) merged.host = top.host;
  if (top.port !== undefined) merged.port = top.port;
  if (top.dataDir !== undefined) merged.dataDir = top.dataDir;
  if (top.logLevel !== undefined) merged.logLevel = top.logLevel;
  if (top.persistence !== undefined) merged.persistence = top.persistence;
  if (top.durability !== undefined) merged.durability = top.durability;
  if (top.sharedSubscriptionStrategy !== undefined) merged.sharedSubscriptionStrategy = top.sharedSubscriptionStrategy;
  if (top.responseInformationPrefix !== undefined) merged.responseInformationPrefix = top.responseInformationPrefix;
  if (top.maximumQos !== undefined) merged.maximumQos = top.maximumQos;
  if (top.retainAvailable !== undefined) merged.retainAvailable = top.retainAvailable;
  if (top.wildcardSubscriptionAvailable !== undefined) {
    merged.wildcardSubscriptionAvailable = top.wildcardSubscriptionAvailable;
  }
  if (top.subscriptionIdentifiersAvailable !== undefined) {
    merged.subscriptionIdentifiersAvailable = top.subscriptionIdentifiersAvailable;
  }
  if (top.aclFile !== undefined) merged.aclFile = top.aclFile;
  if (top.passwordFile !== undefined) merged.passwordFile = top.passwordFile;
  if (top.allowAnonymous !== undefined) merged.allowAnonymous = top.allowAnonymous;
  if (top.limits !== undefined) merged.limits = { ...base.limits, ...top.limits };
  if (top.tls !== undefined) merged.tls = top.tls;
  return merged;
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
  const merged = overlay(overlay(fileConfig, configFromEnvironment(env)), flags);
  const limits = { ...defaultConfig.limits };
  for (const key of limitKeys) {
    const option = limitSpecs[key].option;
    const value = merged.limits?.[option];
    if (value !== undefined) limits[option] = value;
  }
  const resolved: ResolvedConfig = {
    host: merged.host ?? defaultConfig.host,
    port: merged.port ?? defaultConfig.port,
    dataDir: merged.dataDir ?? defaultConfig.dataDir,
    logLevel: merged.logLevel ?? defaultConfig.logLevel,
    persistence: merged.persistence ?? defaultConfig.persistence,
    durability: merged.durability ?? defaultConfig.durability,
    sharedSubscriptionStrategy: merged.sharedSubscriptionStrategy ?? defaultConfig.sharedSubscriptionStrategy,
    responseInformationPrefix: merged.responseInformationPrefix ?? defaultConfig.responseInformationPrefix,
    maximumQos: merged.maximumQos ?? defaultConfig.maximumQos,
    retainAvailable: merged.retainAvailable ?? defaultConfig.retainAvailable,
    wildcardSubscriptionAvailable: merged.wildcardSubscriptionAvailable ?? defaultConfig.wildcardSubscriptionAvailable,
    subscriptionIdentifiersAvailable:
      merged.subscriptionIdentifiersAvailable ?? defaultConfig.subscriptionIdentifiersAvailable,
    aclFile: merged.aclFile ?? defaultConfig.aclFile,
    passwordFile: merged.passwordFile ?? defaultConfig.passwordFile,
    allowAnonymous: merged.allowAnonymous ?? defaultConfig.allowAnonymous,
    limits,
  };
  if (merged.tls !== undefined) resolved.tls = merged.tls;
  return resolved;
}

/** The BrokerOptions a resolved configuration asks for (hooks and logger are the caller's). */
export function toBrokerOptions(config: ResolvedConfig): BrokerOptions {
  return {
    host: config.host,
    port: config.port,
    sharedSubscriptionStrategy: config.sharedSubscriptionStrategy,
    responseInformationPrefix: config.responseInformationPrefix,
    maximumQoS: config.maximumQos,
    retainAvailable: config.retainAvailable,
    wildcardSubscriptionAvailable: config.wildcardSubscriptionAvailable,
    subscriptionIdentifiersAvailable: config.subscriptionIdentifiersAvailable,
    allowAnonymous: config.allowAnonymous,
    ...config.limits,
    ...(config.tls === undefined ? {} : { tls: config.tls }),
  };
}
