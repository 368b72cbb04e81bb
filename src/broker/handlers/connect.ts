/**
 * CONNECT: client identifier rules, authentication, session takeover, clean start and CONNACK.
 */
import { randomBytes } from 'node:crypto';
import {
  ConnectReturnCode,
  ProtocolError,
  ReasonCode,
  type ConnackProperties,
  type ConnectPacket,
} from '../../protocol/index.js';
import { isValidTopicName } from '../../topic/index.js';
import { toFennecError } from '../../errors/index.js';
import { NEVER_EXPIRES } from '../../session/session.js';
import { ConnectionState } from '../connection-state.js';
import type { BrokerConnection as Connection } from '../context.js';
import { countTopicLimit } from '../limits.js';
import type { AuthenticateRequest, AuthExchange } from '../hooks.js';
import type { AuthOutcome } from '../connection-state.js';
import { authentication, authorization, decide, redirection, type Verdict } from '../decide.js';
import { channels } from '../diagnostics.js';
import { closeIfConnackTooLarge } from './connect-limits.js';
import { logConnected } from '../connection-log.js';
import { authProperties, findAuthMethod, runAuthStep } from './auth.js';

export function handleConnect(connection: Connection, packet: ConnectPacket): Promise<void> | undefined {
  const version = packet.protocolVersion;
  connection.link.version = version;
  const broker = connection.broker;
  // Admitted over max_connections or max_connections_per_address: told so, then closed
  if (connection.refusal !== undefined) {
    // Named in the log line of the refusal; never registered, so it takes nothing over
    connection.clientId = packet.clientId;
    reject(connection, connection.refusal.reasonCode, connection.refusal.why);
    return undefined;
  }
  let clientId = packet.clientId;
  let assigned = false;
  if (clientId.length === 0) {
    // [MQTT-3.1.3-8] (3.1.1): an empty id needs Clean Session; 3.1 requires an id of 1 to 23 characters
    if (version === 3 || (version === 4 && !packet.clean)) {
      reject(connection, ReasonCode.ClientIdentifierNotValid);
      return undefined;
    }
    // [MQTT-3.1.3-6] (3.1.1) [MQTT-3.1.3-6] [MQTT-3.1.3-7] (5.0): assign a unique id and go on as if given
    clientId = assignClientId(broker.sessions);
    assigned = true;
  }
  if (Buffer.byteLength(clientId) > broker.options.maxClientIdLength) {
    connection.warnLimit('maxClientIdLength', 'client id refused, CONNECT refused', {
      clientIdBytes: Buffer.byteLength(clientId),
    });
    // [MQTT-3.1.3-9] (3.1.1) [MQTT-3.1.3-8] (5.0): a refused id gets CONNACK 0x02 / 0x85 and a close
    reject(connection, ReasonCode.ClientIdentifierNotValid);
    return undefined;
  }
  // A will topic longer or deeper than maxTopicLength / maxTopicLevels is refused the same way
  if (packet.will !== undefined && !isValidTopicName(packet.will.topic, broker.topicLimits)) {
    const limit = countTopicLimit(broker.options, broker.counters.limits, packet.will.topic, false);
    if (limit !== undefined) connection.warnLimit(limit, 'will topic refused, CONNECT refused');
    // [MQTT-3.1.4-1]: a CONNECT that does not conform closes the connection (5.0 may say why first)
    if (version === 5) reject(connection, ReasonCode.TopicNameInvalid);
    else {
      const message = 'will topic is not a valid topic name';
      connection.endWith({ reason: 'protocol-error', code: 'ERR_PROTOCOL_ERROR', reasonCode: 0x90, message });
      connection.close(message);
    }
    return undefined;
  }
  const will = packet.will;
  if (will !== undefined && will.qos > broker.options.maximumQoS) {
    // [MQTT-3.2.2-12] (5.0): a will above the Maximum QoS is refused with CONNACK 0x9B
    reject(connection, ReasonCode.QoSNotSupported);
    return undefined;
  }
  if (will !== undefined && will.retain && !broker.options.retainAvailable) {
    // [MQTT-3.2.2-13] (5.0): a retained will without retain support is refused with CONNACK 0x9A
    reject(connection, ReasonCode.RetainNotSupported);
    return undefined;
  }
  connection.clientId = clientId;
  connection.username = packet.username;
  const identityField = connection.peer.useIdentityAsUsername ?? broker.tlsOptions?.useIdentityAsUsername;
  const certificate = connection.peer.certificate;
  if (typeof identityField === 'string' && certificate !== undefined) {
    // The verified certificate names the client, whatever username CONNECT carries (Mosquitto's use_identity_as_username).
    const identity = certificate.subject[identityField];
    if (identity === undefined || identity === '') {
      // [MQTT-3.1.4-2] (5.0): an authentication check failed: CONNACK 0x87 (3.1.1: 0x05) and a close
      reject(connection, ReasonCode.NotAuthorized, `the client certificate has no ${identityField}`);
      return undefined;
    }
    connection.username = identity;
  }
  // [MQTT-3.1.2-29] (5.0): known before any refusal, so that one is worded as the client asked
  if (packet.properties?.requestProblemInformation === false) connection.link.problemInformation = false;
  // [MQTT-3.1.2-24] (5.0): the client's Maximum Packet Size holds from its CONNECT on, refusals and AUTH included
  const clientMaximum = packet.properties?.maximumPacketSize;
  if (clientMaximum !== undefined) connection.link.peerMaximumPacketSize = clientMaximum;
  const redirectConnect = broker.hooks.redirectConnect;
  if (redirectConnect.length === 0 || version !== 5) return authenticateConnect(connection, packet, assigned);
  const verdict = decide(connection, 'redirectConnect', redirectConnect, [connection.info], redirection);
  const act = (outcome: Verdict): Promise<void> | undefined => {
    if (connection.state !== ConnectionState.AwaitingConnect) return undefined;
    if (outcome.allowed) return authenticateConnect(connection, packet, assigned);
    // 5.0 section 4.11: CONNACK 0x9C (Use another server) or 0x9D (Server moved) with a Server Reference
    const serverReference = outcome.serverReference;
    reject(connection, outcome.reasonCode, undefined, serverReference === undefined ? undefined : { serverReference });
    return undefined;
  };
  return verdict instanceof Promise ? verdict.then(act) : act(verdict);
}

