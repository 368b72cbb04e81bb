/**
 * A client's session: its subscriptions and the state of its QoS 1 and 2 flows in both
 * directions. It does no I/O: it writes through the SessionSink of the connection it is
 * attached to, and keeps what cannot be written (no connection, window full, slow reader)
 * in a bounded queue.
 */
import type { QoS, RetainHandling } from '../protocol/index.js';
import { isExpired, type Delivery } from './message.js';

/** The options a subscription was made with. */
export interface SubscriptionOptions {
  /** Granted maximum QoS. */
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: RetainHandling;
  /** 5.0 subscription identifier, if the SUBSCRIBE had one. */
  subscriptionIdentifier: number | undefined;
}

/** Where a session writes; implemented by the connection it is attached to. */
export interface SessionSink {
  /** Whether the peer reads fast enough to take more (its socket buffer is below the limit). */
  writable(): boolean;
  /**
   * Writes a PUBLISH for `delivery` with `packetId` (0 for QoS 0) and the DUP flag. Returns false
   * when the packet would exceed the peer's Maximum Packet Size and was discarded unsent.
   */
  writePublish(delivery: Delivery, packetId: number, dup: boolean): boolean;
  /** Writes a PUBREL for `packetId`. */
  writePubrel(packetId: number): void;
}

/**
 * Where a session reports what a restart needs to know of its QoS 1/2 deliveries; the broker's
 * persistence implements it for persistent sessions. Calls happen as the state changes.
 */
export interface SessionJournal {
  /** A delivery entered the session: waiting in the queue (`packetId` 0) or published at once with `packetId`. */
  added(session: Session, d: Delivery, packetId: number): void;
  /** A queued delivery was published with `packetId`. */
  published(session: Session, d: Delivery, packetId: number): void;
  /** QoS 2: PUBREC came and PUBREL was sent for `packetId`. */
  released(session: Session, d: Delivery, packetId: number): void;
  /** A delivery left the session: acknowledged, expired, discarded, handed to another member, or cleared. */
  removed(session: Session, d: Delivery): void;
}

/** State of an outgoing QoS 1/2 message. */
export type OutgoingState = 'awaiting-puback' | 'awaiting-pubrec' | 'awaiting-pubcomp';

interface Outgoing {
  delivery: Delivery;
  state: OutgoingState;
}

/** Limits of one session. */
export interface SessionLimits {
  /** Most QoS 1/2 messages sent and not yet acknowledged (the peer's Receive Maximum may lower it). */
  maxInflightMessages: number;
  /** Most messages waiting to be sent; a message arriving at a full queue is dropped and counted. */
  maxQueuedMessages: number;
  /** Most payload bytes waiting to be sent, in bytes; a message that would pass it is dropped and counted. 0 or absent: no limit. */
  maxQueuedBytes?: number;
}

/**
 * How soon a session would send a delivery handed to it now; higher is sooner. Shared
 * subscriptions pick the member that would send soonest.
 */
export const Readiness = {
  /** It would be dropped: QoS 0 to an offline or slow reader, or a full queue. */
  Dropped: 0,
  /** It would wait in the queue of an offline session. */
  QueuedOffline: 1,
  /** It would wait in the queue of an online session (window full, slow reader, or others queued first). */
  QueuedOnline: 2,
  /** It would be written at once. */
  Now: 3,
} as const;
export type Readiness = (typeof Readiness)[keyof typeof Readiness];

/**
 * Why a delivery was dropped. `too-large`: over the client's Maximum Packet Size; `expired`: its
 * Message Expiry Interval passed before delivery started.
 */
export type DropReason = 'queue-full' | 'queue-bytes-full' | 'slow-reader' | 'offline-qos0' | 'too-large' | 'expired';

/** A Session Expiry Interval that never runs out, in seconds (5.0 section 3.1.2.11.2). */
export const NEVER_EXPIRES = 0xffff_ffff;

/** A tally of drops with every reason at 0. */
export function emptyDropTally(): Record<DropReason, number> {
  return { 'queue-full': 0, 'queue-bytes-full': 0, 'slow-reader': 0, 'offline-qos0': 0, 'too-large': 0, expired: 0 };
}

