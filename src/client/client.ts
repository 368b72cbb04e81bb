/**
 * The MQTT client: a Session (subscriptions, QoS 1/2 flows, the offline queue) kept across
 * connections, attached to one Wire at a time. Promises settle when the broker acknowledges;
 * the link is re-made with backoff when it drops, and the session resumed.
 */
import { EventEmitter } from 'node:events';
import {
  ReasonCode,
  type ConnackPacket,
  type ConnackProperties,
  type Packet,
  type PublishPacket,
  type Subscription,
} from '../protocol/index.js';
import { Session } from '../session/session.js';
import { delivery, type Delivery } from '../session/message.js';
import { validateTopicFilter, validateTopicName } from '../topic/index.js';
import { toFennecError } from '../errors/index.js';
import { hex, MqttClientError } from './errors.js';
import { attempt, connectPacket } from './handshake.js';
import { MessageStreams, type ClientMessage, type MessageStream } from './messages.js';
import {
  reconnectDelay,
  resolveOptions,
  type ClientOptions,
  type PublishOptions,
  type ResolvedOptions,
  type SubscribeOptions,
  type SubscriptionRequest,
} from './options.js';
import { parseEndpoint, type Endpoint } from './transport.js';
import type { Wire } from './wire.js';

/** What a CONNACK said, as the `connect` event gives it. */
export interface ConnackInfo {
  sessionPresent: boolean;
  properties: ConnackProperties | undefined;
}

/** The client's events and their arguments. */
export interface ClientEventMap {
  /** A connection was accepted (the first one and every reconnect). */
  connect: [ConnackInfo];
  /** A reconnect attempt starts; `attempt` counts from 1 since the link was last up. */
  reconnect: [attempt: number];
  /** The link went down; the reason says why. The client reconnects unless told not to. */
  offline: [MqttClientError];
  /** The client is closed for good: `end()`, or the link dropped with reconnect off. */
  close: [];
  /** A failure not tied to a call: a refused reconnect. Emitted only when someone listens. */
  error: [MqttClientError];
  /** A message arrived. */
  message: [ClientMessage];
}

/** The client's state: one value, changed in `setState`. */
type ClientState = 'online' | 'offline' | 'reconnecting' | 'closed';

interface Pending<T> {
  resolve(value: T): void;
  reject(error: MqttClientError): void;
}

/** A SUBSCRIBE or UNSUBSCRIBE awaiting its acknowledgement; re-sent when the link is re-made. */
interface Request {
  packet: Packet & { type: 'subscribe' | 'unsubscribe' };
  pending: Pending<number[]>;
}

export class MqttClient extends EventEmitter<ClientEventMap> {
  /** The Client Identifier in use (the broker's assigned one, if it assigned one). */
  clientId: string;
  private state: ClientState = 'offline';
  private readonly session: Session;
  private wire: Wire | undefined;
  private readonly publishes = new Map<Delivery, Pending<void>>();
  private readonly requests = new Map<number, Request>();
  private readonly streams: MessageStreams;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private onlineSince = 0;
  /** The broker's Maximum Packet Size from the last CONNACK, to refuse what it would not take also while offline. */
  private maximumPacketSize = Number.POSITIVE_INFINITY;
  /** @internal use `connect(url, options)`. */
  constructor(
    private readonly endpoint: Endpoint,
    private readonly options: ClientOptions,
    private readonly resolved: ResolvedOptions,
  ) {
    super();
    this.clientId = resolved.clientId;
    this.session = new Session(resolved.clientId, resolved.sessionExpiryInterval, {
      maxInflightMessages: resolved.maxInflightMessages,
      maxQueuedMessages: resolved.maxQueuedMessages,
    });
    this.streams = new MessageStreams(resolved.maxBufferedMessages);
  }

  /** Whether the client is connected now. */
  get connected(): boolean {
    return this.state === 'online';
  }

  /** QoS 1/2 messages waiting to be sent (offline, or the in-flight window full). */
  get queuedCount(): number {
    return this.session.queuedCount;
  }