/** Authenticates the CONNECT: by its enhanced authentication method, the `authenticate` hook, or not at all. */
function authenticateConnect(
  connection: Connection,
  packet: ConnectPacket,
  assigned: boolean,
): Promise<void> | undefined {
  const broker = connection.broker;
  const authenticationMethod = packet.properties?.authenticationMethod;
  if (authenticationMethod !== undefined)
    return authenticateEnhanced(connection, packet, assigned, authenticationMethod);
  // 5.0 section 3.1.2.11.10: Authentication Data without an Authentication Method is a protocol error
  if (packet.properties?.authenticationData !== undefined) {
    throw new ProtocolError('CONNECT has Authentication Data without an Authentication Method');
  }
  // A CONNECT without a user name (nor an Authentication Method) is anonymous: `allowAnonymous` is
  // the first hook of the chain, so it refuses one before any other hook is asked
  const chain = broker.hooks.authenticate;
  if (chain.length === 0) return accept(connection, packet, assigned);
  const { peer } = connection;
  const request: AuthenticateRequest = {
    clientId: connection.clientId,
    username: connection.username,
    remoteAddress: peer.remoteAddress,
    protocolVersion: connection.version,
    certificate: peer.certificate,
    password: packet.password,
    localAddress: peer.localAddress,
    listener: peer.listener,
  };
  const verdict = decide(connection, 'authenticate', chain, [request], authentication);
  // Every CONNECT passes here (allowAnonymous is a hook): the synchronous answer makes no closure
  if (!(verdict instanceof Promise)) {
    return verdict.allowed
      ? accept(connection, packet, assigned)
      : refuse(connection, verdict.reasonCode, verdict.reasonString);
  }
  const act = (outcome: Verdict): Promise<void> | undefined => {
    if (outcome.allowed) return accept(connection, packet, assigned);
    return refuse(connection, outcome.reasonCode, outcome.reasonString);
  };
  // Later packets wait behind the returned promise; a close meanwhile makes the answer moot.
  connection.setState(ConnectionState.Authenticating);
  return verdict.then((outcome) => (connection.state === ConnectionState.Authenticating ? act(outcome) : undefined));
}

