/**
 * `fennec broker`: starts the broker, prints `listening mqtt://HOST:PORT` (and `listening
 * mqtts://HOST:PORT` with TLS) when ready, and stops gracefully on SIGINT or SIGTERM with exit
 * code 0. SIGHUP re-reads the TLS files, the password file and the ACL file.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Acl, AclFileError, aclHooks } from '../auth/acl.js';
import { PasswordFile, PasswordFileError } from '../auth/password-file.js';
import { isLoopbackAddress } from '../broker/addresses.js';
import { Broker } from '../broker/broker.js';
import { SqliteStore } from '../store/sqlite.js';
import type { BrokerHooks } from '../broker/hooks.js';
import type { AllowAnonymous } from '../broker/options.js';
import {
  ConfigError,
  defaultConfig,
  fileKey,
  loadConfigFile,
  logFormats,
  logLevels,
  mergeConfig,
  tlsOptionSpecs,
  toBrokerOptions,
  type Durability,
  type FennecConfig,
  type LogFormat,
  type LogLevel,
  type ResolvedConfig,
} from '../config/index.js';
import { FennecError } from '../errors/index.js';
import { TlsFileError } from '../transport/tls.js';
import { configCliError } from './check-config.js';
import { daemonize, isDaemonChild, removePidFile, reportReady, writePidFile } from './daemon.js';
import { CliError, ExitCode } from './errors.js';
import { openLog } from './logging.js';
import { fennecVersion } from './version.js';

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
  memory?: boolean;
  config?: string;
  verbose?: boolean;
  daemon?: boolean;
  pidFile?: string;
  logFormat?: LogFormat;
  logFile?: string;
}

/**
 * Opens the SQLite store in `dataDir`; a store that cannot be opened or trusted (corrupt, locked by
 * another broker, written by a newer Fennec) ends the command with one line naming the file (exit 74).
 */
async function openStore(dataDir: string, durability: Durability): Promise<SqliteStore> {
  try {
    return await SqliteStore.open(dataDir, { durability });
  } catch (err) {
    if (err instanceof FennecError) throw new CliError(err.code, err.message, ExitCode.Store, { cause: err });
    throw err;
  }
}

/** A host as it goes in a URL: an IPv6 address in brackets. */
function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function isLogLevel(value: string): value is LogLevel {
  return (logLevels as readonly string[]).includes(value);
}

/**
 * The line `fennec broker` prints at start when it listens on `host` (an IP address) and, by the
 * default `allow_anonymous: loopback`, refuses clients without a user name there; undefined otherwise.
 */
export function anonymousNotice(allowAnonymous: AllowAnonymous, host: string): string | undefined {
  if (allowAnonymous !== 'loopback' || isLoopbackAddress(host)) return undefined;
  const shown = host.includes(':') ? `[${host}]` : host;
  return `clients without a user name are refused on ${shown} except over loopback; set allow_anonymous: true in the configuration file to allow them`;
}

/** Loads the configured password file; a bad one ends the command like a bad configuration (exit 78). */
async function loadPasswords(file: string): Promise<PasswordFile> {
  try {
    return await PasswordFile.load(file);
  } catch (err) {
    if (err instanceof PasswordFileError) throw new CliError(err.code, err.message, ExitCode.Config, { cause: err });
    throw err;
  }
}

