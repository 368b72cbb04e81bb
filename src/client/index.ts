/**
 * The Fennec MQTT client (`fennec-mqtt/client`): `connect(url, options)` and what it returns.
 */
export { connect, MqttClient } from './client.js';
export type { ClientEventMap, ConnackInfo } from './events.js';
export type { ClientAuthentication } from './auth.js';
export { MqttClientError } from './errors.js';
export type { OfflineStore } from './journal.js';
export type { ClientMessage, MessageStream } from './messages.js';
export type {
  ClientOptions,
  ClientWill,
  PublishOptions,
  ReconnectOptions,
  SubscribeOptions,
  SubscriptionRequest,
} from './options.js';
export type { ClientTlsOptions } from './transport.js';
