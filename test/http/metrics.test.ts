// Prometheus metrics at /metrics after known traffic: exact counter values for messages and bytes by
// QoS, connections by listener and protocol version, sessions, queues, the spool, drops by reason,
// limit hits, failed logins, persistence commits; the process and event-loop metrics present.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker, waitUntil } from '../helpers/broker.js';
import { AdminServer } from '../../src/http/server.js';
import { MemoryStore } from '../../src/store/memory.js';

/** The value of the sample `name{labels}` in a Prometheus text exposition; undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const have = (match[2] ?? '').split(',').filter(Boolean).sort().join(',');
    if (have === wanted) return Number(match[3]);
  }
  return undefined;
}

/** The `# TYPE` line of a metric. */
function typeOf(text: string, name: string): string | undefined {
  return new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(text)?.[1];
}

describe('metrics', () => {
  it('counts messages and bytes in and out by QoS, exactly, after known traffic', async (t) => {
    const { broker, port } = await startBroker(t);
    const admin = new AdminServer(broker, { port: 0 });
    const address = await admin.listen();
    t.after(() => admin.close());
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe('m/#', 2);
    const pub = await RawClient.connect(port, { version: 4, clientId: 'pub' });
    const sent = [
      { topic: 'm/a', payload: 'one', qos: 0 },
      { topic: 'm/a', payload: 'two', qos: 0 },
      { topic: 'm/b', payload: 'three', qos: 1 },
      { topic: 'm/c', payload: 'four', qos: 2 },
    ] as const;
    for (const options of sent) await pub.publish(options);
    const bytesOut = [0, 0, 0];
    for (let i = 0; i < sent.length; i++) {
      const message = await sub.next('publish');
      bytesOut[message.qos]! += pkt.publish(5, { ...sent[i]!, packetId: 1 }).length;
      if (message.qos === 1) sub.send(pkt.puback(5, message.packetId));
      if (message.qos === 2) {
        sub.send(pkt.pubrec(5, message.packetId));
        await sub.next('pubrel');
        sub.send(pkt.pubcomp(5, message.packetId));
      }
    }
    // In: 2 CONNECT, SUBSCRIBE, 4 PUBLISH, PUBREL (publisher), PUBACK, PUBREC, PUBCOMP (subscriber).
    await waitUntil(() => broker.counters.traffic.packetsReceived === 11, 'every acknowledgement is read');
    const response = await fetch(`http://127.0.0.1:${address.port}/metrics`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await response.text();

    const bytesIn = [0, 0, 0];
    for (const options of sent) bytesIn[options.qos]! += pkt.publish(4, { ...options, packetId: 1 }).length;
    for (const qos of [0, 1, 2]) {
      const q = { qos: String(qos) };
      assert.equal(sample(text, 'fennec_messages_received_total', q), qos === 0 ? 2 : 1, `received QoS ${qos}`);
      assert.equal(sample(text, 'fennec_messages_sent_total', q), qos === 0 ? 2 : 1, `sent QoS ${qos}`);
      assert.equal(sample(text, 'fennec_message_bytes_received_total', q), bytesIn[qos], `bytes in QoS ${qos}`);
      assert.equal(sample(text, 'fennec_message_bytes_sent_total', q), bytesOut[qos], `bytes out QoS ${qos}`);
    }
    assert.equal(typeOf(text, 'fennec_messages_received_total'), 'counter');
    assert.equal(sample(text, 'fennec_packets_received_total'), 11);
    // Out: 2 CONNACK, SUBACK, 4 PUBLISH, PUBACK, PUBREC, PUBCOMP (to the publisher), PUBREL (to the subscriber).
    assert.equal(sample(text, 'fennec_packets_sent_total'), 11);
    assert.equal(sample(text, 'fennec_bytes_received_total'), broker.counters.traffic.bytesReceived);
    assert.equal(sample(text, 'fennec_deliveries_total'), 4);
    assert.equal(sample(text, 'fennec_connections', { listener: 'mqtt', protocol_version: '5' }), 1);
    assert.equal(sample(text, 'fennec_connections', { listener: 'mqtt', protocol_version: '4' }), 1);
    assert.equal(typeOf(text, 'fennec_connections'), 'gauge');
    assert.equal(sample(text, 'fennec_connections_accepted_total'), 2);
    assert.equal(sample(text, 'fennec_sessions', { state: 'online' }), 2);
    assert.equal(sample(text, 'fennec_sessions', { state: 'offline' }), 0);
    assert.equal(sample(text, 'fennec_subscriptions'), 1);
    // Process, Node.js and event-loop metrics.
    for (const name of [
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
      'fennec_event_loop_utilization_ratio',
    ]) {
      assert.ok((sample(text, name) ?? -1) >= 0, `${name} is present`);
    }
  });

  it('counts drops by reason, limit hits by limit, failed logins, queues, retained messages and store commits', async (t) => {
    const store = new MemoryStore();
    const { broker, port } = await startBroker(t, {
      store,
      allowAnonymous: false,
      maxQueuedMessages: 1,
      maxSpoolBytes: 0, // no spool: the full queue drops
      maxSubscriptionsPerClient: 1,
    });
    const admin = new AdminServer(broker, { port: 0 });
    t.after(() => admin.close());
    const keeper = await RawClient.connect(port, { clientId: 'keeper', clean: false, username: 'ok' });
    await keeper.subscribe('d/#', 1);
    // A second filter goes over maxSubscriptionsPerClient: refused and counted.
    assert.deepEqual(await keeper.subscribe('e/#', 1), [0x80]);
    keeper.destroy();
    await waitUntil(() => broker.sessions.get('keeper')?.online === false, 'keeper is offline');
    const pub = await RawClient.connect(port, { clientId: 'pub', username: 'ok' });
    // The offline session queues one message; the next two find its queue full.
    for (const payload of ['1', '2', '3']) await pub.publish({ topic: 'd/x', payload, qos: 1 });
    await pub.publish({ topic: 'kept', payload: 'r', qos: 1, retain: true });
    const anonymous = await RawClient.open(port);
    anonymous.send(pkt.connect({ clientId: 'nobody' }));
    assert.equal((await anonymous.next('connack')).reasonCode, 5);
    const text = (await (
      await admin.dispatch({
        method: 'GET',
        url: '/metrics',
        remoteAddress: '127.0.0.1',
        headers: {},
        body: Buffer.alloc(0),
      })
    ).body) as string;

    assert.equal(sample(text, 'fennec_messages_dropped_total', { reason: 'queue-full' }), 2);
    assert.equal(sample(text, 'fennec_messages_dropped_total', { reason: 'slow-reader' }), 0);
    assert.equal(sample(text, 'fennec_limit_hits_total', { limit: 'maxSubscriptionsPerClient' }), 1);
    assert.equal(sample(text, 'fennec_limit_hits_total', { limit: 'maxConnections' }), 0);
    assert.equal(sample(text, 'fennec_login_failures_total'), 1);
    assert.equal(sample(text, 'fennec_sessions', { state: 'offline' }), 1);
    assert.equal(sample(text, 'fennec_queued_messages'), 1);
    assert.equal(sample(text, 'fennec_inflight_messages'), 0);
    assert.equal(sample(text, 'fennec_retained_messages'), 1);
    assert.equal(typeOf(text, 'fennec_persistence_commit_duration_seconds'), 'histogram');
    const commits = sample(text, 'fennec_persistence_commit_duration_seconds_count') ?? 0;
    assert.equal(commits, broker.persistence!.counters.commits, 'every commit since the server started is observed');
    assert.ok(commits > 0);
    assert.equal(sample(text, 'fennec_persistence_commit_operations_count'), commits);
    assert.equal(sample(text, 'fennec_persistence_commit_failures_total'), 0);
  });

  it('reports the spool: its messages and payload bytes over all sessions, and its drops by reason', async (t) => {
    const { broker, port } = await startBroker(t, { maxQueuedMessages: 2, maxSpooledBytesPerSession: 300 });
    const admin = new AdminServer(broker, { port: 0 });
    t.after(() => admin.close());
    const sub = await RawClient.connect(port, { clientId: 'spooled', clean: false });
    await sub.subscribe('s/#', 1);
    await sub.disconnect();
    const pub = await RawClient.connect(port, { clientId: 'pub' });
    // 2 in the memory queue, 3 of 100 bytes in the spool, 3 past max_spooled_bytes_per_session.
    for (let i = 0; i < 8; i++) await pub.publish({ topic: 's/x', payload: Buffer.alloc(100, i), qos: 1 });
    const scrape = async (): Promise<string> =>
      (await (
        await admin.dispatch({
          method: 'GET',
          url: '/metrics',
          remoteAddress: '127.0.0.1',
          headers: {},
          body: Buffer.alloc(0),
        })
      ).body) as string;
    let text = await scrape();
    assert.equal(typeOf(text, 'fennec_spool_messages'), 'gauge');
    assert.equal(sample(text, 'fennec_spool_messages'), 3);
    assert.equal(sample(text, 'fennec_spool_bytes'), 300);
    assert.equal(sample(text, 'fennec_messages_dropped_total', { reason: 'spool-session-full' }), 3);
    assert.equal(sample(text, 'fennec_messages_dropped_total', { reason: 'spool-full' }), 0);
    assert.equal(sample(text, 'fennec_messages_dropped_total', { reason: 'queue-full' }), 0);
    const back = await RawClient.connect(port, { clientId: 'spooled', clean: false });
    for (let i = 0; i < 5; i++) await back.receive();
    await waitUntil(() => broker.spool.size.messages === 0, 'the spool to drain');
    text = await scrape();
    assert.equal(sample(text, 'fennec_spool_messages'), 0);
    assert.equal(sample(text, 'fennec_spool_bytes'), 0);
  });
});