/** Runs the enhanced authentication method the CONNECT names, then accepts or refuses (5.0 section 4.12). */
function authenticateEnhanced(
  connection: Connection,
  packet: ConnectPacket,
  assigned: boolean,
  name: string,
): Promise<void> | undefined {
  const method = findAuthMethod(connection, name);
  if (method === undefined) {
    // [MQTT-4.12.0-1]: an unsupported Authentication Method gets CONNACK 0x8C and a close
    reject(connection, ReasonCode.BadAuthenticationMethod);
    return undefined;
  }
  connection.setState(ConnectionState.Authenticating);
  let exchange: AuthExchange;
  try {
    exchange = method.start(
      { ...connection.info, password: packet.password, localAddress: connection.peer.localAddress },
      false,
    );
  } catch (err) {
    connection.log.warn({ err: toFennecError(err).message }, 'auth method failed');
    reject(connection, ReasonCode.UnspecifiedError);
    return undefined;
  }
  const finish = (outcome: AuthOutcome): Promise<void> | undefined => {
    if (outcome.kind === 'failure') {
      // [MQTT-4.12.0-4]: a refusal at any step is a CONNACK >= 0x80 and a close
      return refuse(connection, outcome.reasonCode, outcome.reasonString);
    }
    connection.authMethod = name;
    // [MQTT-4.12.0-5]: a successful CONNACK carries the same Authentication Method
    return accept(connection, packet, assigned, authProperties(name, outcome.data));
  };
  return runAuthStep(connection, { method: name, exchange, finish }, packet.properties?.authenticationData);
}

/**
 * Accepts the authenticated CONNECT, once its will passes `authorizePublish`: a will whose topic the
 * client may not publish to is refused with CONNACK 0x87 (3.1.1: 0x05, not authorized), as Mosquitto does.
 */
function accept(
  connection: Connection,
  packet: ConnectPacket,
  assigned: boolean,
  extra?: ConnackProperties,
): Promise<void> | undefined {
  const will = packet.will;
  const chain = connection.broker.hooks.authorizePublish;
  if (will === undefined || chain.length === 0) return admit(connection, packet, assigned, extra);
  const verdict = decide(
    connection,
    'authorizePublish',
    chain,
    [connection.info, will.topic, will.qos, will.retain],
    authorization,
  );
  const act = (outcome: Verdict): Promise<void> | undefined => {
    if (connection.state === ConnectionState.Closing || connection.state === ConnectionState.Closed) return undefined;
    if (outcome.allowed) return admit(connection, packet, assigned, extra);
    // [MQTT-3.1.4-2] (5.0): an authorization that fails refuses the CONNECT (3.1.1: return code 5)
    reject(connection, outcome.reasonCode, `not authorized to publish the will to ${will.topic}`);
    return undefined;
  };
  if (!(verdict instanceof Promise)) return act(verdict);
  return verdict.then(act);
}

/**
 * Admits the CONNECT once its client id is claimed for this node across the cluster, the node that
 * had the session having handed it over (at once on a broker alone). While the claim waits, the
 * connection's later packets wait behind the returned promise; a claim that fails refuses the
 * CONNECT with 0x88 Server unavailable (3.1.1: 3) rather than open a second session elsewhere.
 */
