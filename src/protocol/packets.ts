/**
 * MQTT control packets as typed values: a discriminated union on `type`.
 * One shape serves all three versions; fields that only MQTT 5.0 carries are optional
 * (`properties`, reason codes other than success) and are ignored when encoding 3.1 / 3.1.1.
 */
import type { ProtocolVersion, QoS } from './constants.js';

/** A User Property: a name/value pair; order is kept and names may repeat. */
export type UserProperty = readonly [name: string, value: string];

/** Every MQTT 5.0 property, by name. Each packet's properties are a subset of these. */
export interface AllProperties {
  /** 0x01: true when the payload is UTF-8 text. */
  payloadFormatIndicator?: boolean;
  /** 0x02: lifetime of the message, in seconds. */
  messageExpiryInterval?: number;
  /** 0x03: MIME-like description of the payload. */
  contentType?: string;
  /** 0x08: topic for a response. */
  responseTopic?: string;
  /** 0x09: opaque data that ties a response to its request. */
  correlationData?: Buffer;
  /** 0x0B in SUBSCRIBE: the identifier of the subscription, 1 to 268,435,455. */
  subscriptionIdentifier?: number;
  /** 0x0B in PUBLISH: every identifier of the subscriptions that matched (repeatable). */
  subscriptionIdentifiers?: number[];
  /** 0x11: how long the session outlives the connection, in seconds (0xFFFFFFFF: never expires). */
  sessionExpiryInterval?: number;
  /** 0x12: the client identifier the server assigned. */
  assignedClientIdentifier?: string;
  /** 0x13: keep-alive the server imposes, in seconds. */
  serverKeepAlive?: number;
  /** 0x15: name of the enhanced authentication method. */
  authenticationMethod?: string;
  /** 0x16: data of the enhanced authentication method. */
  authenticationData?: Buffer;
  /** 0x17: whether the client wants reason strings and user properties on failures. */
  requestProblemInformation?: boolean;
  /** 0x18: delay before the will is published, in seconds. */
  willDelayInterval?: number;
  /** 0x19: whether the client wants Response Information in CONNACK. */
  requestResponseInformation?: boolean;
  /** 0x1A: basis for response topics, sent by the server. */
  responseInformation?: string;
  /** 0x1C: another server the client may use. */
  serverReference?: string;
  /** 0x1F: human-readable diagnostic. */
  reasonString?: string;
  /** 0x21: how many QoS 1/2 PUBLISHes the sender accepts unacknowledged, 1 to 65,535. */
  receiveMaximum?: number;
  /** 0x22: highest topic alias the sender accepts, 0 to 65,535. */
  topicAliasMaximum?: number;
  /** 0x23: topic alias of this PUBLISH, 1 to 65,535. */
  topicAlias?: number;
  /** 0x24: highest QoS the server supports (0 or 1; absent means 2). */
  maximumQoS?: 0 | 1;
  /** 0x25: whether the server supports retained messages. */
  retainAvailable?: boolean;
  /** 0x26: user properties. */
  userProperties?: UserProperty[];
  /** 0x27: largest packet the sender accepts, in bytes. */
  maximumPacketSize?: number;
  /** 0x28: whether the server supports wildcard subscriptions. */
  wildcardSubscriptionAvailable?: boolean;
  /** 0x29: whether the server supports subscription identifiers. */
  subscriptionIdentifiersAvailable?: boolean;
  /** 0x2A: whether the server supports shared subscriptions. */
  sharedSubscriptionAvailable?: boolean;
}

export type ConnectProperties = Pick<
  AllProperties,
  | 'sessionExpiryInterval'
  | 'receiveMaximum'
  | 'maximumPacketSize'
  | 'topicAliasMaximum'
  | 'requestResponseInformation'
  | 'requestProblemInformation'
  | 'userProperties'
  | 'authenticationMethod'
  | 'authenticationData'
>;

export type WillProperties = Pick<
  AllProperties,
  | 'willDelayInterval'
  | 'payloadFormatIndicator'
  | 'messageExpiryInterval'
  | 'contentType'
  | 'responseTopic'
  | 'correlationData'
  | 'userProperties'
>;

export type ConnackProperties = Pick<
  AllProperties,
  | 'sessionExpiryInterval'
  | 'receiveMaximum'
  | 'maximumQoS'
  | 'retainAvailable'
  | 'maximumPacketSize'
  | 'assignedClientIdentifier'
  | 'topicAliasMaximum'
  | 'reasonString'
  | 'userProperties'
  | 'wildcardSubscriptionAvailable'
  | 'subscriptionIdentifiersAvailable'
  | 'sharedSubscriptionAvailable'
  | 'serverKeepAlive'
  | 'responseInformation'
  | 'serverReference'
  | 'authenticationMethod'
  | 'authenticationData'
>;

