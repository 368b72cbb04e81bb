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
  type SubscribePacket,
  type UnsubscribePacket,
} from '../protocol/index.js';
import { Readiness, Session } from '../session/session.js';
import { validateTopicFilter } from '../topic/index.js';
import { toFennecError } from '../errors/index.js';
import { Reauthentication } from './auth.js';
import { MqttClientError } from './errors.js';
import { attempt, connectPacket } from './handshake.js';
import { handlePacket, type InboundContext } from './inbound.js';
import { ClientJournal } from './journal.js';
import { MessageStreams, type ClientMessage, type MessageStream } from './messages.js';
import { limitsOf, NO_LIMITS, outgoingDelivery, type PublishLimits } from './outbound.js';
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
import type { ClientEventMap, ConnackInfo } from './events.js';
import { parseEndpoint, type Endpoint } from './transport.js';
import type { Wire } from './wire.js';

/** The client's state: one value, changed in `setState`. */
type ClientState = 'online' | 'offline' | 'reconnecting' | 'closed';

export class MqttClient extends EventEmitter<ClientEventMap> {
  /** The Client Identifier in use (the broker's assigned one, if it assigned one). */
  clientId: string;
  private lastConnack: ConnackInfo | undefined;
  private state: ClientState = 'offline';
  private readonly session: Session;
  private wire: Wire | undefined;
  private readonly publishes = new PendingPublishes();
  private readonly requests: PendingRequests;
  private readonly streams: MessageStreams;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private onlineSince = 0;
  /** The offline store's journal, when `offlineStore` is given. */
  private journal: ClientJournal | undefined;
  private readonly inbound: InboundContext;
  /** Re-authentication, when the client authenticates with a method (5.0). */
  private readonly reauth: Reauthentication | undefined;
  /** What the last CONNACK allows a publish, to refuse what the broker would not take also while offline. */
  private limits: PublishLimits = NO_LIMITS;
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
    this.inbound = {
      session: this.session,
      publishes: this.publishes,
      requests: this.requests,
      deliver: (message) => this.deliverToApplication(message),
      auth: (wire, packet) => this.reauth?.onAuth(wire, packet) ?? false,
    };
    const auth = options.authentication;
    this.reauth = auth !== undefined && resolved.protocolVersion === 5 ? new Reauthentication(auth) : undefined;
  }

  /** What the CONNACK of the current (or last) connection said; undefined before the first. */
  get connack(): ConnackInfo | undefined {
    return this.lastConnack;
  }

  /** Whether the client is connected now. */
  get connected(): boolean {
    return this.state === 'online';
  }

  /** QoS 1/2 messages waiting to be sent (offline, or the in-flight window full). */
  get queuedCount(): number {
    return this.session.queuedCount;
  }

  /** QoS 1/2 messages sent and not yet acknowledged (PUBACK, or PUBCOMP for QoS 2). */
  get inflightCount(): number {
    return this.session.inflightCount;
  }

  /**
   * Publishes a message. QoS 0 resolves once written (rejects with ERR_CLIENT_OFFLINE when not
   * connected); QoS 1 on PUBACK, QoS 2 on PUBCOMP; a reason code of 0x80 or more rejects with
   * ERR_CLIENT_PUBLISH_REFUSED. While offline, QoS 1/2 waits in the queue (ERR_CLIENT_QUEUE_FULL when full).
   */
  publish(topic: string, payload: string | Buffer, options: PublishOptions = {}): Promise<void> {
    if (this.state === 'closed') return Promise.reject(this.closedError());
    const d = outgoingDelivery(topic, payload, options, this.clientId, this.resolved.protocolVersion, this.limits);
    if (d instanceof Error) return Promise.reject(d);
    const qos = d.qos;
    const wire = this.wire;
    if (qos === 0) {
      if (wire === undefined || this.state !== 'online') {
        return Promise.reject(new MqttClientError('ERR_CLIENT_OFFLINE', 'QoS 0 is not queued while offline'));
      }
      const buf = wire.link.encodeDelivery(d, 0, false);
      if (buf === undefined) return Promise.reject(new MqttClientError('ERR_CLIENT_TOO_LARGE', 'too large'));
      return new Promise<void>((resolve, reject) => {
        wire.write(buf, (err) =>
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
   * 5.0: authenticates again on the connection that is up (AUTH 0x19 with the method of CONNECT,
   * then the `authentication` callbacks); resolves on the broker's AUTH 0x00. The broker refuses
   * with DISCONNECT (rejects ERR_CLIENT_DISCONNECTED); a callback that throws rejects ERR_CLIENT_AUTH.
   */
  reauthenticate(): Promise<void> {
    const wire = this.wire;
    if (this.reauth === undefined) {
      return Promise.reject(
        new MqttClientError('ERR_CLIENT_AUTH', 'no 5.0 `authentication` option to authenticate with'),
      );
    }
    if (wire === undefined || this.state !== 'online') {
      return Promise.reject(new MqttClientError('ERR_CLIENT_OFFLINE', 're-authentication needs a connection'));
    }
    return this.reauth.start(wire);
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
      const store = this.options.offlineStore;
      if (store !== undefined) {
        if (this.options.clientId === undefined) {
          throw new MqttClientError(
            'ERR_CLIENT_STORE',
            'offlineStore needs a clientId: the stored session is found by it',
          );
        }
        this.journal = await ClientJournal.open(store, this.session, (err) => this.report(err));
      }
      await this.connectOnce(false, this.options.signal);
    } catch (err) {
      this.setState('closed');
      throw err;
    }
    return this;
  }

  private async connectOnce(resume: boolean, signal?: AbortSignal): Promise<void> {
    const connect = connectPacket(this.endpoint, this.options, this.resolved, resume);
    const { wire, connack } = await attempt(this.endpoint, this.options, this.resolved, connect, signal);
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
    this.limits = limitsOf(connack.properties, this.resolved.topicAliases > 0);
    this.wire = wire;
    this.onlineSince = Date.now();
    this.setState('online');
    wire.start(
      {
        packet: (packet) => this.onPacket(wire, packet),
        drain: () => this.session.pump(),
        closed: (reason) => this.offline(wire, reason),
      },
      // The first connection: `connect` has not resolved yet, so nobody listens yet
      !resumed,
    );
    if (wire.closed) return;
    const send = (packet: Packet): void => void wire.send(packet);
    this.requests.resend(send);
    if (!connack.sessionPresent) {
      // The broker kept nothing (or the session is new, and only an offline store's messages are
      // in flight): what it had received is done, the rest is sent anew, and on a reconnect the
      // subscriptions are made again by the client itself
      const done = this.session.resetFlows();
      for (const d of done) this.publishes.settle(d, undefined);
      this.journal?.flowsReset(this.session, done);
      if (resumed) this.requests.resubscribe(send);
    }
    // [MQTT-4.4.0-1]: unacknowledged PUBLISHes again with DUP, and PUBRELs, then the queue
    this.session.attach(wire, wire.link);
    this.lastConnack = { sessionPresent: connack.sessionPresent, properties: connack.properties };
    this.emit('connect', this.lastConnack);
  }

  private offline(wire: Wire, reason: MqttClientError): void {
    if (this.wire !== wire) return;
    this.wire = undefined;
    this.session.detach(wire);
    this.reauth?.fail(reason);
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
        if (error.code === 'ERR_CLIENT_REFUSED') this.report(error);
        if (this.state === 'reconnecting') this.scheduleReconnect(error);
      });
    }, delay);
  }

  private onPacket(wire: Wire, packet: Packet): void {
    handlePacket(this.inbound, wire, packet);
  }

  /** Hands a message to the application: the `message` event, then the matching iterators. */
  private deliverToApplication(message: ClientMessage): void {
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

  /** A failure not tied to a call goes to the `error` event, when someone listens. */
  private report(error: MqttClientError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private failPending(error: MqttClientError): void {
    this.reauth?.fail(error);
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