function admit(
  connection: Connection,
  packet: ConnectPacket,
  assigned: boolean,
  extra?: ConnackProperties,
): Promise<void> | undefined {
  // Asked now, beside the claim: what this client published through another node and was
  // acknowledged is in this node's stream by now, and reaches its subscribers before anything the
  // client publishes here (docs/cluster.md, order across a publisher's connections).
  const caughtUp = connection.broker.caughtUp();
  if (caughtUp !== undefined) {
    connection.publishesAfter = caughtUp;
    void caughtUp.then(() => {
      if (connection.publishesAfter === caughtUp) connection.publishesAfter = undefined;
    });
  }
  const gone = (): boolean =>
    connection.state === ConnectionState.Closing || connection.state === ConnectionState.Closed;
  // Closed by the peer while the claim waits: its stream is gone, and the connection's close waits
  // for this handler (see Connection.onClose). What the claim moved here is still admitted (and the
  // session then left as the close ends it).
  const left = (): boolean => gone() || connection.stream.destroyed;
  const claiming = connection.broker.claimSession(connection.clientId, left);
  if (claiming === undefined) {
    admitNow(connection, packet, assigned, extra);
    return undefined;
  }
  if (connection.state === ConnectionState.AwaitingConnect) connection.setState(ConnectionState.Authenticating);
  return claiming.then(
    () => {
      if (!gone()) admitNow(connection, packet, assigned, extra);
    },
    (err: unknown) => {
      connection.log.warn({ err: toFennecError(err).message }, 'cluster claim of the client id failed');
      if (!gone()) reject(connection, ReasonCode.ServerUnavailable, 'the cluster could not claim the session');
    },
  );
}

