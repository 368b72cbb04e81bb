/**
 * One network connection: turns bytes into packets, keeps the connection's single state,
 * enforces the connect timeout and keep-alive, batches writes per turn of the event loop,
 * and is the one place where any error becomes a CONNACK or DISCONNECT code and a close.
 */
export { ConnectionState, type ConnectionRefusal, type PeerInfo } from './connection-state.js';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  WireDecoder,
  type Decoder,
  PacketTooLargeError,
  ReasonCode,
  type DisconnectProperties,
  type Packet,
  type ProtocolVersion,
  type Will,
} from '../protocol/index.js';
import { FennecError, toFennecError } from '../errors/index.js';
import { Link } from '../session/link.js';
import type { Session } from '../session/session.js';
import type { SessionSink } from '../session/types.js';
import type { ClientInfo } from './hooks.js';
import {
  ConnectionState,
  transitions,
  type AuthInProgress,
  type ConnectionRefusal,
  type PeerInfo,
} from './connection-state.js';
import type { LimitName, ResolvedBrokerOptions } from './options.js';
import type { Bus } from './bus.js';
import type { Persistence } from './persistence.js';
import { ControlPacketWindow, PublishBuckets } from './limits.js';
import { PacketWatchdog } from './packet-watchdog.js';
import { IntakeBudget, nextTurn } from './intake.js';
import { failedConnectConnack } from './connect-failure.js';
import { logClosed, type Ending } from './connection-log.js';
import { limitKey, limitOf, type LimitOptionName, type LimitWarnings } from './limit-warnings.js';
import { countPublish, type TrafficCounters } from './traffic.js';
import { connectionDeadlines as deadlines, type Deadline } from './deadlines.js';

/** Where a stream keeps its Connection, so that one listener function serves every stream. */
const CONNECTION = Symbol('fennec.connection');
/** Packets up to this size (bytes) are copied into the turn's combined write; larger ones go as they are. */
export const COMBINE_MAX_PACKET = 1024;
/** At most this many bytes of small packets are gathered into one write. */
export const COMBINE_BYTES = 16 * 1024;
type ConnectionStream = Duplex & { [CONNECTION]: Connection<ConnectionHost> };

/**
 * Where a Connection hands its packets: one object shared by every connection of a broker. `dispatch`
 * returns a promise when the handler waits (on a hook, a delay), and later packets wait too.
 */
export interface Dispatcher<Host extends ConnectionHost> {
  dispatch(connection: Connection<Host>, packet: Packet): Promise<void> | undefined;
}

/** What a Connection needs of the broker that holds it. */
export interface ConnectionHost {
  readonly options: Pick<
    ResolvedBrokerOptions,
    | 'maximumPacketSize'
    | 'maxConnectPacketSize'
    | 'maxPublishRate'
    | 'maxPublishBytesRate'
    | 'maxControlPacketRate'
    | 'connectTimeoutMs'
    | 'packetTimeoutMs'
    | 'maxOutgoingBufferBytes'
  >;
  readonly counters: { readonly limits: Record<LimitName, number>; readonly traffic: TrafficCounters };
  readonly log: Logger;
  /** Writes the warn line of a limit that fired, at most once per interval per client and limit. */
  readonly limitWarnings: LimitWarnings;
  /** Acknowledgements that promise durability wait for its commits; undefined: no store. */
  readonly persistence: Pick<Persistence, 'idle' | 'afterCommit'> | undefined;
  /** In a cluster, acknowledgements that promise delivery also wait for the bus; undefined: no cluster. */
  readonly bus?: Pick<Bus, 'idle' | 'afterAccepted'> | undefined;
  /** Called once the connection's socket has closed. */
  connectionClosed(connection: Connection): void;
}

/**
 * The I/O shell of one network connection: bytes in through a Decoder, packets to the handlers,
 * bytes out corked per turn of the event loop, timers armed from what the protocol core (its Link,
 * and the Session once CONNECT is accepted) says. It is a SessionSink: the Session writes to it.
 */
