/**
 * One connection attempt: the transport, CONNECT and CONNACK, and the settings CONNACK agrees,
 * fixed on the wire's Link. A refusal is an MqttClientError with the CONNACK's reason code.
 */
import { MAX_PACKET_SIZE } from '../protocol/constants.js';
import type { AuthPacket, ConnackPacket, ConnectPacket, ConnectProperties, Will } from '../protocol/index.js';
import { ReasonCode } from '../protocol/index.js';
import { answerChallenge, closeForAuth, finish, startData, type ClientAuthentication } from './auth.js';
import { hex, MqttClientError } from './errors.js';
import type { ClientOptions, ResolvedOptions } from './options.js';
import { openTransport, type Endpoint } from './transport.js';
import { Wire } from './wire.js';

/** 3.1.1 CONNACK return codes 1 to 5, for the message of a refusal. */
const RETURN_CODES: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
};

/** The CONNECT of an attempt; `resume`: ask for the session kept from the last connection. */
export function connectPacket(
  endpoint: Endpoint,
  options: ClientOptions,
  resolved: ResolvedOptions,
  resume: boolean,
): ConnectPacket {
  const v5 = resolved.protocolVersion === 5;
  const username = options.username ?? endpoint.username;
  const password = options.password ?? endpoint.password;
  const will = options.will;
  let properties: ConnectProperties | undefined;
  if (v5) {
    properties = { ...options.properties };
    if (resolved.sessionExpiryInterval > 0) properties.sessionExpiryInterval = resolved.sessionExpiryInterval;
    else delete properties.sessionExpiryInterval;
  }
  return {
    type: 'connect',
    protocolName: 'MQTT',
    protocolVersion: resolved.protocolVersion,
    // 5.0: Clean Start only on the first connection, so that a reconnect resumes the session;
    // 3.1.1: Clean Session is also the session's lifetime, so it stays as asked
    clean: v5 ? resolved.clean && !resume : resolved.clean,
    keepAlive: resolved.keepAlive,
    clientId: resolved.clientId,
    username,
    password: password === undefined ? undefined : Buffer.isBuffer(password) ? password : Buffer.from(password),
    will:
      will === undefined
        ? undefined
        : ({
            topic: will.topic,
            payload: Buffer.isBuffer(will.payload) ? will.payload : Buffer.from(will.payload),
            qos: will.qos ?? 0,
            retain: will.retain ?? false,
            properties: v5 ? will.properties : undefined,
          } satisfies Will),
    properties,
  };
}

/**
 * Opens the transport, sends `connect` and waits for an accepting CONNACK, within
 * `connectTimeoutMs`. Resolves with the wire, its Link agreed, and the CONNACK.
 */
