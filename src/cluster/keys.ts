/**
 * The Redis key layout of a Fennec cluster (docs/cluster.md lists it). Every key starts with
 * `fennec:`, so that one Redis server may hold other data too.
 */

/** The set of the ids of the nodes that have joined. */
export const nodesKey = 'fennec:nodes';
/** The set of the topic filters node `nodeId` has subscriptions to. */
export const routesKey = (nodeId: string): string => `fennec:routes:${nodeId}`;
/** The pub/sub channel announcing route changes: JSON `{ node, op: '+' | '-' | 'reset', filter? }`. */
export const routesChannel = 'fennec:routes';
/** The stream of messages other nodes forward to node `nodeId`, read through its consumer group. */
export const streamKey = (nodeId: string): string => `fennec:stream:${nodeId}`;
/** The consumer group each node reads its own stream with (the consumer is the node id). */
export const consumerGroup = 'fennec';
/** The hash of the cluster's retained messages: topic -> encoded message. */
export const retainedKey = 'fennec:retained';
/** The pub/sub channel announcing retained changes: node id, NUL, topic, NUL, encoded message or nothing. */
export const retainedChannel = 'fennec:retained';
/** The lease of node `nodeId`: its run token, set with a TTL the node renews; gone when it stopped renewing. */
export const leaseKey = (nodeId: string): string => `fennec:lease:${nodeId}`;
/** Held (SET NX PX) by the one surviving node that handles the death of node `nodeId`. */
export const reaperKey = (nodeId: string): string => `fennec:reaper:${nodeId}`;
/** The wills of node `nodeId`'s clients: record id -> meta JSON, newline, encoded will message. */
export const willsKey = (nodeId: string): string => `fennec:wills:${nodeId}`;
/** Marks will record `recordId` of node `nodeId` as taken by the node named in its value (retries of a take). */
export const willTakenKey = (nodeId: string, recordId: string): string => `fennec:will-taken:${nodeId}:${recordId}`;
/** Sorted set of the nodes declared dead whose wills are not all published yet; score: when declared (ms). */
export const deadKey = 'fennec:dead';