function admitNow(connection: Connection, packet: ConnectPacket, assigned: boolean, extra?: ConnackProperties): void {
  const broker = connection.broker;
  const { clientId } = connection;
  const version = packet.protocolVersion;
  const existing = broker.clients.get(clientId);
  // [MQTT-3.1.4-2] (3.1.1) [MQTT-3.1.4-3] (5.0): a client id already connected is taken over
  if (existing !== undefined && existing !== connection) existing.takeOver();
  // 5.0 section 3.1.2.11.2: the Session Expiry Interval, absent meaning 0, capped by the broker's
  // maximum; 3.1.1's Clean Session 0 sessions never expire
  const asked = packet.properties?.sessionExpiryInterval ?? 0;
  const maxExpiry = broker.options.maxSessionExpiryInterval;
  const expiry = version === 5 ? Math.min(asked, maxExpiry) : packet.clean ? 0 : NEVER_EXPIRES;
  const { session, sessionPresent } = broker.openSession(clientId, packet.clean, expiry);
  broker.clients.set(clientId, connection);
  connection.session = session;
  // Deliveries to the session are authorized against the identity of its latest client
  session.username = connection.username;
  session.listener = connection.peer.listener;
  connection.sessionPresent = sessionPresent;
  connection.connectSessionExpiryInterval = asked;
  // [MQTT-3.1.2-8] (3.1.1) [MQTT-3.1.2-7] (5.0): the will is kept with the connection
  connection.will = packet.will;
  broker.sessionAttached(session, packet.will);
  // In a cluster, where a survivor finds it should this node die
  connection.willRecord = broker.recordWill(session, packet.will);
  // [MQTT-3.2.2-22] (5.0): the client's Keep Alive unless CONNACK carries a Server Keep Alive
  const serverKeepAlive = version === 5 ? broker.serverKeepAlive : undefined;
  const { receiveMaximum, topicAliasMaximum } = broker.options;
  // What CONNECT and CONNACK agree, for both directions; 3.1.1 has none of the 5.0 limits
  connection.link.agree({
    keepAlive: serverKeepAlive ?? packet.keepAlive,
    receiveMaximum,
    topicAliasMaximum: version === 5 ? topicAliasMaximum : 0,
    peerReceiveMaximum: packet.properties?.receiveMaximum ?? 65_535,
    // [MQTT-3.1.2-24] (5.0): from CONNACK on, nothing larger than this is sent to the client
    peerMaximumPacketSize: packet.properties?.maximumPacketSize ?? connection.link.peerMaximumPacketSize,
    // [MQTT-3.1.2-27]: no outgoing aliases unless the client's Topic Alias Maximum is above 0
    outgoingTopicAliasMaximum: Math.min(packet.properties?.topicAliasMaximum ?? 0, topicAliasMaximum),
  });
  connection.setState(ConnectionState.Active);
  connection.wasActive = true;
  // A login with credentials (a user name or an Authentication Method) clears its address's failures;
  // an anonymous one proves nothing and leaves them
  if (connection.username !== undefined || connection.authMethod !== undefined) {
    broker.failedLogins.succeeded(connection.peer.remoteAddress ?? '');
  }
  let properties: ConnackProperties | undefined;
  if (version === 5) {
    properties = {
      receiveMaximum,
      maximumPacketSize: broker.options.maximumPacketSize,
      topicAliasMaximum,
      sharedSubscriptionAvailable: true,
      ...extra,
    };
    const options = broker.options;
    // [MQTT-3.2.2-9] (5.0): a broker without QoS 2 (or 1) says which is the highest it supports
    if (options.maximumQoS < 2) properties.maximumQoS = options.maximumQoS === 0 ? 0 : 1;
    if (!options.retainAvailable) properties.retainAvailable = false;
    if (!options.wildcardSubscriptionAvailable) properties.wildcardSubscriptionAvailable = false;
    if (!options.subscriptionIdentifiersAvailable) properties.subscriptionIdentifiersAvailable = false;
    if (serverKeepAlive !== undefined) properties.serverKeepAlive = serverKeepAlive;
    if (assigned) properties.assignedClientIdentifier = clientId;
    // 5.0 section 3.2.2.3.2: a Session Expiry Interval other than the client's is announced in CONNACK
    if (expiry !== asked) properties.sessionExpiryInterval = expiry;
    // [MQTT-3.1.2-28] (5.0): Response Information only when the client asked for it
    if (packet.properties?.requestResponseInformation === true) {
      properties.responseInformation = `${broker.options.responseInformationPrefix}${clientId}`;
    }
  }
  // [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3] (3.1.1) [MQTT-3.2.2-2] [MQTT-3.2.2-3] (5.0): Session Present
  // reflects whether a session was resumed; [MQTT-3.2.0-1] CONNACK is the first packet sent
  const connack = { type: 'connack', sessionPresent, reasonCode: 0, properties } as const;
  if (version === 5 && closeIfConnackTooLarge(connection, connack)) return;
  connection.send(connack);
  connection.startKeepAlive();
  // [MQTT-4.4.0-1] unacknowledged messages are sent again, then whatever was queued
  session.attach(connection, connection.link);
  logConnected(broker.log, {
    clientId,
    username: connection.username,
    peer: connection.peer,
    version,
    keepAlive: serverKeepAlive ?? packet.keepAlive,
    cleanStart: packet.clean,
    sessionPresent,
  });
  const client = { ...connection.info, sessionPresent };
  broker.emit('clientConnected', client);
  if (channels.clientConnected.hasSubscribers) channels.clientConnected.publish({ broker, client });
}

/**
 * Refuses the CONNECT like `reject`; a failed login (0x86 Bad User Name or Password, 0x87 Not
 * authorized; 3.1.1: 4, 5) is also logged once at warn (never with the password), counted, and, when
 * its remote address has failed too often of late, answered only after a delay. Meanwhile the
 * connection stays in Authenticating and the returned promise holds its later packets; other clients
 * are not held up.
 */