export type PublishProperties = Pick<
  AllProperties,
  | 'payloadFormatIndicator'
  | 'messageExpiryInterval'
  | 'topicAlias'
  | 'responseTopic'
  | 'correlationData'
  | 'userProperties'
  | 'subscriptionIdentifiers'
  | 'contentType'
>;

/** Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK. */
export type AckProperties = Pick<AllProperties, 'reasonString' | 'userProperties'>;

export type SubscribeProperties = Pick<AllProperties, 'subscriptionIdentifier' | 'userProperties'>;

export type UnsubscribeProperties = Pick<AllProperties, 'userProperties'>;

export type DisconnectProperties = Pick<
  AllProperties,
  'sessionExpiryInterval' | 'reasonString' | 'userProperties' | 'serverReference'
>;

export type AuthProperties = Pick<
  AllProperties,
  'authenticationMethod' | 'authenticationData' | 'reasonString' | 'userProperties'
>;

/** The Will of a CONNECT. */
export interface Will {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: WillProperties | undefined;
}

export interface ConnectPacket {
  type: 'connect';
  /** `MQTT` for 3.1.1 and 5.0, `MQIsdp` for 3.1. */
  protocolName: 'MQTT' | 'MQIsdp';
  protocolVersion: ProtocolVersion;
  /** Clean Session (3.1 / 3.1.1) or Clean Start (5.0). */
  clean: boolean;
  /** Keep-alive, in seconds (0: none). */
  keepAlive: number;
  clientId: string;
  username?: string | undefined;
  password?: Buffer | undefined;
  will?: Will | undefined;
  properties?: ConnectProperties | undefined;
}

export interface ConnackPacket {
  type: 'connack';
  sessionPresent: boolean;
  /** 5.0 reason code, or the 3.1 / 3.1.1 return code (0 to 5). */
  reasonCode: number;
  properties?: ConnackProperties | undefined;
}

export interface PublishPacket {
  type: 'publish';
  /** Topic name; empty only in 5.0 when a topic alias stands for it. */
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Packet identifier, 1 to 65,535 for QoS 1 and 2; 0 (absent on the wire) for QoS 0. */
  packetId: number;
  properties?: PublishProperties | undefined;
  /**
   * Set by the Decoder: the offset, in bytes within `payload.buffer`, of the packet's first byte as
   * received (its bytes run from there to the payload's end); see `receivedBytes`. Absent on a packet
   * made in memory.
   */
  wireStart?: number | undefined;
}

/** PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. */
export interface PubAckLikePacket<T extends 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'> {
  type: T;
  packetId: number;
  /** 5.0 reason code; always 0 in 3.1 / 3.1.1. */
  reasonCode: number;
  properties?: AckProperties | undefined;
}
export type PubackPacket = PubAckLikePacket<'puback'>;
export type PubrecPacket = PubAckLikePacket<'pubrec'>;
export type PubrelPacket = PubAckLikePacket<'pubrel'>;
export type PubcompPacket = PubAckLikePacket<'pubcomp'>;

/** Retain Handling option of a 5.0 subscription: 0 send retained, 1 only if new, 2 never. */
export type RetainHandling = 0 | 1 | 2;

/** One topic filter of a SUBSCRIBE, with its options (the 5.0 options are false/0 in 3.1.1). */
export interface Subscription {
  topicFilter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: RetainHandling;
}

export interface SubscribePacket {
  type: 'subscribe';
  packetId: number;
  subscriptions: Subscription[];
  properties?: SubscribeProperties | undefined;
}

export interface SubackPacket {
  type: 'suback';
  packetId: number;
  /** One per requested filter: granted QoS or a failure code. */
  reasonCodes: number[];
  properties?: AckProperties | undefined;
}

export interface UnsubscribePacket {
  type: 'unsubscribe';
  packetId: number;
  topicFilters: string[];
  properties?: UnsubscribeProperties | undefined;
}

export interface UnsubackPacket {
  type: 'unsuback';
  packetId: number;
  /** One per filter in 5.0; empty in 3.1 / 3.1.1, whose UNSUBACK has none. */
  reasonCodes: number[];
  properties?: AckProperties | undefined;
}

export interface PingreqPacket {
  type: 'pingreq';
}

export interface PingrespPacket {
  type: 'pingresp';
}

export interface DisconnectPacket {
  type: 'disconnect';
  /** 5.0 reason code; always 0 in 3.1 / 3.1.1. */
  reasonCode: number;
  properties?: DisconnectProperties | undefined;
}

/** AUTH exists only in 5.0. */
export interface AuthPacket {
  type: 'auth';
  reasonCode: number;
  properties?: AuthProperties | undefined;
}

/** Every MQTT control packet. */
export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** The `type` names of all packets. */
export type PacketType = Packet['type'];

/** The packet whose `type` is T. */
export type PacketOf<T extends PacketType> = Extract<Packet, { type: T }>;
