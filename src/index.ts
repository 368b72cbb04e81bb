// Public entry point of the fennec-mqtt package.
export * from './errors/index.js';
export * from './protocol/index.js';
export { Broker, type BrokerEvents, type BrokerCounters } from './broker/broker.js';
export type { BrokerOptions, SettableBrokerOptions } from './broker/options.js';
export { InvalidOptionError, type OptionIssue } from './config/errors.js';
export type { BrokerContext } from './broker/context.js';
export { defaultBrokerOptions } from './broker/options.js';
export type {
  BrokerHooks,
  ClientIdentity,
  ClientInfo,
  AuthenticateRequest,
  AuthenticateResult,
  AuthMethod,
  AuthExchange,
  AuthStep,
  Redirection,
  HookAnswer,
} from './broker/hooks.js';
export type { HookRegistry } from './broker/hook-registry.js';
export type {
  ClientConnectedMessage,
  ClientDisconnectedMessage,
  SubscribedMessage,
  UnsubscribedMessage,
  PublishedMessage,
} from './broker/diagnostics.js';
export {
  SCRAM_SHA_256,
  scramSha256,
  deriveScramCredentials,
  type ScramCredentials,
  type ScramUserStore,
} from './auth/scram.js';
export { Acl, AclFileError, aclHooks, type AclAccess, type AclHooks } from './auth/acl.js';
export {
  PasswordFile,
  PasswordFileError,
  hashPassword,
  verifyPassword,
  parseHash,
  formatHash,
  parseStoredHash,
  verifyStoredHash,
  defaultScryptParameters,
  type PasswordHash,
  type StoredHash,
  type PasswordFileOptions,
  type ScryptParameters,
} from './auth/password-file.js';
export { parseMosquittoHash, type MosquittoHash } from './auth/mosquitto-hashes.js';
export { FailedLogins, type FailedLoginPolicy } from './broker/failed-logins.js';
export type { AllowAnonymous } from './broker/options.js';
export type { Message } from './session/message.js';
export type { ListenerOptions, TlsOptions } from './broker/options.js';
export type { NamedListenerAddress } from './broker/listeners.js';
export { listenerUrl, type ClientCertificate, type ListenerAddress } from './transport/listener.js';
export { TlsFileError, type TlsMinVersion } from './transport/tls.js';
