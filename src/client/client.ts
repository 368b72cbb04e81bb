/**
 * The MQTT client: a Session (subscriptions, QoS 1/2 flows, the offline queue) kept across
 * connections, attached to one Wire at a time. Promises settle when the broker acknowledges;
 * the link is re-made with backoff when it drops, and the session resumed.
 */
import { EventEmitter } from 'node:events';
import {
  ReasonCode,
  type ConnackPacket,
  type Packet,
  type PublishPacket,
  type SubscribePacket,
  type UnsubscribePacket,
} from '../protocol/index.js';
import { Readiness, Session } from '../session/session.js';
import { delivery } from '../session/message.js';
import { validateTopicFilter, validateTopicName } from '../topic/index.js';
import { toFennecError } from '../errors/index.js';
import { hex, MqttClientError } from './errors.js';
import { attempt, connectPacket } from './handshake.js';
import { MessageStreams, type ClientMessage, type MessageStream } from './messages.js';
import { PendingPublishes, PendingRequests } from './pending.js';
import {
  reconnectDelay,
  resolveOptions,
  type ClientOptions,
  type PublishOptions,
  toSubscriptions,
  type ResolvedOptions,
  type SubscribeOptions,
  type SubscriptionRequest,
} from './options.js';
import type { ClientEventMap } from './events.js';
import { parseEndpoint, type Endpoint } from './transport.js';
import type { Wire } from './wire.js';

/** The client's state: one value, changed in `setState`. */
type ClientState = 'online' | 'offline' | 'reconnecting' | 'closed';

export class MqttClient extends EventEmitter<ClientEventMap> {
  /** The Client Identifier in use (the broker's assigned one, if it assigned one). */
  clientId: string;
  private state: ClientState = 'offline';
  private readonly session: Session;
  private wire: Wire | undefined;
  private readonly publishes = new PendingPublishes();
  private readonly requests: PendingRequests;
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
    this.requests = new PendingRequests(this.session);
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
    const settled = this.publishes.track(d);
    this.session.deliver(d);
    return settled;
  }

  /** Whether the session would send a QoS 1/2 message at once rather than queue it. */
  private canSendNow(): boolean {
    return this.state === 'online' && this.session.readiness(1) === Readiness.Now;
  }

  /**
   * Subscribes; resolves with one reason code per filter: the granted QoS, or a failure code
   * (0x80 or more), reported, not thrown. While offline the SUBSCRIBE is sent on reconnect.
   */
  subscribe(
    filters: string | SubscriptionRequest | (string | SubscriptionRequest)[],
    options: SubscribeOptions = {},
  ): Promise<number[]> {
    const list = toSubscriptions(filters);
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

  private request(packet: SubscribePacket | UnsubscribePacket): Promise<number[]> {
    if (this.state === 'closed') return Promise.reject(this.closedError());
    return this.requests.add(packet, (p) => {
      if (this.state === 'online') this.wire?.send(p);
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
    const send = (packet: Packet): void => void wire.send(packet);
    this.requests.resend(send);
    if (resumed && !connack.sessionPresent) {
      // The broker kept nothing: what it had received is done, the rest is sent anew, and the
      // subscriptions are made again by the client itself
      for (const d of this.session.resetFlows()) this.publishes.settle(d, undefined);
      this.requests.resubscribe(send);
    }
    // [MQTT-4.4.0-1]: unacknowledged PUBLISHes again with DUP, and PUBRELs, then the queue
    this.session.attach(wire, wire.link);
    this.emit('connect', { sessionPresent: connack.sessionPresent, properties: connack.properties });
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
        this.publishes.acknowledged(session.onPuback(packet.packetId), packet);
        return;
      case 'pubrec': {
        const failed = packet.reasonCode >= 0x80;
        const d = session.onPubrec(packet.packetId, failed);
        if (d === undefined && !failed) {
          // 5.0 section 4.3.3: a PUBREC for no flow is still answered, PUBREL 0x92
          wire.send({ type: 'pubrel', packetId: packet.packetId, reasonCode: ReasonCode.PacketIdentifierNotFound });
        } else if (failed) this.publishes.acknowledged(d, packet);
        return;
      }
      case 'pubcomp':
        this.publishes.acknowledged(session.onPubcomp(packet.packetId), packet);
        return;
      case 'suback':
      case 'unsuback':
        this.requests.acknowledged(packet.packetId, packet.reasonCodes);
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
      packetId: p.packetId,
      properties: p.properties,
    };
    try {
      this.emit('message', message);
    } catch (err) {
      // A listener's exception belongs to the application: it must not cut the MQTT flow (the
      // PUBACK or PUBREC still goes), so it is thrown again on a tick of its own
      process.nextTick(() => {
        throw err;
      });
    }
    this.streams.dispatch(message);
  }

  private failPending(error: MqttClientError): void {
    this.publishes.failAll(error);
    this.requests.failAll(error);
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
