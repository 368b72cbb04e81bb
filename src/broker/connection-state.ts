/**
 * What a connection is in: its one state and the transitions allowed between them, what the
 * transport knows of the peer, a refusal decided at admission, and an enhanced authentication
 * exchange under way. Types only, shared by the Connection, its handlers and the Broker.
 */
import type { ClientCertificate } from '../transport/listener.js';
import type { AuthExchange, AuthStep } from './hooks.js';

/** The one state of a connection; changed only by Connection.setState. */
export const ConnectionState = {
  AwaitingConnect: 'awaiting-connect',
  Authenticating: 'authenticating',
  Active: 'active',
  Closing: 'closing',
  Closed: 'closed',
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];

/** Why a connection admitted over a connection limit is refused when its CONNECT arrives. */
export interface ConnectionRefusal {
  /** 5.0 CONNACK reason code; 3.1.1 gets the closest return code. */
  reasonCode: number;
  why: string;
}

/** What the transport knows of the peer. */
export interface PeerInfo {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  /** The local address the connection arrived on. */
  localAddress?: string | undefined;
  /** The client certificate the TLS listener verified; undefined when none was presented (or not TLS). */
  certificate?: ClientCertificate | undefined;
  /** The name of the listener the connection arrived on; undefined for a stream given to `broker.handle()` without one. */
  listener?: string | undefined;
  /**
   * The certificate subject field that becomes the username (`useIdentityAsUsername` of the
   * listener); undefined: the broker's `tls` option decides.
   */
  useIdentityAsUsername?: string | false | undefined;
}

/** The transitions ConnectionState allows: anything else is a bug, refused by Connection.setState. */
export const transitions: Record<ConnectionState, readonly ConnectionState[]> = {
  [ConnectionState.AwaitingConnect]: [
    ConnectionState.Authenticating,
    ConnectionState.Active,
    ConnectionState.Closing,
    ConnectionState.Closed,
  ],
  [ConnectionState.Authenticating]: [ConnectionState.Active, ConnectionState.Closing, ConnectionState.Closed],
  // Active -> Authenticating: a 5.0 re-authentication (AUTH 0x19) holds later packets until it ends.
  [ConnectionState.Active]: [ConnectionState.Authenticating, ConnectionState.Closing, ConnectionState.Closed],
  [ConnectionState.Closing]: [ConnectionState.Closed],
  [ConnectionState.Closed]: [],
};

/** How an enhanced authentication exchange ends: success or failure, never `continue`. */
export type AuthOutcome = Exclude<AuthStep, { kind: 'continue' }>;

/** An enhanced authentication exchange under way on a connection, and what to do once it ends. */
export interface AuthInProgress {
  method: string;
  exchange: AuthExchange;
  /** Returns a promise when it waits on a hook (the will's authorization), so later packets wait too. */
  finish: (outcome: AuthOutcome) => Promise<void> | undefined;
}
