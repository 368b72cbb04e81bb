// Helpers of the interop and CLI tests: a broker on a free port, MQTT.js clients that are all
// released in `after`, an inbox that waits for messages with a timeout, and external programs
// (Mosquitto's clients, the fennec command) run as child processes that are killed on timeout.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import { Broker, type BrokerEvents } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';

/** Default time a test waits for one expected thing, in ms. */
export const WAIT_MS = 5000;

/** Rejects with `what` in the message when `promise` has not settled after `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the arguments of the first `event` of `broker` for which `accept` is true. */
export function waitForBrokerEvent<K extends keyof BrokerEvents>(
  broker: Broker,
  event: K,
  accept: (...args: BrokerEvents[K]) => boolean,
  timeoutMs = WAIT_MS,
): Promise<BrokerEvents[K]> {
  const emitter = broker as unknown as EventEmitter;
  let listener: ((...args: unknown[]) => void) | undefined;
  const seen = new Promise<BrokerEvents[K]>((resolve) => {
    listener = (...args: unknown[]) => {
      const typed = args as BrokerEvents[K];
      if (accept(...typed)) resolve(typed);
    };
    emitter.on(event, listener);
  });
  return withTimeout(seen, timeoutMs, `the broker event ${event}`).finally(() => {
    if (listener !== undefined) emitter.off(event, listener);
  });
}

/** A broker listening on 127.0.0.1 and a free port, and its URL. */
export async function startBroker(options: BrokerOptions = {}): Promise<{ broker: Broker; url: string }> {
  const broker = new Broker({ host: '127.0.0.1', ...options, port: 0 });
  const { port } = await broker.listen();
  return { broker, url: `mqtt://127.0.0.1:${port}` };
}

/** The port of an `mqtt://host:port` URL. */
export function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** A message as an MQTT.js client received it. */
export interface Received {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

/** Every message a client receives, from the moment it is created, and a way to wait for them. */
export class Inbox {
  readonly messages: Received[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload: payload.toString(), packet });
      for (let i = this.waiters.length - 1; i >= 0; i--) {
        const waiter = this.waiters[i]!;
        if (this.messages.length >= waiter.count) {
          this.waiters.splice(i, 1);
          waiter.resolve();
        }
      }
    });
  }

  /** Resolves with the first `count` messages once that many have arrived. */
  async waitFor(count: number, timeoutMs = WAIT_MS): Promise<Received[]> {
    if (this.messages.length < count) {
      const arrived = new Promise<void>((resolve) => this.waiters.push({ count, resolve }));
      try {
        await withTimeout(arrived, timeoutMs, `${count} messages (${this.messages.length} arrived)`);
      } catch (err) {
        throw new Error(`${(err as Error).message}; so far: ${this.summary()}`);
      }
    }
    return this.messages.slice(0, count);
  }

  private summary(): string {
    const shown = this.messages.slice(0, 5).map((m) => `${m.topic}=${m.payload}`);
    return `[${shown.join(', ')}${this.messages.length > 5 ? ', ...' : ''}]`;
  }
}

/** An MQTT.js client and its inbox. */
export interface TestClient {
  client: MqttClient;
  inbox: Inbox;
  /** The CONNACK that accepted it. */
  connack: IConnackPacket;
  /** Errors MQTT.js reported (an unhandled one would throw). */
  errors: Error[];
  /** Types of every packet received from the broker, in order ('connack', 'puback', ...). */
  received: string[];
}

/** MQTT.js clients of one test file; `closeAll` in `after` ends every one, so the process can exit. */
export class ClientPool {
  private readonly clients = new Set<MqttClient>();

  constructor(private readonly url: () => string) {}

  /**
   * Connects a client (no reconnection unless `options` asks for it) whose inbox records from
   * before CONNACK, so messages a resumed session sends at once are not missed.
   */
  async connect(options: IClientOptions = {}): Promise<TestClient> {
    const client = mqtt.connect(this.url(), { reconnectPeriod: 0, connectTimeout: WAIT_MS, ...options });
    this.clients.add(client);
    const inbox = new Inbox(client);
    const errors: Error[] = [];
    const received: string[] = [];
    client.on('packetreceive', (packet) => received.push(packet.cmd));
    // An 'error' event with no listener would throw; tests look at `errors` when they care.
    client.on('error', (err) => errors.push(err));
    const connack = await withTimeout(
      new Promise<IConnackPacket>((resolve, reject) => {
        const onConnect = (packet: IConnackPacket): void => {
          client.off('error', onError);
          client.off('close', onClose);
          resolve(packet);
        };
        const onError = (err: Error): void => {
          client.off('connect', onConnect);
          client.off('close', onClose);
          reject(err);
        };
        const onClose = (): void => {
          if (options.reconnectPeriod === undefined || options.reconnectPeriod === 0) {
            onError(new Error('the connection closed before CONNACK'));
          }
        };
        client.once('connect', onConnect);
        client.once('error', onError);
        client.on('close', onClose);
      }),
      WAIT_MS,
      `CONNACK for ${options.clientId ?? 'a client'}`,
    );
    return { client, inbox, connack, errors, received };
  }

