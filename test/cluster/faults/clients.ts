/**
 * The clients of a fault-injection run, MQTT.js over plain TCP, each logging every event to the
 * run's History:
 * - a Subscriber keeps one persistent session (clean start / clean session false) subscribed to
 *   `fault/#` at QoS 1 or 2; one MQTT.js client object for its whole life, so that its QoS 2 state
 *   (packet ids between PUBREC and PUBREL) survives reconnections; it reconnects wherever `pick` says;
 * - a Publisher publishes numbered messages (`fault/PUBLISHER`, payload: publisher, sequence and a
 *   filler derived from both) at one QoS through a node `pick` chooses, a few in flight; when its
 *   connection dies it records what was in flight as unknown and connects anew (clean start) to
 *   another node, never sending an unacknowledged message again (so a QoS 2 message is published once).
 */
import { createConnection } from 'node:net';
import mqtt from 'mqtt';
import type { FaultNode } from './nodes.js';
import type { FaultQoS, History } from './history.js';

/** The payload of message `seq` of `publisher`. */
export function payloadOf(publisher: string, seq: number): string {
  const filler = ((seq * 2654435761) >>> 0).toString(16).padStart(8, '0');
  return `${publisher}|${seq}|${filler.repeat(4)}`;
}

/** The publisher and sequence of a payload, and whether it is intact. */
function parsePayload(payload: Buffer): { publisher: string; seq: number; intact: boolean } | undefined {
  const [publisher, seq] = payload.toString().split('|');
  if (publisher === undefined || seq === undefined || !/^\d+$/.test(seq)) return undefined;
  return { publisher, seq: Number(seq), intact: payload.toString() === payloadOf(publisher, Number(seq)) };
}

/** Picks the node of the next connection; undefined when none runs. */
export type NodePicker = () => FaultNode | undefined;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP stream to the picked node (to a closed port when it does not listen: refused, then retried). */
function streamTo(node: FaultNode | undefined): ReturnType<typeof createConnection> {
  const port = node !== undefined && node.port > 0 ? node.port : 1;
  return createConnection({ host: '127.0.0.1', port });
}

export interface SubscriberSpec {
  id: string;
  version: 4 | 5;
  qos: FaultQoS;
}

export class Subscriber {
  /** Nodes a probe came from (`fault/probe/NODE`), to know the routes are in place. */
  readonly probes = new Set<string>();
  /** `publisher/seq` of every message delivered. */
  readonly delivered = new Set<string>();
  private conn = 0;
  private node = '';
  private subscribed = false;
  private client: mqtt.MqttClient | undefined;

  constructor(
    readonly spec: SubscriberSpec,
    private readonly history: History,
    private readonly pick: NodePicker,
  ) {}

  start(): void {
    const { id, version, qos } = this.spec;
    const client = new mqtt.MqttClient(
      () => {
        const node = this.pick();
        this.conn++;
        this.node = node?.id ?? 'none';
        return streamTo(node);
      },
      {
        clientId: id,
        protocolVersion: version,
        clean: false,
        ...(version === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
        reconnectPeriod: 250,
        connectTimeout: 5000,
        keepalive: 10,
        // A session that was lost must show as lost, not be papered over by subscribing again.
        resubscribe: false,
      },
    );
    this.client = client;
    client.on('error', () => undefined);
    client.on('connect', (connack) => {
      const conn = this.conn;
      this.history.add({
        type: 'connected',
        client: id,
        node: this.node,
        conn,
        sessionPresent: connack.sessionPresent,
      });
      if (this.subscribed) return;
      this.subscribed = true;
      client.subscribe('fault/#', { qos }, (err, granted) => {
        const grant = granted?.[0]?.qos;
        if (err !== null || (grant !== 1 && grant !== 2)) this.subscribed = false;
        else this.history.add({ type: 'subscribed', subscriber: id, qos: grant });
      });
    });
    client.on('close', () => this.history.add({ type: 'closed', client: id, conn: this.conn }));
    client.on('message', (topic, payload, packet) => {
      if (topic.startsWith('fault/probe/')) {
        this.probes.add(topic.slice('fault/probe/'.length));
        return;
      }
      const parsed = parsePayload(payload);
      const publisher = parsed?.publisher ?? topic;
      const seq = parsed?.seq ?? -1;
      this.delivered.add(`${publisher}/${seq}`);
      this.history.add({
        type: 'deliver',
        subscriber: id,
        publisher,
        seq,
        qos: packet.qos,
        dup: packet.dup,
        conn: this.conn,
        intact: parsed?.intact ?? false,
      });
    });
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true);
  }
}

