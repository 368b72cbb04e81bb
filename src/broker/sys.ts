/**
 * The `$SYS/broker/...` topics, published as Mosquitto publishes them: retained, every
 * `sysInterval` seconds, each only when its value changed (all of them the first time), from the
 * broker's counters and state. Load averages follow Mosquitto's: a count's rate per minute over the
 * last interval, smoothed by an exponential moving average with time constants of 1, 5 and 15
 * minutes. With `sysEvents`, client connections and disconnections are published as they happen.
 * Listed in docs/operations.md.
 */
import { readFileSync } from 'node:fs';
import type { Session } from '../session/session.js';
import type { ClusterStats } from './bus.js';
import type { BrokerCounters } from './context.js';
import type { ClientInfo } from './hooks.js';

/** The package's version, for `$SYS/broker/version`. */
const version = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** What the $SYS publisher reads of the broker, and how it publishes. */
export interface SysSource {
  readonly counters: BrokerCounters;
  readonly sessions: ReadonlyMap<string, Session>;
  /** Clients whose CONNECT was accepted and whose connection is open. */
  readonly connectedCount: number;
  readonly retainedCount: number;
  /** Deliveries and payload bytes waiting in the spool on disk. */
  readonly spool: { readonly size: { messages: number; bytes: number } };
  /** In a cluster, its bus: `stats()` gives the `$SYS/broker/cluster/...` topics. */
  readonly bus?: { stats?(): ClusterStats } | undefined;
  /** Publishes a message made by the broker: retained in memory only (never stored), and routed. */
  publishSys(topic: string, payload: string, retain: boolean): void;
}

/** The minutes of Mosquitto's three load averages. */
const LOAD_MINUTES = [1, 5, 15] as const;

/**
 * A load average as Mosquitto's `calc_load`: `interval` is the count's rate per minute over the last
 * period of `elapsedSeconds`; each average moves toward it by `1 - e^(-elapsed / (60 * minutes))`.
 */
export class LoadAverage {
  /** The averages over 1, 5 and 15 minutes, in events per minute. */
  readonly values = [0, 0, 0];
  private last: number;

  constructor(initial: number) {
    this.last = initial;
  }

  /** Takes the counter's value `total` after `elapsedSeconds`, and updates the averages. */
  update(total: number, elapsedSeconds: number): void {
    if (elapsedSeconds <= 0) return;
    const perMinute = ((total - this.last) * 60) / elapsedSeconds;
    this.last = total;
    for (let i = 0; i < LOAD_MINUTES.length; i++) {
      const exponent = Math.exp(-elapsedSeconds / (60 * LOAD_MINUTES[i]!));
      this.values[i] = perMinute + exponent * (this.values[i]! - perMinute);
    }
  }
}

const sum = (values: readonly number[]): number => values.reduce((total, value) => total + value, 0);

/** The counted quantities that get `$SYS/broker/load/{name}/1min|5min|15min`. */
function loadCounts(source: SysSource): Record<string, number> {
  const { traffic, dropped, connectionsAccepted } = source.counters;
  return {
    'messages/received': traffic.packetsReceived,
    'messages/sent': traffic.packetsSent,
    'publish/received': sum(traffic.publishReceived),
    'publish/sent': sum(traffic.publishSent),
    'publish/dropped': sum(Object.values(dropped)),
    'bytes/received': traffic.bytesReceived,
    'bytes/sent': traffic.bytesSent,
    connections: connectionsAccepted,
  };
}

/**
 * `cluster/...`: this node, its link to Redis and the round trip, every node known with its state,
 * clients and routes, and the cross-node traffic (docs/operations.md lists them).
 */
export function clusterTopics(stats: ClusterStats): [string, string][] {
  const { counters } = stats;
  const out: [string, string][] = [
    ['cluster/node_id', stats.nodeId],
    ['cluster/link', stats.link],
    ['cluster/link/down_count', String(counters.linkDown)],
    ['cluster/link/up_count', String(counters.linkUp)],
    ['cluster/nodes/count', String(stats.nodes.length)],
    ['cluster/messages/forwarded', String(counters.forwarded)],
    ['cluster/messages/received', String(counters.received)],
    ['cluster/messages/duplicates', String(counters.duplicates)],
    ['cluster/messages/dropped', String(counters.droppedQoS0)],
    ['cluster/bytes/forwarded', String(counters.bytesForwarded)],
    ['cluster/bytes/received', String(counters.bytesReceived)],
    ['cluster/publish/refused', String(counters.refusedUnavailable)],
  ];
  // Absent until the first PING is answered (an empty retained payload would clear the topic).
  if (stats.roundTripMs !== undefined) out.push(['cluster/redis/rtt_ms', stats.roundTripMs.toFixed(3)]);
  for (const node of stats.nodes) {
    out.push([`cluster/nodes/${node.nodeId}/state`, node.state]);
    out.push([`cluster/nodes/${node.nodeId}/clients`, String(node.clients)]);
    out.push([`cluster/nodes/${node.nodeId}/routes`, String(node.routes)]);
  }
  return out;
}

