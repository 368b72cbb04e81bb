/**
 * `fennec broker`: starts the broker, prints `listening mqtt://HOST:PORT` (and `listening
 * mqtts://HOST:PORT` with TLS) when ready, reloads its TLS files on SIGHUP, and stops gracefully on
 * SIGINT or SIGTERM with exit code 0.
 */
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { Broker } from '../broker/broker.js';
import {
  ConfigError,
  defaultConfig,
  loadConfigFile,
  logLevels,
  mergeConfig,
  toBrokerOptions,
  type FennecConfig,
  type LogLevel,
  type ResolvedConfig,
} from '../config/index.js';
import { FennecError } from '../errors/index.js';
import { TlsFileError } from '../transport/tls.js';
import { configCliError } from './check-config.js';
import { CliError, ExitCode } from './errors.js';

/** Parses a TCP port flag: an integer from 0 to 65535. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw new InvalidArgumentError('must be an integer from 0 to 65535');
  return port;
}

interface BrokerFlags {
  host: string;
  port: number;
  dataDir: string;
  logLevel: string;
  config?: string;
}

/** A host as it goes in a URL: an IPv6 address in brackets. */
function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** `certFile` -> `cert_file`: an option as the configuration file spells it. */
function snakeCase(option: string): string {
  return option.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function isLogLevel(value: string): value is LogLevel {
  return (logLevels as readonly string[]).includes(value);
}

export function brokerCommand(): Command {
  return new Command('broker')
    .description('start the MQTT broker')
    .option('--host <address>', 'address to listen on', defaultConfig.host)
    .option('--port <port>', 'TCP port to listen on (0 picks a free one)', parsePort, defaultConfig.port)
    .option('--data-dir <dir>', 'directory for persistent state', defaultConfig.dataDir)
    .option('--log-level <level>', `log level: ${logLevels.join(', ')}`, defaultConfig.logLevel)
    .option(
      '--config <file>',
      'YAML configuration file (docs/configuration.md); flags and FENNEC_* variables override it',
    )
    .action(async (opts: BrokerFlags, command: Command) => {
      if (!isLogLevel(opts.logLevel)) {
        throw new CliError('ERR_BAD_FLAG', `--log-level must be one of ${logLevels.join(', ')}`, ExitCode.Usage);
      }
      // Commander fills in its defaults; only flags typed on the command line may override the file.
      const given = (name: string): boolean => command.getOptionValueSource(name) === 'cli';
      const flags: FennecConfig = {};
      if (given('host')) flags.host = opts.host;
      if (given('port')) flags.port = opts.port;
      if (given('dataDir')) flags.dataDir = opts.dataDir;
      if (given('logLevel')) flags.logLevel = opts.logLevel;
      let config: ResolvedConfig;
      try {
        config = mergeConfig(opts.config === undefined ? {} : await loadConfigFile(opts.config), flags);
      } catch (err) {
        if (err instanceof ConfigError) throw configCliError(err);
        throw err;
      }
      const logger = pino({ level: config.logLevel }, pino.destination(2));
      const broker = new Broker({ ...toBrokerOptions(config), logger });
      let address: Awaited<ReturnType<Broker['listen']>>;
      try {
        address = await broker.listen();
      } catch (err) {
        if (err instanceof TlsFileError) {
          // A certificate, key or CA file named by the configuration: a configuration error.
          const where = opts.config === undefined ? '' : `${opts.config}: tls.${snakeCase(err.option)}: `;
          throw new CliError(err.code, `${where}${err.message}`, ExitCode.Config, { cause: err });
        }
        // TLS settings no listener can use (a cipher list OpenSSL refuses) are configuration errors too.
        if (err instanceof FennecError && err.code === 'ERR_TLS_OPTIONS') {
          const where = opts.config === undefined ? '' : `${opts.config}: tls: `;
          throw new CliError(err.code, `${where}${err.message}`, ExitCode.Config, { cause: err });
        }
        if (err instanceof FennecError) throw new CliError(err.code, err.message, ExitCode.Unavailable, { cause: err });
        throw err;
      }
      const reloadTls = (): void => {
        broker.reloadTls().then(
          () => undefined, // the broker logs the new fingerprint
          (err: unknown) => {
            const error = err instanceof FennecError ? err : undefined;
            logger.error(
              { code: error?.code, err: error?.message ?? String(err) },
              'TLS reload failed; new connections keep the previous certificate',
            );
          },
        );
      };
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          logger.info({ signal }, 'stopping');
          process.off('SIGHUP', reloadTls);
          broker.close().then(resolve, resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
        // SIGHUP re-reads the certificate, key and CA files (a renewed certificate); open connections stay.
        if (address.tls !== undefined) process.on('SIGHUP', reloadTls);
        // Announce readiness only once a signal would stop the broker gracefully rather than kill it.
        process.stdout.write(`fennec listening mqtt://${hostForUrl(address.host)}:${address.port}\n`);
        if (address.tls !== undefined) {
          process.stdout.write(`fennec listening mqtts://${hostForUrl(address.tls.host)}:${address.tls.port}\n`);
        }
      });
    });
}
