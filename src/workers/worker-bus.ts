/**
 * The Bus between the workers of `fennec broker --workers N` (docs/workers.md). Each worker is a
 * whole broker; the bus tells the others which filters it has (the cluster's RouteTable, one
 * "node" per worker) and sends each message only to the workers with a matching route, one per
 * shared group. Entries are batched per turn of the event loop into one frame per target, sent on
 * the direct link to it (links.ts). A QoS 1/2 acknowledgement waits (`afterAccepted`) until every target
 * has delivered the batch and its store has committed what it queued: acknowledged means durable.
 * Retained changes go to every worker, which keeps them in its own store too.
 */
import type { Bus, BusCounters, BusHost, ClusterStats } from '../broker/bus.js';
import type { Message } from '../session/message.js';
import { encodeMessage } from '../cluster/codec.js';
import { RouteTable } from '../cluster/routes.js';
import { decodeFrame, EntryKind, messageEntry, retainEntry, textEntry, type Entry } from './frame.js';
import { asBuffer, type AckMessage, type BatchMessage } from './messages.js';

/** No shared group to serve: most messages, one set for all. */
const NO_GROUPS: ReadonlySet<string> = new Set();

/** How a worker reaches the others (WorkerLinks). */
export interface WorkerChannel {
  send(message: BatchMessage | AckMessage): void;
}

/** An acknowledgement waiting for batches: `need[i]` is the batch of worker i to be acknowledged. */
interface Waiter {
  need: number[];
  fn: () => void;
}

/** The node id of worker `index` (from 0) in the route table: `w1`, `w2`... */
export function workerNodeId(index: number): string {
  return `w${index + 1}`;
}

export class WorkerBus implements Bus {
  readonly nodeId: string;
  readonly counters: BusCounters = {
    forwarded: 0,
    received: 0,
    duplicates: 0,
    batches: 0,
    retries: 0,
    nodesDeclaredDead: 0,
    deadNodeWills: 0,
  };
  readonly routes: RouteTable;
  private host: BusHost | undefined;
  private closed = false;
  /** Batches that came before `start`, handled once it has run. */
  private early: BatchMessage[] = [];
  /** The parts of the batch being gathered for each worker; empty: none. */
  private readonly pending: Buffer[][];
  /** The last sequence number given to a batch for each worker, and the last it acknowledged. */
  private readonly sent: number[];
  private readonly acked: number[];
  private readonly waiters: Waiter[] = [];
  private scheduled = false;
  private readonly flush = (): void => this.send();
  /** Each worker's connected clients as it last said (this one's own is asked when needed). */
  private readonly clients: number[];
  private reported = -1;
  private reporter: NodeJS.Timeout | undefined;

  constructor(
    private readonly index: number,
    private readonly count: number,
    private readonly channel: WorkerChannel,
    maxTopicLevels = 128,
  ) {
    this.nodeId = workerNodeId(index);
    this.routes = new RouteTable(this.nodeId, maxTopicLevels);
    this.pending = Array.from({ length: count }, () => []);
    this.sent = new Array<number>(count).fill(0);
    this.acked = new Array<number>(count).fill(0);
    this.clients = new Array<number>(count).fill(0);
  }

  /** How often a worker tells the others its client count, in ms. */
  static readonly reportIntervalMs = 1000;

  get idle(): boolean {
    for (let i = 0; i < this.count; i++) if (this.sent[i] !== this.acked[i]) return false;
    return true;
  }

  start(host: BusHost): Promise<void> {
    this.host = host;
    // The subscriptions restored from this worker's store, for the others; each answers with its own.
    this.toOthers(textEntry(EntryKind.Hello, this.routes.localFilters().join('\u0000')));
    const early = this.early;
    this.early = [];
    for (const batch of early) this.receive(batch);
    // Every worker's client count, for $SYS/broker/cluster/nodes/wK/clients and the metrics.
    this.reporter = setInterval(() => this.report(), WorkerBus.reportIntervalMs);
    this.reporter.unref();
    return Promise.resolve();
  }

  forward(message: Message): ReadonlySet<string> | undefined {
    const { nodes, serve, local } = this.routes.plan(message.topic);
    if (nodes.length === 0) return local;
    const encoded = encodeMessage(message);
    for (const node of nodes) this.push(this.indexOf(node), messageEntry(encoded, serve?.get(node)));
    this.counters.forwarded += nodes.length;
    return local;
  }

  afterAccepted(fn: () => void): void {
    if (this.idle) {
      fn();
      return;
    }
    this.waiters.push({ need: [...this.sent], fn });
  }

  afterRoutes(fn: () => void): void {
    // Routes go in the batches: once those are acknowledged, every other worker has applied them.
    this.afterAccepted(fn);
  }

  routeAdded(filter: string): void {
    // Before start the filter goes out in the Hello.
    if (this.routes.addLocal(filter) && this.host !== undefined) {
      this.toOthers(textEntry(EntryKind.RouteAdded, filter));
    }
  }

  routeRemoved(filter: string): void {
    if (this.routes.removeLocal(filter) && this.host !== undefined) {
      this.toOthers(textEntry(EntryKind.RouteRemoved, filter));
    }
  }