export class Connection<Host extends ConnectionHost = ConnectionHost> implements SessionSink, Deadline {
  clientId = '';
  username: string | undefined;
  session: Session | undefined;
  will: Will | undefined;
  /** The record of `will` in the cluster's will ledger; undefined without a cluster or a will. */
  willRecord: string | undefined;
  /** Taken over by a client of another node of the cluster, its session moved there or ended (see takeOver). */
  takenOverElsewhere: 'moved' | 'ended' | undefined;
  /** The protocol state of this connection: version, agreed settings, aliases, keep-alive; the encoder. */
  readonly link: Link = new Link();
  /** Set once CONNACK accepted the client: only then do a will and a disconnect event follow. */
  wasActive = false;
  /**
   * In a cluster, until this node has delivered what other nodes had sent it when the client
   * connected: the client's PUBLISH packets wait for it (per-publisher order across its connections).
   */
  publishesAfter: Promise<void> | undefined;
  /** Whether CONNACK said Session Present 1: this connection resumed an existing session. */
  sessionPresent = false;
  /** 5.0: the Authentication Method of CONNECT once the client authenticated with it; undefined when none. */
  authMethod: string | undefined;
  /** 5.0: the enhanced authentication exchange awaiting the client's AUTH 0x18, if any. */
  authInProgress: AuthInProgress | undefined;
  /** The Session Expiry Interval the 5.0 CONNECT gave (0 when absent), in seconds. */
  connectSessionExpiryInterval = 0;
  /** Set when the connection was admitted over a connection limit: its CONNECT is refused. */
  refusal: ConnectionRefusal | undefined;
  readonly decoder: Decoder;
  readonly peer: PeerInfo;

  /** Made when the first partial packet is left in the decoder. */
  private watchdog: PacketWatchdog | undefined;
  /** Packets decoded by the current `onData`; tells whether the partial packet left is a new one. */
  private decodedInChunk = 0;
  /*
   * Made on the first packet that needs them (the buckets start full, and a window or budget starts
   * empty, as if made at connect): an idle connection holds none.
   */
  private publishBuckets: PublishBuckets | undefined;
  private controlPackets: ControlPacketWindow | undefined;
  /** Packets this connection may still handle in this turn of the event loop (fair intake). */
  private intake: IntakeBudget | undefined;

  private current: ConnectionState = ConnectionState.AwaitingConnect;
  /** Why the connection ends, for its closing log line: the first reason given wins. */
  private ending: Ending | undefined;
  private logger: Logger | undefined;
  private loggerClientId = '';
  /** Where `connectionDeadlines` holds this connection's one deadline (see `deadlineDue`); -1: none. */
  deadlineSlot = -1;
  /** Set once keep-alive supervision has started: the deadline is then the keep-alive's, no longer CONNECT's. */
  private keepAliveStarted = false;
  private corked = false;
  /**
   * This turn's small packets not yet handed to the stream (see `combine`): the first, and the others
   * in order (an array made on the first turn with two, then kept, emptied); `combinedLength`: their bytes.
   */
  private combinedFirst: Buffer | undefined;
  private combinedRest: Buffer[] | undefined;
  private combinedLength = 0;
  /** Acknowledgements given to sendAfterCommit and not yet sent (waiting for the store or the bus). */
  private withheldAcks = 0;
  /** Packets that arrived while an asynchronous handler ran; handled in order after it. */
  private backlog: Packet[] | undefined;
  /** The stream closed while packets it had delivered were still held: the close waits for them (see onClose). */
  private streamClosed = false;

  constructor(
    readonly broker: Host,
    readonly stream: Duplex,
    peer: PeerInfo,
    private readonly handlers: Dispatcher<Host>,
  ) {
    this.peer = peer;
    // Until CONNECT is accepted only a small packet is read (maxConnectPacketSize); setState lifts it.
    const { maximumPacketSize, maxConnectPacketSize } = broker.options;
    this.decoder = new WireDecoder({ maximumPacketSize: Math.min(maximumPacketSize, maxConnectPacketSize) });
    (stream as ConnectionStream)[CONNECTION] = this;
    // The emitter calls these with `this` = the stream, which is what they expect (see streamData).
    /* eslint-disable @typescript-eslint/unbound-method */
    stream.on('data', Connection.streamData);
    stream.on('error', Connection.streamError);
    stream.on('close', Connection.streamClose);
    stream.on('drain', Connection.streamDrain);
    /* eslint-enable @typescript-eslint/unbound-method */
    // A socket that sends no CONNECT in time is closed (see deadlineDue).
    deadlines.set(this, Date.now() + broker.options.connectTimeoutMs);
  }

