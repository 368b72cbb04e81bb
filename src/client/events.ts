/**
 * The client's typed events (`EventEmitter<ClientEventMap>`).
 */
import type { ConnackProperties } from '../protocol/index.js';
import type { MqttClientError } from './errors.js';
import type { ClientMessage } from './messages.js';

/** What a CONNACK said, as the `connect` event gives it. */
export interface ConnackInfo {
  sessionPresent: boolean;
  properties: ConnackProperties | undefined;
}

/** The client's events and their arguments. */
export interface ClientEventMap {
  /** A connection was accepted (the first one and every reconnect). */
  connect: [ConnackInfo];
  /** A reconnect attempt starts; `attempt` counts from 1, and starts over once a link stayed up for `maxDelayMs`. */
  reconnect: [attempt: number];
  /** The link went down; the reason says why. The client reconnects unless told not to. */
  offline: [MqttClientError];
  /** The client is closed for good: `end()`, or the link dropped with reconnect off. */
  close: [];
  /** A failure not tied to a call: a refused reconnect. Emitted only when someone listens. */
  error: [MqttClientError];
  /** A message arrived. */
  message: [ClientMessage];
}
