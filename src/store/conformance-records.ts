/**
 * Records for store tests: builders of every record type with plain defaults, a record using every
 * MQTT 5 property, and `normalize`, which orders what the Store contract leaves unordered. The
 * conformance suite (conformance.ts) is written with them; a store's own tests may use them too.
 */
import type { PublishProperties } from '../protocol/index.js';
import {
  DeliveryState,
  type DeliveryRecord,
  type SessionRecord,
  type StoredMessage,
  type StoredRetained,
  type StoredState,
  type SubscriptionRecord,
} from './types.js';

/** The empty state. */
export function emptyState(): StoredState {
  return { sessions: [], subscriptions: [], messages: [], deliveries: [], incomingQoS2: [], retained: [] };
}

/** Sorts what the contract leaves unordered, so two states compare with deepStrictEqual. */
export function normalize(state: StoredState): StoredState {
  const byString =
    <T>(key: (item: T) => string) =>
    (a: T, b: T) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0;
  return {
    sessions: [...state.sessions].sort(byString((s) => s.clientId)),
    subscriptions: [...state.subscriptions].sort(byString((s) => `${s.clientId}\u0000${s.topicFilter}`)),
    messages: state.messages,
    deliveries: state.deliveries,
    incomingQoS2: [...state.incomingQoS2].sort((a, b) =>
      a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : a.packetId - b.packetId,
    ),
    retained: [...state.retained].sort(byString((r) => r.topic)),
  };
}

/** Properties using every PUBLISH property, with repeated and non-ASCII user properties in a set order. */
export const fullProperties: PublishProperties = {
  payloadFormatIndicator: true,
  messageExpiryInterval: 3600,
  topicAlias: 12,
  contentType: 'application/json; charset=utf-8',
  responseTopic: 'replies/ü/1',
  correlationData: Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]),
  userProperties: [
    ['b', '2'],
    ['a', '1'],
    ['b', '1'],
    ['', ''],
    ['ключ', '値 🦊'],
  ],
  subscriptionIdentifiers: [7, 1, 268_435_455],
};

/** A stored message with id `id`; `fields` replace the defaults. */
export function message(id: number, fields: Partial<StoredMessage> = {}): StoredMessage {
  return {
    id,
    topic: `sensors/${id}/temperature`,
    payload: Buffer.from(`payload ${id}`),
    qos: 1,
    retain: false,
    properties: undefined,
    publisherId: 'publisher',
    receivedAt: 1_764_000_000_000 + id,
    expiresAt: undefined,
    ...fields,
  };
}

/** A retained message on `topic`; `fields` replace the defaults. */
export function retained(topic: string, fields: Partial<StoredRetained> = {}): StoredRetained {
  const { id: _id, ...rest } = message(1, { topic, retain: true, ...fields });
  return rest;
}

/** A session record of `clientId` (expiry 300 s, connected, no will); `fields` replace the defaults. */
export function session(clientId: string, fields: Partial<SessionRecord> = {}): SessionRecord {
  return { clientId, expiryInterval: 300, disconnectedAt: undefined, will: undefined, willDueAt: undefined, ...fields };
}

/** A QoS 1 subscription of `clientId` to `topicFilter`; `fields` replace the defaults. */
export function subscription(
  clientId: string,
  topicFilter: string,
  fields: Partial<SubscriptionRecord> = {},
): SubscriptionRecord {
  return {
    clientId,
    topicFilter,
    qos: 1,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
    subscriptionIdentifier: undefined,
    ...fields,
  };
}

/** A queued QoS 1 delivery of message `messageId` to `clientId`; `fields` replace the defaults. */
export function delivery(
  seq: number,
  clientId: string,
  messageId: number,
  fields: Partial<DeliveryRecord> = {},
): DeliveryRecord {
  return {
    seq,
    clientId,
    messageId,
    qos: 1,
    retain: false,
    subscriptionIdentifiers: undefined,
    sharedFilter: undefined,
    state: DeliveryState.Queued,
    packetId: 0,
    ...fields,
  };
}