  /**
   * Publishes a message. QoS 0 resolves once written (rejects with ERR_CLIENT_OFFLINE when not
   * connected); QoS 1 on PUBACK, QoS 2 on PUBCOMP; a reason code of 0x80 or more rejects with
   * ERR_CLIENT_PUBLISH_REFUSED. While offline, QoS 1/2 waits in the queue (ERR_CLIENT_QUEUE_FULL when full).
   */
  publish(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    if (this.state === 'closed') return Promise.reject(this.closedError());
    try {
      validateTopicName(topic);
    } catch (err) {
      return Promise.reject(toFennecError(err));
    }
    const qos = options.qos ?? 0;
    const message = {
      topic,
      payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
      qos,
      retain: options.retain ?? false,
      properties: this.resolved.protocolVersion === 5 ? options.properties : undefined,
      publisherId: this.clientId,
      receivedAt: Date.now(),
    };
    const d = delivery(message, qos, message.retain, undefined);
    const wire = this.wire;
    // The size of the PUBLISH as it would go (id 1 stands for any); topic aliases are never used here
    const size = (wire?.link.encodeDelivery(d, qos === 0 ? 0 : 1, false)?.length ?? 0) || undefined;
    if ((wire !== undefined && size === undefined) || (size ?? 0) > this.maximumPacketSize) {
      return Promise.reject(
        new MqttClientError('ERR_CLIENT_TOO_LARGE', `the PUBLISH to ${topic} is larger than the broker takes`, {
          reasonCode: ReasonCode.PacketTooLarge,
        }),
      );
    }
    if (qos === 0) {
      if (wire === undefined || this.state !== 'online') {
        return Promise.reject(new MqttClientError('ERR_CLIENT_OFFLINE', 'QoS 0 is not queued while offline'));
      }
      return new Promise<void>((resolve, reject) => {
        wire.write(wire.link.encodeDelivery(d, 0, false)!, (err) =>
          err ? reject(new MqttClientError('ERR_CLIENT_DISCONNECTED', 'the link closed', { cause: err })) : resolve(),
        );
      });
    }
    if (this.session.queuedCount >= this.resolved.maxQueuedMessages && !this.canSendNow()) {
      return Promise.reject(
        new MqttClientError('ERR_CLIENT_QUEUE_FULL', `${this.resolved.maxQueuedMessages} messages already wait`),
      );
    }
    return new Promise<void>((resolve, reject) => {
      this.publishes.set(d, { resolve, reject });
      this.session.deliver(d);
    });
  }

  /** Whether the session would send a QoS 1/2 message at once rather than queue it. */
  private canSendNow(): boolean {
    return this.state === 'online' && this.session.readiness(1) === 3;
  }

  /**
   * Subscribes; resolves with one reason code per filter: the granted QoS, or a failure code
   * (0x80 or more), reported, not thrown. While offline the SUBSCRIBE is sent on reconnect.
   */
  subscribe(
    filters: string | SubscriptionRequest | (string | SubscriptionRequest)[],
    options: SubscribeOptions = {},
  ): Promise<number[]> {
    const list = (Array.isArray(filters) ? filters : [filters]).map((f): Subscription =>
      typeof f === 'string'
        ? { topicFilter: f, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }
        : {
            topicFilter: f.topicFilter,
            qos: f.qos ?? 0,
            noLocal: f.noLocal ?? false,
            retainAsPublished: f.retainAsPublished ?? false,
            retainHandling: f.retainHandling ?? 0,
          },
    );
    try {
      for (const s of list) validateTopicFilter(s.topicFilter);
    } catch (err) {
      return Promise.reject(toFennecError(err));
    }
    const properties = this.resolved.protocolVersion === 5 ? options.properties : undefined;
    return this.request({ type: 'subscribe', packetId: 0, subscriptions: list, properties });
  }

  /** Unsubscribes; resolves with the 5.0 reason codes (an empty list in 3.1.1, whose UNSUBACK has none). */
  unsubscribe(filters: string | string[]): Promise<number[]> {
    const topicFilters = Array.isArray(filters) ? filters : [filters];
    return this.request({ type: 'unsubscribe', packetId: 0, topicFilters });
  }

