/**
 * The primary process of `fennec broker --workers N` (docs/workers.md): it forks N workers (each a
 * whole broker running this same command), listens on the MQTT TCP ports itself, hands each
 * connection to the worker of its client id (handoff.ts, hash.ts); the workers talk to each other
 * on their own links (links.ts), in a directory the primary makes for them. If a worker dies the primary stops the others and exits
 * non-zero, so that a restart recovers everything from the stores; SIGINT or SIGTERM stops every
 * worker gracefully and exits 0.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { FennecError } from '../errors/index.js';
import { startServer, stopServer, type ListenerAddress } from '../transport/listener.js';
import { readOpening, type Opening } from './handoff.js';
import { workerFor } from './hash.js';
import { LINKS_ENV, WORKER_ENV, type FromWorker, type SocketMessage, type ToWorker } from './messages.js';

/** A plain TCP listener of the primary. */
export interface PrimaryListener {
  name: string;
  host: string;
  port: number;
}

export interface PrimaryOptions {
  count: number;
  listeners: readonly PrimaryListener[];
  connectTimeoutMs: number;
  maximumPacketSize: number;
  /** How long the workers have to stop gracefully before they are killed, in ms. */
  shutdownTimeoutMs: number;
  log: Logger;
  /** The module and arguments each worker runs: this same command. */
  module: string;
  args: readonly string[];
}

/** How the broker ended: the exit code of the command. */
export type PrimaryEnd = { code: number };

interface Running {
  name: string;
  server: Server;
  address: ListenerAddress;
}

export class Primary {
  private readonly workers: ChildProcess[] = [];
  private readonly exited: Promise<void>[] = [];
  private running: Running[] = [];
  private turn = 0;
  private stopping = false;
  private resolveEnd: ((end: PrimaryEnd) => void) | undefined;
  /** Resolves once every worker has ended, with the command's exit code. */
  readonly ended: Promise<PrimaryEnd> = new Promise((resolve) => (this.resolveEnd = resolve));
  /** Worker 1's HTTP listener, once it is ready. */
  http: { host: string; port: number } | undefined;
  /** The directory of the workers' link sockets: mkdtemp makes it readable by this user only (0700). */
  private readonly links = mkdtempSync(join(tmpdir(), 'fennec-links-'));

  constructor(private readonly options: PrimaryOptions) {
    // However the primary ends before its workers are ready.
    process.once('exit', () => rmSync(this.links, { recursive: true, force: true }));
  }

