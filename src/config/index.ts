/**
 * Configuration: the option table (every option written once), the YAML file's schema and loader
 * (errors name the key, file and line), the environment variables, the precedence flags >
 * environment > file > defaults, and the check of `new Broker(options)`.
 * See docs/configuration.md.
 */
export {
  ConfigError,
  formatConfigIssue,
  formatOptionIssue,
  InvalidOptionError,
  type ConfigIssue,
  type OptionIssue,
} from './errors.js';
export { loadConfigFile, parseConfigText, resolveConfigPaths } from './load.js';
export {
  configFromEnvironment,
  defaultConfig,
  environmentVariables,
  mergeConfig,
  toBrokerOptions,
  type ResolvedConfig,
} from './merge.js';
export {
  defaultBrokerOptions,
  defaultListenerOptions,
  defaultTlsOptions,
  listenerOptionSpecs,
  defaultHttpConfig,
  defaultClusterConfig,
  httpOptionSpecs,
  clusterOptionSpecs,
  type ClusterConfig,
  type HttpConfig,
  type ResolvedHttpConfig,
  limitOptionSpecs,
  logFormats,
  optionSpecs,
  processOptionSpecs,
  tlsOptionSpecs,
  type BrokerOptionName,
  type LogFormat,
  type ListenerConfig,
  type ListenerOptions,
  type OptionName,
  type OptionValue,
  type ResolvedBrokerOptions,
  type SettableBrokerOptions,
  type TlsOptionName,
  type TlsOptions,
  type TopLevelOption,
} from './options.js';
export { fileKey, type OptionSpec } from './fields.js';
export {
  configKeys,
  fileSchema,
  limitKeys,
  limitSpecs,
  listenerName,
  logLevels,
  persistenceModes,
  durabilityModes,
  toFennecConfig,
  validateFile,
  type ConfigLimits,
  type FennecConfig,
  type FileConfig,
  type FileValidation,
  type LimitKey,
  type LimitOption,
  type LogLevel,
  type Persistence,
  type Durability,
} from './schema.js';
export { resolveOptions } from './validate.js';
