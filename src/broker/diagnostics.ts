/**
 * Observations on `node:diagnostics_channel`, for tracing tools that subscribe without a hook or a
 * reference to the Broker: the Broker's events, each published on its named channel with the
 * broker that saw it. A site publishes only when `channel.hasSubscribers`, so a channel nobody
 * subscribes to costs one property read. Names and message shapes are listed in docs/hooks.md.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Subscription } from '../protocol/index.js';
import type { Message } from '../session/message.js';
import type { BrokerContext } from './context.js';
import type { ClientInfo } from './hooks.js';

/** `fennec:client.connected`: a CONNECT was accepted and CONNACK sent (the Broker's `clientConnected`). */
export interface ClientConnectedMessage {
  /** The Broker that saw it. */
  broker: BrokerContext;
  client: ClientInfo & { sessionPresent: boolean };
}

/** `fennec:client.disconnected`: an accepted client's connection closed (the Broker's `clientDisconnected`). */
export interface ClientDisconnectedMessage {
  /** The Broker that saw it. */
  broker: BrokerContext;
  client: ClientInfo;
}

/** `fennec:subscribed`: a SUBSCRIBE was handled, whatever each filter's reason code (the Broker's `subscribed`). */
export interface SubscribedMessage {
  /** The Broker that saw it. */
  broker: BrokerContext;
  client: ClientInfo;
  subscriptions: Subscription[];
}

/** `fennec:unsubscribed`: an UNSUBSCRIBE was handled (the Broker's `unsubscribed`). */
export interface UnsubscribedMessage {
  /** The Broker that saw it. */
  broker: BrokerContext;
  client: ClientInfo;
  topicFilters: string[];
}

/** `fennec:published`: a message was routed, from a client, a will or `broker.publish` (the Broker's `published`). */
export interface PublishedMessage {
  /** The Broker that saw it. */
  broker: BrokerContext;
  message: Message;
  /** Deliveries made to sessions. */
  deliveries: number;
}

/** A channel whose `publish` takes only messages of type `T`. */
export interface TypedChannel<T> extends diagnosticsChannel.Channel {
  publish(message: T): void;
}

function channel<T>(name: string): TypedChannel<T> {
  return diagnosticsChannel.channel(name);
}

/**
 * The channels, held here for the life of the process (diagnostics_channel keeps channels weakly).
 * Subscribe with `diagnostics_channel.subscribe('fennec:published', onMessage)`.
 */
export const channels = {
  clientConnected: channel<ClientConnectedMessage>('fennec:client.connected'),
  clientDisconnected: channel<ClientDisconnectedMessage>('fennec:client.disconnected'),
  subscribed: channel<SubscribedMessage>('fennec:subscribed'),
  unsubscribed: channel<UnsubscribedMessage>('fennec:unsubscribed'),
  published: channel<PublishedMessage>('fennec:published'),
} as const;