  /*
   * Function properties, not methods: one function for every stream (no closures per connection),
   * finding its connection by CONNECTION, or for every decoder, through `feeding`.
   */
  private static readonly streamData = function (this: ConnectionStream, chunk: Buffer): void {
    this[CONNECTION].onData(chunk);
  };
  private static readonly streamError = function (this: ConnectionStream, err: Error): void {
    this[CONNECTION].onStreamError(err);
  };
  private static readonly streamClose = function (this: ConnectionStream): void {
    this[CONNECTION].onClose();
  };
  private static readonly streamDrain = function (this: ConnectionStream): void {
    this[CONNECTION].onDrain();
  };
  /** The connection whose decoder is feeding now (saved and restored around a nested feed). */
  private static feeding: Connection<ConnectionHost> | undefined;
  /** The decoder's sink for every connection: the packet goes to the one feeding it. */
  private static readonly onPacket = (packet: Packet): void => {
    Connection.feeding!.receive(packet);
  };
  private static readonly uncork = (connection: Connection<ConnectionHost>): void => {
    connection.corked = false;
    connection.flushCombined();
    connection.stream.uncork();
  };

  /**
   * The one deadline has passed: while awaiting CONNECT (or its authentication) the connect timeout,
   * once active the keep-alive's, once closing the cut-off of a peer that does not close its side.
   */
  deadlineDue(now: number): void {
    const state = this.current;
    if (state === ConnectionState.Closed) return;
    if (state === ConnectionState.Closing) {
      // A peer that never closes its side is cut off; a stream already gone ends the connection (a
      // handler still running on its held packets is not waited for any longer).
      if (this.streamClosed) this.closed();
      else this.stream.destroy();
    } else if (this.keepAliveStarted) {
      this.checkKeepAlive(now);
    } else {
      this.warnLimit('connectTimeoutMs', 'no CONNECT in time, connection closed');
      this.endWith({ reason: 'limit', limit: limitKey('connectTimeoutMs'), message: 'no CONNECT in time' });
      this.close('connect timeout');
    }
  }

  /** Who this client is, for hooks and events. */
  get info(): ClientInfo {
    return {
      clientId: this.clientId,
      username: this.username,
      remoteAddress: this.peer.remoteAddress,
      protocolVersion: this.version,
      certificate: this.peer.certificate,
      listener: this.peer.listener,
    };
  }

  /**
   * The broker's logger bound to this connection: each line carries its client id and address.
   * Made on first use, and again once CONNECT has named the client.
   */
  get log(): Logger {
    if (this.logger === undefined || this.loggerClientId !== this.clientId) {
      this.loggerClientId = this.clientId;
      this.logger = this.broker.log.child({ clientId: this.clientId, remoteAddress: this.peer.remoteAddress });
    }
    return this.logger;
  }

  /** The one state of the connection; changed only by `setState`. */
  get state(): ConnectionState {
    return this.current;
  }

  /** Protocol version of the peer, known once CONNECT is read. */
  get version(): ProtocolVersion {
    return this.link.version;
  }

  /**
   * Changes the state; the only place that does. A transition the table does not allow is a bug
   * and throws (the caller's error path closes the connection); each one is logged at trace.
   */
  setState(next: ConnectionState): void {
    const from = this.current;
    if (from === next) return;
    if (!transitions[from].includes(next)) {
      throw new FennecError('ERR_INTERNAL', `connection state cannot go from ${from} to ${next}`);
    }
    this.current = next;
    // Accepted: from now on the client may send packets up to maximumPacketSize.
    if (next === ConnectionState.Active) this.decoder.maximumPacketSize = this.broker.options.maximumPacketSize;
    if (this.broker.log.isLevelEnabled('trace')) this.log.trace({ from, to: next }, 'connection state');
  }

  /** Logs at debug through `log`, without making the child logger when debug is off. */
  private debug(bindings: object, message: string): void {
    if (this.broker.log.isLevelEnabled('debug')) this.log.debug(bindings, message);
  }

