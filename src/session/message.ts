/**
 * An application message as the broker routes it: parsed once from the publisher's PUBLISH and
 * shared, never copied, by every delivery to every subscriber.
 */
import type { PublishProperties, QoS } from '../protocol/index.js';

/** A message in the broker. Its payload buffer is shared by every delivery. */
export interface Message {
  topic: string;
  payload: Buffer;
  /** QoS the publisher sent it with. */
  qos: QoS;
  /** RETAIN flag the publisher set. */
  retain: boolean;
  /** MQTT 5 properties to forward (no topic alias, no subscription identifiers: those are per delivery). */
  properties: PublishProperties | undefined;
  /** Client id of the publisher, for No Local; empty for messages the broker itself makes. */
  publisherId: string;
  /** Wall-clock time the broker received it, in ms since the epoch. */
  receivedAt: number;
  /**
   * When the 5.0 Message Expiry Interval runs out, in ms since the epoch; undefined when the message
   * has none and never expires. Set by `expiresAt(...)` where the message is made.
   */
  expiresAt?: number | undefined;
  /**
   * Cached wire forms of QoS 0 deliveries, at `wireFormSlot(protocol version, retain flag)`; and the
   * QoS 1/2 PUBLISH as received, at `receivedFormSlot(protocol version)` (see session/verbatim.ts).
   */
  encoded?: (Buffer | undefined)[];
  /**
   * The id a cluster of brokers gave it (`node/epoch/sequence`), when it went through one: kept by a
   * store that can keep it, so that a copy reaching a session again is known (`Session.holdsOrigin`).
   */
  originId?: string | undefined;
  /** Its id in the broker's Store while a persistent session's delivery refers to it; 0 or absent: not stored. */
  storeId?: number;
  /** How many stored deliveries refer to it; it is forgotten by the store at 0. */
  storeRefs?: number;
}

/** Where `Message.encoded` keeps the QoS 0 wire form for protocol `version` and RETAIN flag `retain`. */
export function wireFormSlot(version: number, retain: boolean): number {
  return version * 2 + (retain ? 1 : 0);
}

/**
 * Where `Message.encoded` keeps, for protocol `version`, the bytes of a QoS 1/2 PUBLISH as received:
 * the template of a QoS 1/2 delivery's wire form, which differs only in its first byte and packet id.
 */
export function receivedFormSlot(version: number): number {
  return 16 + version;
}

/** What a message is, without the broker's bookkeeping: the fields a store keeps of it. */
export type MessageFields = Pick<
  Message,
  'topic' | 'payload' | 'qos' | 'retain' | 'properties' | 'publisherId' | 'receivedAt' | 'expiresAt'
>;

/** The fields of `m` alone: for a store record, or a Message made anew from one (no cached wire forms, no store ids). */
export function messageFields(m: MessageFields): Required<MessageFields> {
  return {
    topic: m.topic,
    payload: m.payload,
    qos: m.qos,
    retain: m.retain,
    properties: m.properties,
    publisherId: m.publisherId,
    receivedAt: m.receivedAt,
    expiresAt: m.expiresAt,
  };
}

/** The expiry time of a message received at `receivedAt` (ms) with `properties`, or undefined. */
export function expiresAt(properties: PublishProperties | undefined, receivedAt: number): number | undefined {
  const interval = properties?.messageExpiryInterval;
  return interval === undefined ? undefined : receivedAt + interval * 1000;
}

/**
 * Whether `message` has expired at `now` (ms since the epoch): its interval has passed. Checked only
 * for messages that waited (queued, retained), so a message with an interval of 0 reaches the
 * subscribers online when it arrives and no queue.
 */
export function isExpired(message: Message, now: number): boolean {
  return message.expiresAt !== undefined && message.expiresAt < now;
}

/**
 * The Message Expiry Interval to forward, in whole seconds: what was received minus the time the
 * message waited in the broker [MQTT-3.3.2-6], rounded up; 0 for a message whose delivery started
 * before it expired and which is sent again (a re-sent in-flight message).
 */
export function remainingExpiryInterval(expiresAt: number, now: number): number {
  return Math.max(0, Math.ceil((expiresAt - now) / 1000));
}

/** One message on its way to one session, with the options of the subscription that matched. */
export interface Delivery {
  message: Message;
  /** min(message QoS, granted QoS) [MQTT-3.8.4-6] (3.1.1) [MQTT-3.8.4-8] (5.0). */
  qos: QoS;
  /** RETAIN flag on the outgoing PUBLISH. */
  retain: boolean;
  /** 5.0 subscription identifiers of the matching subscriptions. */
  subscriptionIdentifiers: number[] | undefined;
  /**
   * The `$share/{ShareName}/{filter}` subscription this delivery was chosen for, or undefined for
   * non-shared subscriptions: when the session ends first, the broker hands it to another member.
   */
  sharedFilter: string | undefined;
  /** Its sequence number in the broker's Store; 0 while not stored (clean sessions, QoS 0). */
  seq: number;
}

/**
 * Whether the message of cluster id `id` was published after the message of cluster id `than` by
 * the same node in the same run: ids `node/epoch/sequence` (Message.originId) with one prefix and
 * a greater sequence. The order of the messages of one publisher on one node.
 */
export function publishedAfter(id: string | undefined, than: string): boolean {
  if (id === undefined) return false;
  const at = than.lastIndexOf('/');
  if (at <= 0 || !id.startsWith(than.slice(0, at + 1)) || id.indexOf('/', at + 1) !== -1) return false;
  return Number(id.slice(at + 1)) > Number(than.slice(at + 1));
}

/** Builds a Delivery; one place, so every delivery has the same shape. */
export function delivery(
  message: Message,
  qos: QoS,
  retain: boolean,
  subscriptionIdentifiers: number[] | undefined,
  sharedFilter: string | undefined = undefined,
): Delivery {
  return { message, qos, retain, subscriptionIdentifiers, sharedFilter, seq: 0 };
}