/** Publishes the $SYS topics every `intervalSeconds` and, when asked, client events. */
export class SysPublisher {
  private timer: NodeJS.Timeout | undefined;
  /** The payload last published on each topic: a topic is published again only when it changes. */
  private readonly published = new Map<string, string>();
  private readonly loads = new Map<string, LoadAverage>();
  private readonly startedAt: number;
  private lastUpdate: number;
  private maximumClients = 0;
  private maximumHeap = 0;

  constructor(
    private readonly source: SysSource,
    private readonly intervalSeconds: number,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
    this.lastUpdate = this.startedAt;
    for (const [name, count] of Object.entries(loadCounts(source))) this.loads.set(name, new LoadAverage(count));
  }

  /** Publishes now, then every interval (nothing when the interval is 0). The timer keeps no process alive. */
  start(): void {
    if (this.intervalSeconds === 0 || this.timer !== undefined) return;
    this.publish();
    this.timer = setInterval(() => this.publish(), this.intervalSeconds * 1000).unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Computes every topic and publishes those whose value changed since they were last published. */
  publish(): void {
    for (const [topic, payload] of this.values()) {
      if (this.published.get(topic) === payload) continue;
      this.published.set(topic, payload);
      this.source.publishSys(topic, payload, true);
    }
  }

  /** Every $SYS topic with its payload now, as Mosquitto formats them. */
  values(): [string, string][] {
    const { source } = this;
    const now = this.now();
    const elapsed = (now - this.lastUpdate) / 1000;
    this.lastUpdate = now;
    const { traffic, dropped } = source.counters;
    const connected = source.connectedCount;
    this.maximumClients = Math.max(this.maximumClients, connected);
    const heap = process.memoryUsage().heapUsed;
    this.maximumHeap = Math.max(this.maximumHeap, heap);
    let subscriptions = 0;
    let stored = 0;
    for (const session of source.sessions.values()) {
      subscriptions += session.subscriptions.size;
      stored += session.queuedCount + session.inflightCount;
    }
    const total = source.sessions.size;
    const out: [string, string][] = [
      ['version', `fennec version ${version}`],
      ['uptime', `${Math.floor((now - this.startedAt) / 1000)} seconds`],
      ['clients/total', String(Math.max(total, connected))],
      ['clients/connected', String(connected)],
      ['clients/disconnected', String(Math.max(total - connected, 0))],
      ['clients/maximum', String(this.maximumClients)],
      ['messages/received', String(traffic.packetsReceived)],
      ['messages/sent', String(traffic.packetsSent)],
      ['messages/stored', String(stored + source.retainedCount)],
      ['store/messages/count', String(stored + source.retainedCount)],
      ['publish/messages/dropped', String(sum(Object.values(dropped)))],
      ['publish/messages/received', String(sum(traffic.publishReceived))],
      ['publish/messages/sent', String(sum(traffic.publishSent))],
      ['publish/bytes/received', String(sum(traffic.publishBytesReceived))],
      ['publish/bytes/sent', String(sum(traffic.publishBytesSent))],
      ['bytes/received', String(traffic.bytesReceived)],
      ['bytes/sent', String(traffic.bytesSent)],
      ['subscriptions/count', String(subscriptions)],
      ['retained messages/count', String(source.retainedCount)],
      ['heap/current', String(heap)],
      ['heap/maximum', String(this.maximumHeap)],
    ];
    // Drops by reason (the same names as the metric's `reason` label), and the spool.
    for (const [reason, count] of Object.entries(dropped))
      out.push([`publish/messages/dropped/${reason}`, String(count)]);
    const spool = source.spool.size;
    out.push(['spool/messages', String(spool.messages)], ['spool/bytes', String(spool.bytes)]);
    for (const [name, count] of Object.entries(loadCounts(source))) {
      const load = this.loads.get(name)!;
      load.update(count, elapsed);
      LOAD_MINUTES.forEach((minutes, i) => out.push([`load/${name}/${minutes}min`, load.values[i]!.toFixed(2)]));
    }
    const cluster = source.bus?.stats?.();
    if (cluster !== undefined) out.push(...clusterTopics(cluster));
    return out.map(([topic, payload]) => [`$SYS/broker/${topic}`, payload]);
  }

  /**
   * `$SYS/broker/clients/{client id}/connected` or `.../disconnected`, not retained, with a JSON
   * payload. A client id holding `+` or `#` cannot be in a topic name and gets no event.
   */
  clientEvent(client: ClientInfo, event: 'connected' | 'disconnected'): void {
    const id = client.clientId;
    if (id === '' || id.includes('+') || id.includes('#')) return;
    const payload = JSON.stringify({
      clientId: id,
      username: client.username ?? null,
      remoteAddress: client.remoteAddress ?? null,
      protocolVersion: client.protocolVersion,
      timestamp: new Date(this.now()).toISOString(),
    });
    this.source.publishSys(`$SYS/broker/clients/${id}/${event}`, payload, false);
  }
}
