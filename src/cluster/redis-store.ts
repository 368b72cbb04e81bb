/**
 * The Store on Redis (docs/cluster.md, "Sessions"): what a cluster node must not lose, kept where
 * any node can find it. Each node writes its sessions under its own namespace
 * (`fennec:store:NODE:...`), and a cluster-wide entry per client id (`fennec:owner:CLIENT`) says
 * which node owns the session and under which fencing token. A commit is one Lua script, whatever
 * its size; an operation on a session this node no longer owns (another node took it over) is
 * skipped, never written, and counted in `counters.fenced`. `load()` returns only the sessions this
 * node owns. Claims, hand-overs and adoptions move a session between namespaces, renumbering it,
 * in one script each (src/cluster/store-scripts.ts).
 *
 * Passes the store conformance suite, its spool part included (test/cluster/redis-store.test.ts):
 * a session's spooled backlog lives in its namespace too (src/cluster/redis-spool.ts) and moves with it.
 */
import type { Redis } from 'ioredis';
import { FennecError } from '../errors/index.js';
import {
  emptyStoredState,
  type SpoolRecord,
  type Store,
  type StoredRetained,
  type StoredState,
  type StoreOp,
} from '../store/types.js';
import { decodeDelivery, decodeSession, decodeStoredMessage, decodeSubscription } from './store-codec.js';
import { encodeOp, exec, isSpoolOp, movedState, type Reply } from './redis-store-ops.js';
import { createRedisClient, redisTarget } from './connect.js';
import { doneKey, keyPrefix, ownerKey, streamKey } from './keys.js';
import { redactedUrl } from './url.js';
import { isOrphanKey, readSpoolRows, SpoolIndex, spoolSizesKey } from './redis-spool.js';
import { claimScript, commitScript, handOverScript, releaseScript } from './store-scripts.js';

/** Options of a RedisStore. */
export interface RedisStoreOptions {
  /** The Redis URL (`redis://HOST:PORT`). */
  redis: string;
  /** This node's id: its namespace and the owner it writes in `fennec:owner:CLIENT`. */
  nodeId: string;
  /**
   * Whether retained messages are kept here (default true). A cluster node passes false: the bus
   * keeps the cluster's retained messages in `fennec:retained`, and a second copy per node would
   * bring back, at a restart, messages that another node has cleared since.
   */
  retained?: boolean;
}

/** The numbers reserved for a session moved to this node: (seq, seq + count] and (messageId, messageId + count]. */
export interface Reserved {
  seq: number;
  messageId: number;
  count: number;
}

/** What a claim found: see `claimScript`. */
export type ClaimResult =
  | { kind: 'own'; token: string }
  | { kind: 'busy'; owner: string }
  /**
   * `from`: the previous owner ('' when none, or handed over); `streamEnd`: the id of the last entry
   * of its stream when taken from it without a hand-over, or of the stream of `handedBy`, the node
   * that handed it over ('' when none; `0-0` for an empty stream).
   */
  | { kind: 'moved'; token: string; state: StoredState; from: string; streamEnd: string; handedBy: string }
  | { kind: 'skip' };

/**
 * How long after a session left a node (handed over, or claimed from it) what reaches that node's
 * stream for the session may be its only copy, in ms: the script that moves the session announces
 * the new owner's routes, which every node applies within milliseconds (see the hand-over and claim
 * scripts, and left-sessions.ts `LeftSession.until`).
 */
export const LEFT_CUTOFF_MS = 1000;

/** The namespace of node `nodeId`. */
export const namespaceOf = (nodeId: string): string => `${keyPrefix}store:${nodeId}:`;

/** The keys of a namespace that are not per client id (those are `subs:`, `dlvof:`, `qos2:` + client id). */
const sharedKeys = ['sessions', 'subclients', 'msgs', 'dlv', 'dlvc', 'dlvs', 'qos2clients', 'retained', 'spoolclients'];

/** Numbers reserved per claim before the session's size is known; a larger session asks again. */
const FIRST_RESERVATION = 1024;

