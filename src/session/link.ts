/**
 * The protocol state of one network connection, sans I/O: what was agreed at CONNECT (version, Keep
 * Alive, both sides' Receive Maximum, Maximum Packet Size and Topic Alias Maximum, Request Problem
 * Information), the topic aliases of both directions, the incoming QoS 2 flows counted against the
 * Receive Maximum, the keep-alive deadline, and the encoding of every outgoing packet within the
 * peer's limits. A Session writes through the Link of the connection it is attached to; the Link
 * turns packets into bytes and never touches a socket, a timer or a store. The clock is injected.
 */
import { isUtf8 } from 'node:buffer';
import {
  encode,
  encodePublish,
  ProtocolError,
  ReasonCode,
  type Packet,
  type ProtocolVersion,
  type PublishPacket,
} from '../protocol/index.js';
import { MAX_PACKET_SIZE } from '../protocol/constants.js';
import { isValidTopicName } from '../topic/index.js';
import { quoteTopic } from '../topic/quote.js';
import { receivedFormSlot, remainingExpiryInterval, wireFormSlot, type Delivery } from './message.js';
import { withPacketId } from './verbatim.js';

/** The settings of a connection agreed at CONNECT; see `Link.agree`. */
export interface LinkSettings {
  /** Keep Alive in force, in seconds (the client's, or the Server Keep Alive); 0: none. */
  keepAlive: number;
  /** The Receive Maximum this side announced (5.0): most incoming QoS 1/2 flows unacknowledged at once. */
  receiveMaximum: number;
  /** The Topic Alias Maximum this side announced (5.0): highest incoming alias accepted; 0: none. */
  topicAliasMaximum: number;
  /** The peer's Receive Maximum (5.0), 65,535 when it gave none. */
  peerReceiveMaximum: number;
  /** The peer's Maximum Packet Size (5.0), in bytes; the protocol's maximum when it gave none. */
  peerMaximumPacketSize: number;
  /** Most aliases this side assigns on outgoing PUBLISHes: min(the peer's Topic Alias Maximum, this side's cap). */
  outgoingTopicAliasMaximum: number;
  /**
   * Once every outgoing alias is taken, a new topic takes the alias of the least recently used one
   * (its PUBLISH carries the topic and the alias, which remaps it at the peer). Off: first come, first served.
   */
  replaceOutgoingAliases?: boolean;
}

/** The result of `Link.receivePublish`: the PUBLISH with its topic resolved, or a re-sent QoS 2 one. */
export type ReceivedPublish = PublishPacket | 'duplicate';

/** What the session reports of the incoming QoS 2 ids it holds across connections. */
export interface IncomingQoS2 {
  holdsQoS2(packetId: number): boolean;
}

export class Link {
  /** Protocol version of the peer; 4 until CONNECT says otherwise. */
  version: ProtocolVersion = 4;
  /**
   * The peer's 5.0 Request Problem Information (true when absent): when false, Reason Strings and
   * User Properties go only on PUBLISH, CONNACK and DISCONNECT [MQTT-3.1.2-29]; Fennec then sends none.
   */
  problemInformation = true;
  /** Keep Alive in force, seconds; 0 until agreed, and when none. */
  keepAlive = 0;
  /** The peer's Receive Maximum: caps the session's in-flight window while attached. */
  peerReceiveMaximum = 65_535;
  /** The peer's Maximum Packet Size, bytes: nothing larger is sent [MQTT-3.1.2-24] (5.0). */
  peerMaximumPacketSize = MAX_PACKET_SIZE;

  private receiveMaximum = 65_535;
  private topicAliasMaximum = 0;
  private outgoingTopicAliasMaximum = 0;
  private replaceOutgoingAliases = false;
  /** 5.0: alias -> topic of PUBLISHes from the peer, for this connection only [MQTT-3.3.2-7]. */
  private incomingAliases: Map<number, string> | undefined;
  /** 5.0: topic -> alias this side assigned on this connection; undefined when it assigns none. */
  private outgoingAliases: Map<string, number> | undefined;
  /**
   * 5.0: incoming QoS 2 ids received on this connection whose PUBCOMP is not yet sent, for this
   * side's Receive Maximum. (QoS 1 is acknowledged before the next packet is handled, so it never
   * adds to the count.) Undefined for 3.1 / 3.1.1, which have no Receive Maximum.
   */
  private incomingQoS2InFlight: Set<number> | undefined;
  /** When a packet was last received, ms on the injected clock. */
  private lastReceived: number;
  /** Client role: when a packet was last sent, ms on the injected clock. */
  private lastSent: number;
  /** Client role: when the PINGREQ that awaits its PINGRESP was sent; undefined when none awaits one. */
  private pingSentAt: number | undefined;

