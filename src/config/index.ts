/**
 * Configuration: the YAML file's schema and loader (errors name the key, file and line), the
 * environment variables, and the precedence flags > environment > file > defaults.
 * See docs/configuration.md.
 */
export { ConfigError, formatConfigIssue, type ConfigIssue } from './errors.js';
export { loadConfigFile, parseConfigText } from './load.js';
export {
  configFromEnvironment,
  defaultConfig,
  environmentVariables,
  mergeConfig,
  toBrokerOptions,
  type ResolvedConfig,
} from './merge.js';
export {
  configKeys,
  fileSchema,
  limitKeys,
  limitSpecs,
  logLevels,
  persistenceModes,
  durabilityModes,
  toFennecConfig,
  type ConfigLimits,
  type FennecConfig,
  type FileConfig,
  type LimitKey,
  type LimitOption,
  type LogLevel,
  type Persistence,
  type Durability,
} from './schema.js';