type Arg = string | Buffer;
/** The scripts, defined on the connection so that each call sends its SHA, not its text. */
interface Scripts {
  fennecCommit(...args: Arg[]): Promise<(number | string)[]>;
  fennecClaimBuffer(...args: Arg[]): Promise<Reply>;
  fennecHandOver(...args: Arg[]): Promise<string[]>;
  fennecRelease(...args: Arg[]): Promise<number>;
}

export class RedisStore implements Store {
  readonly description: string;
  readonly nodeId: string;
  /** Operations skipped because another node owns their session now, and commits made. */
  readonly counters = { fenced: 0, commits: 0 };
  /** The fencing token this node holds for each client id it owns. */
  private readonly tokens = new Map<string, string>();
  /** The client id of each delivery this node wrote or loaded, by seq. */
  private readonly seqClients = new Map<number, string>();
  private readonly keepRetained: boolean;
  private readonly scripts: Scripts;
  /** Entries of this node's stream to acknowledge and delete in the next commit (`acknowledgeWithCommit`). */
  private acks: string[] = [];
  /** Completions to note in the next commit (`noteCompleted`): client id, cluster id, in turn. */
  private done: string[] = [];
  /** The payload size of each committed spooled row of this node's sessions (spoolSizes is synchronous). */
  private readonly spoolIndex = new SpoolIndex();

  private constructor(
    readonly redis: Redis,
    options: RedisStoreOptions,
  ) {
    this.nodeId = options.nodeId;
    this.keepRetained = options.retained ?? true;
    this.description = `redis store of node ${options.nodeId}`;
    redis.defineCommand('fennecCommit', { numberOfKeys: 0, lua: commitScript });
    redis.defineCommand('fennecClaim', { numberOfKeys: 0, lua: claimScript });
    redis.defineCommand('fennecHandOver', { numberOfKeys: 0, lua: handOverScript });
    redis.defineCommand('fennecRelease', { numberOfKeys: 0, lua: releaseScript });
    this.scripts = redis as unknown as Scripts;
  }

