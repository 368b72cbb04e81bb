/**
 * Prometheus metrics of a Broker with prom-client, on a registry of their own. Nearly all are read
 * from the broker's counters and state when scraped (a `collect` per metric), so the hot path only
 * increments plain integers; the persistence histograms observe each commit (once per batch, not
 * per message) through `fennec:persistence.committed`. Names and labels are listed in
 * docs/operations.md.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Broker } from '../broker/broker.js';
import { committedChannel, type CommittedMessage } from '../broker/persistence.js';
import type { ByQoS } from '../broker/traffic.js';
import { addClusterMetrics } from './cluster-metrics.js';

/** What one pass over the sessions gives the gauges of a scrape. */
interface SessionSnapshot {
  online: number;
  offline: number;
  queued: number;
  inflight: number;
  subscriptions: number;
}

const QOS_LABELS = ['0', '1', '2'] as const;

export class BrokerMetrics {
  readonly registry = new Registry();
  private readonly commitSeconds: Histogram;
  private readonly commitOperations: Histogram;
  private readonly onCommitted = (message: unknown): void => {
    const { persistence, seconds, operations } = message as CommittedMessage;
    if (persistence !== this.broker.persistence) return;
    this.commitSeconds.observe(seconds);
    this.commitOperations.observe(operations);
  };

  constructor(private readonly broker: Broker) {
    const registers = [this.registry];
    // Process and Node.js metrics: CPU, resident memory, heap, event-loop lag, GC, handles.
    collectDefaultMetrics({ register: this.registry });
    this.addConnectionMetrics();
    this.addTrafficMetrics();
    this.addSessionMetrics();
    this.addCounterMetrics();
    this.commitSeconds = new Histogram({
      name: 'fennec_persistence_commit_duration_seconds',
      help: 'Time the store took to commit one batch of operations.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.commitOperations = new Histogram({
      name: 'fennec_persistence_commit_operations',
      help: 'Store operations in one committed batch.',
      buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
      registers,
    });
    const persistence = broker.persistence;
    new Counter({
      name: 'fennec_persistence_commit_failures_total',
      help: 'Commits the store refused (retried until one succeeds; acknowledgements wait meanwhile).',
      registers,
      collect() {
        this.reset();
        this.inc(persistence?.counters.failures ?? 0);
      },
    });
    const utilization = { last: performance.eventLoopUtilization() };
    new Gauge({
      name: 'fennec_event_loop_utilization_ratio',
      help: 'Share of the time since the previous scrape the event loop was busy (0 to 1).',
      registers,
      collect() {
        const now = performance.eventLoopUtilization();
        this.set(performance.eventLoopUtilization(now, utilization.last).utilization);
        utilization.last = now;
      },
    });
    const stats = broker.bus?.stats?.bind(broker.bus);
    if (stats !== undefined) addClusterMetrics(this.registry, { stats });
    diagnosticsChannel.subscribe(committedChannel.name, this.onCommitted);
  }

  /** The metrics in Prometheus' text format. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops observing commits. */
  close(): void {
    diagnosticsChannel.unsubscribe(committedChannel.name, this.onCommitted);
  }

