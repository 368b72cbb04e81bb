/**
 * Decisions the broker asks of its embedder. Each may answer synchronously or with a promise;
 * a hook that throws or rejects is treated as a refusal with an error reason code, never a crash.
 *
 * Several hooks objects may be registered (BrokerOptions.hooks as an array, `broker.hooks.add`). The
 * hooks of one kind form a chain in registration order: each may answer decisively or abstain by
 * answering `undefined`, and the first decisive answer wins; the rest of the chain is not asked.
 * When every hook abstains (or none is registered), the broker does what it does without hooks:
 * it allows, and accepts a CONNECT subject to `allowAnonymous`. See docs/hooks.md.
 */
import type { ProtocolVersion, QoS } from '../protocol/index.js';
import type { ClientCertificate } from '../transport/listener.js';

/** The identity authorization rests on: known of a session even while its client is offline. */
export interface ClientIdentity {
  clientId: string;
  /** The username its client presented at its last CONNECT (or that authentication gave it). */
  username: string | undefined;
  /**
   * The name of the listener its (latest) client connected through (`listeners[].name`, or `mqtt`,
   * `mqtts`, `ws` for the short form and `--ws-port`), for per-listener policies; undefined for a
   * stream given to `broker.handle()` without one, and for a session restored from the store until
   * its client comes back.
   */
  listener?: string | undefined;
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
  /** The broker's own address the connection arrived on (which listener); undefined when not known. */
  localAddress?: string | undefined;
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

/** An answer of a decision hook, now or later; `undefined` abstains and lets the next hook of the chain decide. */
export type HookAnswer<T> = T | undefined | Promise<T | undefined>;

/**
 * One hooks object of a Broker; every field optional. Functions are called with the hooks object as
 * `this`, so a class instance may be registered as it is.
 */
export interface BrokerHooks {
  /** How logs name these hooks (a hook that fails is logged with it); default `hooks #N`, N its registration number. */
  name?: string;
  /**
   * Enhanced authentication methods (5.0) by Authentication Method name. A CONNECT naming a method
   * runs that method's exchange instead of `authenticate`; a method not listed gets CONNACK 0x8C.
   * The methods of every registered hooks object are merged; a name registered twice is an error.
   */
  authMethods?: Readonly<Record<string, AuthMethod>>;
  /**
   * Asked first for each 5.0 CONNECT: a Redirection refuses it with CONNACK 0x9C / 0x9D and a
   * Server Reference; undefined abstains, and the CONNECT goes on when every hook abstains.
   * 3.1 / 3.1.1 clients have no redirection and are not asked.
   */
  redirectConnect?: (client: ClientInfo) => HookAnswer<Redirection>;
  /**
   * Accepts or refuses a CONNECT without an Authentication Method; undefined abstains. When every
   * hook abstains the CONNECT is accepted: `allowAnonymous` is the first hook of the chain.
   */
  authenticate?: (request: AuthenticateRequest) => HookAnswer<AuthenticateResult>;
  /** Whether `client` may publish to `topic` (also asked of a will at CONNECT); undefined abstains. */
  authorizePublish?: (client: ClientInfo, topic: string, qos: QoS, retain: boolean) => HookAnswer<boolean>;
  /** Whether `client` may subscribe to `topicFilter`; undefined abstains. */
  authorizeSubscribe?: (client: ClientInfo, topicFilter: string, qos: QoS) => HookAnswer<boolean>;
  /**
   * Whether the session of `client` may receive a message published to `topic`; asked for every
   * delivery (routed messages, retained messages on SUBSCRIBE, wills), also to offline sessions,
   * and a refused delivery is skipped; undefined abstains. Synchronous because it runs in the
   * router's hot path: when no hooks object has one, routing does no extra work per delivery.
   * A hook that throws refuses the delivery.
   */
  authorizeRead?: (client: ClientIdentity, topic: string) => boolean | undefined;
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
