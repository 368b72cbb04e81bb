/**
 * `fennec broker`: starts the broker, prints `fennec listening URL` for each listener
 * (`mqtt://HOST:PORT`, `mqtts://`, `ws://HOST:PORT/mqtt`, `wss://`, and `http://` for the HTTP
 * listener) when ready, and stops gracefully on SIGINT or SIGTERM with exit code 0 within
 * `shutdown_timeout_ms` (shutdown.ts). SIGHUP re-reads the TLS files, the password files and the
 * ACL files.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Logger } from 'pino';
import { isLoopbackAddress } from '../broker/addresses.js';
import { Broker } from '../broker/broker.js';
import { shortFormListeners, type NamedListenerAddress } from '../broker/listeners.js';
import { SqliteWorkerStore } from '../store/sqlite-thread.js';
import type { Store } from '../store/types.js';
import type { AllowAnonymous } from '../broker/options.js';
import { hostForUrl, listenerUrl } from '../transport/listener.js';
import {
  ConfigError,
  defaultConfig,
  fileKey,
  loadConfigFile,
  logFormats,
  logLevels,
  mergeConfig,
  listenerName,
  tlsOptionSpecs,
  clusterOptionSpecs,
  processOptionSpecs,
  toBrokerOptions,
  type ListenerOptions,
  type Durability,
  type FennecConfig,
  type LogFormat,
  type LogLevel,
  type ResolvedConfig,
  type ResolvedHttpConfig,
  type ClusterConfig,
} from '../config/index.js';
import type { Bus } from '../broker/bus.js';
import { FennecError } from '../errors/index.js';
import { TlsFileError } from '../transport/tls.js';
import { loadBrokerAuth } from './broker-auth.js';
import { configCliError } from './check-config.js';
import { AdminServer } from '../http/server.js';
import { untilStopped } from './shutdown.js';
import { daemonize, isDaemonChild, reportReady, writePidFile } from './daemon.js';
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
  httpPort?: number;
  dataDir: string;
  logLevel: string;
  memory?: boolean;
  config?: string;
  wsPort?: number;
  verbose?: boolean;
  daemon?: boolean;
  pidFile?: string;
  logFormat?: LogFormat;
  logFile?: string;
  clusterRedis?: string;
  workers?: number;
}

/** Parses `--workers`: an integer from 1 to 64, as the file's `workers`. */
function parseWorkers(value: string): number {
  const count = Number(value);
  const result = processOptionSpecs.workers.field.schema.safeParse(/^\d+$/.test(value) ? count : value);
  if (!result.success) throw new InvalidArgumentError(result.error.issues[0]?.message ?? 'must be an integer');
  return count;
}

/** Whether this process is a worker of `fennec broker --workers N` (src/workers/, docs/workers.md). */
const isWorker = (): boolean => process.env.FENNEC_WORKER !== undefined && typeof process.send === 'function';

/** Parses `--cluster-redis`: a Redis URL, checked as the file's `cluster.redis` is. */
function parseRedisUrl(value: string): string {
  const result = clusterOptionSpecs.redis.field.schema.safeParse(value);
  if (!result.success) throw new InvalidArgumentError(result.error.issues[0]?.message ?? 'must be a Redis URL');
  return value;
}

/**
 * Opens the SQLite store in `dataDir`; a store that cannot be opened or trusted (corrupt, locked by
 * another broker, written by a newer Fennec) ends the command with one line naming the file (exit 74).
 */
