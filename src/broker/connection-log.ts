/**
 * The `info` lines an operator reads about connections, as `mosquitto -v` writes them: one when a
 * client is connected (address, client id, user, protocol version, keep-alive, clean start) and one
 * when its connection has closed, with why. Written at connect and close only, never per packet.
 * docs/logging.md shows each line.
 */
import type { Logger } from 'pino';
import type { ProtocolVersion } from '../protocol/index.js';
import type { PeerInfo } from './connection-state.js';

/** Why a connection ended: the `reason` field of its closing line. */
export type Ending =
  /** The client sent DISCONNECT (5.0: with `reasonCode`). */
  | { reason: 'client-disconnect'; reasonCode?: number | undefined }
  /** Nothing came from the client for 1.5 times its keep-alive. */
  | { reason: 'keep-alive-timeout' }
  /** A packet broke the protocol, or handling it failed: the error's code, reason code and message. */
  | { reason: 'protocol-error'; code: string; reasonCode?: number | undefined; message: string }
  /** Handling a packet failed for another reason (a hook or the store failing): the error's code and message. */
  | { reason: 'error'; code: string; reasonCode?: number | undefined; message: string }
  /** A new connection with the same client id took the session over. */
  | { reason: 'takeover' }
  /** A limit closed the connection: its file key (`max_control_packet_rate`). */
  | { reason: 'limit'; limit: string; message: string }
  /** CONNECT was refused with `reasonCode` (5.0's; a 3.1.1 client got the matching return code). */
  | { reason: 'connect-refused'; reasonCode: number; message?: string | undefined }
  /** A 5.0 re-authentication failed. */
  | { reason: 'reauthentication-failed'; reasonCode: number }
  /** The client was sent to another server (5.0 redirection). */
  | { reason: 'redirected'; reasonCode: number; serverReference?: string | undefined }
  /** The socket failed (reset, broken pipe). */
  | { reason: 'socket-error'; message: string }
  /** The client closed the connection without DISCONNECT. */
  | { reason: 'closed-by-peer' }
  /** The broker is shutting down. */
  | { reason: 'server-shutdown' };

/** A protocol version as people write it. */
export function protocolName(version: ProtocolVersion): string {
  return version === 5 ? '5.0' : version === 4 ? '3.1.1' : '3.1';
}

/** `host:port`, with an IPv6 host in brackets; `unknown` when the transport did not say. */
export function peerAddress(peer: PeerInfo): string {
  const host = peer.remoteAddress;
  if (host === undefined) return 'unknown';
  const shown = host.includes(':') ? `[${host}]` : host;
  return peer.remotePort === undefined ? shown : `${shown}:${peer.remotePort}`;
}

/** What the connect line says of a client. */
export interface ConnectedClient {
  clientId: string;
  username: string | undefined;
  peer: PeerInfo;
  version: ProtocolVersion;
  /** The keep-alive in force, in seconds (the Server Keep Alive when the broker imposed one). */
  keepAlive: number;
  cleanStart: boolean;
  sessionPresent: boolean;
}

/** Writes the line of a client connected, at info. */
export function logConnected(log: Logger, client: ConnectedClient): void {
  if (!log.isLevelEnabled('info')) return;
  const { clientId, username, peer, version, keepAlive, cleanStart, sessionPresent } = client;
  const address = peerAddress(peer);
  const parts = [
    `MQTT ${protocolName(version)}`,
    username === undefined ? 'no user name' : `user ${JSON.stringify(username)}`,
    `keep-alive ${keepAlive} s`,
    cleanStart ? 'clean start' : sessionPresent ? 'session resumed' : 'new session',
  ];
  if (peer.listener !== undefined) parts.push(`listener ${peer.listener}`);
  log.info(
    {
      event: 'connected',
      clientId,
      username,
      remoteAddress: address,
      protocolVersion: protocolName(version),
      keepAlive,
      cleanStart,
      sessionPresent,
      listener: peer.listener,
    },
    `client ${clientId} connected from ${address} (${parts.join(', ')})`,
  );
}

/** The words after "disconnected: " for `ending`. */
export function describeEnding(ending: Ending): string {
  switch (ending.reason) {
    case 'client-disconnect':
      return ending.reasonCode === undefined || ending.reasonCode === 0
        ? 'client sent DISCONNECT'
        : `client sent DISCONNECT with reason code ${hex(ending.reasonCode)}`;
    case 'keep-alive-timeout':
      return 'keep-alive timeout (nothing received for 1.5 times the keep-alive)';
    case 'protocol-error':
      return `protocol error ${ending.reasonCode === undefined ? ending.code : hex(ending.reasonCode)}: ${ending.message}`;
    case 'error':
      return `error ${ending.code}: ${ending.message}`;
    case 'takeover':
      return 'session taken over by a new connection with the same client id';
    case 'limit':
      return `limit ${ending.limit}: ${ending.message}`;
    case 'connect-refused':
      return `CONNECT refused with reason code ${hex(ending.reasonCode)}${ending.message === undefined ? '' : `: ${ending.message}`}`;
    case 'reauthentication-failed':
      return `re-authentication failed with reason code ${hex(ending.reasonCode)}`;
    case 'redirected':
      return `sent to another server (${hex(ending.reasonCode)}${ending.serverReference === undefined ? '' : ` ${ending.serverReference}`})`;
    case 'socket-error':
      return `socket error: ${ending.message}`;
    case 'closed-by-peer':
      return 'connection closed by the client without DISCONNECT';
    case 'server-shutdown':
      return 'server shutting down';
    default: {
      const never: never = ending;
      return String(never);
    }
  }
}

/**
 * Writes the line of a connection closed, at info: `clientId` is '' when CONNECT never named the
 * client (then the line says where it came from only).
 */
export function logClosed(log: Logger, clientId: string, peer: PeerInfo, wasConnected: boolean, ending: Ending): void {
  if (!log.isLevelEnabled('info')) return;
  const address = peerAddress(peer);
  const named = clientId === '' ? '' : ` (client ${clientId})`;
  const who = wasConnected
    ? `client ${clientId} disconnected from ${address}`
    : `connection from ${address}${named} closed`;
  log.info(
    { event: 'disconnected', clientId, remoteAddress: address, listener: peer.listener, ...ending },
    `${who}: ${describeEnding(ending)}`,
  );
}

function hex(code: number): string {
  return `0x${code.toString(16).padStart(2, '0')}`;
}