export async function attempt(
  endpoint: Endpoint,
  options: ClientOptions,
  resolved: ResolvedOptions,
  connect: ConnectPacket,
  signal?: AbortSignal,
): Promise<{ wire: Wire; connack: ConnackPacket }> {
  if (isAborted(signal)) throw abortedError(signal!);
  const auth = resolved.protocolVersion === 5 ? options.authentication : undefined;
  if (auth !== undefined) {
    // 5.0 section 4.12: the method, and the data it starts with, go in CONNECT
    const data = await startData(auth);
    connect.properties = {
      ...connect.properties,
      authenticationMethod: auth.method,
      ...(data === undefined ? {} : { authenticationData: data }),
    };
  }
  const stream = await withTimeout(openTransport(endpoint, options.tls), resolved.connectTimeoutMs, signal);
  const wire = new Wire(stream, resolved.protocolVersion);
  const onAbort = (): void => wire.close(abortedError(signal!));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const agreed = await agree(wire, connect, resolved, auth);
    // Aborted while the exchange finished (an onSuccess callback awaited): still aborted
    if (isAborted(signal)) throw abortedError(signal!);
    return agreed;
  } catch (err) {
    wire.close(err as MqttClientError);
    throw err;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** CONNECT and CONNACK on `wire`, the authentication exchange, and the settings fixed on its Link. */
async function agree(
  wire: Wire,
  connect: ConnectPacket,
  resolved: ResolvedOptions,
  auth: ClientAuthentication | undefined,
): Promise<{ wire: Wire; connack: ConnackPacket }> {
  const onAuth =
    auth === undefined
      ? undefined
      : (packet: AuthPacket): void =>
          void answerChallenge(wire, auth, packet).catch((err: MqttClientError) => closeForAuth(wire, err));
  const connack = await wire.handshake(connect, resolved.connectTimeoutMs, onAuth);
  if (connack.reasonCode !== 0) {
    const reasonString = connack.properties?.reasonString;
    const what = resolved.protocolVersion === 5 ? hex(connack.reasonCode) : RETURN_CODES[connack.reasonCode];
    const error = new MqttClientError(
      'ERR_CLIENT_REFUSED',
      `the broker refused the connection: ${what ?? connack.reasonCode}${reasonString === undefined ? '' : `, ${reasonString}`}`,
      { reasonCode: connack.reasonCode, reasonString },
    );
    wire.close(error);
    throw error;
  }
  const props = connack.properties;
  if (auth !== undefined) {
    try {
      await finish(auth, props?.authenticationMethod, props?.authenticationData);
    } catch (err) {
      closeForAuth(wire, err as MqttClientError);
      throw err;
    }
  }
  if (connect.clean && connack.sessionPresent) {
    // [MQTT-3.2.2-4] (5.0), and 3.1.1 section 3.2.2.2: after a clean start the client holds no
    // session state the broker could have, so Session Present 1 is a broken broker: close
    const error = new MqttClientError(
      'ERR_CLIENT_CONNECT',
      'the broker answered a clean start with Session Present 1',
      {
        reasonCode: ReasonCode.ProtocolError,
      },
    );
    if (resolved.protocolVersion === 5) wire.send({ type: 'disconnect', reasonCode: ReasonCode.ProtocolError });
    wire.close(error);
    throw error;
  }
  const sent = connect.properties;
  wire.link.agree({
    // [MQTT-3.2.2-21] (5.0): a Server Keep Alive replaces the client's
    keepAlive: props?.serverKeepAlive ?? connect.keepAlive,
    receiveMaximum: sent?.receiveMaximum ?? 65_535,
    topicAliasMaximum: sent?.topicAliasMaximum ?? 0,
    // [MQTT-3.3.4-9] (5.0): no more unacknowledged QoS 1/2 PUBLISHes than the broker's Receive Maximum
    peerReceiveMaximum: props?.receiveMaximum ?? 65_535,
    // [MQTT-3.1.2-24] mirrored: nothing larger than the broker's Maximum Packet Size is sent
    peerMaximumPacketSize: props?.maximumPacketSize ?? MAX_PACKET_SIZE,
    // [MQTT-3.2.2-17] [MQTT-3.2.2-18] [MQTT-3.3.2-9]: aliases only up to the broker's Topic Alias
    // Maximum, none when it gave 0 or none, and none unless the application asked for them
    outgoingTopicAliasMaximum: Math.min(props?.topicAliasMaximum ?? 0, resolved.topicAliases),
    // A client publishes to few topics again and again: the least recently used one gives its alias up
    replaceOutgoingAliases: true,
  });
  return { wire, connack };
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** The error of an attempt whose AbortSignal fired. */
function abortedError(signal: AbortSignal): MqttClientError {
  return new MqttClientError('ERR_CLIENT_ABORTED', 'the connection attempt was aborted', { cause: signal.reason });
}

/**
 * `promise`, or ERR_CLIENT_CONNECT after `ms`, or ERR_CLIENT_ABORTED when `signal` fires first; a
 * stream that opens too late is destroyed.
 */
function withTimeout<T extends { destroy(): unknown }>(
  promise: Promise<T>,
  ms: number,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new MqttClientError('ERR_CLIENT_CONNECT', `the transport did not open within ${ms} ms`));
    }, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        late = true;
        reject(abortedError(signal));
      },
      { once: true },
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (late) value.destroy();
        else resolve(value);
      },
      (err: Error) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
