/**
 * The Redis key layout of a Fennec cluster (docs/cluster.md lists it). Every key starts with the hash
 * tag `{fennec}:`, so that one Redis server may hold other data too, and so that in a Redis Cluster
 * every key of Fennec falls in one hash slot: a pipeline or a script may then touch several of them
 * (a Redis Cluster refuses commands whose keys span slots). The price: all of a Fennec cluster's
 * keys live on one shard of the Redis Cluster, which gives failover but no sharding.
 */

/** What every key starts with: the hash tag that keeps them in one slot. A new key must use it. */
export const keyPrefix = '{fennec}:';
/** The set of the ids of the nodes that have joined. */
export const nodesKey = `${keyPrefix}nodes`;
/** The set of the topic filters node `nodeId` has subscriptions to. */
export const routesKey = (nodeId: string): string => `${keyPrefix}routes:${nodeId}`;
/** The pub/sub channel announcing route changes: JSON `{ node, op: '+' | '-' | 'reset', filter? }`. */
export const routesChannel = 'fennec:routes';
/** The stream of messages other nodes forward to node `nodeId`, read through its consumer group. */
export const streamKey = (nodeId: string): string => `${keyPrefix}stream:${nodeId}`;
/** The owner entry of `clientId` (node, fencing token; see redis-store.ts). */
export const ownerKey = (clientId: string): string => `${keyPrefix}owner:${clientId}`;
/**
 * The cluster ids of the messages the session of `clientId` completed lately, newest first (a list,
 * DONE_KEPT long at most, expiring DONE_TTL_MS after the last: store-scripts.ts); it moves with no
 * session, every owner reads it.
 */
export const doneKey = (clientId: string): string => `${keyPrefix}done:${clientId}`;
/**
 * Sessions claimed away from node `nodeId` while it could not hand them over (dead, or silent past
 * the hand-over timeout): client id -> the new owner, newline, the entry of the stream up to which
 * the new owner has what it read (see left-sessions.ts), newline, the session's plain topic filters,
 * newline-separated. Whoever reads that node's stream next (the node restarted, or its adopter)
 * forwards what waits there for those sessions to the new owner.
 */
export const leftKey = (nodeId: string): string => `${keyPrefix}left:${nodeId}`;
/** The consumer group each node reads its own stream with (the consumer is the node id). */
export const consumerGroup = 'fennec';
/** The hash of the cluster's retained messages: topic -> encoded message. */
export const retainedKey = `${keyPrefix}retained`;
/** The pub/sub channel announcing retained changes: node id, NUL, topic, NUL, encoded message or nothing. */
export const retainedChannel = 'fennec:retained';
/** The lease of node `nodeId`: its run token, set with a TTL the node renews; gone when it stopped renewing. */
export const leaseKey = (nodeId: string): string => `${keyPrefix}lease:${nodeId}`;
/** Held (SET NX PX) by the one surviving node that handles the death of node `nodeId`. */
export const reaperKey = (nodeId: string): string => `${keyPrefix}reaper:${nodeId}`;
/** The wills of node `nodeId`'s clients: record id -> meta JSON, newline, encoded will message. */
export const willsKey = (nodeId: string): string => `${keyPrefix}wills:${nodeId}`;
/** Marks will record `recordId` of node `nodeId` as taken by `NODE/RUN`, until that taker published it. */
export const willTakenKey = (nodeId: string, recordId: string): string =>
  `${keyPrefix}will-taken:${nodeId}:${recordId}`;
/**
 * The will record of client `clientId`'s last connection (`NODE RECORD_ID`), with cluster-wide
 * sessions: the node a session moves to finds there the will it now decides on.
 */
export const willOfKey = (clientId: string): string => `${keyPrefix}will-of:${clientId}`;
/** Sorted set of the nodes declared dead whose wills are not all published yet; score: when declared (ms). */
export const deadKey = `${keyPrefix}dead`;
/** The hash of each node's last report: node id -> JSON `{ clients, routes, at }` (src/cluster/node-stats.ts). */
export const nodeStatsKey = `${keyPrefix}node-stats`;
