/**
 * Decisions the broker asks of its embedder. Each may answer synchronously or with a promise;
 * a hook that throws or rejects is treated as a refusal with an error reason code, never a crash.
 */
import type { ProtocolVersion, QoS } from '../protocol/index.js';

/** Who a client is, as the hooks see it. */
export interface ClientInfo {
  clientId: string;
  username: string | undefined;
  remoteAddress: string | undefined;
  protocolVersion: ProtocolVersion;
}

/** What a client presented in CONNECT. */
export interface AuthenticateRequest extends ClientInfo {
  password: Buffer | undefined;
}

/** The answer of `authenticate`: accept, or refuse with a 5.0 reason code (mapped to a 3.1.1 return code). */
export type AuthenticateResult = { ok: true } | { ok: false; reasonCode: number; reasonString?: string };

/** Hooks of a Broker; all optional. */
export interface BrokerHooks {
  /** Accepts or refuses a CONNECT. */
  authenticate?: (request: AuthenticateRequest) => AuthenticateResult | Promise<AuthenticateResult>;
  /** Whether `client` may publish to `topic`. */
  authorizePublish?: (client: ClientInfo, topic: string, qos: QoS, retain: boolean) => boolean | Promise<boolean>;
  /** Whether `client` may subscribe to `topicFilter`. */
  authorizeSubscribe?: (client: ClientInfo, topicFilter: string, qos: QoS) => boolean | Promise<boolean>;
}