async function openStore(
  dataDir: string,
  durability: Durability,
  fileName: string | undefined,
): Promise<SqliteWorkerStore> {
  try {
    // On a worker thread: the event loop keeps serving clients while a batch commits.
    return await SqliteWorkerStore.open(dataDir, { durability, fileName });
  } catch (err) {
    if (err instanceof FennecError) throw new CliError(err.code, err.message, ExitCode.Store, { cause: err });
    throw err;
  }
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

/**
 * The listeners `fennec broker` asks for: the file's (or the short form's), and with `--ws-port` a
 * WebSocket listener named `ws` on the broker's host; undefined leaves the broker the short form.
 */
function listenersOf(config: ResolvedConfig, wsPort: number | undefined): ListenerOptions[] | undefined {
  if (wsPort === undefined) return config.listeners;
  const listeners = config.listeners ?? shortFormListeners(config);
  return [...listeners, { name: 'ws', protocol: 'ws', host: config.host, port: wsPort }];
}

/**
 * The CliError of a listener that cannot start: a certificate, key or CA file, or TLS settings no
 * listener can use, are configuration errors (exit 78) naming the key; a port in use exit 69.
 */
function listenError(err: unknown, config: ResolvedConfig, configFile: string | undefined): unknown {
  if (err instanceof FennecError && /^ERR_STORE_/.test(err.code)) {
    return new CliError(err.code, err.message, ExitCode.Store, { cause: err });
  }
  const file = configFile === undefined ? '' : `${configFile}: `;
  if (err instanceof TlsFileError) {
    const spec = tlsOptionSpecs[err.option];
    const index = (config.listeners ?? []).findIndex((listener) => listener[err.option] === err.file);
    const key = index >= 0 ? `listeners[${index}].${spec.key}` : fileKey(spec);
    return new CliError(
      err.code,
      `${configFile === undefined ? '' : `${file}${key}: `}${err.message}`,
      ExitCode.Config,
      {
        cause: err,
      },
    );
  }
  if (err instanceof FennecError && err.code === 'ERR_TLS_OPTIONS') {
    const where = configFile === undefined ? '' : `${file}${config.listeners === undefined ? 'tls' : 'listeners'}: `;
    return new CliError(err.code, `${where}${err.message}`, ExitCode.Config, { cause: err });
  }
  // Options the cluster's Redis cannot honour (cluster.wait_aof before Redis 7.2) are configuration errors.
  if (err instanceof FennecError && err.code === 'ERR_CLUSTER_REDIS_VERSION') {
    return new CliError(err.code, `${file}${err.message}`, ExitCode.Config, { cause: err });
  }
  if (err instanceof FennecError) return new CliError(err.code, err.message, ExitCode.Unavailable, { cause: err });
  return err;
}

/** Warns, on stderr and in the log, of each listener off loopback that refuses anonymous clients by the default. */
function warnAnonymous(addresses: NamedListenerAddress[], config: ResolvedConfig, logger: Logger): void {
  const ownSetting = new Map(
    (config.listeners ?? []).map((listener, index) => [
      listenerName(listener.name, listener.protocol, index),
      listener.allowAnonymous,
    ]),
  );
  const warned = new Set<string>();
  for (const address of addresses) {
    const notice = anonymousNotice(ownSetting.get(address.name) ?? config.allowAnonymous, address.host);
    if (notice === undefined || warned.has(notice)) continue;
    warned.add(notice);
    logger.warn({ host: address.host, listener: address.name }, notice);
    process.stderr.write(`fennec: ${notice}\n`);
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
  store: Store | undefined,
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

/**
 * The bus of a cluster node, loaded only when the configuration has `cluster:`, so that a broker
 * alone never loads Redis code. Prints the node id, which a default makes up.
 */
async function clusterNode(
  cluster: ClusterConfig & { redis: string },
  maxTopicLevels: number | undefined,
): Promise<{ bus: Bus; store: Store | undefined }> {
  const { RedisBus, defaultNodeId } = await import('../cluster/redis-bus.js');
  const nodeId = cluster.nodeId ?? defaultNodeId();
  const { RedisStore } = await import('../cluster/redis-store.js');
  let store: Awaited<ReturnType<typeof RedisStore.open>> | undefined;
  if ((cluster.sessions ?? 'redis') === 'redis') {
    // Sessions live in Redis; the bus keeps the retained messages there already, so the store does not.
    try {
      store = await RedisStore.open({ redis: cluster.redis, nodeId, retained: false });
    } catch (err) {
      if (err instanceof FennecError) {
        const exit = err.code === 'ERR_CLUSTER_REDIS_URL' ? ExitCode.Config : ExitCode.Unavailable;
        throw new CliError(err.code, err.message, exit, { cause: err });
      }
      throw err;
    }
  }
  const bus = new RedisBus({
    redis: cluster.redis,
    nodeId,
    ...(cluster.leaseMs === undefined ? {} : { leaseMs: cluster.leaseMs }),
    ...(maxTopicLevels === undefined ? {} : { maxTopicLevels }),
    ...(store === undefined ? {} : { store }),
    ...(cluster.handoverTimeoutMs === undefined ? {} : { handoverTimeoutMs: cluster.handoverTimeoutMs }),
    unavailableAckMs: cluster.unavailableAckMs,
    pingIntervalMs: cluster.pingIntervalMs,
    pingTimeoutMs: cluster.pingTimeoutMs,
    statsIntervalMs: cluster.statsIntervalMs,
    wait: {
      replicas: cluster.waitReplicas ?? 0,
      timeoutMs: cluster.waitTimeoutMs ?? 1000,
      aof: cluster.waitAof ?? false,
    },
  });
  process.stdout.write(`fennec cluster node ${bus.nodeId}\n`);
  return { bus, store };
}

/** One broker process on a data directory written by several workers would miss their sessions: exit 78. */
async function refuseWorkerStores(config: ResolvedConfig): Promise<void> {
  if (config.persistence !== 'sqlite' || !existsSync(join(config.dataDir, 'fennec-workers'))) return;
  const { claimDataDir } = await import('../workers/layout.js');
  try {
    claimDataDir(config.dataDir, 1);
  } catch (err) {
    if (err instanceof FennecError) throw new CliError(err.code, err.message, ExitCode.Config, { cause: err });
    throw err;
  }
}

export function brokerCommand(): Command {
  return new Command('broker')
    .description('start the MQTT broker')
    .version(fennecVersion, '-V, --version', 'print the version and exit')
    .option('--host <address>', 'address to listen on', defaultConfig.host)
    .option('-p, --port <port>', 'TCP port to listen on (0 picks a free one)', parsePort, defaultConfig.port)
    .option(
      '--ws-port <port>',
      'also listen for MQTT over WebSocket on this port, path /mqtt (0 picks a free one)',
      parsePort,
    )
    .option(
      '--http-port <port>',
      'serve metrics, health and the admin API over HTTP on this port (http.port)',
      parsePort,
    )
    .option(
      '--cluster-redis <url>',
      'be a node of the cluster whose Redis is at this URL (cluster.redis; docs/cluster.md)',
      parseRedisUrl,
    )
    .option(
      '--workers <n>',
      'broker processes sharing the MQTT TCP port, a client id always on the same one (workers; docs/workers.md)',
      parseWorkers,
    )
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
      if (opts.daemon === true && !isDaemonChild() && !isWorker()) return daemonize();
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
      if (opts.verbose === true) flags.logLevel = 'info';
      if (opts.logFormat !== undefined) flags.logFormat = opts.logFormat;
      if (opts.logFile !== undefined) flags.logDest = `file ${opts.logFile}`;
      if (opts.pidFile !== undefined) flags.pidFile = opts.pidFile;
      if (opts.clusterRedis !== undefined) flags.cluster = { redis: opts.clusterRedis };
      if (opts.workers !== undefined) flags.workers = opts.workers;
      let config: ResolvedConfig;
      try {
        const fileConfig = opts.config === undefined ? {} : await loadConfigFile(opts.config);
        if (fileConfig.listeners !== undefined && given('port')) {
          throw new CliError(
            'ERR_BAD_FLAG',
            `--port sets the short form's one listener, but ${opts.config} lists its listeners (listeners:); set the port there`,
            ExitCode.Usage,
          );
        }
        config = mergeConfig(fileConfig, flags);
      } catch (err) {
        if (err instanceof ConfigError) throw configCliError(err);
        throw err;
      }
      const log = await openLog({ level: config.logLevel, format: config.logFormat, dest: config.logDest });
      const logger = log.logger;
      const listeners = listenersOf(config, opts.wsPort);
      if (config.workers > 1 && !isWorker()) {
        // The primary of several broker processes: it listens and hands connections over (src/workers/).
        const { runPrimary } = await import('./workers.js');
        process.exitCode = await runPrimary(config, listeners, opts.wsPort, opts.config, logger, (addresses) =>
          warnAnonymous(addresses, config, logger),
        );
        await log.close();
        return;
      }
      const worker = isWorker() ? (await import('./workers.js')).workerOf(config) : undefined;
      // Links to the other workers first: what they send before this broker has opened waits, in order.
      await worker?.process.listen();
      if (worker === undefined) await refuseWorkerStores(config);
      // Separate hooks, chained after `allow_anonymous` (which the Broker registers first): the
      // password files decide who logs in, the ACLs what they may do; a listener's own replace the top level's.
      const auth = await loadBrokerAuth(config, logger);
      process.on('SIGHUP', auth.reload);
      const options = toBrokerOptions(config);
      // The short form's TLS listener is in the list once --ws-port has made one.
      if (listeners !== undefined && config.listeners === undefined) delete options.tls;
      const node = config.cluster === undefined ? undefined : await clusterNode(config.cluster, options.maxTopicLevels);
      const bus = node?.bus ?? worker?.bus;
      // Sessions, queued QoS 1/2 messages and retained messages survive a crash in the SQLite store,
      // or, on a cluster node with `sessions: redis` (the default), in Redis.
      const store: Store | undefined =
        node?.store ??
        (config.persistence === 'sqlite'
          ? await openStore(config.dataDir, config.durability, worker?.storeFile)
          : undefined);
      const broker = new Broker({
        ...options,
        ...(listeners === undefined ? {} : { listeners }),
        hooks: auth.hooks,
        logger,
        ...(store === undefined ? {} : { store }),
        ...(bus === undefined ? {} : { bus }),
      });
      try {
        // A worker takes its sockets from the primary (src/workers/worker.ts).
        if (worker === undefined) await broker.listen();
        else await broker.serve();
      } catch (err) {
        process.off('SIGHUP', auth.reload);
        // A cluster node has joined its cluster before its listeners start: leave it, or its Redis
        // connections and store retries would keep the process from exiting.
        if (bus !== undefined) await broker.close().catch(() => undefined);
        await store?.close().catch(() => undefined);
        throw listenError(err, config, opts.config);
      }
      // Removed at exit, however the process ends; a worker's primary writes it.
      if (config.pidFile !== undefined && worker === undefined) writePidFile(config.pidFile);
      const addresses = broker.addresses;
      warnAnonymous(addresses, config, logger);
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
      const secure = addresses.some((address) => address.transport === 'tls' || address.transport === 'wss');
      // With workers, the first serves HTTP (its own metrics and API; docs/workers.md).
      const http = worker === undefined || worker.identity.index === 0 ? config.http : undefined;
      const admin = http === undefined ? undefined : await startAdmin(broker, http, logger, store);
      const stopped = untilStopped(
        async () => {
          process.off('SIGHUP', auth.reload);
          process.off('SIGHUP', reloadTls);
          // /ready answers 503 from here on; metrics and the API stay up until the broker has closed.
          await broker.close();
          await admin?.close();
          await store?.close();
        },
        config.shutdownTimeoutMs,
        logger,
        worker === undefined,
      );
      // SIGHUP re-reads the certificate, key and CA files (a renewed certificate); open connections stay.
      if (secure) process.on('SIGHUP', reloadTls);
      // Announce readiness only once a signal would stop the broker gracefully rather than kill it.
      if (worker !== undefined) {
        worker.process.serve(broker);
        worker.process.ready(admin?.address);
        await stopped;
        await log.close();
        worker.process.end();
        return;
      }
      const ready = addresses.map((address) => `fennec listening ${listenerUrl(address)}`);
      if (admin?.address !== undefined) {
        ready.push(`fennec listening http://${hostForUrl(admin.address.host)}:${admin.address.port}`);
      }
      for (const line of ready) process.stdout.write(`${line}\n`);
      reportReady(ready);
      await stopped;
      await log.close();
    });
}
