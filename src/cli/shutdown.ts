/**
 * How `fennec broker` stops: the first SIGTERM or SIGINT starts a graceful stop (the listeners close,
 * 5.0 clients get DISCONNECT 0x8B, the store is flushed and closed) that must end within
 * `shutdown_timeout_ms`, else the process exits with code 70; a second signal while stopping exits
 * at once with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), saying so on stderr.
 */
import type { Logger } from 'pino';
import { ExitCode } from './errors.js';

/** The signals that stop the broker, with the exit code a second one ends the process with. */
const SIGNALS = { SIGINT: 130, SIGTERM: 143 } as const;
type StopSignal = keyof typeof SIGNALS;

/**
 * Resolves once a stop signal has come and `stop` has finished. `stop` runs once; the timer and the
 * second-signal handlers are removed when it resolves, so that nothing keeps the process alive.
 */
export function untilStopped(
  stop: (signal: StopSignal) => Promise<void>,
  timeoutMs: number,
  log: Logger,
  /**
   * Whether a second signal ends the process at once. A worker of `--workers N` gets a stop both
   * from its terminal's process group and from its primary: it ignores the second (the primary
   * kills it if it does not stop in time).
   */
  secondSignalExits = true,
): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    let timer: NodeJS.Timeout | undefined;
    const onSignal = (signal: StopSignal): void => {
      if (stopping && !secondSignalExits) return;
      if (stopping) {
        log.warn({ signal }, 'second signal while stopping; exiting at once');
        process.stderr.write(`fennec: ${signal} while stopping; exiting at once without finishing the stop\n`);
        process.exit(SIGNALS[signal]);
      }
      stopping = true;
      log.info({ signal, timeoutMs }, 'stopping');
      timer = setTimeout(() => {
        log.error({ timeoutMs }, 'stopping took longer than shutdown_timeout_ms; exiting');
        process.stderr.write(`fennec: stopping took longer than shutdown_timeout_ms (${timeoutMs} ms); exiting\n`);
        process.exit(ExitCode.Software);
      }, timeoutMs);
      stop(signal).then(
        () => finish(),
        (err: unknown) => {
          log.error({ err: err instanceof Error ? err.message : String(err) }, 'error while stopping');
          finish();
        },
      );
    };
    const handlers = Object.fromEntries(
      (Object.keys(SIGNALS) as StopSignal[]).map((signal) => [signal, () => onSignal(signal)]),
    ) as Record<StopSignal, () => void>;
    const finish = (): void => {
      clearTimeout(timer);
      for (const [signal, handler] of Object.entries(handlers)) process.off(signal, handler);
      resolve();
    };
    for (const [signal, handler] of Object.entries(handlers)) process.on(signal, handler);
  });
}