  constructor(private readonly now: () => number = Date.now) {
    this.lastReceived = now();
    this.lastSent = this.lastReceived;
  }

  /** Fixes the settings agreed at CONNECT; from here on the limits apply to both directions. */
  agree(settings: LinkSettings): void {
    this.keepAlive = settings.keepAlive;
    this.receiveMaximum = settings.receiveMaximum;
    this.topicAliasMaximum = settings.topicAliasMaximum;
    this.peerReceiveMaximum = settings.peerReceiveMaximum;
    this.peerMaximumPacketSize = settings.peerMaximumPacketSize;
    this.outgoingTopicAliasMaximum = settings.outgoingTopicAliasMaximum;
    this.replaceOutgoingAliases = settings.replaceOutgoingAliases ?? false;
    if (this.version !== 5) return;
    this.incomingQoS2InFlight = new Set();
    // [MQTT-3.3.2-7]: aliases live with the connection, so every connection starts without any
    if (settings.topicAliasMaximum > 0) this.incomingAliases = new Map();
    // [MQTT-3.1.2-27]: no outgoing aliases unless the client's Topic Alias Maximum is above 0
    if (settings.outgoingTopicAliasMaximum > 0) this.outgoingAliases = new Map();
  }

  /** Number of topic aliases the peer has set on this connection. */
  get incomingAliasCount(): number {
    return this.incomingAliases?.size ?? 0;
  }

  // ---- keep-alive ----

  /** Records that bytes arrived now. */
  received(): void {
    this.lastReceived = this.now();
  }

  /**
   * Milliseconds left before the peer counts as gone for silence, 1.5 x Keep Alive after the last
   * packet received [MQTT-3.1.2-24] (3.1.1) [MQTT-3.1.2-22] (5.0); 0 or less: now. Undefined when
   * no Keep Alive is in force.
   */
  keepAliveRemaining(): number | undefined {
    if (this.keepAlive === 0) return undefined;
    return this.keepAlive * 1500 - (this.now() - this.lastReceived);
  }

  // ---- keep-alive, client role ----

  /** Client role: records that a packet was sent now; the next PINGREQ is due Keep Alive after it. */
  sent(): void {
    this.lastSent = this.now();
  }

  /**
   * Client role: milliseconds until a PINGREQ is due, 0 or less: now. It is due Keep Alive after the
   * last packet sent [MQTT-3.1.2-23] (3.1.1) [MQTT-3.1.2-20] (5.0), and also Keep Alive after the
   * last packet received: a client that keeps publishing QoS 0 and hears nothing back would
   * otherwise never ask, and never find the link dead. Undefined when no Keep Alive is in force, or
   * while a PINGREQ awaits its PINGRESP (one at a time is enough to prove the link).
   */
  pingDueIn(): number | undefined {
    if (this.keepAlive === 0 || this.pingSentAt !== undefined) return undefined;
    return this.keepAlive * 1000 - (this.now() - Math.min(this.lastSent, this.lastReceived));
  }

  /** Client role: a PINGREQ was sent now; its PINGRESP is awaited from here. Counts as a packet sent. */
  pingSent(): void {
    this.pingSentAt = this.now();
    this.lastSent = this.pingSentAt;
  }

  /** Client role: the PINGRESP came; the link is alive. */
  pingAnswered(): void {
    this.pingSentAt = undefined;
  }

  /**
   * Client role: milliseconds left for the PINGRESP to arrive before the link counts as dead, Keep
   * Alive after its PINGREQ was sent (a "reasonable amount of time", section 3.1.2.10); 0 or less:
   * now. Packets the application keeps sending do not move it, so a dead link is found even while
   * publishing. Undefined when no PINGREQ awaits an answer.
   */
  pingResponseRemaining(): number | undefined {
    if (this.pingSentAt === undefined) return undefined;
    return Math.max(this.keepAlive, 1) * 1000 - (this.now() - this.pingSentAt);
  }

  // ---- incoming ----

  /**
   * Takes a PUBLISH from the peer: checks the 5.0 rules that 3.1.1 does not have, resolves its topic
   * alias, and tells a re-sent QoS 2 PUBLISH (its id awaits PUBREL in `held`) from a new one. A new
   * QoS 2 one counts against this side's Receive Maximum until `releaseQoS2`. Throws a ProtocolError
   * with the reason code for the DISCONNECT when the PUBLISH breaks a rule.
   */
  receivePublish(packet: PublishPacket, held: IncomingQoS2): ReceivedPublish {
    const resolved = this.version === 5 ? this.checkV5Publish(packet) : packet;
    // [MQTT-4.3.3-2] (3.1.1) [MQTT-4.3.3-9] (5.0): a QoS 2 PUBLISH whose id awaits PUBREL is a re-send
    if (resolved.qos === 2 && held.holdsQoS2(resolved.packetId)) return 'duplicate';
    const inFlight = this.incomingQoS2InFlight;
    // [MQTT-3.3.4-7] (5.0): one more unacknowledged QoS 1/2 PUBLISH than the Receive Maximum in
    // CONNACK is answered with DISCONNECT 0x93. Packets are handled one at a time and QoS 1 is
    // acknowledged before the next, so the count is the QoS 2 flows awaiting PUBREL.
    if (inFlight !== undefined && resolved.qos > 0 && inFlight.size >= this.receiveMaximum) {
      throw new ProtocolError(`more than ${this.receiveMaximum} unacknowledged QoS 1/2 PUBLISH`, {
        reasonCode: ReasonCode.ReceiveMaximumExceeded,
      });
    }
    return resolved;
  }

