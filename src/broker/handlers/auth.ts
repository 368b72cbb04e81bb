/**
 * Enhanced authentication (MQTT 5.0 section 4.12): the exchange of AUTH packets an authentication
 * method drives, on CONNECT and on re-authentication (AUTH 0x19) of an active client.
 */
import { ProtocolError, ReasonCode, type AuthPacket, type AuthProperties } from '../../protocol/index.js';
import { toFennecError } from '../../errors/index.js';
import { ConnectionState } from '../connection-state.js';
import type { BrokerConnection as Connection } from '../context.js';
import type { AuthInProgress, AuthOutcome } from '../connection-state.js';
import type { AuthExchange, AuthMethod, AuthStep } from '../hooks.js';

/** The registered method named `name`, if any. */
export function findAuthMethod(connection: Connection, name: string): AuthMethod | undefined {
  return connection.broker.hooks.authMethods.get(name);
}

/** Properties of an AUTH or CONNACK: the method [MQTT-4.12.0-5] and the data when there is some. */
export function authProperties(method: string, data: Buffer | undefined): AuthProperties {
  return data === undefined
    ? { authenticationMethod: method }
    : { authenticationMethod: method, authenticationData: data };
}

/**
 * Gives `data` to the exchange and acts on its answer: AUTH 0x18 and wait for the client's, or finish.
 * Returns a promise when the method answers with one, so later packets wait for it.
 */
export function runAuthStep(
  connection: Connection,
  auth: AuthInProgress,
  data: Buffer | undefined,
): Promise<void> | undefined {
  let result: AuthStep | Promise<AuthStep>;
  try {
    result = auth.exchange.step(data);
  } catch (err) {
    result = Promise.reject(toFennecError(err, 'ERR_HOOK_FAILED'));
  }
  const apply = (step: AuthStep): Promise<void> | undefined => {
    if (connection.state === ConnectionState.Closing || connection.state === ConnectionState.Closed) return undefined;
    if (step.kind === 'continue') {
      connection.authInProgress = auth;
      // [MQTT-4.12.0-2]: the broker asks for more with AUTH 0x18, naming the method [MQTT-4.12.0-5]
      connection.send({
        type: 'auth',
        reasonCode: ReasonCode.ContinueAuthentication,
        properties: authProperties(auth.method, step.data),
      });
      return undefined;
    }
    connection.authInProgress = undefined;
    return auth.finish(step);
  };
  if (!(result instanceof Promise)) return apply(result);
  return result.then(apply, (err: unknown) => {
    connection.log.warn({ err: toFennecError(err).message }, 'authentication method failed');
    return apply({ kind: 'failure', reasonCode: ReasonCode.UnspecifiedError });
  });
}

/** AUTH from the client: the next step of an exchange (0x18), or the start of re-authentication (0x19). */
export function handleAuth(connection: Connection, packet: AuthPacket): Promise<void> | undefined {
  const inProgress = connection.authInProgress;
  const method = inProgress?.method ?? connection.authMethod;
  // [MQTT-4.12.0-7]: AUTH from a client whose CONNECT named no Authentication Method is a protocol error
  if (method === undefined) throw new ProtocolError('AUTH without an Authentication Method in CONNECT');
  const properties = packet.properties;
  // [MQTT-4.12.0-5] [MQTT-4.12.1-1]: every AUTH names the method the client authenticated with
  if (properties?.authenticationMethod !== method) {
    throw new ProtocolError('AUTH with an Authentication Method other than the one in CONNECT');
  }
  const data = properties.authenticationData;
  if (packet.reasonCode === ReasonCode.ContinueAuthentication) {
    // [MQTT-4.12.0-3]: a client's AUTH 0x18 answers the broker's AUTH 0x18
    if (inProgress === undefined) throw new ProtocolError('AUTH 0x18 when no authentication step awaits one');
    connection.authInProgress = undefined;
    return runAuthStep(connection, inProgress, data);
  }
  if (packet.reasonCode === ReasonCode.ReAuthenticate && connection.state === ConnectionState.Active) {
    if (inProgress !== undefined) throw new ProtocolError('AUTH 0x19 while an authentication is under way');
    const registered = findAuthMethod(connection, method);
    if (registered === undefined) throw new ProtocolError(`authentication method ${method} is gone`);
    let exchange: AuthExchange;
    try {
      exchange = registered.start(
        { ...connection.info, password: undefined, localAddress: connection.peer.localAddress },
        true,
      );
    } catch (err) {
      connection.fail(toFennecError(err, 'ERR_HOOK_FAILED'));
      return undefined;
    }
    const finish = (outcome: AuthOutcome): undefined => {
      if (outcome.kind === 'success') {
        connection.send({ type: 'auth', reasonCode: 0, properties: authProperties(method, outcome.data) });
        return undefined;
      }
      // [MQTT-4.12.1-2]: a failed re-authentication ends with DISCONNECT and a close
      connection.endWith({ reason: 'reauthentication-failed', reasonCode: outcome.reasonCode });
      connection.close(outcome.reasonString ?? 're-authentication failed', outcome.reasonCode);
      return undefined;
    };
    return runAuthStep(connection, { method, exchange, finish }, data);
  }
  // [MQTT-3.15.2-1]: 0x00 is the broker's to send, and 0x19 only once authenticated
  throw new ProtocolError(`unexpected AUTH reason code 0x${packet.reasonCode.toString(16)}`);
}
