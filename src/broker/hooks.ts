/**
 * Decisions the broker asks of its embedder. Each may answer synchronously or with a promise;
 * a hook that throws or rejects is treated as a refusal with an error reason code, never a crash.
 */
import type { ProtocolVersion, QoS } from '../protocol/index.js';
import type { ClientCertificate } from '../transport/listener.js';

/** The identity authorization rests on: known of a session even while its client is offline. */
export interface ClientIdentity {
  clientId: string;
  /** The username its client presented at its last CONNECT (or that authentication gave it). */
  username: string | undefined;
}

/** Who a client is, as the hooks see it. */
export interface ClientInfo extends ClientIdentity {
  remoteAddress: string | undefined;
  protocolVersion: ProtocolVersion;
  /** The client certificate verified by the TLS listener (mutual TLS); undefined when none. */
  certificate?: ClientCertificate | undefined;
}

/** What a client presented in CONNECT. */
export interface AuthenticateRequest extends ClientInfo {
  password: Buffer | undefined;
}

/** The answer of `authenticate`: accept, or refuse with a 5.0 reason code (mapped to a 3.1.1 return code). */
export type AuthenticateResult = { ok: true } | { ok: false; reasonCode: number; reasonString?: string };

/** Where a 5.0 client should go instead (MQTT 5.0 section 4.11): CONNACK / DISCONNECT 0x9D when permanent, else 0x9C. */
export interface Redirection {
  /** Server Reference sent to the client, e.g. `mqtt2.example.com:1883`. */
  serverReference: string;
  /** true: Server moved (0x9D), use it from now on; false: Use another server (0x9C), this time. */
  permanent: boolean;
}

/** Hooks of a Broker; all optional. */
export interface BrokerHooks {
  /**
   * Enhanced authentication methods (5.0) by Authentication Method name. A CONNECT naming a method
   * runs that method's exchange instead of `authenticate`; a method not listed gets CONNACK 0x8C.
   */
  authMethods?: Readonly<Record<string, AuthMethod>>;
  /**
   * Asked first for each 5.0 CONNECT: a Redirection refuses it with CONNACK 0x9C / 0x9D and a
   * Server Reference; undefined lets it go on. 3.1 / 3.1.1 clients have no redirection and are not asked.
   */
  redirectConnect?: (client: ClientInfo) => Redirection | undefined | Promise<Redirection | undefined>;
  /** Accepts or refuses a CONNECT without an Authentication Method. */
  authenticate?: (request: AuthenticateRequest) => AuthenticateResult | Promise<AuthenticateResult>;
  /** Whether `client` may publish to `topic`. */
  authorizePublish?: (client: ClientInfo, topic: string, qos: QoS, retain: boolean) => boolean | Promise<boolean>;
  /** Whether `client` may subscribe to `topicFilter`. */
  authorizeSubscribe?: (client: ClientInfo, topicFilter: string, qos: QoS) => boolean | Promise<boolean>;
  /**
   * Whether the session of `client` may receive a message published to `topic`; asked for every
   * delivery (routed messages, retained messages on SUBSCRIBE, wills), also to offline sessions,
   * and a refused delivery is skipped. Synchronous because it runs in the router's hot path: when it
   * is not set, routing does no extra work per delivery. A hook that throws refuses the delivery.
   */
  authorizeRead?: (client: ClientIdentity, topic: string) => boolean;
}

/**
 * One step of an enhanced authentication exchange (MQTT 5.0 section 4.12): go on (the broker sends
 * AUTH 0x18 with `data` and waits for the client's AUTH 0x18), succeed (CONNACK 0x00, or AUTH 0x00
 * after re-authentication, with `data`), or fail with a reason code (CONNACK, or DISCONNECT after
 * re-authentication).
 */
export type AuthStep =
  | { kind: 'continue'; data?: Buffer }
  | { kind: 'success'; data?: Buffer }
  | { kind: 'failure'; reasonCode: number; reasonString?: string };

/** One client's run through an authentication method; holds whatever state the method needs between steps. */
export interface AuthExchange {
  /** Takes the Authentication Data the client sent (undefined when it sent none) and decides the next step. */
  step(data: Buffer | undefined): AuthStep | Promise<AuthStep>;
}

/** An enhanced authentication method, registered under its Authentication Method name in `BrokerHooks.authMethods`. */
export interface AuthMethod {
  /** Starts an exchange for `client`: on CONNECT, or on AUTH 0x19 when `reauthenticate` is true. */
  start(client: AuthenticateRequest, reauthenticate: boolean): AuthExchange;
}
