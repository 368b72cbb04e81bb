// Public entry point of the fennec-mqtt package.
export * from './errors/index.js';
export * from './protocol/index.js';
export { Broker, type BrokerEvents, type BrokerCounters } from './broker/broker.js';
export type { BrokerOptions } from './broker/options.js';
export { defaultBrokerOptions } from './broker/options.js';
export type { BrokerHooks, ClientInfo, AuthenticateRequest, AuthenticateResult } from './broker/hooks.js';
export type { Message } from './session/message.js';