  /**
   * Forks the workers and waits until each is ready; rejects with the exit code of a worker that
   * ends first (it has printed why), after stopping the others.
   */
  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let index = 0; index < this.options.count; index++) ready.push(this.forkWorker(index));
    try {
      await Promise.all(ready);
    } catch (err) {
      await this.stopWorkers();
      throw err;
    }
    // Every link is connected once all are ready (each worker's routes went over its links and were
    // acknowledged), and a lost link is never dialled again: the sockets' directory can go now, so
    // that not even a SIGKILL of the whole broker leaves it behind.
    rmSync(this.links, { recursive: true, force: true });
    try {
      for (const listener of this.options.listeners) this.running.push(await this.listen(listener));
    } catch (err) {
      await Promise.all(this.running.map((running) => stopServer(running.server)));
      this.running = [];
      await this.stopWorkers();
      throw err;
    }
  }

  /** The address and name of every listener. */
  get addresses(): (ListenerAddress & { name: string })[] {
    return this.running.map(({ name, address }) => ({ name, ...address }));
  }

  /** Stops listening, then stops every worker gracefully; `ended` resolves with 0 when all stopped cleanly. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await Promise.all(this.running.map((running) => stopServer(running.server)));
    this.running = [];
    const clean = await this.stopWorkers();
    this.resolveEnd?.({ code: clean ? 0 : 70 });
  }

  /** Sends `signal` to every running worker (SIGHUP: each re-reads its files). */
  signal(signal: NodeJS.Signals): void {
    for (const child of this.workers) if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }

  private forkWorker(index: number): Promise<void> {
    const { count, log } = this.options;
    const child = fork(this.options.module, [...this.options.args], {
      // The daemon mark is the primary's: a worker reports nothing to the command that started it.
      env: { ...process.env, [WORKER_ENV]: `${index}/${count}`, [LINKS_ENV]: this.links, FENNEC_DAEMON_CHILD: '' },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.workers[index] = child;
    this.exited[index] = new Promise((resolve) => child.once('exit', () => resolve()));
    return new Promise((resolve, reject) => {
      let isReady = false;
      child.on('message', (message: FromWorker) => {
        if (message.t !== 'ready') return;
        isReady = true;
        if (index === 0) this.http = message.http;
        resolve();
      });
      child.once('exit', (code, signal) => {
        if (!isReady) {
          // It printed why (a store it cannot open, a port...): the command ends with its exit code.
          reject(new WorkerStartError(code ?? 70));
          return;
        }
        if (this.stopping) return;
        const how = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
        log.error(
          { worker: index + 1, code, signal },
          'a worker ended; stopping the others so that a restart recovers from the stores',
        );
        process.stderr.write(
          `fennec: worker ${index + 1} ${how}; stopping the others so that a restart recovers from the stores\n`,
        );
        this.stopping = true;
        void Promise.all(this.running.map((running) => stopServer(running.server)))
          .then(() => this.stopWorkers())
          .then(() => this.resolveEnd?.({ code: 70 }));
      });
    });
  }

  /** Asks every worker to stop, kills those still running after the shutdown timeout; true when none was killed. */
  private async stopWorkers(): Promise<boolean> {
    let clean = true;
    for (const child of this.workers) {
      if (child.exitCode === null && child.signalCode === null && child.connected)
        child.send({ t: 'stop' } satisfies ToWorker);
    }
    const timer = setTimeout(() => {
      for (const child of this.workers) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        clean = false;
        child.kill('SIGKILL');
      }
    }, this.options.shutdownTimeoutMs + 2000);
    await Promise.all(this.exited);
    clearTimeout(timer);
    return clean && this.workers.every((child) => child.exitCode === 0 || child.exitCode === null);
  }

  private async listen(listener: PrimaryListener): Promise<Running> {
    // Writes are batched per turn of the event loop, so Nagle's algorithm would only add delay; the
    // setting is the socket's and goes with it to the worker.
    const server = createServer({ noDelay: true }, (socket) => this.accept(listener.name, socket));
    const address = await startServer(server, 'tcp', listener.host, listener.port);
    return { name: listener.name, server, address };
  }

  private accept(listener: string, socket: Socket): void {
    const peer = {
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      localAddress: socket.localAddress,
    };
    readOpening(socket, this.options.connectTimeoutMs, this.options.maximumPacketSize, (opening) =>
      this.handOver(listener, peer, socket, opening),
    );
  }

  private handOver(
    listener: string,
    peer: Pick<SocketMessage, 'remoteAddress' | 'remotePort' | 'localAddress'>,
    socket: Socket,
    opening: Opening,
  ): void {
    const { count } = this.options;
    // A client id lives on one worker; one the server assigns (empty) or none goes round robin.
    const index =
      opening.clientId === undefined || opening.clientId === ''
        ? (this.turn = (this.turn + 1) % count)
        : workerFor(opening.clientId, count);
    const worker = this.workers[index];
    if (worker === undefined || !worker.connected || this.stopping) {
      socket.destroy();
      return;
    }
    const message: SocketMessage = { t: 'socket', listener, ...peer, head: opening.head };
    worker.send(message, socket, { keepOpen: false }, (err) => {
      if (err !== null && err !== undefined) socket.destroy();
    });
  }
}

/** A worker ended before it was ready; it printed why, `exitCode` is its exit code. */
export class WorkerStartError extends FennecError {
  constructor(readonly exitCode: number) {
    super('ERR_WORKER_EXITED', `a worker ended before it was ready (exit code ${exitCode})`);
  }
}
