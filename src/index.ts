// Public entry point of the fennec-mqtt package.
export * from './errors/index.js';
export * from './protocol/index.js';
export { Broker, type BrokerEvents, type BrokerCounters } from './broker/broker.js';
export type { BrokerOptions } from './broker/options.js';
export { defaultBrokerOptions } from './broker/options.js';
export type {
  BrokerHooks,
  ClientInfo,
  AuthenticateRequest,
  AuthenticateResult,
  AuthMethod,
  AuthExchange,
  AuthStep,
  Redirection,
} from './broker/hooks.js';
export {
  SCRAM_SHA_256,
  scramSha256,
  deriveScramCredentials,
  type ScramCredentials,
  type ScramUserStore,
} from './auth/scram.js';
export type { Message } from './session/message.js';
export type { TlsOptions } from './broker/options.js';
export type { ClientCertificate, ListenerAddress } from './transport/listener.js';
export { TlsFileError, type TlsMinVersion } from './transport/tls.js';