function refuse(connection: Connection, reasonCode: number, reasonString?: string): Promise<void> | undefined {
  if (reasonCode !== ReasonCode.BadUserNameOrPassword && reasonCode !== ReasonCode.NotAuthorized) {
    reject(connection, reasonCode, reasonString);
    return undefined;
  }
  const broker = connection.broker;
  const remoteAddress = connection.peer.remoteAddress;
  broker.counters.loginFailures++;
  const delayMs = broker.failedLogins.fail(remoteAddress ?? '');
  connection.log.warn({ username: connection.username, reasonCode, reason: reasonString, delayMs }, 'login refused');
  if (delayMs === 0) {
    reject(connection, reasonCode, reasonString);
    return undefined;
  }
  broker.counters.loginFailuresDelayed++;
  // [MQTT-3.1.4-5] (3.1.1) [MQTT-3.1.4-6] (5.0): what the client sends meanwhile waits behind the
  // returned promise and is dropped with the close, never processed
  if (connection.state === ConnectionState.AwaitingConnect) connection.setState(ConnectionState.Authenticating);
  return new Promise((resolve) => {
    // Unreferenced: a refusal still waiting does not keep a closing process alive.
    setTimeout(() => {
      const gone = connection.state === ConnectionState.Closing || connection.state === ConnectionState.Closed;
      if (!gone) reject(connection, reasonCode, reasonString);
      resolve();
    }, delayMs).unref();
  });
}

/**
 * Refuses the CONNECT with `reasonCode` (5.0), mapped to a return code for 3.1 / 3.1.1, and closes.
 * A 5.0 client that did not turn problem information off is also told `reasonString`.
 */
export function reject(
  connection: Connection,
  reasonCode: number,
  reasonString?: string,
  extra?: ConnackProperties,
): void {
  const v5 = connection.version === 5;
  const code = v5 ? reasonCode : returnCodeFor(reasonCode);
  let properties: ConnackProperties | undefined = v5 && extra !== undefined ? { ...extra } : undefined;
  if (v5 && reasonString !== undefined && connection.link.problemInformation) {
    properties = { ...properties, reasonString };
  }
  // [MQTT-3.2.2-4] (3.1.1) [MQTT-3.2.2-6] (5.0): a refusal has Session Present 0;
  // [MQTT-3.2.2-5] (3.1.1) [MQTT-3.2.2-7] (5.0): and the connection is closed after it
  connection.send({ type: 'connack', sessionPresent: false, reasonCode: code, properties });
  connection.endWith({ reason: 'connect-refused', reasonCode, message: reasonString });
  connection.close(`connect refused with code 0x${code.toString(16)}`);
}

/** The 3.1.1 CONNACK return code closest to a 5.0 reason code. */
export function returnCodeFor(reasonCode: number): number {
  switch (reasonCode) {
    case ReasonCode.UnsupportedProtocolVersion:
      return ConnectReturnCode.UnacceptableProtocolVersion;
    case ReasonCode.ClientIdentifierNotValid:
      return ConnectReturnCode.IdentifierRejected;
    case ReasonCode.BadUserNameOrPassword:
      return ConnectReturnCode.BadUserNameOrPassword;
    case ReasonCode.ServerUnavailable:
    case ReasonCode.ServerBusy:
    case ReasonCode.QuotaExceeded:
    case ReasonCode.UnspecifiedError:
    case ReasonCode.ImplementationSpecificError:
      return ConnectReturnCode.ServerUnavailable;
    default:
      return ConnectReturnCode.NotAuthorized;
  }
}

/** A client id no session uses: `fennec-` and 16 hex digits [MQTT-3.2.2-16] (5.0). */
function assignClientId(sessions: ReadonlyMap<string, unknown>): string {
  for (;;) {
    const id = `fennec-${randomBytes(8).toString('hex')}`;
    if (!sessions.has(id)) return id;
  }
}