  retained(topic: string, message: Message | undefined): void {
    this.toOthers(retainEntry(topic, message));
  }

  carries(message: Message): boolean {
    return message.retain || this.routes.reaches(message.topic);
  }

  /** A batch or an acknowledgement from another worker. */
  receive(message: BatchMessage | AckMessage): void {
    if (this.closed) return;
    if (message.t === 'ack') {
      this.acknowledged(message.peer, message.seq);
      return;
    }
    const host = this.host;
    if (host === undefined) {
      this.early.push(message);
      return;
    }
    let entries: Entry[];
    try {
      entries = decodeFrame(asBuffer(message.frame));
    } catch (err) {
      // Only another worker of this same program writes frames: a bad one is a bug, never skipped quietly.
      host.log.error({ worker: message.peer + 1, err: String(err) }, 'worker batch unreadable');
      throw err;
    }
    for (const entry of entries) this.apply(host, message.peer, entry);
    // Acknowledged once this worker's store has what the batch queued here.
    const reply: AckMessage = { t: 'ack', peer: message.peer, seq: message.seq };
    host.committed().then(
      () => this.closed || this.channel.send(reply),
      () => undefined, // a store that fails stops this worker, and with it the whole broker
    );
  }

  /** The workers as `$SYS/broker/cluster/...` and the `fennec_cluster_*` metrics show them. */
  stats(): ClusterStats {
    const own = this.host?.clientCount?.() ?? 0;
    return {
      nodeId: this.nodeId,
      link: this.closed ? 'closed' : 'up',
      linkDownMs: 0,
      roundTripMs: undefined,
      nodes: Array.from({ length: this.count }, (_, i) => ({
        nodeId: workerNodeId(i),
        state: 'up' as const,
        clients: i === this.index ? own : this.clients[i]!,
        routes: i === this.index ? this.routes.localFilters().length : this.routes.filterCount(workerNodeId(i)),
        reportedAt: undefined,
      })),
      counters: {
        ...this.counters,
        bytesForwarded: 0,
        bytesReceived: 0,
        droppedQoS0: 0,
        refusedUnavailable: 0,
        linkDown: 0,
        linkUp: 0,
        pings: 0,
        waitsShort: 0,
      },
    };
  }

  close(): Promise<void> {
    clearInterval(this.reporter);
    this.send();
    this.closed = true;
    return Promise.resolve();
  }

  private apply(host: BusHost, peer: number, entry: Entry): void {
    const node = workerNodeId(peer);
    switch (entry.kind) {
      case EntryKind.Message:
        this.counters.received++;
        host.deliverFromBus(entry.message, entry.groups.length === 0 ? NO_GROUPS : new Set(entry.groups));
        return;
      case EntryKind.Retain:
        host.retainFromBus(entry.topic, entry.message, true);
        return;
      case EntryKind.Unretain:
        host.retainFromBus(entry.topic, undefined, true);
        return;
      case EntryKind.RouteAdded:
      case EntryKind.RouteRemoved:
        this.routes.apply(node, entry.filter, entry.kind === EntryKind.RouteAdded);
        return;
      case EntryKind.Hello:
        this.push(peer, textEntry(EntryKind.HelloReply, this.routes.localFilters().join('\u0000')));
        this.routes.replaceNode(node, entry.filters);
        return;
      case EntryKind.HelloReply:
        this.routes.replaceNode(node, entry.filters);
        return;
      case EntryKind.Clients:
        this.clients[peer] = entry.count;
        return;
    }
  }

  private acknowledged(peer: number, seq: number): void {
    if (seq > this.acked[peer]!) this.acked[peer] = seq;
    // Waiters are in the order of their needs, which only grow: release from the front.
    while (this.waiters.length > 0) {
      const { need, fn } = this.waiters[0]!;
      for (let i = 0; i < this.count; i++) if (need[i]! > this.acked[i]!) return;
      this.waiters.shift();
      fn();
    }
  }

  /** Tells the others this worker's client count when it changed. */
  private report(): void {
    const count = this.host?.clientCount?.() ?? 0;
    if (count === this.reported) return;
    this.reported = count;
    this.toOthers(textEntry(EntryKind.Clients, String(count)));
  }

  private indexOf(node: string): number {
    return Number(node.slice(1)) - 1;
  }

  private toOthers(parts: Buffer[]): void {
    for (let i = 0; i < this.count; i++) if (i !== this.index) this.push(i, parts);
  }

  /** Adds `parts` to the batch of worker `target`; a new batch takes the next sequence number. */
  private push(target: number, parts: Buffer[]): void {
    const batch = this.pending[target]!;
    if (batch.length === 0) this.sent[target]!++;
    for (const part of parts) batch.push(part);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Sends every gathered batch, one frame per target. */
  private send(): void {
    this.scheduled = false;
    if (this.closed) return;
    for (let target = 0; target < this.count; target++) {
      const parts = this.pending[target]!;
      if (parts.length === 0) continue;
      this.pending[target] = [];
      this.counters.batches++;
      this.channel.send({ t: 'batch', peer: target, seq: this.sent[target]!, frame: Buffer.concat(parts) });
    }
  }
}
