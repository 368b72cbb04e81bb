/**
 * MQTT 5.0 enhanced authentication on the client side (section 4.12): the Authentication Method and
 * Data of CONNECT, the AUTH 0x18 exchange up to CONNACK, and re-authentication (AUTH 0x19) on a
 * connection that is up. The method itself (SCRAM, Kerberos, ...) is the application's callbacks.
 */
import { ReasonCode, type AuthPacket } from '../protocol/index.js';
import { MqttClientError } from './errors.js';
import type { Wire } from './wire.js';

/** The `authentication` option: an enhanced authentication method run by callbacks. */
export interface ClientAuthentication {
  /** The Authentication Method, e.g. `SCRAM-SHA-256`. */
  method: string;
  /**
   * The Authentication Data of CONNECT (and of AUTH 0x19 on `reauthenticate()`); a function is
   * called for every exchange, so that each starts afresh (a new nonce).
   */
  data?: Buffer | (() => Buffer | Promise<Buffer>);
  /** Given the data of the broker's AUTH 0x18, returns the data of the answer; throwing ends the attempt. */
  onChallenge(data: Buffer | undefined): Buffer | Promise<Buffer>;
  /**
   * Given the data of the CONNACK (or AUTH 0x00) that ends an exchange successfully; throwing (e.g.
   * the server's signature is wrong) closes the connection with ERR_CLIENT_AUTH.
   */
  onSuccess?(data: Buffer | undefined): void | Promise<void>;
}

/** The data an exchange starts with. */
export async function startData(auth: ClientAuthentication): Promise<Buffer | undefined> {
  const data = auth.data;
  try {
    return typeof data === 'function' ? await data() : data;
  } catch (err) {
    throw authError(`the authentication data callback failed: ${(err as Error).message}`, err);
  }
}

/**
 * Answers the broker's AUTH: 0x18 with the same method gets the application's AUTH 0x18
 * [MQTT-4.12.0-3] [MQTT-4.12.0-5]. Throws ERR_CLIENT_AUTH for anything else or a failing callback.
 */
export async function answerChallenge(wire: Wire, auth: ClientAuthentication, packet: AuthPacket): Promise<void> {
  checkMethod(auth, packet.properties?.authenticationMethod, 'AUTH');
  if (packet.reasonCode !== ReasonCode.ContinueAuthentication) {
    throw authError(`the broker sent AUTH 0x${packet.reasonCode.toString(16)} where only 0x18 may come`);
  }
  let data: Buffer;
  try {
    data = await auth.onChallenge(packet.properties?.authenticationData);
  } catch (err) {
    throw authError(`the authentication challenge callback failed: ${(err as Error).message}`, err);
  }
  wire.send({
    type: 'auth',
    reasonCode: ReasonCode.ContinueAuthentication,
    properties: { authenticationMethod: auth.method, authenticationData: data },
  });
}

/** The exchange ended well (CONNACK 0x00 or AUTH 0x00): same method [MQTT-4.12.0-5], and the application agrees. */
export async function finish(auth: ClientAuthentication, method: string | undefined, data: Buffer | undefined) {
  checkMethod(auth, method, 'the final packet');
  try {
    await auth.onSuccess?.(data);
  } catch (err) {
    throw authError(`the broker's final authentication data was refused: ${(err as Error).message}`, err);
  }
}

function checkMethod(auth: ClientAuthentication, method: string | undefined, where: string): void {
  if (method !== auth.method) {
    throw authError(`${where} names the Authentication Method ${JSON.stringify(method)}, not ${auth.method}`);
  }
}

function authError(message: string, cause?: unknown): MqttClientError {
  return new MqttClientError('ERR_CLIENT_AUTH', message, {
    reasonCode: ReasonCode.NotAuthorized,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Ends a connection whose authentication failed: DISCONNECT 0x87, then close [MQTT-4.12.1-2]. */
export function closeForAuth(wire: Wire, error: MqttClientError): void {
  if (!wire.closed) wire.send({ type: 'disconnect', reasonCode: ReasonCode.NotAuthorized });
  wire.close(error);
}

/** Re-authentication on the current connection; one at a time. */
export class Reauthentication {
  private pending: { resolve(): void; reject(err: MqttClientError): void } | undefined;

  constructor(private readonly auth: ClientAuthentication) {}

  /** Sends AUTH 0x19 with the method of CONNECT [MQTT-4.12.1-1]; resolves on the broker's AUTH 0x00. */
  async start(wire: Wire): Promise<void> {
    if (this.pending !== undefined) throw authError('a re-authentication is already going on');
    const data = await startData(this.auth);
    return new Promise<void>((resolve, reject) => {
      this.pending = { resolve, reject };
      wire.send({
        type: 'auth',
        reasonCode: ReasonCode.ReAuthenticate,
        properties: {
          authenticationMethod: this.auth.method,
          ...(data === undefined ? {} : { authenticationData: data }),
        },
      });
    });
  }

  /** An AUTH after CONNACK: part of a re-authentication, or (false) a protocol error. */
  onAuth(wire: Wire, packet: AuthPacket): boolean {
    const pending = this.pending;
    if (pending === undefined) return false;
    const fail = (err: unknown): void => {
      const error = err instanceof MqttClientError ? err : authError(String(err), err);
      this.fail(error);
      closeForAuth(wire, error);
    };
    if (packet.reasonCode === ReasonCode.Success) {
      this.pending = undefined;
      finish(this.auth, packet.properties?.authenticationMethod, packet.properties?.authenticationData).then(
        () => pending.resolve(),
        (err: unknown) => {
          this.pending = pending;
          fail(err);
        },
      );
      return true;
    }
    answerChallenge(wire, this.auth, packet).catch(fail);
    return true;
  }

  /** The connection closed (or the broker refused with DISCONNECT) before AUTH 0x00. */
  fail(reason: MqttClientError): void {
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(reason);
  }
}