  private onData(chunk: Buffer): void {
    if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
    const now = Date.now();
    this.broker.counters.traffic.bytesReceived += chunk.length;
    this.link.received();
    this.decodedInChunk = 0;
    const outer = Connection.feeding;
    Connection.feeding = this;
    try {
      this.decoder.feed(chunk, Connection.onPacket);
    } catch (err) {
      this.fail(err);
      return;
    } finally {
      Connection.feeding = outer;
    }
    const buffered = this.decoder.bufferedBytes;
    if (buffered > 0 || this.watchdog !== undefined) {
      this.watchdog ??= new PacketWatchdog(
        this.broker.options.packetTimeoutMs,
        () => this.stream.isPaused(),
        () => {
          this.broker.counters.limits.packetTimeoutMs++;
          this.limitExceeded('packetTimeoutMs', 'a partial packet stalled', ReasonCode.KeepAliveTimeout);
        },
      );
      this.watchdog.chunkDecoded(now, buffered, this.decodedInChunk);
    }
  }

  /** Closes the connection because a limit was exceeded: logged at warn, with DISCONNECT `reasonCode` in 5.0. */
  private limitExceeded(limit: LimitOptionName, why: string, reasonCode: number): void {
    if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
    this.warnLimit(limit, `${why}, connection closed`);
    this.endWith({ reason: 'limit', limit: limitKey(limit), message: why });
    this.close(why, reasonCode);
  }

  /**
   * Logs at warn that `limit` fired for this client (`what`: what it did), at most once per
   * `limit_log_interval_ms` for this client and limit.
   */
  warnLimit(limit: LimitOptionName, what: string, details?: object): void {
    this.broker.limitWarnings.warn(
      limit,
      { clientId: this.clientId, remoteAddress: this.peer.remoteAddress },
      what,
      details,
    );
  }

  /** Records why the connection is about to end, for its closing log line; the first reason given wins. */
  endWith(ending: Ending): void {
    this.ending ??= ending;
  }

  private receive(packet: Packet): void {
    if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
    this.decodedInChunk++;
    const traffic = this.broker.counters.traffic;
    traffic.packetsReceived++;
    if (packet.type === 'publish') {
      const size = this.decoder.lastPacketSize;
      traffic.publishReceived[packet.qos]++;
      traffic.publishBytesReceived[packet.qos] += size;
    }
    if (this.backlog !== undefined) {
      this.backlog.push(packet);
      return;
    }
    const pending = this.handleFairly(packet);
    if (pending !== undefined) this.wait(pending);
  }

  /**
   * Handles `packet` now, or at the next turn of the event loop when this connection has spent its
   * budget for this one (fair intake, `intake.ts`); later packets then wait unread, as behind a hook.
   */
  private handleFairly(packet: Packet): Promise<void> | undefined {
    if (packet.type !== 'publish') return this.handle(packet);
    const intake = (this.intake ??= new IntakeBudget());
    if (intake.take()) return this.handle(packet);
    const later = (): Promise<void> | undefined => {
      if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return undefined;
      return intake.take() ? this.handle(packet) : nextTurn().then(later);
    };
    return nextTurn().then(later);
  }

  /**
   * Dispatches `packet` once the rate limits allow: a PUBLISH over maxPublishRate or
   * maxPublishBytesRate is handled (and later packets wait, unread) once its bucket has refilled.
   */
  private handle(packet: Packet): Promise<void> | undefined {
    if (this.state === ConnectionState.Active) {
      const { maxPublishRate, maxPublishBytesRate, maxControlPacketRate } = this.broker.options;
      if (packet.type === 'publish' && (maxPublishRate > 0 || maxPublishBytesRate > 0)) {
        const limits = this.broker.counters.limits;
        const buckets = (this.publishBuckets ??= new PublishBuckets(
          maxPublishRate,
          maxPublishBytesRate,
          limits,
          Date.now(),
        ));
        // Over the rate: handled once the buckets have refilled, later packets waiting unread meanwhile
        const waitMs = buckets.take(packet.payload.length, Date.now());
        if (waitMs > 0) {
          this.warnLimit(buckets.dry ?? 'maxPublishRate', 'client throttled: not read until back under the rate');
          return new Promise<void>((resolve) => setTimeout(resolve, waitMs).unref()).then(() => {
            if (this.state !== ConnectionState.Active) return undefined;
            return this.handlers.dispatch(this, packet);
          });
        }
      } else if (packet.type === 'subscribe' || packet.type === 'unsubscribe' || packet.type === 'pingreq') {
        const window = (this.controlPackets ??= new ControlPacketWindow(maxControlPacketRate));
        if (!window.allow(Date.now())) {
          this.broker.counters.limits.maxControlPacketRate++;
          const why = `more than ${this.broker.options.maxControlPacketRate} control packets in one second`;
          // 5.0 section 3.14.2.1: 0x97 Quota exceeded; 3.1.1 has no way to say why
          this.limitExceeded('maxControlPacketRate', why, ReasonCode.QuotaExceeded);
          return undefined;
        }
      }
    }
    return this.handlers.dispatch(this, packet);
  }

