/**
 * The worker side of `fennec broker --workers N`: a whole broker in a process the primary forked,
 * with no listener of its own. It takes the sockets the primary hands over (with the bytes the
 * primary already read, fed first), exchanges batches with the other workers through the primary
 * (WorkerBus), and stops gracefully when the primary says so or goes away.
 */
import type { Socket } from 'node:net';
import type { Broker } from '../broker/broker.js';
import { SQLITE_FILE_NAME } from '../store/sqlite.js';
import { WorkerBus } from './worker-bus.js';
import { WorkerLinks } from './links.js';
import { asBuffer, LINKS_ENV, WORKER_ENV, type FromWorker, type SocketMessage, type ToWorker } from './messages.js';

/** Which worker this process is: `index` from 0 of `count`, and the directory of the links' sockets. */
export interface WorkerIdentity {
  index: number;
  count: number;
  links: string;
}

/** This process's place among the workers; undefined when it is not a worker (no IPC channel or no mark). */
export function workerIdentity(): WorkerIdentity | undefined {
  const mark = process.env[WORKER_ENV];
  if (mark === undefined || typeof process.send !== 'function') return undefined;
  const match = /^(\d+)\/(\d+)$/.exec(mark);
  const links = process.env[LINKS_ENV];
  if (match === null || links === undefined) return undefined;
  return { index: Number(match[1]), count: Number(match[2]), links };
}

/** The store file of worker `index` (from 0): worker 1 keeps `fennec.db`, the others `fennec-wK.db`. */
export function workerStoreFile(index: number): string {
  return index === 0 ? SQLITE_FILE_NAME : `fennec-w${index + 1}.db`;
}

/** What a worker needs to serve sockets like the broker's own TCP listener would. */
export interface WorkerSocketOptions {
  /** TCP keep-alive idle time, in ms; 0: off. */
  keepAliveMs: number;
}

export class WorkerProcess {
  readonly bus: WorkerBus;
  private readonly links: WorkerLinks;
  private broker: Broker | undefined;
  /** Sockets that came before the broker was ready. */
  private waiting: [SocketMessage, Socket][] = [];
  private stopping = false;

  constructor(
    readonly identity: WorkerIdentity,
    maxTopicLevels: number | undefined,
    private readonly options: WorkerSocketOptions,
  ) {
    this.links = new WorkerLinks(
      identity.links,
      identity.index,
      identity.count,
      (message) => this.bus.receive(message),
      // A link lost means a worker died or stops: the primary sees that and stops them all.
      (err) => this.broker?.log.debug({ err: err.message }, 'link to another worker lost'),
    );
    this.bus = new WorkerBus(identity.index, identity.count, this.links, maxTopicLevels);
    process.on('message', (message: ToWorker, handle?: Socket) => this.receive(message, handle));
    process.on('disconnect', () => this.stop());
  }

  /** Takes the sockets the primary hands over, from now on, into `broker`. */
  serve(broker: Broker): void {
    this.broker = broker;
    const waiting = this.waiting;
    this.waiting = [];
    for (const [message, socket] of waiting) this.accept(message, socket);
  }

  /** Listens for the other workers' links (before the broker opens, so that their batches wait in order). */
  listen(): Promise<void> {
    return this.links.start();
  }

  /** Tells the primary this worker takes sockets; worker 1 names its HTTP listener. */
  ready(http: { host: string; port: number } | undefined): void {
    // Once every other worker has this one's routes (its Hello acknowledged): from the first client
    // on, a message published on any worker reaches the subscriptions restored here.
    this.bus.afterAccepted(() => this.send({ t: 'ready', http }));
  }

  /** The broker has stopped: lets the primary go, which lets this process end. */
  end(): void {
    this.links.close();
    if (process.connected) process.disconnect();
  }

  /** Starts the graceful stop (SIGTERM, which the worker's stop ignores when it already stops), once. */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    process.kill(process.pid, 'SIGTERM');
  }

  private send(message: FromWorker): void {
    // Once the primary is gone nothing reaches the others: this worker is stopping.
    if (process.connected) process.send!(message);
  }

  private receive(message: ToWorker, handle: Socket | undefined): void {
    switch (message.t) {
      case 'socket':
        if (handle === undefined) return;
        if (this.broker === undefined) this.waiting.push([message, handle]);
        else this.accept(message, handle);
        return;
      case 'stop':
        this.stop();
        return;
    }
  }

  private accept(message: SocketMessage, socket: Socket): void {
    const head = asBuffer(message.head);
    // Read before any byte that arrives now: the primary stopped reading right after these.
    if (head.length > 0) socket.unshift(head);
    socket.setNoDelay(true);
    if (this.options.keepAliveMs > 0) socket.setKeepAlive(true, this.options.keepAliveMs);
    this.broker!.handle(socket, {
      remoteAddress: message.remoteAddress,
      remotePort: message.remotePort,
      localAddress: message.localAddress,
      certificate: undefined,
      listener: message.listener,
      useIdentityAsUsername: false,
    });
  }
}
