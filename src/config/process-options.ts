/**
 * The options of the `fennec broker` process itself, read by the command alone: where its logs go
 * and in what format, and its pid file. Part of the option table (src/config/options.ts); the values
 * of `log_dest` are Mosquitto's.
 */
import { z } from 'zod';
import { field, integerIn, nonEmptyString, oneOf, type OptionSpec } from './fields.js';

/** Values of `log_format`: `auto` is `pretty` on a terminal and `json` elsewhere. */
export const logFormats = ['auto', 'pretty', 'json'] as const;
/** How log lines are written. */
export type LogFormat = (typeof logFormats)[number];

/** `stderr`, `stdout`, `syslog` (optionally with the socket to write to) or `file` and a path. */
const logDestPattern = /^(stderr|stdout|syslog( \S.*)?|file \S.*)$/;

export const processOptionSpecs = {
  logFormat: {
    target: 'command',
    section: '',
    key: 'log_format',
    env: 'FENNEC_LOG_FORMAT',
    field: oneOf(logFormats),
    unit: '',
    default: 'auto',
    doc: '`pretty`: one human-readable line per entry (pino-pretty); `json`: one JSON object per line; `auto`: `pretty` when the log goes to a terminal, `json` otherwise ([logging.md](logging.md)). `fennec broker --log-format`',
  },
  logDest: {
    target: 'command',
    section: '',
    key: 'log_dest',
    env: 'FENNEC_LOG_DEST',
    field: field(
      z.string({ error: 'must be stderr, stdout, syslog or file PATH' }).regex(logDestPattern, {
        error: 'must be stderr, stdout, syslog or file PATH',
      }),
      '`stderr`, `stdout`, `file PATH`, `syslog` or `syslog SOCKET`',
    ),
    unit: '',
    default: 'stderr',
    doc: "where log lines go, in Mosquitto's words: `stderr`, `stdout`, `file PATH` (appended to, created when missing, reopened on SIGHUP for logrotate; `fennec broker --log-file PATH`), or `syslog` (facility daemon, through the `logger` program of util-linux, to `/dev/log` or the unix socket named after it) ([logging.md](logging.md))",
  },
  workers: {
    target: 'command',
    section: '',
    key: 'workers',
    env: 'FENNEC_WORKERS',
    field: integerIn(1, 64, 'worker processes'),
    unit: 'processes',
    default: 1,
    doc: 'broker processes sharing the MQTT TCP port, each with its own event loop and store file, a client id always on the same one; 1 runs the broker in this process as always ([workers.md](workers.md)). `fennec broker --workers N`',
  },
  pidFile: {
    target: 'command',
    section: '',
    key: 'pid_file',
    field: nonEmptyString('a file path'),
    unit: 'file path',
    doc: 'file `fennec broker` writes its process id to once it listens, and removes when it stops; as Mosquitto does, with or without `-d` (`fennec broker --pid-file`). Unset: none',
  },
} as const satisfies Record<string, OptionSpec>;