  /** Holds later packets (and stops reading) until an asynchronous handler has finished. */
  private wait(pending: Promise<void>): void {
    this.backlog = [];
    this.stream.pause();
    pending.then(
      () => {
        const backlog = this.backlog ?? [];
        this.backlog = undefined;
        try {
          for (let i = 0; i < backlog.length; i++) {
            if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) break;
            const next = this.handleFairly(backlog[i]!);
            if (next !== undefined) {
              this.wait(next);
              this.backlog!.push(...backlog.slice(i + 1));
              return;
            }
          }
        } catch (err) {
          // A held packet that breaks a rule closes this connection, as it would have when read; not
          // a rejection that nothing handles (which ends the process).
          this.fail(err);
        }
        this.drained();
      },
      (err: unknown) => {
        this.backlog = undefined;
        this.fail(err);
        this.drained();
      },
    );
  }

  /**
   * The held packets are handled, or dropped because the connection is closing: reading goes on, or,
   * when the stream closed meanwhile, the close that waited for them ends the connection.
   */
  private drained(): void {
    if (this.streamClosed) this.closed();
    else if (this.state !== ConnectionState.Closed) this.stream.resume();
  }

  /** Starts keep-alive supervision: the deadline becomes the one the Link gives (none with Keep Alive 0). */
  startKeepAlive(): void {
    deadlines.cancel(this);
    this.keepAliveStarted = true;
    this.checkKeepAlive(Date.now());
  }

  private checkKeepAlive(now: number): void {
    const remaining = this.link.keepAliveRemaining();
    if (remaining === undefined) return;
    // [MQTT-3.1.2-24] (3.1.1) [MQTT-3.1.2-22] (5.0): nothing for 1.5 x Keep Alive closes the connection
    // A client whose packets wait in the backlog (held by a hook or its publish rate) is not idle.
    if (remaining <= 0 && this.backlog === undefined) {
      this.endWith({ reason: 'keep-alive-timeout' });
      this.close('keep-alive timeout', ReasonCode.KeepAliveTimeout);
      return;
    }
    deadlines.set(this, now + Math.max(remaining, 100));
  }

  /** Writes an encoded packet; writes of one turn of the event loop leave in one system call. */
  write(buf: Buffer): void {
    // A stream already closed takes nothing, and what is not sent is not counted as sent.
    if (this.state === ConnectionState.Closed || this.streamClosed) return;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(Connection.uncork, this);
    }
    if (buf.length <= COMBINE_MAX_PACKET) this.combine(buf);
    else {
      this.flushCombined();
      this.stream.write(buf);
    }
    // Each write is one packet; a PUBLISH is told by its first byte (type 3).
    const traffic = this.broker.counters.traffic;
    traffic.packetsSent++;
    traffic.bytesSent += buf.length;
    const first = buf[0]!;
    if (first >> 4 === 3) countPublish(first, buf.length, traffic.publishSent, traffic.publishBytesSent);
    // A client that does not read what it is sent stops being read from: TCP then slows its publishing.
    const outgoing = this.stream.writableLength + this.combinedLength;
    if (outgoing > this.broker.options.maxOutgoingBufferBytes && !this.stream.isPaused()) {
      if (this.backlog === undefined) this.stream.pause();
    }
  }

  /**
   * Gathers the small packets of one turn, handed to the stream as one write when the turn ends (or
   * they reach COMBINE_BYTES, or a large packet follows): a stream write per packet cost more
   * than the copy (bench/outbound.ts). A lone packet is not copied.
   */
  private combine(buf: Buffer): void {
    if (this.combinedLength + buf.length > COMBINE_BYTES) this.flushCombined();
    if (this.combinedFirst === undefined) this.combinedFirst = buf;
    else (this.combinedRest ??= []).push(buf);
    this.combinedLength += buf.length;
  }

  /**
   * Hands the packets gathered by `combine` to the stream: one as it is, several copied into one
   * buffer of their exact size (from Node's shared pool when small), not a fixed-size one per turn.
   */
  private flushCombined(): void {
    const first = this.combinedFirst;
    if (first === undefined) return;
    const rest = this.combinedRest;
    if (rest === undefined || rest.length === 0) this.stream.write(first);
    else {
      rest.unshift(first);
      this.stream.write(Buffer.concat(rest, this.combinedLength));
      rest.length = 0;
    }
    this.combinedFirst = undefined;
    this.combinedLength = 0;
  }

  /** Encodes (within the peer's limits, see Link.encode) and writes a packet. */
  send(packet: Packet): void {
    const buf = this.link.encode(packet);
    if (buf !== undefined) {
      this.write(buf);
      return;
    }
    this.debug(
      { type: packet.type, maximumPacketSize: this.link.peerMaximumPacketSize },
      'packet larger than the client accepts, not sent',
    );
  }

  /**
   * Sends an acknowledgement that promises durability (PUBACK, PUBREC, PUBCOMP, UNSUBACK) once the
   * store has committed what it acknowledges; at once when the broker has no store or nothing waits.
   * Acknowledgements keep their order: each waits for the batch being gathered when it was sent.
   */
  sendAfterCommit(packet: Packet, viaBus = true): void {
    const { persistence } = this.broker;
    // An acknowledgement of a message the bus did not carry waits for the bus only to keep this
    // connection's order: so local delivery is acknowledged while Redis is away.
    const bus = viaBus || this.withheldAcks > 0 ? this.broker.bus : undefined;
    const stored = persistence === undefined || persistence.idle;
    if (stored && (bus === undefined || bus.idle)) {
      this.send(packet);
      return;
    }
    this.withheldAcks++;
    const send = (): void => {
      this.withheldAcks--;
      if (this.state === ConnectionState.Active) this.send(packet);
    };
    // In a cluster, also once the bus has the message for the other nodes (after the store, so that
    // acknowledgements keep the order of their PUBLISH packets).
    const forwarded = bus === undefined ? send : (): void => bus.afterAccepted(send);
    if (stored) forwarded();
    else persistence.afterCommit(forwarded);
  }

  /**
   * Sends an acknowledgement that promises nothing (a refusal) at once, unless acknowledgements sent
   * before it still wait: then after them. [MQTT-4.6.0-2] [MQTT-4.6.0-3] (5.0) [MQTT-4.6.0-2] (3.1.1):
   * PUBACK and PUBREC leave in the order of their PUBLISH packets.
   */
  sendInOrder(packet: Packet): void {
    if (this.withheldAcks === 0) this.send(packet);
    else this.sendAfterCommit(packet);
  }

  writable(): boolean {
    return (
      this.state === ConnectionState.Active &&
      !this.streamClosed &&
      this.stream.writableLength + this.combinedLength < this.broker.options.maxOutgoingBufferBytes
    );
  }

  private onDrain(): void {
    if (this.backlog === undefined && this.state === ConnectionState.Active && this.stream.isPaused()) {
      this.stream.resume();
    }
    this.session?.pump();
  }

  private onStreamError(err: Error): void {
    this.endWith({ reason: 'socket-error', message: err.message });
    this.debug({ err: err.message }, 'socket error');
  }

  /**
   * Closes the connection because of `err`: the one place that turns an error into a CONNACK
   * or DISCONNECT code. Logged once, without payloads.
   */
  fail(value: unknown): void {
    if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
    const err = toFennecError(value);
    const limit = limitOf(err);
    if (limit !== undefined) {
      // The client sent more than the broker allows: a limit, logged as such (3.1.1 has no reason code to say it)
      this.warnLimit(limit, `${err.message}, connection closed`);
      this.endWith({ reason: 'limit', limit: limitKey(limit), message: err.message });
    } else {
      // A broken protocol rule carries its reason code; anything else (a hook or store failing) is an error
      const reason = err.reasonCode === undefined ? 'error' : 'protocol-error';
      this.endWith({ reason, code: err.code, reasonCode: err.reasonCode, message: err.message });
    }
    if (this.state === ConnectionState.AwaitingConnect) {
      const connack = failedConnectConnack(err, this.decoder.protocolVersion);
      // [MQTT-3.1.2-24] [MQTT-4.13.2-1]: not sent when over the client's maximum; the close follows either way
      if (connack !== undefined && connack.length <= this.link.peerMaximumPacketSize) this.write(connack);
    }
    const reasonCode = err.reasonCode ?? (err instanceof PacketTooLargeError ? 0x95 : ReasonCode.UnspecifiedError);
    this.close(err.message, reasonCode);
  }

  /**
   * Closes the connection. In 5.0, an active connection is first sent DISCONNECT with
   * `reasonCode` when one is given, and `why` as its Reason String unless the client asked for no
   * problem information. The will is published unless the client disconnected cleanly.
   */
  close(why: string, reasonCode?: number, serverReference?: string): void {
    if (this.state === ConnectionState.Closing || this.state === ConnectionState.Closed) return;
    if (reasonCode !== undefined && this.version === 5 && this.state === ConnectionState.Active) {
      // [MQTT-3.14.2-2] (5.0): the broker's DISCONNECT never carries a Session Expiry Interval
      let properties: DisconnectProperties | undefined = this.link.problemInformation
        ? { reasonString: why }
        : undefined;
      if (serverReference !== undefined) properties = { ...properties, serverReference };
      // Through send: [MQTT-3.14.2-3] [MQTT-3.14.2-4] trimmed, or not sent, to fit the client's Maximum Packet Size
      this.send({ type: 'disconnect', reasonCode, properties });
    }
    this.debug({ why }, 'closing connection');
    this.setState(ConnectionState.Closing);
    if (this.corked) Connection.uncork(this);
    this.stream.end();
    // A peer that never closes its side is cut off (see deadlineDue).
    deadlines.set(this, Date.now() + 1000);
  }

  /** Another connection took this client id over: the session moves there, and this one closes. */
  /**
   * Closes the connection because another one took its client id over; `elsewhere`: by a client of
   * another node of the cluster, `'moved'` when the session moves there with it, `'ended'` when it
   * ends here (nothing of it is stored).
   */
  takeOver(elsewhere?: 'moved' | 'ended'): void {
    this.takenOverElsewhere = elsewhere;
    this.session?.detach(this);
    this.session = undefined;
    this.endWith({ reason: 'takeover' });
    // [MQTT-3.1.4-3] (5.0): DISCONNECT 0x8E to the existing client before closing it
    this.close('session taken over', ReasonCode.SessionTakenOver);
  }

  /**
   * The stream has closed. Packets it delivered before and that are still held (behind the fair
   * intake's share, a hook or the publish rate) are handled first, in order and at the connection's
   * share per turn, and only then the close (see `drained`): a client that sends PUBLISHes, then
   * DISCONNECT, and closes at once has sent them all ([MQTT-3.14.4-1] (3.1.1) [MQTT-3.14.4-2] (5.0)),
   * its messages are forwarded in the order received ([MQTT-4.6.0-6] (3.1.1) [MQTT-4.6.0-5] (5.0)),
   * the DISCONNECT discards the will after them ([MQTT-3.14.4-3]) and without one the will is published
   * after them ([MQTT-3.1.2-8]). A connection already closing has nothing more to handle.
   */
  private onClose(): void {
    if (this.state === ConnectionState.Closed) return;
    if (this.state !== ConnectionState.Closing) this.readRest();
    // No more bytes come: a partial packet left in the decoder is never completed, nor timed.
    this.watchdog?.stop();
    if (this.backlog !== undefined && this.state !== ConnectionState.Closing) {
      this.streamClosed = true;
      return;
    }
    this.closed();
  }

  /**
   * Decodes what the stream had read but not yet handed over because it was paused: received before
   * the close too, and still in its buffer when a reset (an error) destroyed it.
   */
  private readRest(): void {
    if (this.stream.readableLength === 0) return;
    // read() also emits what it returns as 'data' where the stream still does: taken here, once.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    this.stream.off('data', Connection.streamData);
    for (let chunk: unknown = this.stream.read(); chunk !== null; chunk = this.stream.read()) {
      this.onData(chunk as Buffer);
    }
  }

  /** Ends the connection once its stream has closed and nothing it delivered is held any longer. */
  private closed(): void {
    if (this.state === ConnectionState.Closed) return;
    this.setState(ConnectionState.Closed);
    deadlines.cancel(this);
    this.watchdog?.stop();
    logClosed(this.broker.log, this.clientId, this.peer, this.wasActive, this.ending ?? { reason: 'closed-by-peer' });
    this.broker.connectionClosed(this);
  }
}