  private addConnectionMetrics(): void {
    const { broker } = this;
    new Gauge({
      name: 'fennec_connections',
      help: 'Connected clients (CONNECT accepted), by listener and MQTT protocol version (3, 4 = 3.1.1, 5).',
      labelNames: ['listener', 'protocol_version'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const connection of broker.clients.values()) {
          // The listener's name (`mqtt`, `ws`, or its `name:`); `other` for a stream given to `broker.handle()`.
          const listener = connection.info.listener ?? 'other';
          this.inc({ listener, protocol_version: String(connection.version) });
        }
      },
    });
    new Counter({
      name: 'fennec_connections_accepted_total',
      help: 'Network connections accepted, before CONNECT.',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(broker.counters.connectionsAccepted);
      },
    });
  }

  private addTrafficMetrics(): void {
    const traffic = this.broker.counters.traffic;
    const registers = [this.registry];
    const byQoS = (name: string, help: string, values: ByQoS): void => {
      new Counter({
        name,
        help,
        labelNames: ['qos'],
        registers,
        collect() {
          this.reset();
          QOS_LABELS.forEach((qos, i) => this.inc({ qos }, values[i]));
        },
      });
    };
    byQoS('fennec_messages_received_total', 'PUBLISH packets read from clients, by QoS.', traffic.publishReceived);
    byQoS('fennec_messages_sent_total', 'PUBLISH packets written to clients, by QoS.', traffic.publishSent);
    byQoS(
      'fennec_message_bytes_received_total',
      'Bytes of PUBLISH packets read from clients, fixed header included, by QoS.',
      traffic.publishBytesReceived,
    );
    byQoS(
      'fennec_message_bytes_sent_total',
      'Bytes of PUBLISH packets written to clients, fixed header included, by QoS.',
      traffic.publishBytesSent,
    );
    const plain = (name: string, help: string, read: () => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    };
    plain(
      'fennec_packets_received_total',
      'MQTT packets of every type read from clients.',
      () => traffic.packetsReceived,
    );
    plain('fennec_packets_sent_total', 'MQTT packets of every type written to clients.', () => traffic.packetsSent);
    plain('fennec_bytes_received_total', 'Bytes read from clients.', () => traffic.bytesReceived);
    plain('fennec_bytes_sent_total', 'Bytes written to clients.', () => traffic.bytesSent);
    plain(
      'fennec_deliveries_total',
      'Deliveries of routed messages to sessions (one per matching session).',
      () => this.broker.counters.messagesRouted,
    );
  }

  private addSessionMetrics(): void {
    const { broker } = this;
    const registers = [this.registry];
    const take = (): SessionSnapshot => {
      const snapshot = { online: 0, offline: 0, queued: 0, inflight: 0, subscriptions: 0 };
      for (const session of broker.sessions.values()) {
        if (session.online) snapshot.online++;
        else snapshot.offline++;
        snapshot.queued += session.queuedCount;
        snapshot.inflight += session.inflightCount;
        snapshot.subscriptions += session.subscriptions.size;
      }
      return snapshot;
    };
    // The first gauge of a scrape walks the sessions once; the ones after it read that walk.
    const last = { snapshot: take() };
    new Gauge({
      name: 'fennec_sessions',
      help: 'Sessions, by state: online (a client connected) or offline (kept for a client to resume).',
      labelNames: ['state'],
      registers,
      collect() {
        last.snapshot = take();
        this.set({ state: 'online' }, last.snapshot.online);
        this.set({ state: 'offline' }, last.snapshot.offline);
      },
    });
    const fromSnapshot = (name: string, help: string, field: keyof SessionSnapshot): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(last.snapshot[field]);
        },
      });
    };
    fromSnapshot('fennec_queued_messages', 'Messages waiting in session queues.', 'queued');
    fromSnapshot('fennec_inflight_messages', 'QoS 1/2 messages sent and not yet acknowledged.', 'inflight');
    fromSnapshot('fennec_subscriptions', 'Subscriptions of every session.', 'subscriptions');
    new Gauge({
      name: 'fennec_spool_messages',
      help: 'QoS 1/2 deliveries waiting in the spool on disk, beyond the memory queues (all sessions).',
      registers,
      collect() {
        this.set(broker.spool.size.messages);
      },
    });
    new Gauge({
      name: 'fennec_spool_bytes',
      help: 'Payload bytes of the deliveries waiting in the spool on disk (what max_spool_bytes limits).',
      registers,
      collect() {
        this.set(broker.spool.size.bytes);
      },
    });
    new Gauge({
      name: 'fennec_retained_messages',
      help: 'Retained messages held, $SYS ones included.',
      registers,
      collect() {
        this.set(broker.retained.size);
      },
    });
  }

  private addCounterMetrics(): void {
    const { counters } = this.broker;
    const registers = [this.registry];
    new Counter({
      name: 'fennec_messages_dropped_total',
      help: 'Deliveries dropped, by reason (queue-full, queue-bytes-full, slow-reader, offline-qos0, too-large, expired, spool-session-full, spool-full).',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, count] of Object.entries(counters.dropped)) this.inc({ reason }, count);
      },
    });
    new Counter({
      name: 'fennec_limit_hits_total',
      help: 'Times each limit triggered, by limit option name (maxConnections, maxPublishRate...).',
      labelNames: ['limit'],
      registers,
      collect() {
        this.reset();
        for (const [limit, count] of Object.entries(counters.limits)) this.inc({ limit }, count);
      },
    });
    new Counter({
      name: 'fennec_login_failures_total',
      help: 'CONNECTs refused as bad credentials or not authorized (0x86 / 0x87; 3.1.1: 4 / 5).',
      registers,
      collect() {
        this.reset();
        this.inc(counters.loginFailures);
      },
    });
    new Counter({
      name: 'fennec_login_failures_delayed_total',
      help: 'Of those, refusals delayed because their address had failed too often.',
      registers,
      collect() {
        this.reset();
        this.inc(counters.loginFailuresDelayed);
      },
    });
  }
}
