/**
 * `fennec broker`: starts the broker, prints `listening mqtt://HOST:PORT` when ready, and stops
 * gracefully on SIGINT or SIGTERM with exit code 0.
 */
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { Broker } from '../broker/broker.js';
import { FennecError } from '../errors/index.js';
import { CliError, ExitCode } from './errors.js';

/** Parses a TCP port flag: an integer from 0 to 65535. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535) throw new InvalidArgumentError('must be an integer from 0 to 65535');
  return port;
}

export function brokerCommand(): Command {
  return new Command('broker')
    .description('start the MQTT broker')
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'TCP port to listen on (0 picks a free one)', parsePort, 1883)
    .option('--data-dir <dir>', 'directory for persistent state', './data')
    .option('--log-level <level>', 'log level: fatal, error, warn, info, debug, trace, silent', 'info')
    .action(async (opts: { host: string; port: number; dataDir: string; logLevel: string }) => {
      const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
      if (!levels.includes(opts.logLevel)) {
        throw new CliError('ERR_BAD_FLAG', `--log-level must be one of ${levels.join(', ')}`, ExitCode.Usage);
      }
      const logger = pino({ level: opts.logLevel }, pino.destination(2));
      const broker = new Broker({ host: opts.host, port: opts.port, logger });
      let address: { host: string; port: number };
      try {
        address = await broker.listen();
      } catch (err) {
        if (err instanceof FennecError) throw new CliError(err.code, err.message, ExitCode.Unavailable, { cause: err });
        throw err;
      }
      const host = address.host.includes(':') ? `[${address.host}]` : address.host;
      process.stdout.write(`fennec listening mqtt://${host}:${address.port}\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          logger.info({ signal }, 'stopping');
          broker.close().then(resolve, resolve);
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