  /** Connects to Redis; rejects with ERR_CLUSTER_REDIS when it cannot. */
  static async open(options: RedisStoreOptions): Promise<RedisStore> {
    const target = redisTarget(options.redis);
    if (target.kind === 'cluster') {
      // Its scripts name their keys inside (a session's keys depend on what they read), which a
      // Redis Cluster cannot route; one server or a Sentinel-watched master can.
      throw new FennecError(
        'ERR_CLUSTER_REDIS_URL',
        'cluster.sessions: redis needs one Redis server or a Sentinel-watched master, not a Redis Cluster ' +
          '(redis+cluster://); set cluster.sessions: local to keep sessions on each node',
      );
    }
    // A commit waits while Redis is away (the offline queue), and with it the acknowledgements it holds back.
    const redis = createRedisClient(target) as Redis;
    redis.on('error', () => undefined);
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new FennecError(
        'ERR_CLUSTER_REDIS',
        `cannot reach the cluster's Redis at ${redactedUrl(options.redis)}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const store = new RedisStore(redis, options);
    try {
      await store.indexSpools();
    } catch (err) {
      redis.disconnect();
      throw err;
    }
    return store;
  }

  /**
   * Fills the index of spooled row sizes from every spool of this node's namespace, so that
   * `spoolSizes` answers before `load` (which keeps only the sessions this node owns).
   */
  private async indexSpools(): Promise<void> {
    const ns = namespaceOf(this.nodeId);
    const keys = await this.redis.smembers(`${ns}spoolclients`);
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.zrange(spoolSizesKey(ns, key), 0, -1);
    const replies = keys.length === 0 ? [] : await exec(pipeline);
    keys.forEach((key, i) => this.spoolIndex.fill(key, replies[i] as string[]));
  }

  /** The token this node holds for `clientId`, or '0'. */
  tokenOf(clientId: string): string {
    return this.tokens.get(clientId) ?? '0';
  }

  async load(): Promise<StoredState> {
    const ns = namespaceOf(this.nodeId);
    const first = await exec(
      this.redis
        .pipeline()
        .hgetall(`${ns}sessions`)
        .smembers(`${ns}subclients`)
        .smembers(`${ns}qos2clients`)
        .hgetallBuffer(`${ns}msgs`)
        .hgetall(`${ns}dlv`)
        .hgetall(`${ns}dlvc`)
        .hgetall(`${ns}dlvs`)
        .hgetallBuffer(`${ns}retained`)
        .smembers(`${ns}spoolclients`),
    );
    const [sessions, subClients, qos2Clients, messages, dlv, dlvc, dlvs, retained, spoolKeys] = first as [
      Record<string, string>,
      string[],
      string[],
      Record<string, Buffer>,
      Record<string, string>,
      Record<string, string>,
      Record<string, string>,
      Record<string, Buffer>,
      string[],
    ];
    const clients = new Set([...Object.keys(sessions), ...subClients, ...qos2Clients, ...Object.values(dlvc)]);
    for (const key of spoolKeys) if (!isOrphanKey(key)) clients.add(key);
    const ids = [...clients];
    const second = this.redis.pipeline();
    for (const cid of ids) second.hmget(ownerKey(cid), 'node', 'token');
    for (const cid of subClients) second.hgetall(`${ns}subs:${cid}`);
    for (const cid of qos2Clients) second.smembers(`${ns}qos2:${cid}`);
    for (const key of spoolKeys) second.zrange(spoolSizesKey(ns, key), 0, -1);
    const sessionIds = Object.keys(sessions);
    for (const cid of sessionIds) second.lrange(doneKey(cid), 0, -1);
    const replies = await exec(second);
    const owned = new Set<string>();
    ids.forEach((cid, i) => {
      const [node, token] = replies[i] as [string | null, string | null];
      if (node !== this.nodeId) return;
      owned.add(cid);
      this.tokens.set(cid, token ?? '0');
    });
    const state = emptyStoredState();
    for (const [cid, text] of Object.entries(sessions))
      if (owned.has(cid)) state.sessions.push(decodeSession(cid, text));
    subClients.forEach((cid, i) => {
      if (!owned.has(cid)) return;
      for (const [filter, text] of Object.entries(replies[ids.length + i] as Record<string, string>)) {
        state.subscriptions.push(decodeSubscription(cid, filter, text));
      }
    });
    qos2Clients.forEach((cid, i) => {
      if (!owned.has(cid)) return;
      for (const id of replies[ids.length + subClients.length + i] as string[]) {
        state.incomingQoS2.push({ clientId: cid, packetId: Number(id) });
      }
    });
    for (const [id, bytes] of Object.entries(messages))
      state.messages.push({ id: Number(id), ...decodeStoredMessage(bytes) });
    state.messages.sort((a, b) => a.id - b.id);
    for (const [seq, fixed] of Object.entries(dlv)) {
      const cid = dlvc[seq];
      if (cid === undefined || !owned.has(cid)) continue;
      state.deliveries.push(decodeDelivery(Number(seq), cid, fixed, dlvs[seq] ?? '0 0'));
      this.seqClients.set(Number(seq), cid);
    }
    state.deliveries.sort((a, b) => a.seq - b.seq);
    // The spools of the sessions it owns and its orphan keys: summaries, the rows stay in Redis.
    this.spoolIndex.reset();
    state.spools = [];
    const spoolsAt = ids.length + subClients.length + qos2Clients.length;
    spoolKeys.forEach((key, i) => {
      if (!isOrphanKey(key) && !owned.has(key)) return;
      const summary = this.spoolIndex.fill(key, replies[spoolsAt + i] as string[]);
      if (summary !== undefined) state.spools!.push(summary);
    });
    state.spools.sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
    const doneAt = spoolsAt + spoolKeys.length;
    state.completed = [];
    sessionIds.forEach((cid, i) => {
      const originIds = replies[doneAt + i] as string[];
      if (owned.has(cid) && originIds.length > 0) state.completed!.push({ clientId: cid, originIds });
    });
    if (this.keepRetained) for (const bytes of Object.values(retained)) state.retained.push(decodeStoredMessage(bytes));
    return state;
  }

  async commit(ops: readonly StoreOp[]): Promise<void> {
    const args: (string | Buffer)[] = [this.nodeId];
    const ended = new Set<string>();
    const token = (cid: string): string => (ended.has(cid) ? '0' : this.tokenOf(cid));
    const seqs = new Map<number, string>();
    const client = (seq: number): string => seqs.get(seq) ?? this.seqClients.get(seq) ?? '';
    for (const op of ops) {
      const row = encodeOp(op, token, client, this.keepRetained);
      if (row === undefined) continue;
      args.push(...row);
      if (op.op === 'end-session') ended.add(op.clientId);
      else if (op.op === 'enqueue') seqs.set(op.record.seq, op.record.clientId);
      else if (op.op === 'complete') seqs.set(op.seq, '');
    }
    const acks = this.acks;
    this.acks = [];
    for (const id of acks) args.push('stream-ack', '', '0', streamKey(this.nodeId), id, '');
    // After the batch's own operations: a session it ended (token '0' then) keeps no note.
    const done = this.done;
    this.done = [];
    for (let i = 0; i + 1 < done.length; i += 2) args.push('done', done[i]!, token(done[i]!), done[i + 1]!, '', '');
    if (args.length === 1) return;
    let reply: Awaited<ReturnType<Scripts['fennecCommit']>>;
    try {
      reply = await this.scripts.fennecCommit(...args);
    } catch (err) {
      // The commit is tried again; the acknowledgements and notes go with it.
      this.acks.unshift(...acks);
      this.done.unshift(...done);
      throw err;
    }
    this.counters.commits++;
    this.counters.fenced += Number(reply[0]);
    for (let i = 1; i + 1 < reply.length; i += 2) {
      const token = String(reply[i + 1]);
      if (token === '0') this.tokens.delete(String(reply[i]));
      else this.tokens.set(String(reply[i]), token);
    }
    for (const [seq, cid] of seqs) {
      if (cid === '') this.seqClients.delete(seq);
      else this.seqClients.set(seq, cid);
    }
    for (const op of ops) {
      if (op.op === 'end-session') this.spoolIndex.apply({ op: 'clear-spool', clientId: op.clientId });
      else if (isSpoolOp(op)) this.spoolIndex.apply(op);
    }
  }

  /** See Store.readSpool: a read of the sorted set of the rows of `clientId` (or an orphan key). */
  readSpool(clientId: string, from: number, limit: number): Promise<SpoolRecord[]> {
    return readSpoolRows(this.redis, namespaceOf(this.nodeId), clientId, from, limit);
  }

  /** See Store.spoolSizes: from the index in memory of the committed rows. */
  spoolSizes(clientId: string, from: number, limit: number): { n: number; bytes: number }[] {
    return this.spoolIndex.sizes(clientId, from, limit);
  }

  /**
   * Has the next commit acknowledge and delete entries `ids` of this node's stream, atomically with
   * what it writes. Called in the turn that delivered them, so the commit that writes their
   * deliveries (gathered in that turn) is that one or a later one, never an earlier one.
   */
  acknowledgeWithCommit(ids: readonly string[]): void {
    this.acks.push(...ids);
  }

  /** See Store.noteCompleted: kept in `fennec:done:CLIENT` (DONE_KEPT ids, DONE_TTL_MS after the last). */
  noteCompleted(clientId: string, originId: string): void {
    this.done.push(clientId, originId);
  }

  /** Takes back those of `ids` that no commit has taken (their deliveries wrote nothing): the caller acknowledges them. */
  takeBackAcknowledgements(ids: readonly string[]): string[] {
    const mine = new Set(ids);
    const left = this.acks.filter((id) => mine.has(id));
    if (left.length > 0) this.acks = this.acks.filter((id) => !mine.has(id));
    return left;
  }

  /**
   * Claims `clientId` for this node (see `claimScript`). `reserve(count)` reserves numbers for a
   * session moved here; `force` takes it even from a live owner (which then cannot write to it any
   * more), from `forceFrom` only when given; `expectedOwner` claims it only from that node (adoption).
   */
  async claim(
    clientId: string,
    reserve: (count: number) => Reserved,
    force = false,
    expectedOwner = '',
    forceFrom = '',
  ): Promise<ClaimResult> {
    let numbers = reserve(FIRST_RESERVATION);
    for (;;) {
      const reply = await this.scripts.fennecClaimBuffer(
        clientId,
        this.nodeId,
        String(numbers.seq),
        String(numbers.count),
        String(numbers.messageId),
        force ? '1' : '0',
        expectedOwner,
        forceFrom,
        String(LEFT_CUTOFF_MS),
      );
      const kind = String(reply[0]);
      if (kind === 'range') {
        numbers = reserve(Number(String(reply[1])));
        continue;
      }
      if (kind === 'skip') return { kind };
      if (kind === 'busy') return { kind, owner: String(reply[1]) };
      const token = String(reply[1]);
      this.tokens.set(clientId, token);
      if (kind === 'own') return { kind, token };
      const state = movedState(clientId, reply.slice(2, 7));
      const done = ((reply[11] ?? []) as Reply).map(String);
      if (done.length > 0) state.completed = [{ clientId, originIds: done }];
      for (const d of state.deliveries) this.seqClients.set(d.seq, clientId);
      // Its spooled rows came with it, numbers kept: their sizes, and the summary the spool restores from.
      const summary = this.spoolIndex.fill(clientId, ((reply[8] ?? []) as Reply).map(String));
      state.spools = summary === undefined ? [] : [summary];
      const [from, streamEnd, handedBy] = [reply[7], reply[9], reply[10]].map((x) => String(x ?? ''));
      return { kind: 'moved', token, state, from: from!, streamEnd: streamEnd!, handedBy: handedBy! };
    }
  }

  /**
   * Hands `clientId` over to node `to` (see `handOverScript`), deleting `dropMessageIds` from this
   * node's messages. Resolves 'ok', or 'lost' when this node did not own it any more.
   */
  async handOver(clientId: string, to: string, numbers: Reserved, dropMessageIds: number[]): Promise<'ok' | 'lost'> {
    const reply = await this.scripts.fennecHandOver(
      clientId,
      this.nodeId,
      this.tokenOf(clientId),
      to,
      String(numbers.seq),
      String(numbers.count),
      String(numbers.messageId),
      String(LEFT_CUTOFF_MS),
      ...dropMessageIds.map(String),
    );
    if (reply[0] === 'range') {
      throw new FennecError('ERR_CLUSTER_HANDOVER', `session ${clientId} holds more deliveries than ${to} reserved`);
    }
    this.tokens.delete(clientId);
    for (const [seq, cid] of this.seqClients) if (cid === clientId) this.seqClients.delete(seq);
    this.spoolIndex.apply({ op: 'clear-spool', clientId });
    return reply[0] === 'ok' ? 'ok' : 'lost';
  }

  /** Gives up `clientId` when its session ended with its connection (nothing of it is stored). */
  async release(clientId: string): Promise<void> {
    const token = this.tokenOf(clientId);
    this.tokens.delete(clientId);
    await this.scripts.fennecRelease(clientId, this.nodeId, token);
  }

  /** The node that owns `clientId` now, or undefined when none does. */
  async ownerOf(clientId: string): Promise<string | undefined> {
    return (await this.redis.hget(ownerKey(clientId), 'node')) ?? undefined;
  }

  /** The client ids whose sessions node `nodeId`'s namespace holds. */
  async sessionsOf(nodeId: string): Promise<string[]> {
    return this.redis.hkeys(`${namespaceOf(nodeId)}sessions`);
  }

  /** The keys of node `nodeId`'s namespace (its messages, retained copies, indexes), deleted after its adoption. */
  namespaceKeys(nodeId: string): string[] {
    const ns = namespaceOf(nodeId);
    return sharedKeys.map((key) => ns + key);
  }

  close(): Promise<void> {
    this.redis.disconnect();
    return Promise.resolve();
  }
}

export type { StoredRetained };