export class Session {
  readonly clientId: string;
  /**
   * The username its client presented at its last CONNECT; with `clientId`, the identity read
   * authorization checks deliveries against, also while the session is offline.
   */
  username: string | undefined = undefined;
  /** Subscriptions by topic filter. */
  readonly subscriptions = new Map<string, SubscriptionOptions>();
  /** Incoming QoS 2 packet ids for which PUBREC was sent and PUBREL is awaited [MQTT-4.3.3-2]. */
  readonly incomingQoS2 = new Set<number>();
  /**
   * Seconds the session outlives its connection: 0 ends it with the connection (3.1.1 Clean
   * Session 1, 5.0 expiry 0), NEVER_EXPIRES (3.1.1 Clean Session 0, 5.0 0xFFFFFFFF) keeps it.
   */
  expiryInterval: number;
  /** Messages dropped since the session began, by reason. */
  readonly dropped: Record<DropReason, number> = emptyDropTally();
  /** Set when the broker routes a message and this session matched; see Router. */
  matchStamp = 0;
  /** Best delivery found for the message being routed (overlapping subscriptions). */
  matchQoS: QoS = 0;
  matchRetainAsPublished = false;
  matchSubscriptionIdentifiers: number[] | undefined = undefined;
  /** Told of every change to the QoS 1/2 deliveries; set for persistent sessions when the broker has a store. */
  journal: SessionJournal | undefined;

  private sink: SessionSink | undefined;
  private readonly outgoing = new Map<number, Outgoing>();
  private queue: Delivery[] = [];
  private queueHead = 0;
  /** Payload bytes of the messages in the queue. */
  private queueBytes = 0;
  private nextPacketId = 1;
  private inflightLimit: number;

  /**
   * `totals`, when given, is a broker-wide tally of drops by reason that this session adds to as
   * they happen (its own `dropped` counts only this session's). `now` is the clock that message
   * expiry is checked against, in ms since the epoch.
   */
  constructor(
    clientId: string,
    expiryInterval: number,
    private readonly limits: SessionLimits,
    private readonly totals?: Record<DropReason, number>,
    private readonly now: () => number = Date.now,
  ) {
    this.clientId = clientId;
    this.expiryInterval = expiryInterval;
    this.inflightLimit = limits.maxInflightMessages;
  }

  /** Whether the session ends when its connection does (3.1.1 Clean Session, 5.0 expiry 0). */
  get clean(): boolean {
    return this.expiryInterval === 0;
  }

  /** Whether a connection is attached. */
  get online(): boolean {
    return this.sink !== undefined;
  }

  /** Messages waiting to be sent. */
  get queuedCount(): number {
    return this.queue.length - this.queueHead;
  }

  /** QoS 1/2 messages sent and not yet fully acknowledged. */
  get inflightCount(): number {
    return this.outgoing.size;
  }

  /**
   * Attaches a connection. Unacknowledged messages are sent again, in order, with DUP set
   * (PUBLISH) or as PUBREL [MQTT-4.4.0-1]; then the queue is sent as the window allows.
   * `receiveMaximum` is the peer's 5.0 Receive Maximum (65,535 when absent).
   */
  attach(sink: SessionSink, receiveMaximum = 65_535): void {
    this.sink = sink;
    this.inflightLimit = Math.min(this.limits.maxInflightMessages, receiveMaximum);
    for (const [packetId, entry] of this.outgoing) {
      if (entry.state === 'awaiting-pubcomp') sink.writePubrel(packetId);
      else if (!sink.writePublish(entry.delivery, packetId, true)) this.discard(packetId);
    }
    this.pump();
  }

  /** Detaches `sink` if it is the one attached; what is in flight stays for the next connection. */
  detach(sink: SessionSink): void {
    if (this.sink === sink) this.sink = undefined;
  }