  /** A QoS 2 PUBLISH was answered with a successful PUBREC: its flow is open until PUBREL. */
  holdQoS2(packetId: number): void {
    this.incomingQoS2InFlight?.add(packetId);
  }

  /** PUBREL came for `packetId`: the PUBCOMP that answers it ends the flow on this connection. */
  releaseQoS2(packetId: number): void {
    this.incomingQoS2InFlight?.delete(packetId);
  }

  /**
   * The 5.0 checks of an incoming PUBLISH: the Response Topic, a QoS 0 payload that is not the
   * UTF-8 it claims to be, and the topic alias, resolved and removed from the properties forwarded.
   */
  private checkV5Publish(packet: PublishPacket): PublishPacket {
    const properties = packet.properties;
    if (properties === undefined) return packet;
    const responseTopic = properties.responseTopic;
    // [MQTT-3.3.2-14]: a Response Topic with wildcards is a protocol error
    if (responseTopic !== undefined && (responseTopic.includes('+') || responseTopic.includes('#'))) {
      throw new ProtocolError('PUBLISH Response Topic has wildcard characters');
    }
    // Section 3.3.2.3.2 and 4.13: for QoS 0 the only answer to a payload that is not UTF-8 is DISCONNECT 0x99
    if (packet.qos === 0 && properties.payloadFormatIndicator === true && !isUtf8(packet.payload)) {
      throw new ProtocolError('PUBLISH payload is not the UTF-8 its Payload Format Indicator announces', {
        reasonCode: ReasonCode.PayloadFormatInvalid,
      });
    }
    const alias = properties.topicAlias;
    if (alias === undefined) return packet;
    const aliases = this.incomingAliases;
    // [MQTT-3.3.2-9]: an alias above the Topic Alias Maximum of CONNACK is DISCONNECT 0x94
    // (an alias of 0 [MQTT-3.3.2-8] never gets here: the codec refuses it with 0x82);
    // [MQTT-3.3.2-12] every alias from 1 to that maximum is accepted
    if (aliases === undefined || alias === 0 || alias > this.topicAliasMaximum) {
      throw new ProtocolError(`PUBLISH topic alias ${alias} is outside 1..${this.topicAliasMaximum}`, {
        reasonCode: ReasonCode.TopicAliasInvalid,
      });
    }
    let topic = packet.topic;
    if (topic.length === 0) {
      const known = aliases.get(alias);
      // Section 3.3.2.3.4: an empty topic with an alias the client has not set is a protocol error
      if (known === undefined) throw new ProtocolError(`PUBLISH uses topic alias ${alias} before setting it`);
      topic = known;
    } else {
      if (!isValidTopicName(topic)) {
        throw new ProtocolError(`PUBLISH topic ${quoteTopic(topic)} is not a valid topic name`, {
          reasonCode: ReasonCode.TopicNameInvalid,
        });
      }
      aliases.set(alias, topic);
    }
    // The alias means nothing to subscribers: it is not forwarded
    const { topicAlias: _alias, ...forwarded } = properties;
    // Its bytes as received (alias, maybe no topic) are not the message's: they are never forwarded.
    const { wireStart: _received, ...rest } = packet;
    return { ...rest, topic, properties: forwarded };
  }

  // ---- outgoing ----

  /**
   * Encodes `packet` in this connection's version within the peer's Maximum Packet Size: an
   * acknowledgement or DISCONNECT over it goes without its Reason String and User Properties when
   * that makes it fit ([MQTT-3.2.2-19] [MQTT-3.2.2-20] CONNACK, [MQTT-3.4.2-2] [MQTT-3.4.2-3] PUBACK,
   * and the same rule for the other acknowledgements and DISCONNECT); otherwise undefined: not sent
   * at all [MQTT-3.1.2-24].
   */
  encode(packet: Packet): Buffer | undefined {
    const buf = encode(packet, this.version);
    if (buf.length <= this.peerMaximumPacketSize) return buf;
    if ('properties' in packet && packet.properties !== undefined && packet.type !== 'publish') {
      const properties: Record<string, unknown> = { ...packet.properties };
      delete properties['reasonString'];
      delete properties['userProperties'];
      const trimmed = encode({ ...packet, properties }, this.version);
      if (trimmed.length <= this.peerMaximumPacketSize) return trimmed;
    }
    return undefined;
  }

