/**
 * The Redis bus: a Fennec cluster whose nodes meet in one Redis server (docs/cluster.md).
 *
 * - Routes: each node keeps the set of its topic filters in Redis and announces each change on a
 *   pub/sub channel; every node caches the others' filters in a topic index (RouteTable) and sends a
 *   message only to the nodes with a matching filter.
 * - Transport: one Redis Stream per node. A publishing node XADDs the message to each target's
 *   stream, batched per turn of the event loop (Outbox), and acknowledges QoS 1/2 to its publisher
 *   only once Redis has answered. A node reads its own stream through a consumer group, delivers
 *   each message locally (never forwarding it again), and only then XACKs and deletes it; what it
 *   read but did not acknowledge before a crash it reads again on restart. Copies (a batch sent
 *   again after a Redis failure) are dropped by message id.
 * - Retained messages: a Redis hash, set and cleared with a pub/sub notice that every node applies
 *   to its own retained index; read whole when a node joins or its Redis connection returns.
 * - Liveness: each node holds a lease it renews (Lease); the others declare a node whose lease is
 *   gone dead, one of them removes its routes and publishes its clients' wills (Reaper, WillRunner),
 *   which each node records in Redis as its clients connect (ClusterWills).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { pino } from 'pino';
import { redactedRedisUrl } from '../config/redis-url.js';
import { FennecError } from '../errors/index.js';
import type { Bus, BusHost, ClusterStats } from '../broker/bus.js';
import type { Message } from '../session/message.js';
import { decodeMessage, encodeMessage } from './codec.js';
import {
  consumerGroup,
  deadKey,
  nodesKey,
  retainedChannel,
  retainedKey,
  routesChannel,
  routesKey,
  streamKey,
} from './keys.js';
import { Liveness } from './liveness.js';
import { BacklogGate } from './flow.js';
import { MAX_ENTRY_MESSAGES, Outbox, type Command, type WaitOptions } from './outbox.js';
import type { NodeDeadHandler } from './reaper.js';
import { ClusterWills } from './will-ledger.js';
import { createRedisClient, redisTarget, type RedisClient } from './connect.js';
import type { RedisLinkState } from './link.js';
import { checkServer, newCounters, Operations, type OperationsOptions } from './operations.js';
import { RetainedRestorer } from './retained-restore.js';
import { RouteTable } from './routes.js';
import { RouteSync, type RouteEvent } from './route-sync.js';
import { StreamReader } from './stream-reader.js';
import { HandoverForwarder } from './handover-forward.js';
import { forgetHandedOver, forgetLeft, leftSessions } from './left-sessions.js';
import { passOnGroups, type GroupPassLinks } from './group-pass.js';
import type { RedisStore } from './redis-store.js';
import { ClusterSessions, handoverChannel, type Adopted } from './sessions.js';

/** Options of a RedisBus. */
export interface RedisBusOptions extends OperationsOptions {
  /** The Redis URL: `redis://HOST:PORT`, `redis+sentinel://...` or `redis+cluster://...` (src/config/redis-url.ts). */
  redis: string;
  /** This node's id; default `defaultNodeId()`. */
  nodeId?: string | undefined;
  /** Deepest topic filter the route index holds, in levels (the broker's maxTopicLevels). Default 128. */
  maxTopicLevels?: number;
  /** How many recent message ids a node remembers to drop copies, in messages. Default 100000. */
  dedupeWindow?: number;
  /** Stream entries read at once, in entries (of up to MAX_ENTRY_MESSAGES messages). Default 32: 512 messages. */
  readBatch?: number;
  /** Pause before a failed Redis write or read is tried again, in ms. Default 200. */
  retryDelayMs?: number;
  /** QoS 0 messages are dropped (and counted) while this many commands wait for Redis, in commands. Default 100000. */
  maxPendingCommands?: number;
  /**
   * The broker's store when it is this node's RedisStore: sessions are then one across the cluster
   * (taken over from node to node, adopted from dead nodes). Absent: each node keeps its own.
   */
  store?: RedisStore | undefined;
  /** How long a node waits for the owner of a session to hand it over before taking it, in ms. Default 5000. */
  handoverTimeoutMs?: number;
  /** The lease's time-to-live (`cluster.lease_ms`), in ms. Default 3000. */
  leaseMs?: number;
  /**
   * Extension point: called on the one node that declared another node dead, once per death, before
   * the dead node's wills go out. Session adoption (`adoptSessions(deadNode)`) plugs in here.
   */
  onNodeDead?: NodeDeadHandler;
  /** QoS 1/2 acknowledgements wait while a target node that reads its stream has more entries waiting, in entries (flow.ts). Default 313: 5,000 messages in full entries. */
  maxStreamBacklog?: number;
  /** What a batch carrying QoS 1/2 messages waits for besides the master (WAIT / WAITAOF); default nothing. */
  wait?: WaitOptions | undefined;
}