  private request(packet: Request['packet']): Promise<number[]> {
    if (this.state === 'closed') return Promise.reject(this.closedError());
    return new Promise<number[]>((resolve, reject) => {
      packet.packetId = this.session.reservePacketId();
      this.requests.set(packet.packetId, { packet, pending: { resolve, reject } });
      if (this.state === 'online') this.wire?.send(packet);
    });
  }

  /**
   * The messages whose topic matches `filter` (default `#`), as an async iterator; it ends at
   * `end()`. It does not subscribe: subscribe for the broker to send them.
   */
  messages(filter = '#'): MessageStream {
    const stream = this.streams.open(filter);
    if (this.state === 'closed') stream.end();
    return stream;
  }

  /**
   * Ends the client: DISCONNECT, then the link closes. Pending publishes and requests reject with
   * ERR_CLIENT_CLOSED, and the message iterators end.
   */
  async end(): Promise<void> {
    if (this.state === 'closed') return;
    const wire = this.wire;
    this.setState('closed');
    clearTimeout(this.reconnectTimer);
    this.wire = undefined;
    if (wire !== undefined) {
      this.session.detach(wire);
      await wire.finish({ type: 'disconnect', reasonCode: ReasonCode.NormalDisconnection }, this.closedError());
    }
    this.failPending(this.closedError());
    this.streams.endAll();
    this.emit('close');
  }

  /** @internal the first connection: rejects, and closes the client, when it fails. */
  async open(): Promise<this> {
    try {
      await this.connectOnce(false);
    } catch (err) {
      this.setState('closed');
      throw err;
    }
    return this;
  }

  private async connectOnce(resume: boolean): Promise<void> {
    const connect = connectPacket(this.endpoint, this.options, this.resolved, resume);
    const { wire, connack } = await attempt(this.endpoint, this.options, this.resolved, connect);
    if (this.state === 'closed') {
      wire.close(this.closedError());
      return;
    }
    this.online(wire, connack, resume);
  }

  /** A connection was accepted: the session resumes on it, or starts anew, and what waits is sent. */
  private online(wire: Wire, connack: ConnackPacket, resumed: boolean): void {
    const assigned = connack.properties?.assignedClientIdentifier;
    if (assigned !== undefined) this.clientId = assigned;
    this.maximumPacketSize = wire.link.peerMaximumPacketSize;
    this.wire = wire;
    this.onlineSince = Date.now();
    this.setState('online');
    wire.start({
      packet: (packet) => this.onPacket(wire, packet),
      drain: () => this.session.pump(),
      closed: (reason) => this.offline(wire, reason),
    });
    if (resumed && !connack.sessionPresent) {
      // The broker kept nothing: what it had received is done, the rest is sent anew, and the
      // subscriptions are made again by the client itself
      for (const d of this.session.resetFlows()) this.settle(d, undefined);
      this.resubscribe(wire);
    }
    for (const { packet } of this.requests.values()) wire.send(packet);
    // [MQTT-4.4.0-1]: unacknowledged PUBLISHes again with DUP, and PUBRELs, then the queue
    this.session.attach(wire, wire.link);
    this.emit('connect', { sessionPresent: connack.sessionPresent, properties: connack.properties });
  }

  /** Sends the session's subscriptions again, in one SUBSCRIBE whose refusals remove them. */
  private resubscribe(wire: Wire): void {
    const subscriptions = [...this.session.subscriptions].map(([topicFilter, o]): Subscription => ({
      topicFilter,
      ...o,
    }));
    if (subscriptions.length === 0) return;
    const packetId = this.session.reservePacketId();
    const packet = { type: 'subscribe' as const, packetId, subscriptions };
    const pending: Pending<number[]> = { resolve: () => undefined, reject: () => undefined };
    this.requests.set(packetId, { packet, pending });
    wire.send(packet);
  }

