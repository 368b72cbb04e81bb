/**
 * What the client checks of a publish before the session takes it: a valid topic, and what the
 * broker's last CONNACK allows (Maximum QoS, Retain Available, Maximum Packet Size), so that a
 * message the broker would refuse, or that the session would have to discard, is rejected at once
 * with a typed error rather than sent.
 */
import { encodePublish, ReasonCode, type PublishProperties } from '../protocol/index.js';
import { MAX_PACKET_SIZE } from '../protocol/constants.js';
import type { ConnackProperties } from '../protocol/index.js';
import { delivery, type Delivery } from '../session/message.js';
import { validateTopicName } from '../topic/index.js';
import { toFennecError } from '../errors/index.js';
import { MqttClientError } from './errors.js';
import type { PublishOptions } from './options.js';

/** What the broker's CONNACK allows a publish. */
export interface PublishLimits {
  maximumQoS: 0 | 1 | 2;
  retainAvailable: boolean;
  maximumPacketSize: number;
  /** Whether topic aliases may be added, which makes a PUBLISH up to 4 bytes longer. */
  aliases: boolean;
}

/** No limit but the protocol's: before the first CONNACK, and 3.1.1. */
export const NO_LIMITS: PublishLimits = {
  maximumQoS: 2,
  retainAvailable: true,
  maximumPacketSize: MAX_PACKET_SIZE,
  aliases: false,
};

/** The limits a CONNACK's properties set; absent properties mean the protocol's defaults. */
export function limitsOf(properties: ConnackProperties | undefined, aliases: boolean): PublishLimits {
  return {
    maximumQoS: properties?.maximumQoS ?? 2,
    retainAvailable: properties?.retainAvailable ?? true,
    maximumPacketSize: properties?.maximumPacketSize ?? MAX_PACKET_SIZE,
    aliases,
  };
}

/**
 * The delivery of a publish from the application, or the error to reject it with: ERR_TOPIC_* for
 * an invalid topic name, ERR_CLIENT_QOS_NOT_SUPPORTED (0x9B), ERR_CLIENT_RETAIN_NOT_SUPPORTED
 * (0x9A), ERR_CLIENT_TOO_LARGE (0x95).
 */
export function outgoingDelivery(
  topic: string,
  payload: string | Buffer,
  options: PublishOptions,
  publisherId: string,
  version: 4 | 5,
  limits: PublishLimits,
): Delivery | Error {
  try {
    validateTopicName(topic);
  } catch (err) {
    return toFennecError(err);
  }
  const qos = options.qos ?? 0;
  const retain = options.retain ?? false;
  // [MQTT-3.2.2-11]: nothing above the Maximum QoS of CONNACK
  if (qos > limits.maximumQoS) {
    return new MqttClientError(
      'ERR_CLIENT_QOS_NOT_SUPPORTED',
      `the broker takes QoS ${limits.maximumQoS} at most, not ${qos}`,
      { reasonCode: ReasonCode.QoSNotSupported },
    );
  }
  // [MQTT-3.2.2-14]: no RETAIN after Retain Available 0
  if (retain && !limits.retainAvailable) {
    return new MqttClientError('ERR_CLIENT_RETAIN_NOT_SUPPORTED', 'the broker does not keep retained messages', {
      reasonCode: ReasonCode.RetainNotSupported,
    });
  }
  let properties: PublishProperties | undefined;
  if (version === 5 && options.properties !== undefined) {
    // The client's own topic aliases come from the `topicAliases` option, never from here
    const { topicAlias: _alias, ...rest } = options.properties;
    properties = rest;
  }
  const message = {
    topic,
    payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
    qos,
    retain,
    properties,
    publisherId,
    receivedAt: Date.now(),
  };
  const size = encodePublish(
    {
      type: 'publish',
      topic,
      payload: message.payload,
      qos,
      retain,
      dup: false,
      packetId: qos === 0 ? 0 : 1,
      properties,
    },
    version,
  ).length;
  if (size + (limits.aliases ? 4 : 0) > limits.maximumPacketSize) {
    return new MqttClientError('ERR_CLIENT_TOO_LARGE', `the PUBLISH to ${topic} is larger than the broker takes`, {
      reasonCode: ReasonCode.PacketTooLarge,
    });
  }
  return delivery(message, qos, retain, undefined);
}
