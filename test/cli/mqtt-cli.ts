// What the tests of `fennec pub` and `fennec sub` share: the command run as a child process with
// its standard input given (or held open), its output collected, and killed at a time limit.
import { spawn, type ChildProcess } from 'node:child_process';
import assert from 'node:assert/strict';
import type { Broker } from '../../src/broker/broker.js';
import { cliEnvironment, fennecBin } from '../helpers/cli.js';
import { waitForBrokerEvent, withTimeout, WAIT_MS } from '../interop/support.js';

/** Longest a `fennec pub` or `fennec sub` may run before it is killed, in ms. */
export const PROCESS_TIMEOUT_MS = 15_000;

/** How a child process ended; `stdout` as bytes too, for payloads that are not text. */
export interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

/** A running command. */
export interface Running {
  child: ChildProcess;
  /** Resolves once it has exited; it is killed with SIGKILL after `timeoutMs`. */
  exited: Promise<Ended>;
  /** What stdout printed so far. */
  stdout(): string;
  stderr(): string;
}

const running = new Set<ChildProcess>();

/** As the input of `run`: standard input stays open. */
export const KEEP_OPEN = Symbol('keep stdin open');

/**
 * Runs `program args`. `input`: written to stdin, which is then closed; KEEP_OPEN: stdin stays open
 * (for `pub -l` that must stay connected); absent: stdin is empty.
 */
export function run(
  program: string,
  args: readonly string[],
  input?: string | Buffer | typeof KEEP_OPEN,
  timeoutMs = PROCESS_TIMEOUT_MS,
): Running {
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'], env: cliEnvironment });
  running.add(child);
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  // A child that exits before reading its input closes the pipe: not the test's concern
  child.stdin.on('error', () => undefined);
  if (input !== KEEP_OPEN) child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const exited = new Promise<Ended>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      const bytes = Buffer.concat(out);
      resolve({ code, signal, stdout: bytes.toString('utf8'), stdoutBytes: bytes, stderr });
    });
  });
  return { child, exited, stdout: () => Buffer.concat(out).toString('utf8'), stderr: () => stderr };
}

/** Runs `fennec ...args`. */
export function fennec(
  args: readonly string[],
  input?: string | Buffer | typeof KEEP_OPEN,
  timeoutMs?: number,
): Running {
  return run(process.execPath, [fennecBin, ...args], input, timeoutMs);
}

/** Runs a command to its end and asserts exit code 0. */
export async function succeeds(r: Running, what: string): Promise<Ended> {
  const ended = await r.exited;
  assert.equal(ended.code, 0, `${what} exited with ${String(ended.code)} (${String(ended.signal)}): ${ended.stderr}`);
  return ended;
}

/** Starts a subscriber (`program` is fennec or mosquitto_sub) with client id `id`; resolves once the broker has its subscription. */
export async function subscriber(broker: Broker, id: string, start: () => Running): Promise<Running> {
  const subscribed = waitForBrokerEvent(broker, 'subscribed', (client) => client.clientId === id);
  const sub = start();
  await subscribed.catch(async (err: unknown) => {
    sub.child.kill('SIGKILL');
    const ended = await sub.exited;
    throw new Error(
      `${id} did not subscribe: ${(err as Error).message}; exit ${String(ended.code)}, stderr ${ended.stderr}`,
    );
  });
  return sub;
}

/** Resolves once the broker has a connection of `id`. */
export function connected(broker: Broker, id: string): Promise<unknown> {
  return waitForBrokerEvent(broker, 'clientConnected', (client) => client.clientId === id);
}

/** Kills every child still running and waits for them. */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** Asserts a usage failure: exit code 2 and exactly one stderr line starting with `fennec: `. */
export function assertOneLineError(ended: Ended, code: number, pattern: RegExp): void {
  assert.equal(ended.code, code, `exit code; stderr: ${ended.stderr}`);
  const lines = ended.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one line on stderr: ${JSON.stringify(ended.stderr)}`);
  assert.match(lines[0]!, /^fennec: /);
  assert.match(lines[0]!, pattern);
  assert.equal(ended.stdout, '', 'nothing on stdout');
}

export { withTimeout, WAIT_MS };
