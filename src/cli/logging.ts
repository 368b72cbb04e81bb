/**
 * The logger of `fennec broker`: pino at `log_level`, written to `log_dest` (stderr, stdout, a file
 * reopened on SIGHUP for logrotate, or syslog through the `logger` program) as JSON lines or, with
 * `log_format: pretty` (the default on a terminal), as one human-readable line each (pino-pretty).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { pino, type DestinationStream, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import type { LogFormat, LogLevel } from '../config/index.js';
import { CliError, ExitCode } from './errors.js';

/** Where log lines go: `log_dest` parsed. */
export type LogDestination =
  | { kind: 'stderr' }
  | { kind: 'stdout' }
  | { kind: 'file'; path: string }
  /** `socket`: the syslog socket `logger` writes to; undefined: the system's (/dev/log). */
  | { kind: 'syslog'; socket: string | undefined };

/** Parses a `log_dest` value the option table has already checked: `stderr`, `stdout`, `syslog [SOCKET]`, `file PATH`. */
export function parseLogDest(value: string): LogDestination {
  if (value === 'stderr' || value === 'stdout') return { kind: value };
  if (value.startsWith('file ')) return { kind: 'file', path: value.slice(5).trim() };
  const socket = value.slice('syslog'.length).trim();
  return { kind: 'syslog', socket: socket === '' ? undefined : socket };
}

/** What the log writes to: a SonicBoom (a file or descriptor) or the stdin of `logger`. */
interface LogSink {
  write(text: string): unknown;
  /** Reopens a file after logrotate renamed it. */
  reopen?: (() => void) | undefined;
  flushSync?: (() => void) | undefined;
}

/** The running log: its logger, and what the command does with it on SIGHUP and at exit. */
export interface BrokerLog {
  readonly logger: Logger;
  /** The format chosen (`auto` decided). */
  readonly format: 'pretty' | 'json';
  /** Stops reopening on SIGHUP, flushes, and lets a syslog `logger` process finish. */
  close(): Promise<void>;
}

/** Fields a connection line or a limit's warn line already says in its message; pretty lines leave them out. */
const statedInMessage = [
  'event',
  'clientId',
  'username',
  'remoteAddress',
  'protocolVersion',
  'keepAlive',
  'cleanStart',
  'sessionPresent',
  'listener',
  'reason',
  'reasonCode',
  'code',
  'message',
  'limit',
  'serverReference',
  'suppressed',
];

/** pino's numeric levels to syslog severities (RFC 5424): fatal crit, error err, warn warning, info, debug. */
function syslogSeverity(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/** Syslog facility `daemon` (3), as Mosquitto logs. */
const DAEMON_FACILITY = 3;

/**
 * A stream that turns each JSON line pino writes into `format` on `out`: pretty lines leave out the
 * fields their message states; syslog lines carry their priority, `<PRI>`, for `logger --prio-prefix`.
 */
function reformat(out: LogSink, pretty: ((line: object) => string) | undefined, syslog: boolean): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.length === 0) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        let text = line;
        if (pretty !== undefined) {
          if (entry['event'] !== undefined || entry['limit'] !== undefined) {
            for (const key of statedInMessage) delete entry[key];
          }
          text = pretty(entry).trimEnd();
        }
        const prefix = syslog ? `<${DAEMON_FACILITY * 8 + syslogSeverity(Number(entry['level']))}>` : '';
        out.write(`${prefix}${text}\n`);
      }
      done();
    },
  });
}

/** Starts `logger` (util-linux) to pass lines to syslog; a missing program is a configuration error (exit 78). */
async function startSyslogger(socket: string | undefined): Promise<ChildProcess> {
  const args = ['--prio-prefix', '-t', 'fennec', ...(socket === undefined ? [] : ['-u', socket])];
  // Its own complaints (no syslog socket) go to the broker's stderr.
  const child = spawn('logger', args, { stdio: ['pipe', 'ignore', 'inherit'] });
  try {
    await once(child, 'spawn');
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CliError(
      'ERR_LOG_DEST',
      `log_dest: syslog needs the logger program of util-linux: ${reason}`,
      ExitCode.Config,
    );
  }
  // A `logger` that died leaves a broken pipe: said once on stderr rather than crashing the broker.
  child.stdin.once('error', (err) => process.stderr.write(`fennec: syslog logger stopped: ${err.message}\n`));
  return child;
}

/** Opens `path` for appending (created with its directory when missing); one `fennec:` line when it cannot be. */
function openFile(path: string): LogSink {
  try {
    return pino.destination({ dest: path, append: true, mkdir: true, sync: true });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CliError('ERR_LOG_DEST', `log_dest: cannot open log file ${path}: ${reason}`, ExitCode.CannotCreate);
  }
}

/**
 * Opens the broker's log. A file destination is reopened on SIGHUP (after logrotate renamed it),
 * until `close()`.
 */
export async function openLog(options: { level: LogLevel; format: LogFormat; dest: string }): Promise<BrokerLog> {
  const dest = parseLogDest(options.dest);
  let out: LogSink;
  let syslogger: ChildProcess | undefined;
  let terminal = false;
  if (dest.kind === 'file') out = openFile(dest.path);
  else if (dest.kind === 'syslog') {
    syslogger = await startSyslogger(dest.socket);
    out = syslogger.stdin!;
  } else {
    const fd = dest.kind === 'stdout' ? 1 : 2;
    terminal = (fd === 1 ? process.stdout : process.stderr).isTTY === true;
    out = pino.destination({ dest: fd, sync: true });
  }
  const format = options.format === 'auto' ? (terminal ? 'pretty' : 'json') : options.format;
  const pretty =
    format === 'pretty'
      ? prettyFactory({
          colorize: terminal,
          singleLine: true,
          translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
          ignore: 'pid,hostname',
        })
      : undefined;
  const syslog = dest.kind === 'syslog';
  const stream: DestinationStream = pretty === undefined && !syslog ? out : reformat(out, pretty, syslog);
  const logger = pino({ level: options.level }, stream);
  const reopen = (): void => out.reopen?.();
  if (dest.kind === 'file') process.on('SIGHUP', reopen);
  return {
    logger,
    format,
    async close() {
      process.off('SIGHUP', reopen);
      out.flushSync?.();
      if (syslogger !== undefined) {
        const exited = once(syslogger, 'exit');
        syslogger.stdin?.end();
        await exited;
      }
    },
  };
}