  /** What `deliver` would do with a delivery at `qos` now; mirrors its branches. */
  readiness(qos: QoS): Readiness {
    const sink = this.sink;
    if (qos === 0) return sink !== undefined && sink.writable() ? Readiness.Now : Readiness.Dropped;
    const queued = this.queue.length - this.queueHead;
    if (sink !== undefined && queued === 0 && this.outgoing.size < this.inflightLimit && sink.writable()) {
      return Readiness.Now;
    }
    if (queued >= this.limits.maxQueuedMessages) return Readiness.Dropped;
    // Full when not even one more byte fits; the size of the message to come is not known here.
    if (this.queueBytesFull(1)) return Readiness.Dropped;
    return sink === undefined ? Readiness.QueuedOffline : Readiness.QueuedOnline;
  }

  /** Hands the session a message to deliver, now or when it can. */
  deliver(d: Delivery): void {
    const sink = this.sink;
    // No expiry check here: a message handed over is fresh from the router (onward delivery starts
    // now) or a retained one the SUBSCRIBE handler has checked; expiry matters once it has waited.
    if (d.qos === 0) {
      // QoS 0 is never queued: sent now, or dropped when offline or reading too slowly.
      if (sink === undefined) this.drop('offline-qos0');
      else if (!sink.writable()) this.drop('slow-reader');
      else if (!sink.writePublish(d, 0, false)) this.drop('too-large');
      return;
    }
    // Anything queued goes first, so that order is kept.
    if (sink !== undefined && this.queueHead === this.queue.length && this.outgoing.size < this.inflightLimit) {
      if (sink.writable()) {
        this.send(sink, d, true);
        return;
      }
    }
    if (this.queue.length - this.queueHead >= this.limits.maxQueuedMessages) {
      // Policy: a full queue refuses the newest message (as Mosquitto does), and counts it.
      this.drop('queue-full');
      return;
    }
    const bytes = d.message.payload.length;
    if (this.queueBytesFull(bytes)) {
      // The same policy for bytes: the newest message is refused.
      this.drop('queue-bytes-full');
      return;
    }
    this.queueBytes += bytes;
    this.queue.push(d);
    this.journal?.added(this, d, 0);
  }

  /** Whether `bytes` more payload would take the queue past maxQueuedBytes. */
  private queueBytesFull(bytes: number): boolean {
    const max = this.limits.maxQueuedBytes ?? 0;
    return max > 0 && this.queueBytes + bytes > max;
  }

  /** Payload bytes waiting to be sent. */
  get queuedBytes(): number {
    return this.queueBytes;
  }

  private drop(reason: DropReason): void {
    this.dropped[reason]++;
    if (this.totals !== undefined) this.totals[reason]++;
  }

