/**
 * `fennec broker`: starts the broker, prints `listening mqtt://HOST:PORT` (and `listening
 * mqtts://HOST:PORT` with TLS, `listening http://HOST:PORT` with the HTTP listener) when ready, and
 * stops gracefully on SIGINT or SIGTERM with exit code 0 within `shutdown_timeout_ms` (shutdown.ts).
 * SIGHUP re-reads the TLS files, the password file and the ACL file.
 */
import { Command, InvalidArgumentError } from 'commander';
import { pino, type Logger } from 'pino';
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
  logLevels,
  mergeConfig,
  tlsOptionSpecs,
  toBrokerOptions,
  type Durability,
  type FennecConfig,
  type LogLevel,
  type ResolvedConfig,
  type ResolvedHttpConfig,
} from '../config/index.js';
import { FennecError } from '../errors/index.js';
import { TlsFileError } from '../transport/tls.js';
import { configCliError } from './check-config.js';
import { AdminServer } from '../http/server.js';
import { untilStopped } from './shutdown.js';
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
  httpPort?: number;
  dataDir: string;
  logLevel: string;
  memory?: boolean;
  config?: string;
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

/**
 * Starts the HTTP listener (metrics, health, admin API); one that cannot listen stops the broker and
 * ends the command (exit 69).
 */
async function startAdmin(
  broker: Broker,
  http: ResolvedHttpConfig,
  logger: Logger,
  store: SqliteStore | undefined,
): Promise<AdminServer> {
  const admin = new AdminServer(broker, { host: http.host, port: http.port, adminToken: http.adminToken, logger });
  try {
    await admin.listen();
  } catch (err) {
    await broker.close();
    await admin.close();
    await store?.close().catch(() => undefined);
    if (err instanceof FennecError) throw new CliError(err.code, err.message, ExitCode.Unavailable, { cause: err });
    throw err;
  }
  return admin;
}

export function brokerCommand(): Command {
  return new Command('broker')
    .description('start the MQTT broker')
    .option('--host <address>', 'address to listen on', defaultConfig.host)
    .option('--port <port>', 'TCP port to listen on (0 picks a free one)', parsePort, defaultConfig.port)
    .option(
      '--http-port <port>',
      'serve metrics, health and the admin API over HTTP on this port (http.port)',
      parsePort,
    )
    .option('--data-dir <dir>', 'directory of the SQLite store (fennec.db)', defaultConfig.dataDir)
    .option('--memory', 'keep sessions and messages in memory only (persistence: none)')
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
      if (opts.memory === true) flags.persistence = 'none';
      if (opts.httpPort !== undefined) flags.http = { port: opts.httpPort };
      let config: ResolvedConfig;
      try {
        config = mergeConfig(opts.config === undefined ? {} : await loadConfigFile(opts.config), flags);
      } catch (err) {
        if (err instanceof ConfigError) throw configCliError(err);
        throw err;
      }
      const logger = pino({ level: config.logLevel }, pino.destination(2));
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
      const admin = config.http === undefined ? undefined : await startAdmin(broker, config.http, logger, store);
      const stopped = untilStopped(
        async () => {
          process.off('SIGHUP', reload);
          process.off('SIGHUP', reloadAcl);
          process.off('SIGHUP', reloadTls);
          // /ready answers 503 from here on; metrics and the API stay up until the broker has closed.
          await broker.close();
          await admin?.close();
          await store?.close();
        },
        config.shutdownTimeoutMs,
        logger,
      );
      // SIGHUP re-reads the certificate, key and CA files (a renewed certificate); open connections stay.
      if (address.tls !== undefined) process.on('SIGHUP', reloadTls);
      // Announce readiness only once a signal would stop the broker gracefully rather than kill it.
      process.stdout.write(`fennec listening mqtt://${hostForUrl(address.host)}:${address.port}\n`);
      if (address.tls !== undefined) {
        process.stdout.write(`fennec listening mqtts://${hostForUrl(address.tls.host)}:${address.tls.port}\n`);
      }
      if (admin?.address !== undefined) {
        process.stdout.write(`fennec listening http://${hostForUrl(admin.address.host)}:${admin.address.port}\n`);
      }
      await stopped;
    });
}