export function brokerCommand(): Command {
  return new Command('broker')
    .description('start the MQTT broker')
    .version(fennecVersion, '-V, --version', 'print the version and exit')
    .option('--host <address>', 'address to listen on', defaultConfig.host)
    .option('-p, --port <port>', 'TCP port to listen on (0 picks a free one)', parsePort, defaultConfig.port)
    .option('--data-dir <dir>', 'directory of the SQLite store (fennec.db)', defaultConfig.dataDir)
    .option('--memory', 'keep sessions and messages in memory only (persistence: none)')
    .option('--log-level <level>', `log level: ${logLevels.join(', ')}`, defaultConfig.logLevel)
    .addOption(
      new Option('-v, --verbose', 'log each client connect and disconnect (log level info), as mosquitto -v').conflicts(
        'logLevel',
      ),
    )
    .addOption(
      new Option('--log-format <format>', 'log line format (default: pretty on a terminal, else json)').choices(
        logFormats,
      ),
    )
    .option('--log-file <path>', 'write the log to this file, reopened on SIGHUP (log_dest: file PATH)')
    .option('-d, --daemon', 'run in the background; the command exits once the broker listens')
    .option('--pid-file <path>', 'write the process id to this file while the broker runs (pid_file)')
    .option(
      '-c, --config <file>',
      'YAML configuration file (docs/configuration.md); flags and FENNEC_* variables override it',
    )
    .action(async (opts: BrokerFlags, command: Command) => {
      // The command starts itself again in the background and exits once that one listens.
      if (opts.daemon === true && !isDaemonChild()) return daemonize();
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
      if (opts.memory === true) flags.persistence = 'none';
      if (opts.verbose === true) flags.logLevel = 'info';
      if (opts.logFormat !== undefined) flags.logFormat = opts.logFormat;
      if (opts.logFile !== undefined) flags.logDest = `file ${opts.logFile}`;
      if (opts.pidFile !== undefined) flags.pidFile = opts.pidFile;
      let config: ResolvedConfig;
      try {
        config = mergeConfig(opts.config === undefined ? {} : await loadConfigFile(opts.config), flags);
      } catch (err) {
        if (err instanceof ConfigError) throw configCliError(err);
        throw err;
      }
      const log = await openLog({ level: config.logLevel, format: config.logFormat, dest: config.logDest });
      const logger = log.logger;
      const aclFile = config.aclFile;
      let acl: Acl | undefined;
      if (aclFile !== undefined) {
        try {
          acl = await Acl.load(aclFile);
        } catch (err) {
          if (err instanceof AclFileError) throw new CliError(err.code, err.message, ExitCode.Config, { cause: err });
          throw err;
        }
      }
      // Once loaded, the rules are replaced, never removed: the hooks read them on every check.
      const reloadAcl = (): void => {
        if (aclFile === undefined) return;
        // A file that no longer parses is logged and the rules in force stay, as Mosquitto does.
        Acl.load(aclFile).then(
          (next) => {
            acl = next;
            logger.info({ aclFile }, 'ACL file reloaded');
          },
          (err: unknown) => {
            logger.error({ aclFile, err: err instanceof Error ? err.message : String(err) }, 'ACL file not reloaded');
          },
        );
      };
      process.on('SIGHUP', reloadAcl);
      const passwords = config.passwordFile === undefined ? undefined : await loadPasswords(config.passwordFile);
      // Separate hooks, chained in this order after `allow_anonymous` (which the Broker registers
      // first): the password file decides who logs in, the ACL what they may do.
      const hooks: BrokerHooks[] = [];
      if (passwords !== undefined) hooks.push(passwords.hooks);
      if (acl !== undefined) hooks.push(aclHooks(() => acl!));
      // Sessions, queued QoS 1/2 messages and retained messages survive a crash in the SQLite store.
      const store = config.persistence === 'sqlite' ? await openStore(config.dataDir, config.durability) : undefined;
      const broker = new Broker({
        ...toBrokerOptions(config),
        hooks,
        logger,
        ...(store === undefined ? {} : { store }),
      });
      let address: Awaited<ReturnType<Broker['listen']>>;
      try {
        address = await broker.listen();
      } catch (err) {
        await store?.close().catch(() => undefined);
        if (err instanceof FennecError && /^ERR_STORE_/.test(err.code)) {
          throw new CliError(err.code, err.message, ExitCode.Store, { cause: err });
        }
        if (err instanceof TlsFileError) {
          // A certificate, key or CA file named by the configuration: a configuration error.
          const where = opts.config === undefined ? '' : `${opts.config}: ${fileKey(tlsOptionSpecs[err.option])}: `;
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
      const pidFile = config.pidFile;
      if (pidFile !== undefined) writePidFile(pidFile);
      const notice = anonymousNotice(config.allowAnonymous, address.host);
      if (notice !== undefined) {
        logger.warn({ host: address.host }, notice);
        process.stderr.write(`fennec: ${notice}\n`);
      }
      // SIGHUP reads the password file again; a bad file is logged and the users already loaded stay.
      const reload = (): void => {
        if (passwords === undefined) return;
        passwords.reload().then(
          (users) => logger.info({ file: passwords.path, users }, 'password file reloaded'),
          (err: unknown) =>
            logger.error(
              { file: passwords.path, err: err instanceof Error ? err.message : String(err) },
              'password file not reloaded; keeping the users loaded before',
            ),
        );
      };
      process.on('SIGHUP', reload);
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
          process.off('SIGHUP', reload);
          logger.info({ signal }, 'stopping');
          process.off('SIGHUP', reloadAcl);
          process.off('SIGHUP', reloadTls);
          broker
            .close()
            .then(() => store?.close())
            .then(resolve, (err: unknown) => {
              logger.error({ err: err instanceof Error ? err.message : String(err) }, 'error while stopping');
              resolve();
            });
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
        // SIGHUP re-reads the certificate, key and CA files (a renewed certificate); open connections stay.
        if (address.tls !== undefined) process.on('SIGHUP', reloadTls);
        // Announce readiness only once a signal would stop the broker gracefully rather than kill it.
        const ready = [`fennec listening mqtt://${hostForUrl(address.host)}:${address.port}`];
        if (address.tls !== undefined) {
          ready.push(`fennec listening mqtts://${hostForUrl(address.tls.host)}:${address.tls.port}`);
        }
        for (const line of ready) process.stdout.write(`${line}\n`);
        reportReady(ready);
      });
      if (pidFile !== undefined) removePidFile(pidFile);
      await log.close();
    });
}