  /** Ends a client at once, without DISCONNECT, and forgets it. */
  async end(client: MqttClient): Promise<void> {
    this.clients.delete(client);
    await client.endAsync(true);
  }

  /** Sends DISCONNECT, closes the connection, and forgets the client. */
  async disconnect(client: MqttClient): Promise<void> {
    this.clients.delete(client);
    await client.endAsync(false);
  }

  /** Ends every client still open. */
  async closeAll(): Promise<void> {
    const open = [...this.clients];
    this.clients.clear();
    await Promise.all(open.map((client) => client.endAsync(true)));
  }
}

/** This process's soft limit on open files, where Linux says (/proc/self/limits); else undefined. */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** The full path of `name` on PATH, or undefined when it is not installed. */
export function findProgram(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Programs already reported missing: one warning each per test file is loud enough. */
const warned = new Set<string>();

/**
 * Whether `program` is installed. When it is not, the test fails under CI (`CI=true`), so a CI
 * image that lacks it cannot pass silently; elsewhere the test is skipped, loudly. Both name the
 * Debian package to install.
 */
export function requireProgram(
  t: { skip(message?: string): void },
  program: string,
  debianPackage: string,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (findProgram(program, env.PATH) !== undefined) return true;
  const message = `${program} is not installed: install the Debian package ${debianPackage} (apt-get install ${debianPackage})`;
  if (env.CI === 'true') throw new Error(`${message}; CI must run the interop tests`);
  if (!warned.has(program)) console.warn(`\n!!! SKIPPED: ${message} !!!\n`);
  warned.add(program);
  t.skip(message);
  return false;
}

/** How a child process ended. */
export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Whether it was killed because it ran past its timeout. */
  timedOut: boolean;
}

/** A running child process whose output is collected. */
export interface RunningProcess {
  readonly child: ChildProcess;
  /** Complete lines printed on stdout so far. */
  readonly lines: string[];
  /** What stderr has printed so far. */
  stderr(): string;
  /** Resolves once the process has exited (it is killed with SIGKILL at its timeout). */
  readonly exited: Promise<ProcessResult>;
  /** Resolves with the first `count` stdout lines; rejects if the process exits or times out first. */
  waitForLines(count: number, timeoutMs?: number): Promise<string[]>;
}

const running = new Set<ChildProcess>();

/**
 * Runs `program` with `args`, collecting stdout and stderr. After `timeoutMs` it is killed with
 * SIGKILL and `timedOut` is set, so a hung client can never hang the test run.
 */
export function runProgram(
  program: string,
  args: readonly string[],
  timeoutMs = WAIT_MS,
  env: NodeJS.ProcessEnv = process.env,
): RunningProcess {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  running.add(child);
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  let closed = false;
  const lines: string[] = [];
  const lineWaiters = new Set<() => void>();
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const start = stdout.lastIndexOf('\n') + 1;
    stdout += chunk;
    const complete = stdout.slice(start, stdout.lastIndexOf('\n') + 1);
    if (complete.length > 0) lines.push(...complete.slice(0, -1).split('\n'));
    for (const wake of lineWaiters) wake();
  });
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const exited = new Promise<ProcessResult>((resolve) => {
    child.on('error', (err) => {
      stderr += String(err);
    });
    child.on('close', (code, signal) => {
      // 'close', unlike 'exit', comes after stdout has been read to its end.
      closed = true;
      clearTimeout(timer);
      running.delete(child);
      for (const wake of lineWaiters) wake();
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
  const describe = (): string => `${program} ${args.join(' ')}`;
  return {
    child,
    lines,
    exited,
    stderr: () => stderr,
    waitForLines(count, waitMs = timeoutMs) {
      let check: (() => void) | undefined;
      const arrived = new Promise<string[]>((resolve, reject) => {
        check = (): void => {
          if (lines.length >= count) resolve(lines.slice(0, count));
          else if (closed) {
            reject(new Error(`${describe()} ended after ${lines.length} of ${count} lines; stderr: ${stderr}`));
          }
        };
        lineWaiters.add(check);
        check();
      });
      return withTimeout(arrived, waitMs, `${count} lines from ${describe()}`)
        .catch((err: unknown) => {
          throw new Error(
            `${(err as Error).message} (got ${JSON.stringify(lines)}; stderr: ${JSON.stringify(stderr)})`,
          );
        })
        .finally(() => {
          if (check !== undefined) lineWaiters.delete(check);
        });
    },
  };
}

/** Kills every child process still running (for `after` hooks) and waits for them to end. */
export async function killAllPrograms(): Promise<void> {
  const children = [...running];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('close', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}
