/**
 * `fennec broker --workers N` with N over 1 (docs/workers.md): this process becomes the primary
 * (src/workers/primary.ts), or, started by one, a worker. Loaded only when N is over 1 or the
 * process is a worker, so that the one-process broker loads nothing of it.
 */
import type { Logger } from 'pino';
import { shortFormListeners, type NamedListenerAddress } from '../broker/listeners.js';
import { fileKey, processOptionSpecs, type ListenerOptions, type ResolvedConfig } from '../config/index.js';
import { FennecError } from '../errors/index.js';
import { hostForUrl, listenerUrl } from '../transport/listener.js';
import { claimDataDir } from '../workers/layout.js';
import { Primary, WorkerStartError } from '../workers/primary.js';
import type { Bus } from '../broker/bus.js';
import { workerIdentity, WorkerProcess, workerStoreFile, type WorkerIdentity } from '../workers/worker.js';
import { reportReady, writePidFile } from './daemon.js';
import { CliError, ExitCode } from './errors.js';

/** The key of `workers`, as the messages name it. */
const WORKERS_KEY = fileKey(processOptionSpecs.workers);

/**
 * The listeners of the primary: plain TCP only, as a socket handed to a worker must be read from
 * its first byte there. Anything else is a configuration error naming the key (exit 78).
 */
function plainListeners(
  config: ResolvedConfig,
  listeners: readonly ListenerOptions[] | undefined,
  wsPort: number | undefined,
  configFile: string | undefined,
): { name: string; host: string; port: number }[] {
  const file = configFile === undefined ? '' : `${configFile}: `;
  const refuse = (key: string, why: string): CliError =>
    new CliError(
      'ERR_WORKERS_OPTIONS',
      `${file}${key}: ${why} with ${WORKERS_KEY}: ${config.workers} (docs/workers.md)`,
      ExitCode.Config,
    );
  if (config.cluster !== undefined) throw refuse('cluster', 'a cluster node cannot run');
  if (wsPort !== undefined) throw refuse('--ws-port', 'WebSocket listeners are not served');
  if (config.listeners === undefined && config.tls !== undefined) throw refuse('tls', 'TLS listeners are not served');
  const all = listeners ?? shortFormListeners(config);
  return all.map((listener, index) => {
    const at = config.listeners === undefined ? '' : `listeners[${index}].`;
    if (listener.protocol !== 'mqtt') throw refuse(`${at}protocol`, `${listener.protocol} listeners are not served`);
    if (listener.trustProxy === true) throw refuse(`${at}trust_proxy`, 'the PROXY protocol is not read');
    return {
      name: listener.name ?? (at === '' ? 'mqtt' : `mqtt-${index}`),
      host: listener.host ?? config.host,
      port: listener.port,
    };
  });
}

/**
 * Runs the primary: forks the workers, listens, prints the `fennec listening` lines once all are
 * ready, and resolves with the exit code once they have all stopped.
 */
export async function runPrimary(
  config: ResolvedConfig,
  listeners: readonly ListenerOptions[] | undefined,
  wsPort: number | undefined,
  configFile: string | undefined,
  logger: Logger,
  /** Warns of listeners off loopback that refuse anonymous clients by the default (as one process does). */
  warnAnonymous: (addresses: NamedListenerAddress[]) => void,
): Promise<number> {
  const tcp = plainListeners(config, listeners, wsPort, configFile);
  if (config.persistence === 'sqlite') {
    try {
      claimDataDir(config.dataDir, config.workers);
    } catch (err) {
      if (err instanceof FennecError) throw new CliError(err.code, err.message, ExitCode.Config, { cause: err });
      throw err;
    }
  }
  const primary = new Primary({
    count: config.workers,
    listeners: tcp,
    connectTimeoutMs: config.limits.connectTimeoutMs,
    maximumPacketSize: config.limits.maximumPacketSize,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    log: logger,
    module: process.argv[1]!,
    args: process.argv.slice(2),
  });
  const stop = (): void => void primary.stop();
  const hangUp = (): void => primary.signal('SIGHUP');
  process.on('SIGINT', stop).on('SIGTERM', stop);
  try {
    await primary.start();
  } catch (err) {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    // The worker printed why it ended; the command ends with its exit code.
    if (err instanceof WorkerStartError) return err.exitCode;
    if (err instanceof FennecError) throw new CliError(err.code, err.message, ExitCode.Unavailable, { cause: err });
    throw err;
  }
  // Each worker re-reads its TLS, password and ACL files itself.
  process.on('SIGHUP', hangUp);
  if (config.pidFile !== undefined) writePidFile(config.pidFile);
  warnAnonymous(primary.addresses);
  logger.info({ workers: config.workers }, 'workers ready');
  const ready = primary.addresses.map((address) => `fennec listening ${listenerUrl(address)}`);
  if (primary.http !== undefined)
    ready.push(`fennec listening http://${hostForUrl(primary.http.host)}:${primary.http.port}`);
  for (const line of ready) process.stdout.write(`${line}\n`);
  reportReady(ready);
  const { code } = await primary.ended;
  process.off('SIGINT', stop).off('SIGTERM', stop).off('SIGHUP', hangUp);
  return code;
}

/** This worker's process glue, bus and store file (the primary started this process with its mark). */
export function workerOf(config: ResolvedConfig): {
  process: WorkerProcess;
  bus: Bus;
  storeFile: string;
  identity: WorkerIdentity;
} {
  const identity = workerIdentity();
  if (identity === undefined) throw new FennecError('ERR_INTERNAL', 'a worker was started without its mark');
  const process = new WorkerProcess(identity, config.limits.maxTopicLevels, {
    keepAliveMs: config.limits.tcpKeepAliveMs,
  });
  return { process, bus: process.bus, storeFile: workerStoreFile(identity.index), identity };
}
