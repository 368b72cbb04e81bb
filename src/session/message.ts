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
  /** Cached wire forms of QoS 0 deliveries, keyed by protocol version and retain flag. */
  encoded?: (Buffer | undefined)[];
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
}

/** Builds a Delivery; one place, so every delivery has the same shape. */
export function delivery(
  message: Message,
  qos: QoS,
  retain: boolean,
  subscriptionIdentifiers: number[] | undefined,
  sharedFilter: string | undefined = undefined,
): Delivery {
  return { message, qos, retain, subscriptionIdentifiers, sharedFilter };
}