  /** Sends queued messages while the window and the peer allow. Called on acks and on drain. */
  pump(): void {
    const sink = this.sink;
    if (sink === undefined) return;
    while (this.queueHead < this.queue.length && this.outgoing.size < this.inflightLimit && sink.writable()) {
      const d = this.queue[this.queueHead]!;
      this.queue[this.queueHead] = undefined as unknown as Delivery;
      this.queueHead++;
      this.queueBytes -= d.message.payload.length;
      // [MQTT-3.3.2-5] (5.0): a message whose expiry passed while it waited is dropped, not sent;
      // checked here, at dequeue, so that no message needs a timer of its own
      if (d.message.expiresAt !== undefined && isExpired(d.message, this.now())) {
        this.drop('expired');
        this.journal?.removed(this, d);
        continue;
      }
      this.send(sink, d, false);
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Publishes `d` with a new packet id; `fresh`: it was never queued (the journal has not seen it). */
  private send(sink: SessionSink, d: Delivery, fresh: boolean): void {
    const packetId = this.allocatePacketId();
    this.outgoing.set(packetId, { delivery: d, state: d.qos === 1 ? 'awaiting-puback' : 'awaiting-pubrec' });
    const journal = this.journal;
    if (journal !== undefined) {
      if (fresh) journal.added(this, d, packetId);
      else journal.published(this, d, packetId);
    }
    if (!sink.writePublish(d, packetId, false)) this.discard(packetId);
  }

  /**
   * [MQTT-3.1.2-25] (5.0): a PUBLISH too large for the peer is discarded and the flow ends as if
   * it had completed; counted as a 'too-large' drop. The caller pumps the queue when it can.
   */
  private discard(packetId: number): void {
    const entry = this.outgoing.get(packetId);
    this.outgoing.delete(packetId);
    this.drop('too-large');
    if (entry !== undefined) this.journal?.removed(this, entry.delivery);
  }

  /** [MQTT-2.3.1-4] (3.1.1) [MQTT-2.2.1-4] (5.0): a non-zero identifier not in use. */
  private allocatePacketId(): number {
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 0xffff ? 1 : id + 1;
      if (!this.outgoing.has(id)) return id;
    }
  }

  /** PUBACK received; returns false when no QoS 1 message had that id. */
  onPuback(packetId: number): boolean {
    const entry = this.outgoing.get(packetId);
    if (entry === undefined || entry.state !== 'awaiting-puback') return false;
    this.outgoing.delete(packetId);
    this.journal?.removed(this, entry.delivery);
    this.pump();
    return true;
  }

  /**
   * PUBREC received: the message is now the peer's; PUBREL follows [MQTT-4.3.3-1].
   * A PUBREC with a failure reason code (5.0) ends the flow instead.
   */
  onPubrec(packetId: number, failed: boolean): boolean {
    const entry = this.outgoing.get(packetId);
    if (entry === undefined || entry.state === 'awaiting-puback') return false;
    if (failed) {
      this.outgoing.delete(packetId);
      this.journal?.removed(this, entry.delivery);
      this.pump();
      return true;
    }
    entry.state = 'awaiting-pubcomp';
    this.journal?.released(this, entry.delivery, packetId);
    this.sink?.writePubrel(packetId);
    return true;
  }

  /** PUBCOMP received; returns false when no QoS 2 message awaited it. */
  onPubcomp(packetId: number): boolean {
    const entry = this.outgoing.get(packetId);
    if (entry === undefined || entry.state !== 'awaiting-pubcomp') return false;
    this.outgoing.delete(packetId);
    this.journal?.removed(this, entry.delivery);
    this.pump();
    return true;
  }

  /**
   * Removes and returns the deliveries made for shared subscriptions that another member may still
   * take when this session ends: every queued one (never sent) and every QoS 1 one in flight
   * (MQTT 5.0 section 4.8.2 says the server SHOULD send those to another member). A QoS 2 message
   * already sent stays: it MUST NOT go to another subscriber [MQTT-4.8.2-5].
   */
  releaseSharedDeliveries(): Delivery[] {
    const released: Delivery[] = [];
    for (const [packetId, entry] of this.outgoing) {
      if (entry.delivery.sharedFilter !== undefined && entry.state === 'awaiting-puback') {
        this.outgoing.delete(packetId);
        released.push(entry.delivery);
      }
    }
    const kept: Delivery[] = [];
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const d = this.queue[i]!;
      if (d.sharedFilter === undefined) kept.push(d);
      else released.push(d);
    }
    this.queue = kept;
    this.queueHead = 0;
    this.queueBytes = 0;
    for (const d of kept) this.queueBytes += d.message.payload.length;
    const journal = this.journal;
    if (journal !== undefined) for (const d of released) journal.removed(this, d);
    return released;
  }

  /** Drops all in-flight and queued messages (clean start). */
  clearMessages(): void {
    const journal = this.journal;
    if (journal !== undefined) {
      for (const entry of this.outgoing.values()) journal.removed(this, entry.delivery);
      for (let i = this.queueHead; i < this.queue.length; i++) journal.removed(this, this.queue[i]!);
    }
    this.outgoing.clear();
    this.queue = [];
    this.queueHead = 0;
    this.queueBytes = 0;
    this.incomingQoS2.clear();
  }

  /**
   * Puts back a delivery read from the store at start: published (or, QoS 2, released) with
   * `packetId`, or queued when `packetId` is 0. Restored deliveries are not reported to the journal,
   * which already holds them; call in the order they were first sent or queued.
   */
  restore(d: Delivery, packetId: number, released: boolean): void {
    if (packetId === 0) {
      this.queue.push(d);
      return;
    }
    this.outgoing.set(packetId, {
      delivery: d,
      state: released ? 'awaiting-pubcomp' : d.qos === 1 ? 'awaiting-puback' : 'awaiting-pubrec',
    });
    this.nextPacketId = packetId === 0xffff ? 1 : packetId + 1;
  }
}