/** `HOSTNAME-PID`, with anything but letters, digits, `.`, `_` and `-` replaced by `-`. */
export function defaultNodeId(): string {
  return `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
}

/** Sets or clears a retained message and announces it, atomically, so that notices keep the hash's order. */
const retainScript = `
if #ARGV[2] == 0 then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('PUBLISH', ARGV[4], ARGV[3])
return 1`;

export type { RedisLinkState };

export class RedisBus implements Bus {
  readonly nodeId: string;
  readonly counters = newCounters();
  /** The wills of this node's clients, recorded in Redis for the survivors should this node die. */
  readonly wills: ClusterWills;
  readonly routes: RouteTable;
  /** Cluster-wide sessions, when the broker's store is this node's RedisStore. */
  readonly sessions: ClusterSessions | undefined;
  /** The link monitor, node reports and limits of the operations side (src/cluster/operations.ts). */
  readonly operations: Operations;

  private readonly command: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly reader: RedisClient;
  private readonly outbox: Outbox;
  private readonly gate: BacklogGate;
  private readonly sync: RouteSync;
  /** Sessions handed over from here: their routes held, what comes for them forwarded. */
  private readonly forwarder: HandoverForwarder;
  private readonly push = (command: Command, durable: boolean): void => this.outbox.push(command, durable);
  private readonly passLinks: GroupPassLinks;
  /**
   * Entries of this node's stream that brought messages a claim under way holds, by client id: acknowledged
   * only once the claim delivered them and the store has them (a crash before leaves them to the next reader).
   */
  private readonly heldEntries = new Map<string, string[]>();
  /** Messages published here that claims under way hold, and when the store has all of them (`holdUntilStored`). */
  private holding = 0;
  private held: Promise<void> = Promise.resolve();
  private stream: StreamReader | undefined;
  private host: BusHost | undefined;
  /** Message ids are `node/epoch/sequence`: the epoch tells this run's ids from a previous run's. */
  private readonly epoch = Date.now().toString(36);
  private sequence = 0;
  /** This run's token: the lease's value and the prefix of its will records. */
  private readonly run = `${this.epoch}-${randomBytes(4).toString('hex')}`;
  private readonly liveness: Liveness;
  /** Topics whose retained message came from the cluster, to clear those gone on a re-read. */
  private readonly clusterRetained = new Set<string>();
  private readonly maxPendingCommands: number;
  private readonly restorer = new RetainedRestorer();
  private closed = false;

  constructor(private readonly options: RedisBusOptions) {
    this.nodeId = options.nodeId ?? defaultNodeId();
    this.routes = new RouteTable(this.nodeId, options.maxTopicLevels ?? 128);
    this.maxPendingCommands = options.maxPendingCommands ?? 100_000;
    const target = redisTarget(options.redis);
    this.command = createRedisClient(target);
    this.subscriber = createRedisClient(target);
    // A blocked read is not sent again after a reconnection: it fails, and the reader reads its
    // pending entries first (a reply lost with the connection leaves them pending).
    this.reader = createRedisClient(target, { resendUnanswered: false });
    for (const redis of [this.command, this.subscriber, this.reader]) redis.on('error', () => undefined);
    this.outbox = new Outbox(this.command, this.counters, silentLog, options.retryDelayMs ?? 200);
    this.outbox.setWait(options.wait);
    this.sync = new RouteSync(this.command, this.routes);
    this.sessions =
      options.store === undefined
        ? undefined
        : new ClusterSessions(options.store, this.command, options.handoverTimeoutMs ?? 5000);
    const sessions = this.sessions;
    this.forwarder = new HandoverForwarder(
      {
        hasSession: (clientId) => this.host?.subscriptionsOf?.(clientId) !== undefined,
        withdraw: (filter) => this.withdrawRoute(filter),
        caughtUp: () => this.caughtUp(),
        forgetRecord: (clientId, to) => this.outbox.push(forgetHandedOver(this.nodeId, clientId, to)),
      },
      (options.handoverTimeoutMs ?? 5000) + 1000,
      HANDOVER_SETTLE_MS,
    );
    this.passLinks = { routes: this.routes, push: this.push, log: () => this.host?.log };
    this.wills = new ClusterWills(this.outbox, this.command, this.nodeId, this.run, options.store !== undefined);
    this.liveness = new Liveness(this.command, this.outbox, this.wills, {
      nodeId: this.nodeId,
      run: this.run,
      leaseMs: options.leaseMs ?? 3000,
      // The node that declared a death adopts the dead node's sessions, when sessions are cluster-wide,
      // and removes the dead node's routes itself once the adopted sessions' are out.
      onNodeDead:
        options.onNodeDead ??
        (sessions === undefined ? undefined : async (node: string) => void (await sessions.adopt(node))),
      keepRoutes: options.onNodeDead === undefined && sessions !== undefined,
      counters: this.counters,
    });
    this.gate = new BacklogGate(
      this.command,
      streamKey,
      options.maxStreamBacklog ?? Math.ceil(5000 / MAX_ENTRY_MESSAGES),
      50,
      2000,
    );
    this.operations = new Operations(
      this.command,
      this.nodeId,
      this.counters,
      this.routes,
      options,
      () => this.clientCount(),
      (message) => this.carries(message),
    );
  }

  /** The state of the link to Redis. */
  get state(): RedisLinkState {
    return this.operations.link.state;
  }

  get idle(): boolean {
    return this.outbox.idle && this.gate.open && this.holding === 0;
  }

  async start(host: BusHost): Promise<void> {
    this.host = host;
    this.outbox.log = host.log;
    this.sync.log = host.log;
    try {
      await Promise.all([this.command.connect(), this.subscriber.connect(), this.reader.connect()]);
    } catch (err) {
      this.closed = true;
      for (const redis of [this.command, this.subscriber, this.reader]) redis.disconnect();
      throw new FennecError(
        'ERR_CLUSTER_REDIS',
        `cannot reach the cluster's Redis at ${redactedRedisUrl(this.options.redis)}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    try {
      await checkServer(this.command, this.options.wait?.aof === true);
    } catch (err) {
      this.closed = true;
      for (const redis of [this.command, this.subscriber, this.reader]) redis.disconnect();
      throw err;
    }
    this.operations.start(host.log);
    this.sessions?.start(host);
    this.wills.committed = () => host.committed();
    // The link is back after a loss: the lease is renewed at once, and wills are looked after again.
    this.command.on('ready', () => this.liveness.linkRestored());
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onNotice(channel, message));
    await this.subscriber.subscribe(routesChannel, retainedChannel, handoverChannel);
    this.subscriber.on('ready', () => this.resync());
    await this.liveness.takeLease(host, () => this.resync());
    await this.join();
    await this.sync.reload();
    await this.readRetained();
    // Sessions claimed away from this node while it was down: what its stream holds for them goes
    // to their owners now, from the first entry read on.
    const left = await leftSessions(this.command, this.nodeId);
    for (const { clientId, to, owner, after, ownIds, above, until, filters } of left.sessions) {
      this.forwarder.forwardFor(clientId, owner ?? to, filters, after, until);
      // The new owner's own messages reached the session there (left-sessions.ts `heldByNewOwner`).
      if (ownIds !== undefined) this.forwarder.sendBackNot(clientId, owner ?? to, ownIds, Number(above));
    }
    this.stream = new StreamReader(this.reader, {
      stream: streamKey(this.nodeId),
      nodeId: this.nodeId,
      // Up to 512 messages a read, as entries hold up to MAX_ENTRY_MESSAGES: more at once would fill
      // the subscribers' queues faster than their connections take them.
      batch: this.options.readBatch ?? Math.ceil(512 / MAX_ENTRY_MESSAGES),
      dedupeWindow: this.options.dedupeWindow ?? 100_000,
      retryDelayMs: this.options.retryDelayMs ?? 200,
      log: host.log,
      deliver: (message, raw, groups, messageId, hops, entryId) => {
        this.counters.received++;
        this.counters.bytesReceived += raw.length;
        const served = groups.size === 0 ? groups : passOnGroups(this.passLinks, message, raw, groups, messageId, hops);
        if (hops > 0) {
          if (served.size > 0) host.deliverToGroups?.(message, served);
          return;
        }
        const moved = this.forwarder.targets(message.topic, entryId, messageId);
        if (moved !== undefined) this.forwarder.forward(message, messageId, raw, this.push, moved);
        // But for the sessions here that had it marked for them (forwarded by the node they left, before this copy).
        host.deliverFromBus(message, served, this.sessions?.markedFor(messageId));
        // Held for sessions moving here too. Its entry is acknowledged as usual: the old owner,
        // which holds the session's routes until the install, has a copy to pass on.
        void this.sessions?.hold(message, messageId);
      },
      deliverTo: (message, clientId, directAt, messageId, raw, entryId) => {
        const arrived = this.sessions?.arrived(message, clientId, directAt, messageId);
        if (arrived === 'held') {
          const entries = this.heldEntries.get(clientId);
          if (entries === undefined) this.heldEntries.set(clientId, [entryId]);
          else entries.push(entryId);
        }
        // The session left again meanwhile: after it, to where it went from here.
        else if (arrived === false) this.forwarder.forwardAgain(clientId, message, messageId, raw, this.push, entryId);
      },
      duplicate: () => this.counters.duplicates++,
      committed: host.committedStreamEntries?.() ?? new Set(),
      acknowledge: (ids) => {
        if (this.heldEntries.size === 0) return this.acknowledge(ids);
        const held = new Set([...this.heldEntries.values()].flat());
        return this.acknowledge(ids.filter((id) => !held.has(id)));
      },
    });
    this.stream.start();
    if (left.sessions.length > 0) {
      // Once what the stream held at the start is read: forwarded (one outbox, in order), forgotten.
      void this.stream.caughtUp(this.command).then(() => {
        for (const { clientId } of left.sessions) this.forwarder.stopForwarding(clientId);
        for (const command of forgetLeft(this.nodeId, left.sessions)) this.outbox.push(command);
      });
    }
    if (this.sessions !== undefined) {
      const stream = this.stream;
      const forwarder = this.forwarder;
      this.sessions.links = {
        flushRoutes: () => this.outbox.drain(),
        forgetRoutes: (node) => this.routes.replaceNode(node, []),
        seenAt: (messageId) => stream.seenAt(messageId),
        reloadRoutes: () => this.sync.reload(),
        willsMoved: (clientIds) => this.wills.lookUpMoved(clientIds),
        forwardTo: (node, clientId, message, messageId, raw) =>
          forwarder.forward(message, messageId, raw, this.push, [{ node, clientId }]),
        caughtUp: () => stream.caughtUp(this.command),
        position: () => ({ stream: stream.position, published: this.sequence }),
        publishedHere: (messageId) => this.publishedHere(messageId),
        leave: (clientId, to, filters) => forwarder.leave(clientId, to, filters),
        stay: (clientId) => forwarder.stay(clientId),
        handedOver: (clientId) => forwarder.handedOver(clientId),
        installed: (clientId, from) => forwarder.installed(clientId, from),
        forwardFor: (clientId, to, filters) => forwarder.forwardFor(clientId, to, filters),
        stopForwarding: (clientId) => forwarder.stopForwarding(clientId),
        // After the session's route notices, on the same connection: every node has them first.
        announce: (notice) => this.outbox.push(['PUBLISH', handoverChannel, notice]),
        ownIds: () => `${this.nodeId}/${this.epoch}/`,
        sendBackNot: (clientId, to, ids, above) => forwarder.sendBackNot(clientId, to, ids, above),
        claimEnded: (clientId) => {
          const entries = this.heldEntries.get(clientId);
          if (entries === undefined) return;
          this.heldEntries.delete(clientId);
          this.acknowledge(entries).catch((err: unknown) =>
            host.log.warn({ clientId, err: String(err) }, 'cluster: acknowledging stream entries failed'),
          );
        },
      };
    }
    await this.liveness.start(host);
    host.log.info({ nodeId: this.nodeId, nodes: this.routes.nodes().length }, 'cluster joined');
  }

  /**
   * Acknowledges and deletes entries `ids` of this node's stream once the store has what was queued
   * from them. With cluster-wide sessions, the commit that writes it acknowledges them in the same
   * script: a node killed in between leaves no entry both in its stream and in its store, which an
   * adopter would deliver twice. With its own store, the node records the entries in that commit
   * instead: read again after a crash before the XACK, they are not delivered a second time.
   */
  private async acknowledge(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    const host = this.host!;
    this.options.store?.acknowledgeWithCommit(ids);
    if (this.options.store === undefined) host.streamCommitted?.(ids);
    await host.committed();
    const left = this.options.store === undefined ? ids : this.options.store.takeBackAcknowledgements(ids);
    if (left.length === 0) return;
    this.outbox.push(['XACK', streamKey(this.nodeId), consumerGroup, ...left]);
    this.outbox.push(['XDEL', streamKey(this.nodeId), ...left]);
  }

  /** The sequence of `messageId` if this run of this node published it; else undefined. */
  private publishedHere(messageId: string): number | undefined {
    const prefix = `${this.nodeId}/${this.epoch}/`;
    return messageId.startsWith(prefix) ? Number(messageId.slice(prefix.length)) : undefined;
  }

  forward(message: Message): ReadonlySet<string> | undefined {
    const { nodes, serve, local } = this.routes.plan(message.topic);
    const moved = this.forwarder.targets(message.topic);
    const held = this.sessions?.holdsTopic(message.topic) === true;
    if (nodes.length === 0 && moved === undefined && !held) return local;
    const id = `${this.nodeId}/${this.epoch}/${++this.sequence}`;
    // Stored with it where a session here keeps it: a copy that comes back later is known.
    message.originId = id;
    // A session moving here holds it too (see HandoverArrivals.holdFrom).
    if (held) this.holdUntilStored(this.sessions?.hold(message, id));
    if (nodes.length === 0 && moved === undefined) return local;
    if (message.qos === 0 && !this.outbox.idle && this.outbox.pending >= this.maxPendingCommands) {
      this.counters.droppedQoS0 += nodes.length;
      // Nothing goes to the other nodes: every group with members here serves it, as on one node.
      return undefined;
    }
    const bytes = encodeMessage(message);
    const durable = message.qos > 0;
    const entries: string[] = [];
    for (const node of nodes) {
      // `g`: the shared groups the node serves (`$share/G/F`, split by U+0000); absent: none.
      const groups = serve?.get(node);
      const fields = groups === undefined ? ['i', id, 'm', bytes] : ['i', id, 'm', bytes, 'g', groups.join('\u0000')];
      if (this.outbox.append(streamKey(node), fields, durable)) entries.push(node);
    }
    if (moved !== undefined) this.forwarder.forward(message, id, bytes, this.push, moved);
    this.gate.appended(entries);
    this.counters.forwarded += nodes.length;
    this.counters.bytesForwarded += bytes.length * nodes.length;
    return local;
  }

  afterAccepted(fn: () => void): void {
    // A message held by a claim under way (published here) is in no store before the claim ends.
    if (this.holding > 0) {
      void this.held.then(() => this.afterAccepted(fn));
      return;
    }
    // Once Redis has the message, and no node it goes to lags too far behind (flow control).
    this.outbox.afterWritten(() => this.gate.whenOpen(fn));
  }

  /**
   * Acknowledgements wait for `stored` (see ClusterSessions.hold): a message published here that a
   * session moving here holds reaches no store before that session is installed, and a node killed
   * meanwhile would lose it for that session (the old owner does not send it back).
   */
  private holdUntilStored(stored: Promise<void> | undefined): void {
    if (stored === undefined) return;
    this.holding++;
    this.held = Promise.all([this.held, stored]).then(() => void this.holding--);
  }

  routeAdded(filter: string): void {
    if (!this.routes.addLocal(filter) || this.host === undefined) return;
    this.forwarder.taken(filter);
    this.outbox.push(['SADD', routesKey(this.nodeId), filter]);
    this.outbox.push(['PUBLISH', routesChannel, JSON.stringify({ node: this.nodeId, op: '+', filter })]);
  }

  routeRemoved(filter: string): void {
    if (!this.routes.removeLocal(filter) || this.host === undefined) return;
    // A session handed over: its route stays until the new owner's is known everywhere.
    if (!this.forwarder.holds(filter)) this.withdrawRoute(filter);
  }

  /** Takes `filter` out of this node's routes in Redis and tells the other nodes. */
  private withdrawRoute(filter: string): void {
    this.outbox.push(['SREM', routesKey(this.nodeId), filter]);
    this.outbox.push(['PUBLISH', routesChannel, JSON.stringify({ node: this.nodeId, op: '-', filter })]);
  }

  retained(topic: string, message: Message | undefined): void {
    const value = message === undefined ? Buffer.alloc(0) : encodeMessage(message);
    const notice = Buffer.concat([Buffer.from(`${this.nodeId}\0${topic}\0`), value]);
    const durable = message !== undefined && message.qos > 0;
    this.outbox.push(['EVAL', retainScript, 1, retainedKey, topic, value, notice, retainedChannel], durable);
  }

  carries(message: Message): boolean {
    const { topic } = message;
    // Also what goes on to a session that left (handover-forward.ts), and what a claim here holds
    // (its acknowledgement waits until the claim's session is stored: `holdUntilStored`).
    return (
      message.retain ||
      this.routes.reaches(topic) ||
      this.forwarder.targets(topic) !== undefined ||
      this.sessions?.holdsTopic(topic) === true
    );
  }

  unavailableFor(message: Message): boolean {
    return this.operations.unavailableFor(message);
  }

  available(): Promise<void> {
    return this.operations.link.whenUp();
  }

  caughtUp(): Promise<void> {
    if (this.stream === undefined || this.closed) return Promise.resolve();
    return this.stream.caughtUp(this.command);
  }

  stats(): ClusterStats {
    return this.operations.stats();
  }

  /**
   * Adopts the persistent sessions of the dead node `deadNode` (see ClusterSessions.adopt): called
   * once a node is known dead. Rejects when this node's sessions are not cluster-wide.
   */
  adoptSessions(deadNode: string): Promise<Adopted> {
    if (this.sessions === undefined) {
      return Promise.reject(new FennecError('ERR_CLUSTER_HANDOVER', 'this node keeps its sessions to itself'));
    }
    return this.sessions.adopt(deadNode);
  }

  /** Whether this node knows that `node` has a subscription to `filter` (for tests and the admin API). */
  knowsRoute(node: string, filter: string): boolean {
    return this.routes.has(node, filter);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.liveness.stop();
    this.forwarder.close();
    if (this.host !== undefined) await withTimeout(this.operations.stop(), 1000);
    else this.operations.link.stop();
    // The blocked read ends when its connection does, even with Redis gone.
    const reading = this.stream?.stop();
    this.reader.disconnect();
    await reading;
    if (this.host !== undefined) {
      // Leave: withdraw the routes, so that no node sends here any more. The stream stays, for a
      // node that comes back under the same id to read what was sent meanwhile.
      this.outbox.push(['SREM', nodesKey, this.nodeId]);
      this.outbox.push(['DEL', routesKey(this.nodeId)]);
      this.outbox.push(['PUBLISH', routesChannel, JSON.stringify({ node: this.nodeId, op: 'reset' })]);
    }
    await withTimeout(this.outbox.drain(), 2000);
    this.gate.close();
    // Last: with the lease gone the node is dead to the others, but it has left, so nobody handles it.
    await withTimeout(
      this.liveness.release().catch(() => undefined),
      1000,
    );
    this.outbox.close();
    this.subscriber.disconnect();
    this.command.disconnect();
  }

  /** Announces this node and its routes, and makes sure its stream's consumer group exists. */
  private async join(): Promise<void> {
    this.outbox.push(['SADD', nodesKey, this.nodeId]);
    // Declared dead before: this run publishes what the previous one left (Liveness.start).
    this.outbox.push(['ZREM', deadKey, this.nodeId]);
    this.outbox.push(['DEL', routesKey(this.nodeId)]);
    const filters = this.routes.localFilters();
    if (filters.length > 0) this.outbox.push(['SADD', routesKey(this.nodeId), ...filters]);
    this.outbox.push(['PUBLISH', routesChannel, JSON.stringify({ node: this.nodeId, op: 'reset' })]);
    const restored = await this.restorer.restoreIfLost(
      this.command,
      this.outbox,
      this.nodeId,
      this.host?.retainedMessages?.() ?? [],
    );
    if (restored > 0)
      this.host?.log.warn({ restored }, 'cluster: Redis had lost its data; retained messages written back');
    await this.outbox.drain();
    await StreamReader.createGroup(this.command, streamKey(this.nodeId));
  }

  /** After Redis came back: announce again (its data may be older than ours), then re-read the others. */
  private resync(): void {
    if (this.closed || this.host === undefined) return;
    const log = this.host.log;
    this.join()
      .then(() => this.sync.reload())
      .then(() => this.readRetained())
      .then(
        () => log.info({ nodeId: this.nodeId, nodes: this.routes.nodes().length }, 'cluster routes re-synchronized'),
        (err: unknown) => {
          // A Redis still loading its data answers LOADING: try again shortly, not only at the next reconnect.
          log.warn({ err: String(err) }, 'cluster re-synchronization failed; retrying');
          setTimeout(() => this.resync(), this.options.retryDelayMs ?? 200).unref();
        },
      );
  }

  private clientCount(): number {
    return this.host?.clientCount?.() ?? 0;
  }

  private onNotice(channel: Buffer, notice: Buffer): void {
    const name = channel.toString();
    if (name === handoverChannel) {
      this.sessions?.notice(notice.toString());
      return;
    }
    if (name === routesChannel) {
      this.sync.event(JSON.parse(notice.toString()) as RouteEvent, this.nodeId);
      return;
    }
    const first = notice.indexOf(0);
    const second = first < 0 ? -1 : notice.indexOf(0, first + 1);
    if (second < 0 || notice.subarray(0, first).toString() === this.nodeId) return;
    const topic = notice.subarray(first + 1, second).toString();
    const value = notice.subarray(second + 1);
    this.applyRetained(topic, value);
  }

  private applyRetained(topic: string, value: Buffer): void {
    if (value.length === 0) {
      this.clusterRetained.delete(topic);
      this.host?.retainFromBus(topic, undefined);
      return;
    }
    try {
      this.host?.retainFromBus(topic, decodeMessage(value));
      this.clusterRetained.add(topic);
    } catch (err) {
      this.host?.log.warn({ topic, err: String(err) }, 'cluster retained message unreadable; ignored');
    }
  }

  /** Reads every retained message of the cluster; clears those this node had from it that are gone. */
  private async readRetained(): Promise<void> {
    const all = await this.command.hgetallBuffer(retainedKey);
    const gone = new Set(this.clusterRetained);
    for (const [topic, value] of Object.entries(all)) {
      gone.delete(topic);
      this.applyRetained(topic, value);
    }
    for (const topic of gone) this.applyRetained(topic, Buffer.alloc(0));
  }
}

/** How long a node forwards what comes for a session it handed over once the routes moved, in ms. */
const HANDOVER_SETTLE_MS = 300;

/** The log until `start` gives the broker's. */
const silentLog = pino({ level: 'silent' });

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