  private offline(wire: Wire, reason: MqttClientError): void {
    if (this.wire !== wire) return;
    this.wire = undefined;
    this.session.detach(wire);
    if (this.state === 'closed') return;
    this.emit('offline', reason);
    // A link that stayed up longer than the longest wait counts as a success: backoff starts over
    const reconnect = this.resolved.reconnect;
    if (reconnect !== false && Date.now() - this.onlineSince >= reconnect.maxDelayMs) this.attempts = 0;
    this.scheduleReconnect(reason);
  }

  private scheduleReconnect(reason: MqttClientError): void {
    const reconnect = this.resolved.reconnect;
    if (reconnect === false) {
      this.setState('closed');
      this.failPending(reason);
      this.streams.endAll();
      this.emit('close');
      return;
    }
    this.setState('reconnecting');
    const delay = reconnectDelay(this.attempts, reconnect);
    this.attempts++;
    this.reconnectTimer = setTimeout(() => {
      if (this.state !== 'reconnecting') return;
      this.emit('reconnect', this.attempts);
      this.connectOnce(true).catch((err: unknown) => {
        const error =
          err instanceof MqttClientError ? err : new MqttClientError('ERR_CLIENT_CONNECT', String(err), { cause: err });
        if (error.code === 'ERR_CLIENT_REFUSED' && this.listenerCount('error') > 0) this.emit('error', error);
        if (this.state === 'reconnecting') this.scheduleReconnect(error);
      });
    }, delay);
  }