export interface PublisherSpec {
  id: string;
  version: 4 | 5;
  qos: FaultQoS;
  /** Messages in flight at most. */
  window: number;
  /** Pause between two sends, in ms. */
  intervalMs: number;
}

export class Publisher {
  /** Sequence numbers in flight (sent, neither acknowledged nor given up). */
  private readonly outstanding = new Set<number>();
  private seq = 0;
  private conn = 0;
  private stopping = false;
  /** True while stop() still waits for acknowledgements: the connection stays open meanwhile. */
  private settling = true;
  private running: Promise<void> | undefined;

  constructor(
    readonly spec: PublisherSpec,
    private readonly history: History,
    private readonly pick: NodePicker,
  ) {}

  start(): void {
    this.running = this.run();
  }

  /** Stops sending; waits up to `settleMs` for what is in flight, then closes. */
  async stop(settleMs: number): Promise<void> {
    this.stopping = true;
    const deadline = Date.now() + settleMs;
    while (this.outstanding.size > 0 && Date.now() < deadline) await sleep(50);
    this.settling = false;
    await this.running;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const node = this.pick();
      if (node === undefined) {
        await sleep(100);
        continue;
      }
      const conn = ++this.conn;
      const client = await this.connect(node, conn);
      if (client === undefined) {
        await sleep(100);
        continue;
      }
      await this.publishUntilClosed(client, conn, node.id);
    }
  }

  /** Connects to `node` with a clean session; undefined when that fails. */
  private async connect(node: FaultNode, conn: number): Promise<mqtt.MqttClient | undefined> {
    const { id, version } = this.spec;
    const client = new mqtt.MqttClient(() => streamTo(node), {
      clientId: id,
      protocolVersion: version,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      keepalive: 10,
    });
    client.on('error', () => undefined);
    const ok = await new Promise<boolean>((resolve) => {
      client.once('connect', () => resolve(true));
      client.once('close', () => resolve(false));
    });
    if (!ok) {
      client.end(true);
      return undefined;
    }
    this.history.add({ type: 'connected', client: id, node: node.id, conn, sessionPresent: false });
    return client;
  }

  private async publishUntilClosed(client: mqtt.MqttClient, conn: number, node: string): Promise<void> {
    const { id, qos, window, intervalMs } = this.spec;
    let alive = true;
    const mine = new Set<number>();
    const giveUp = (reason: string): void => {
      for (const seq of mine) {
        if (this.outstanding.delete(seq)) this.history.add({ type: 'unknown', publisher: id, seq, reason });
      }
      mine.clear();
    };
    client.once('close', () => {
      alive = false;
      this.history.add({ type: 'closed', client: id, conn });
      giveUp('connection closed before the acknowledgement');
    });
    while (alive && !this.stopping) {
      if (this.outstanding.size >= window) {
        await sleep(2);
        continue;
      }
      const seq = ++this.seq;
      this.outstanding.add(seq);
      mine.add(seq);
      this.history.add({ type: 'send', publisher: id, seq, qos, conn, node });
      client.publish(`fault/${id}`, payloadOf(id, seq), { qos }, (err) => {
        if (!this.outstanding.delete(seq)) return;
        mine.delete(seq);
        if (err === undefined || err === null) this.history.add({ type: 'ack', publisher: id, seq });
        else this.history.add({ type: 'unknown', publisher: id, seq, reason: err.message });
      });
      await sleep(intervalMs);
    }
    while (alive && this.settling && mine.size > 0) await sleep(20);
    giveUp('publisher stopped before the acknowledgement');
    await client.endAsync(true);
  }
}
