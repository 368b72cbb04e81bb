/**
 * One network connection: turns bytes into packets, keeps the connection's single state,
 * enforces the connect timeout and keep-alive, batches writes per turn of the event loop,
 * and is the one place where any error becomes a CONNACK or DISCONNECT code and a close.
 */
import type { Duplex } from 'node:stream';
import {
  ConnectReturnCode,
  Decoder,
  encode,
  encodePublish,
  PacketTooLargeError,
  ReasonCode,
  UnsupportedProtocolError,
  type DisconnectProperties,
  type Packet,
  type ProtocolVersion,
  type PublishPacket,
  type Will,
} from '../protocol/index.js';
import { MAX_PACKET_SIZE } from '../protocol/constants.js';
import { FennecError, toFennecError } from '../errors/index.js';
import { remainingExpiryInterval, type Delivery } from '../session/message.js';
import type { Session, SessionSink } from '../session/session.js';
import type { ClientCertificate } from '../transport/listener.js';
import type { ClientInfo } from './hooks.js';
import { dispatch } from './handlers/index.js';
import type { AuthInProgress } from './handlers/auth.js';
import type { Broker } from './broker.js';
import { ControlPacketWindow, PublishBuckets } from './limits.js';

/** The one state of a connection; changed only by Connection.setState. */
export const ConnectionState = {
  AwaitingConnect: 'awaiting-connect',
  Authenticating: 'authenticating',
  Active: 'active',
  Closing: 'closing',
  Closed: 'closed',
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** Why a connection admitted over a connection limit is refused when its CONNECT arrives. */
export interface ConnectionRefusal {
  /** 5.0 CONNACK reason code; 3.1.1 gets the closest return code. */
  reasonCode: number;
  why: string;
}

/** What the transport knows of the peer. */
export interface PeerInfo {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  /** The local address the connection arrived on. */
  localAddress?: string | undefined;
  /** The client certificate the TLS listener verified; undefined when none was presented (or not TLS). */
  certificate?: ClientCertificate | undefined;
}

export class Connection implements SessionSink {
  state: ConnectionState = ConnectionState.AwaitingConnect;
  /** Protocol version of the peer, known once CONNECT is read. */
  version: ProtocolVersion = 4;
  clientId = '';
  username: string | undefined;
  session: Session | undefined;
  will: Will | undefined;
  /** Keep-alive in seconds (0: none). */
  keepAlive = 0;
  /** The client's Receive Maximum (5.0), 65,535 when it gave none. */
  clientReceiveMaximum = 65_535;
  /** The client's Maximum Packet Size (5.0), in bytes; no limit (the protocol's) when it gave none. */
  clientMaximumPacketSize = MAX_PACKET_SIZE;
  /**
   * 5.0: incoming QoS 2 packet ids received on this connection whose PUBCOMP is not yet sent, for
   * the broker's Receive Maximum. (QoS 1 is acknowledged before the next packet is handled, so
   * it never adds to the count.) Undefined for 3.1 / 3.1.1.
   */
  incomingQoS2: Set<number> | undefined;
  /** 5.0: topic alias -> topic name of PUBLISHes from the client, for this connection only [MQTT-3.3.2-7]. */
  incomingTopicAliases: Map<number, string> | undefined;
  /** 5.0: topic name -> alias the broker assigned on this connection; undefined when it assigns none. */
  outgoingTopicAliases: Map<string, number> | undefined;
  /** Most aliases the broker assigns on this connection: min(client's, broker's Topic Alias Maximum). */
  outgoingTopicAliasMaximum = 0;
  /** Set once CONNACK accepted the client: only then do a will and a disconnect event follow. */
  wasActive = false;
  /** Whether CONNACK said Session Present 1: this connection resumed an existing session. */
  sessionPresent = false;
  /**
   * The client's 5.0 Request Problem Information (true when absent): when false, Reason Strings and
   * User Properties go only on PUBLISH, CONNACK and DISCONNECT [MQTT-3.1.2-29]; the broker then
   * sends none at all.
   */
  problemInformation = true;
  /** 5.0: the Authentication Method of CONNECT once the client authenticated with it; undefined when none. */
  authMethod: string | undefined;
  /** 5.0: the enhanced authentication exchange awaiting the client's AUTH 0x18, if any. */
  authInProgress: AuthInProgress | undefined;
  /** The Session Expiry Interval the 5.0 CONNECT gave (0 when absent), in seconds. */
  connectSessionExpiryInterval = 0;
  /** Set when the connection was admitted over a connection limit: its CONNECT is refused. */
  refusal: ConnectionRefusal | undefined;
  readonly decoder: Decoder;
  readonly peer: PeerInfo;

  /** When the partial packet held by the decoder started to arrive (ms), for packetTimeoutMs; undefined when none. */
  private partialSince: number | undefined;
  private partialTimer: NodeJS.Timeout | undefined;
  /** Packets decoded by the current `onData`; tells whether the partial packet left is a new one. */
  private decodedInChunk = 0;
  private readonly publishBuckets: PublishBuckets;
  private readonly controlPackets: ControlPacketWindow;

  private lastActivity = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private corked = false;
  /** Packets that arrived while an asynchronous handler ran; handled in order after it. */
  private backlog: Packet[] | undefined;
  private readonly onPacket = (packet: Packet): void => this.receive(packet);
  private readonly uncork = (): void => {
    this.corked = false;
    this.stream.uncork();
  };

  constructor(
    readonly broker: Broker,
    readonly stream: Duplex,
    peer: PeerInfo,
  ) {
    this.peer = peer;
    this.decoder = new Decoder({ maximumPacketSize: broker.options.maximumPacketSize });
    const { maxPublishRate, maxPublishBytesRate, maxControlPacketRate } = broker.options;
    this.publishBuckets = new PublishBuckets(maxPublishRate, maxPublishBytesRate, broker.counters.limits, Date.now());
    this.controlPackets = new ControlPacketWindow(maxControlPacketRate);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('error', (err: Error) => this.onStreamError(err));
    stream.on('close', () => this.onClose());
    stream.on('drain', () => this.onDrain());
    // A socket that sends no CONNECT in time is closed.
    this.timer = setTimeout(() => this.close('connect timeout'), broker.options.connectTimeoutMs);
  }

  /** Who this client is, for hooks and events. */
  get info(): ClientInfo {
    return {
      clientId: this.clientId,
      username: this.username,
      remoteAddress: this.peer.remoteAddress,
      protocolVersion: this.version,
      certificate: this.peer.certificate,
    };
  }

  /** Changes the state; the only place that does. */
  setState(next: ConnectionState): void {
    this.state = next;
  }

  private onData(chunk: Buffer): void {
    if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
    const now = Date.now();
    this.lastActivity = now;
    this.decodedInChunk = 0;
    try {
      this.decoder.feed(chunk, this.onPacket);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.decoder.bufferedBytes === 0) this.partialSince = undefined;
    // A packet that completed in this chunk means the partial one left started in it too.
    else if (this.partialSince === undefined || this.decodedInChunk > 0) this.startPartialTimer(now);
  }

  /** Arms the packetTimeoutMs check for a partial packet that started at `since`. */
  private startPartialTimer(since: number): void {
    this.partialSince = since;
    if (this.partialTimer !== undefined) return;
    const timeoutMs = this.broker.options.packetTimeoutMs;
    const check = (): void => {
      this.partialTimer = undefined;
      let started = this.partialSince;
      if (started === undefined || this.state === ConnectionState.Closed) return;
      // Time the broker itself does not read (throttle, handler backlog, backpressure) is not the client's.
      if (this.stream.isPaused()) started = this.partialSince = Date.now();
      const waited = Date.now() - started;
      if (waited >= timeoutMs) {
        this.broker.counters.limits.packetTimeoutMs++;
        this.limitExceeded('packetTimeoutMs', 'a partial packet stalled', ReasonCode.KeepAliveTimeout);
        return;
      }
      this.partialTimer = setTimeout(check, timeoutMs - waited);
    };
    this.partialTimer = setTimeout(check, timeoutMs);
  }

  /** Closes the connection because a limit was exceeded: logged once (warn), with DISCONNECT `reasonCode` in 5.0. */
  private limitExceeded(limit: string, why: string, reasonCode: number): void {
    if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
    this.broker.log.warn(
      { clientId: this.clientId, remoteAddress: this.peer.remoteAddress, limit, reason: why },
      'closing connection over a limit',
    );
    this.close(why, reasonCode);
  }

  private receive(packet: Packet): void {
    if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
    this.decodedInChunk++;
    if (this.backlog !== undefined) {
      this.backlog.push(packet);
      return;
    }
    const pending = this.handle(packet);
    if (pending !== undefined) this.wait(pending);
  }

  /**
   * Dispatches `packet` once the rate limits allow: a PUBLISH over maxPublishRate or
   * maxPublishBytesRate is handled (and later packets wait, unread) once its bucket has refilled.
   */
  private handle(packet: Packet): Promise<void> | undefined {
    if (this.state === ConnectionState.Active) {
      if (packet.type === 'publish' && this.publishBuckets.enabled) {
        // Over the rate: handled once the buckets have refilled, later packets waiting unread meanwhile
        const waitMs = this.publishBuckets.take(packet.payload.length, Date.now());
        if (waitMs > 0) {
          return new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref()).then(() => {
            if (this.state !== ConnectionState.Active) return undefined;
            return dispatch(this, packet);
          });
        }
      } else if (packet.type === 'subscribe' || packet.type === 'unsubscribe' || packet.type === 'pingreq') {
        if (!this.controlPackets.allow(Date.now())) {
          this.broker.counters.limits.maxControlPacketRate++;
          const why = `more than ${this.broker.options.maxControlPacketRate} control packets in one second`;
          // 5.0 section 3.14.2.1: 0x97 Quota exceeded; 3.1.1 has no way to say why
          this.limitExceeded('maxControlPacketRate', why, ReasonCode.QuotaExceeded);
          return undefined;
        }
      }
    }
    return dispatch(this, packet);
  }

  /** Holds later packets (and stops reading) until an asynchronous handler has finished. */
  private wait(pending: Promise<void>): void {
    this.backlog = [];
    this.stream.pause();
    pending.then(
      () => {
        const backlog = this.backlog ?? [];
        this.backlog = undefined;
        for (let i = 0; i < backlog.length; i++) {
          if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
          const next = this.handle(backlog[i]!);
          if (next !== undefined) {
            this.wait(next);
            this.backlog!.push(...backlog.slice(i + 1));
            return;
          }
        }
        if (this.state !== ConnectionState.Closed) this.stream.resume();
      },
      (err: unknown) => {
        this.backlog = undefined;
        this.fail(err);
      },
    );
  }

  /** Starts keep-alive supervision: a client silent for 1.5 x keepAlive is disconnected. */
  startKeepAlive(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.keepAlive === 0) return;
    const limitMs = this.keepAlive * 1500;
    const check = (): void => {
      const idle = Date.now() - this.lastActivity;
      // [MQTT-3.1.2-24] (3.1.1) [MQTT-3.1.2-22] (5.0): nothing for 1.5 x Keep Alive closes the connection
      // A client whose packets wait in the backlog (held by a hook or its publish rate) is not idle.
      if (idle >= limitMs && this.backlog === undefined) {
        this.close('keep-alive timeout', ReasonCode.KeepAliveTimeout);
        return;
      }
      this.timer = setTimeout(check, Math.max(limitMs - idle, 100));
    };
    this.timer = setTimeout(check, limitMs);
  }

  /** Writes an encoded packet; writes of one turn of the event loop leave in one system call. */
  write(buf: Buffer): void {
    if (this.state === ConnectionState.Closed) return;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(this.uncork);
    }
    this.stream.write(buf);
    // A client that does not read what it is sent stops being read from: TCP then slows its publishing.
    if (this.stream.writableLength > this.broker.options.maxOutgoingBufferBytes && !this.stream.isPaused()) {
      if (this.backlog === undefined) this.stream.pause();
    }
  }

  /** Encodes and writes a packet in this connection's protocol version. */
  send(packet: Packet): void {
    const buf = encode(packet, this.version);
    if (buf.length > this.clientMaximumPacketSize) {
      this.sendTrimmed(packet);
      return;
    }
    this.write(buf);
  }

  /**
   * Sends an acknowledgement that promises durability (PUBACK, PUBREC, PUBCOMP, UNSUBACK) once the
   * store has committed what it acknowledges; at once when the broker has no store or nothing waits.
   * Acknowledgements keep their order: each waits for the batch being gathered when it was sent.
   */
  sendAfterCommit(packet: Packet): void {
    const persistence = this.broker.persistence;
    if (persistence === undefined || persistence.idle) {
      this.send(packet);
      return;
    }
    persistence.afterCommit(() => {
      if (this.state === ConnectionState.Active) this.send(packet);
    });
  }

  /**
   * A packet over the client's Maximum Packet Size (5.0): sent without its Reason String and User
   * Properties when that makes it fit ([MQTT-3.2.2-19] [MQTT-3.2.2-20] CONNACK, [MQTT-3.4.2-2]
   * [MQTT-3.4.2-3] PUBACK, and the same rule for the other acknowledgements and DISCONNECT);
   * otherwise not sent at all [MQTT-3.1.2-24].
   */
  private sendTrimmed(packet: Packet): void {
    if ('properties' in packet && packet.properties !== undefined && packet.type !== 'publish') {
      const properties: Record<string, unknown> = { ...packet.properties };
      delete properties['reasonString'];
      delete properties['userProperties'];
      const buf = encode({ ...packet, properties }, this.version);
      if (buf.length <= this.clientMaximumPacketSize) {
        this.write(buf);
        return;
      }
    }
    this.broker.log.debug(
      { clientId: this.clientId, type: packet.type, maximumPacketSize: this.clientMaximumPacketSize },
      'packet larger than the client accepts, not sent',
    );
  }

  writable(): boolean {
    return (
      this.state === ConnectionState.Active && this.stream.writableLength < this.broker.options.maxOutgoingBufferBytes
    );
  }

  writePublish(d: Delivery, packetId: number, dup: boolean): boolean {
    if (this.outgoingTopicAliases !== undefined) {
      const aliased = this.writeAliasedPublish(d, packetId, dup, this.outgoingTopicAliases);
      if (aliased !== undefined) return aliased;
    }
    const message = d.message;
    let buf: Buffer | undefined;
    // A message that can expire carries its remaining interval, so its wire form changes with time.
    if (d.qos === 0 && d.subscriptionIdentifiers === undefined && message.expiresAt === undefined) {
      // The same wire form for every QoS 0 subscriber of one version: encoded once, shared.
      const slot = this.version * 2 + (d.retain ? 1 : 0);
      // Aliased forms are never cached: they differ per connection (see writeAliasedPublish).
      const cache = (message.encoded ??= []);
      buf = cache[slot];
      if (buf === undefined) {
        buf = encodePublish(this.publishPacket(d, 0, false), this.version);
        cache[slot] = buf;
      }
    } else {
      buf = encodePublish(this.publishPacket(d, packetId, dup), this.version);
    }
    // [MQTT-3.1.2-24] (5.0): nothing larger than the client's Maximum Packet Size is sent;
    // [MQTT-3.1.2-25] the session treats the discarded message as delivered
    if (buf.length > this.clientMaximumPacketSize) return false;
    this.write(buf);
    return true;
  }

  /**
   * Writes `d` with a topic alias when its topic has one on this connection, or when one is free
   * (first come, first served, up to outgoingTopicAliasMaximum: [MQTT-3.1.2-26] [MQTT-3.3.2-11]).
   * The first PUBLISH of a topic carries topic and alias; later ones an empty topic and the alias.
   * Returns undefined when the topic gets no alias, so the caller sends the plain (cached) form.
   */
  private writeAliasedPublish(
    d: Delivery,
    packetId: number,
    dup: boolean,
    aliases: Map<string, number>,
  ): boolean | undefined {
    const topic = d.message.topic;
    let alias = aliases.get(topic);
    const known = alias !== undefined;
    if (alias === undefined) {
      if (aliases.size >= this.outgoingTopicAliasMaximum) return undefined;
      alias = aliases.size + 1;
    }
    const packet = this.publishPacket(d, packetId, dup);
    packet.properties = { ...packet.properties, topicAlias: alias };
    if (known) packet.topic = '';
    const buf = encodePublish(packet, 5);
    if (buf.length > this.clientMaximumPacketSize) return false;
    // The alias is taken only once a PUBLISH that sets it is actually sent.
    if (!known) aliases.set(topic, alias);
    this.write(buf);
    return true;
  }

  private publishPacket(d: Delivery, packetId: number, dup: boolean): PublishPacket {
    const message = d.message;
    let properties = this.version === 5 ? message.properties : undefined;
    if (this.version === 5 && d.subscriptionIdentifiers !== undefined) {
      properties = { ...properties, subscriptionIdentifiers: d.subscriptionIdentifiers };
    }
    if (this.version === 5 && message.expiresAt !== undefined) {
      // [MQTT-3.3.2-6] (5.0): the interval received, less the time the message waited here
      properties = { ...properties, messageExpiryInterval: remainingExpiryInterval(message.expiresAt, Date.now()) };
    }
    return {
      type: 'publish',
      topic: message.topic,
      payload: message.payload,
      qos: d.qos,
      retain: d.retain,
      // [MQTT-3.3.1-3] DUP says only whether this outgoing packet is a retransmission
      dup,
      packetId,
      properties,
    };
  }

  writePubrel(packetId: number): void {
    this.send({ type: 'pubrel', packetId, reasonCode: 0 });
  }

  private onDrain(): void {
    if (this.backlog === undefined && this.state === ConnectionState.Active && this.stream.isPaused()) {
      this.stream.resume();
    }
    this.session?.pump();
  }

  private onStreamError(err: Error): void {
    this.broker.log.debug({ clientId: this.clientId, err: err.message }, 'socket error');
  }

  /**
   * Closes the connection because of `err`: the one place that turns an error into a CONNACK
   * or DISCONNECT code. Logged once, without payloads.
   */
  fail(value: unknown): void {
    if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
    const err = toFennecError(value);
    this.broker.log.info(
      { clientId: this.clientId, remoteAddress: this.peer.remoteAddress, code: err.code, reason: err.message },
      'closing connection after error',
    );
    if (this.state === ConnectionState.AwaitingConnect && err instanceof UnsupportedProtocolError) {
      // [MQTT-3.1.2-2] unsupported level: CONNACK 0x01 (3.1.1) or 0x84 (5.0), then close
      const v5 = err.protocolLevel === 5;
      this.write(
        encode(
          {
            type: 'connack',
            sessionPresent: false,
            reasonCode: v5 ? ReasonCode.UnsupportedProtocolVersion : ConnectReturnCode.UnacceptableProtocolVersion,
          },
          v5 ? 5 : 4,
        ),
      );
    } else if (this.state === ConnectionState.AwaitingConnect && this.decoder.protocolVersion === 5) {
      // A CONNECT that failed validation in 5.0: CONNACK with the reason, then close [MQTT-3.1.4-1]
      if (err instanceof FennecError && err.reasonCode !== undefined && err.reasonCode >= 0x80) {
        const connack = encode({ type: 'connack', sessionPresent: false, reasonCode: err.reasonCode }, 5);
        // [MQTT-3.1.2-24] [MQTT-4.13.2-1]: not sent when over the client's maximum; the close follows either way
        if (connack.length <= this.clientMaximumPacketSize) this.write(connack);
      }
    }
    const reasonCode = err.reasonCode ?? (err instanceof PacketTooLargeError ? 0x95 : ReasonCode.UnspecifiedError);
    this.close(err.message, reasonCode);
  }

  /**
   * Closes the connection. In 5.0, an active connection is first sent DISCONNECT with
   * `reasonCode` when one is given, and `why` as its Reason String unless the client asked for no
   * problem information. The will is published unless the client disconnected cleanly.
   */
  close(why: string, reasonCode?: number, serverReference?: string): void {
    if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
    if (reasonCode !== undefined && this.version === 5 && this.state === ConnectionState.Active) {
      // [MQTT-3.14.2-2] (5.0): the broker's DISCONNECT never carries a Session Expiry Interval
      let properties: DisconnectProperties | undefined = this.problemInformation ? { reasonString: why } : undefined;
      if (serverReference !== undefined) properties = { ...properties, serverReference };
      // Through send: [MQTT-3.14.2-3] [MQTT-3.14.2-4] trimmed, or not sent, to fit the client's Maximum Packet Size
      this.send({ type: 'disconnect', reasonCode, properties });
    }
    this.broker.log.debug({ clientId: this.clientId, why }, 'closing connection');
    this.setState(ConnectionState.Closing);
    if (this.corked) this.uncork();
    this.stream.end();
    // A peer that never closes its side is cut off.
    setTimeout(() => this.stream.destroy(), 1000).unref();
  }

  /** Another connection took this client id over: the session moves there, and this one closes. */
  takeOver(): void {
    this.session?.detach(this);
    this.session = undefined;
    // [MQTT-3.1.4-3] (5.0): DISCONNECT 0x8E to the existing client before closing it
    this.close('session taken over', ReasonCode.SessionTakenOver);
  }

  private onClose(): void {
    if (this.state === ConnectionState.Closed) return;
    this.setState(ConnectionState.Closed);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.partialTimer !== undefined) clearTimeout(this.partialTimer);
    this.partialTimer = undefined;
    this.broker.connectionClosed(this);
  }
}
