/**
 * `fennec broker -d`: the command starts itself again in the background (detached, its standard
 * streams on /dev/null) and exits 0 once that process says it listens, printing its `fennec
 * listening` lines; or exits with that process's error when it could not start. And the pid file
 * (`pid_file`, `--pid-file`), written once the broker listens and removed when it stops.
 */
import { spawn } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import type { FennecErrorCode } from '../errors/index.js';
import { CliError, ExitCode } from './errors.js';

/** Set in the environment of the background process, so that it does not start itself again. */
const CHILD_MARK = 'FENNEC_DAEMON_CHILD';

/** What the background process tells the command that started it, once. */
type DaemonReport =
  { kind: 'ready'; lines: string[] } | { kind: 'error'; code: FennecErrorCode; message: string; exitCode: number };

/** Whether this process is the background broker of `fennec broker -d`. */
export function isDaemonChild(): boolean {
  return process.env[CHILD_MARK] === '1' && typeof process.send === 'function';
}

/**
 * Starts this same command in the background and resolves once it listens, having printed its
 * `fennec listening` lines; rejects with its error (same code and exit code) when it fails first.
 */
export async function daemonize(): Promise<void> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    env: { ...process.env, [CHILD_MARK]: '1' },
  });
  const report = await new Promise<DaemonReport | { kind: 'exit'; why: string }>((resolve) => {
    child.once('message', (message) => resolve(message as DaemonReport));
    child.once('error', (err) => resolve({ kind: 'exit', why: `could not start: ${err.message}` }));
    child.once('exit', (code, signal) =>
      resolve({ kind: 'exit', why: signal === null ? `exited with code ${code}` : `was killed by ${signal}` }),
    );
  });
  if (report.kind === 'ready') {
    for (const line of report.lines) process.stdout.write(`${line}\n`);
    if (child.connected) child.disconnect();
    child.unref();
    return;
  }
  if (report.kind === 'error') throw new CliError(report.code, report.message, report.exitCode);
  throw new CliError('ERR_DAEMON', `the background broker ${report.why} before it listened`, ExitCode.Software);
}

/** In the background broker: tells the command that started it that it listens, and lets it go. */
export function reportReady(lines: string[]): void {
  if (!isDaemonChild()) return;
  process.send!({ kind: 'ready', lines } satisfies DaemonReport, () => process.disconnect());
}

/**
 * In the background broker: hands the command that started it the error that ends this process, so
 * that it prints it; returns false (print it yourself) when this is not the background broker.
 */
export function reportError(err: CliError): boolean {
  if (!isDaemonChild() || !process.connected) return false;
  const report: DaemonReport = { kind: 'error', code: err.code, message: err.message, exitCode: err.exitCode };
  process.send!(report, () => process.disconnect());
  return true;
}

/**
 * Writes this process's id to `path`, removed when the process exits however it does (a graceful
 * stop, or `process.exit` after a second signal or a stop that took too long); one `fennec:` line
 * and exit 73 when it cannot be written.
 */
export function writePidFile(path: string): void {
  try {
    writeFileSync(path, `${process.pid}\n`);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new CliError('ERR_PID_FILE', `pid_file: cannot write ${path}: ${reason}`, ExitCode.CannotCreate);
  }
  process.once('exit', () => removePidFile(path));
}

/** Removes the pid file at `path` if it still holds this process's id (another broker may have taken it). */
export function removePidFile(path: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
  } catch {
    // Already gone: nothing to remove.
  }
}