  /**
   * The wire form of `d` as a PUBLISH with `packetId` (0 for QoS 0) and DUP, or undefined when it is
   * larger than the peer's Maximum Packet Size: [MQTT-3.1.2-24] (5.0) it is not sent, and
   * [MQTT-3.1.2-25] the session treats it as delivered. Uses a topic alias when the topic has one on
   * this connection or one is free; QoS 0 forms without per-delivery parts are encoded once per
   * version and retain flag and shared by every subscriber.
   */
  encodeDelivery(d: Delivery, packetId: number, dup: boolean): Buffer | undefined {
    if (this.outgoingAliases !== undefined) {
      const aliased = this.encodeAliased(d, packetId, dup, this.outgoingAliases);
      if (aliased !== null) return aliased;
    }
    const message = d.message;
    let buf: Buffer | undefined;
    // A message that can expire carries its remaining interval, so its wire form changes with time.
    if (d.qos === 0 && d.subscriptionIdentifiers === undefined && message.expiresAt === undefined) {
      const slot = wireFormSlot(this.version, d.retain);
      // Aliased forms are never cached: they differ per connection (see encodeAliased).
      const cache = (message.encoded ??= []);
      buf = cache[slot];
      if (buf === undefined) {
        buf = encodePublish(this.publishPacket(d, 0, false), this.version);
        cache[slot] = buf;
      }
    } else {
      // A QoS 1/2 PUBLISH forwarded as received, but for its first byte and packet id (session/verbatim.ts)
      const template =
        d.qos !== 0 && d.subscriptionIdentifiers === undefined && message.expiresAt === undefined
          ? message.encoded?.[receivedFormSlot(this.version)]
          : undefined;
      buf =
        template !== undefined
          ? withPacketId(template, d.qos as 1 | 2, d.retain, dup, packetId)
          : encodePublish(this.publishPacket(d, packetId, dup), this.version);
    }
    return buf.length > this.peerMaximumPacketSize ? undefined : buf;
  }

  /**
   * `d` with a topic alias when its topic has one on this connection, or when one is free (first
   * come, first served, up to the outgoing maximum: [MQTT-3.1.2-26] [MQTT-3.3.2-11]). The first
   * PUBLISH of a topic carries topic and alias; later ones an empty topic and the alias. With
   * `replaceOutgoingAliases`, a topic that finds every alias taken takes the least recently used
   * one. Null when the topic gets no alias, so that the caller encodes the plain (cached) form.
   */
  private encodeAliased(
    d: Delivery,
    packetId: number,
    dup: boolean,
    aliases: Map<string, number>,
  ): Buffer | undefined | null {
    const topic = d.message.topic;
    let alias = aliases.get(topic);
    const known = alias !== undefined;
    // With replacement, the map's order is the order of use: its first topic is the least recent
    let evicted: string | undefined;
    if (alias === undefined) {
      if (aliases.size < this.outgoingTopicAliasMaximum) alias = aliases.size + 1;
      else if (!this.replaceOutgoingAliases || aliases.size === 0) return null;
      else {
        evicted = aliases.keys().next().value!;
        alias = aliases.get(evicted)!;
      }
    }
    const packet = this.publishPacket(d, packetId, dup);
    packet.properties = { ...packet.properties, topicAlias: alias };
    if (known) packet.topic = '';
    const buf = encodePublish(packet, 5);
    if (buf.length > this.peerMaximumPacketSize) return undefined;
    // The alias is taken (or moved) only once a PUBLISH that sets it is actually sent.
    if (evicted !== undefined) aliases.delete(evicted);
    if (!known || this.replaceOutgoingAliases) {
      aliases.delete(topic);
      aliases.set(topic, alias);
    }
    return buf;
  }

  private publishPacket(d: Delivery, packetId: number, dup: boolean): PublishPacket {
    const message = d.message;
    const v5 = this.version === 5;
    let properties = v5 ? message.properties : undefined;
    if (v5 && d.subscriptionIdentifiers !== undefined) {
      properties = { ...properties, subscriptionIdentifiers: d.subscriptionIdentifiers };
    }
    if (v5 && message.expiresAt !== undefined) {
      // [MQTT-3.3.2-6] (5.0): the interval received, less the time the message waited here
      properties = { ...properties, messageExpiryInterval: remainingExpiryInterval(message.expiresAt, this.now()) };
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
}