  private onPacket(wire: Wire, packet: Packet): void {
    const session = this.session;
    switch (packet.type) {
      case 'publish':
        this.onPublish(wire, packet);
        return;
      case 'pubrel': {
        const known = session.releaseQoS2(packet.packetId);
        wire.link.releaseQoS2(packet.packetId);
        wire.send({
          type: 'pubcomp',
          packetId: packet.packetId,
          reasonCode: known ? 0 : ReasonCode.PacketIdentifierNotFound,
        });
        return;
      }
      case 'puback':
        this.settleAck(session.onPuback(packet.packetId), packet);
        return;
      case 'pubrec': {
        const failed = packet.reasonCode >= 0x80;
        const d = session.onPubrec(packet.packetId, failed);
        if (d === undefined && !failed) {
          // 5.0 section 4.3.3: a PUBREC for no flow is still answered, PUBREL 0x92
          wire.send({ type: 'pubrel', packetId: packet.packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
        } else if (failed) this.settleAck(d, packet);
        return;
      }
      case 'pubcomp':
        this.settleAck(session.onPubcomp(packet.packetId), packet);
        return;
      case 'suback':
      case 'unsuback':
        this.onRequestAck(packet.packetId, packet.reasonCodes);
        return;
      case 'pingresp':
        wire.pingAnswered();
        return;
      case 'disconnect': {
        const reasonString = packet.properties?.reasonString;
        wire.close(
          new MqttClientError('ERR_CLIENT_DISCONNECTED', `the broker sent DISCONNECT ${hex(packet.reasonCode)}`, {
            reasonCode: packet.reasonCode,
            reasonString,
          }),
        );
        return;
      }
      case 'connect':
      case 'connack':
      case 'subscribe':
      case 'unsubscribe':
      case 'pingreq':
      case 'auth':
        // Enhanced authentication is not built; everything else here is what only a client sends
        if (wire.link.version === 5) wire.send({ type: 'disconnect', reasonCode: ReasonCode.ProtocolError });
        wire.close(new MqttClientError('ERR_CLIENT_DISCONNECTED', `the broker sent ${packet.type}`));
        return;
      default: {
        const never: never = packet;
        throw new Error(`unknown packet ${String(never)}`);
      }
    }
  }

  private onPublish(wire: Wire, packet: PublishPacket): void {
    let received;
    try {
      received = wire.link.receivePublish(packet, this.session);
    } catch (err) {
      const reasonCode = (err as { reasonCode?: number }).reasonCode ?? ReasonCode.ProtocolError;
      if (wire.link.version === 5) wire.send({ type: 'disconnect', reasonCode });
      wire.close(new MqttClientError('ERR_CLIENT_DISCONNECTED', (err as Error).message, { reasonCode, cause: err }));
      return;
    }
    const packetId = packet.packetId;
    if (received === 'duplicate') {
      // [MQTT-4.3.3-9] (5.0) [MQTT-4.3.3-2] (3.1.1): a re-send of a held QoS 2 id is answered, not delivered again
      wire.send({ type: 'pubrec', packetId, reasonCode: 0 });
      return;
    }
    this.deliverToApplication(received);
    if (received.qos === 1) {
      wire.send({ type: 'puback', packetId, reasonCode: 0 });
    } else if (received.qos === 2) {
      this.session.holdQoS2(packetId);
      wire.link.holdQoS2(packetId);
      wire.send({ type: 'pubrec', packetId, reasonCode: 0 });
    }
  }

  private deliverToApplication(p: PublishPacket): void {
    const message: ClientMessage = {
      topic: p.topic,
      payload: p.payload,
      qos: p.qos,
      retain: p.retain,
      dup: p.dup,
      properties: p.properties,
    };
    this.emit('message', message);
    this.streams.dispatch(message);
  }

  private settleAck(
    d: Delivery | undefined,
    ack: { reasonCode: number; properties?: { reasonString?: string } | undefined },
  ): void {
    if (d === undefined) return;
    if (ack.reasonCode < 0x80) {
      this.settle(d, undefined);
      return;
    }
    const reasonString = ack.properties?.reasonString;
    this.settle(
      d,
      new MqttClientError(
        'ERR_CLIENT_PUBLISH_REFUSED',
        `the broker refused the PUBLISH to ${d.message.topic}: ${hex(ack.reasonCode)}${reasonString === undefined ? '' : `, ${reasonString}`}`,
        { reasonCode: ack.reasonCode, reasonString },
      ),
    );
  }

  private settle(d: Delivery, error: MqttClientError | undefined): void {
    const pending = this.publishes.get(d);
    if (pending === undefined) return;
    this.publishes.delete(d);
    if (error === undefined) pending.resolve();
    else pending.reject(error);
  }

  private onRequestAck(packetId: number, reasonCodes: number[]): void {
    const request = this.requests.get(packetId);
    if (request === undefined) return;
    this.requests.delete(packetId);
    this.session.releasePacketId(packetId);
    const packet = request.packet;
    if (packet.type === 'subscribe') {
      packet.subscriptions.forEach((s, i) => {
        const code = reasonCodes[i] ?? 0x80;
        const { topicFilter, ...options } = s;
        if (code < 0x80) this.session.subscriptions.set(topicFilter, { ...options, subscriptionIdentifier: undefined });
        else this.session.subscriptions.delete(topicFilter);
      });
    } else {
      for (const filter of packet.topicFilters) this.session.subscriptions.delete(filter);
    }
    request.pending.resolve(reasonCodes);
  }

  private failPending(error: MqttClientError): void {
    for (const [d, pending] of [...this.publishes]) {
      this.publishes.delete(d);
      pending.reject(error);
    }
    for (const [packetId, request] of [...this.requests]) {
      this.requests.delete(packetId);
      request.pending.reject(error);
    }
  }

  private closedError(): MqttClientError {
    return new MqttClientError('ERR_CLIENT_CLOSED', 'the client was ended');
  }

  private setState(state: ClientState): void {
    this.state = state;
  }
}

/**
 * Connects to the broker at `url` (`mqtt://`, `mqtts://`, `ws://`, `wss://`); resolves with the
 * client once CONNACK accepts, and rejects with an MqttClientError (ERR_CLIENT_REFUSED with the
 * CONNACK's reason code, ERR_CLIENT_CONNECT, ERR_CLIENT_URL) otherwise.
 */
export function connect(url: string, options: ClientOptions = {}): Promise<MqttClient> {
  let endpoint: Endpoint;
  try {
    endpoint = parseEndpoint(url);
  } catch (err) {
    return Promise.reject(toFennecError(err));
  }
  return new MqttClient(endpoint, options, resolveOptions(options)).open();
}
