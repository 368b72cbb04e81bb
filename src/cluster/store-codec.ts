/**
 * The forms of the Redis store's records (src/cluster/redis-store.ts): JSON whose Buffers are
 * base64 under a `$b64` key (the cluster codec's convention), with every optional field rebuilt
 * explicitly on the way back so that a record round-trips exactly. A stored message is, like a
 * message between nodes, a 4-byte header length, the JSON header, then the payload bytes unchanged.
 */
import type { PublishProperties, QoS, RetainHandling, WillProperties } from '../protocol/index.js';
import type {
  DeliveryRecord,
  DeliveryState,
  SessionRecord,
  StoredRetained,
  StoredWill,
  SubscriptionRecord,
} from '../store/types.js';
import { jsonReplacer, jsonReviver } from './codec.js';

function toJson(value: unknown): string {
  return JSON.stringify(value, jsonReplacer);
}

function fromJson<T>(text: string): T {
  return JSON.parse(text, jsonReviver) as T;
}

interface MessageHeader {
  t: string;
  q: QoS;
  r: boolean;
  c: string;
  a: number;
  e?: number;
  o?: PublishProperties;
  /** Message.originId */
  i?: string;
}

/** A stored message (its id is the hash field, not part of the value). */
export function encodeStoredMessage(message: StoredRetained): Buffer {
  const header: MessageHeader = {
    t: message.topic,
    q: message.qos,
    r: message.retain,
    c: message.publisherId,
    a: message.receivedAt,
  };
  if (message.expiresAt !== undefined) header.e = message.expiresAt;
  if (message.properties !== undefined) header.o = message.properties;
  if (message.originId !== undefined) header.i = message.originId;
  const json = Buffer.from(toJson(header));
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(json.length, 0);
  return Buffer.concat([length, json, message.payload]);
}

/** The inverse of encodeStoredMessage; the payload is a copy, sharing nothing with `bytes`. */
export function decodeStoredMessage(bytes: Buffer): StoredRetained {
  const length = bytes.readUInt32BE(0);
  const header = fromJson<MessageHeader>(bytes.subarray(4, 4 + length).toString());
  const message: StoredRetained = {
    topic: header.t,
    payload: Buffer.from(bytes.subarray(4 + length)),
    qos: header.q,
    retain: header.r,
    properties: header.o,
    publisherId: header.c,
    receivedAt: header.a,
    expiresAt: header.e,
  };
  if (header.i !== undefined) message.originId = header.i;
  return message;
}

interface SessionJson {
  e: number;
  d?: number;
  w?: { t: string; p: Buffer; q: QoS; r: boolean; o?: WillProperties };
  u?: number;
}

export function encodeSession(record: SessionRecord): string {
  const json: SessionJson = { e: record.expiryInterval };
  if (record.disconnectedAt !== undefined) json.d = record.disconnectedAt;
  if (record.willDueAt !== undefined) json.u = record.willDueAt;
  const will = record.will;
  if (will !== undefined) {
    json.w = { t: will.topic, p: will.payload, q: will.qos, r: will.retain };
    if (will.properties !== undefined) json.w.o = will.properties;
  }
  return toJson(json);
}

export function decodeSession(clientId: string, text: string): SessionRecord {
  const json = fromJson<SessionJson>(text);
  let will: StoredWill | undefined;
  if (json.w !== undefined) {
    will = { topic: json.w.t, payload: json.w.p, qos: json.w.q, retain: json.w.r, properties: json.w.o };
  }
  return { clientId, expiryInterval: json.e, disconnectedAt: json.d, will, willDueAt: json.u };
}

interface SubscriptionJson {
  q: QoS;
  n: boolean;
  r: boolean;
  h: RetainHandling;
  i?: number;
}

export function encodeSubscription(record: SubscriptionRecord): string {
  const json: SubscriptionJson = {
    q: record.qos,
    n: record.noLocal,
    r: record.retainAsPublished,
    h: record.retainHandling,
  };
  if (record.subscriptionIdentifier !== undefined) json.i = record.subscriptionIdentifier;
  return JSON.stringify(json);
}

export function decodeSubscription(clientId: string, topicFilter: string, text: string): SubscriptionRecord {
  const json = JSON.parse(text) as SubscriptionJson;
  return {
    clientId,
    topicFilter,
    qos: json.q,
    noLocal: json.n,
    retainAsPublished: json.r,
    retainHandling: json.h,
    subscriptionIdentifier: json.i,
  };
}

interface DeliveryJson {
  q: QoS;
  r: boolean;
  i?: number[];
  s?: string;
}

/**
 * A delivery's fixed fields, as `MESSAGE_ID SPACE JSON`: the Lua scripts renumber the message id
 * when they move a session to another node without parsing the JSON. Its client id, state and
 * packet id are kept in hashes of their own.
 */
export function encodeDelivery(record: DeliveryRecord): string {
  const json: DeliveryJson = { q: record.qos, r: record.retain };
  if (record.subscriptionIdentifiers !== undefined) json.i = record.subscriptionIdentifiers;
  if (record.sharedFilter !== undefined) json.s = record.sharedFilter;
  return `${record.messageId} ${JSON.stringify(json)}`;
}

/** A delivery from its fixed fields (`encodeDelivery`) and its `STATE SPACE PACKET_ID`. */
export function decodeDelivery(seq: number, clientId: string, fixed: string, state: string): DeliveryRecord {
  const space = fixed.indexOf(' ');
  const json = JSON.parse(fixed.slice(space + 1)) as DeliveryJson;
  const [stateText, packetText] = state.split(' ');
  return {
    seq,
    clientId,
    messageId: Number(fixed.slice(0, space)),
    qos: json.q,
    retain: json.r,
    subscriptionIdentifiers: json.i,
    sharedFilter: json.s,
    state: Number(stateText) as DeliveryState,
    packetId: Number(packetText),
  };
}
