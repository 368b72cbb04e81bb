/**
 * A client's session, sans I/O: its subscriptions and the state of its QoS 1 and 2 flows in both
 * directions, kept across connections. While a connection is attached, the session writes through
 * that connection's Link (which encodes within the peer's limits) to its SessionSink (bytes); what
 * cannot be written (no connection, window full, slow reader) waits in a bounded queue. It reports
 * what a restart needs to its SessionJournal. It knows no socket, timer or store.
 */
import type { QoS } from '../protocol/index.js';
import type { Link } from './link.js';
import type { CompletedOrigins } from './completed-origins.js';
import { isExpired, type Delivery, type Message } from './message.js';
import {
  emptyDropTally,
  Readiness,
  type DropReason,
  type OverflowSession,
  type SessionJournal,
  type SessionLimits,
  type SessionOverflow,
  type SessionSink,
  type SubscriptionOptions,
} from './types.js';

export {
  emptyDropTally,
  NEVER_EXPIRES,
  Readiness,
  type DropReason,
  type OverflowSession,
  type SessionJournal,
  type SessionLimits,
  type SessionOverflow,
  type SessionSink,
  type SubscriptionOptions,
} from './types.js';

/** State of an outgoing QoS 1/2 message. */
export type OutgoingState = 'awaiting-puback' | 'awaiting-pubrec' | 'awaiting-pubcomp';

interface Outgoing {
  delivery: Delivery;
  state: OutgoingState;
}

/** A packet written while an earlier one waits for the journal; `ready` once it may leave. */
interface HeldWrite {
  sink: SessionSink;
  buf: Buffer;
  ready: boolean;
}

/*
 * Shared empty collections a session reads until it first writes one of its own (`inFlight`,
 * `heldQoS2`, `subscribe`): an idle connection's session then holds no Map or Set. Only
 * reads, `delete` and `clear` (no-ops on an empty one) ever reach these.
 */
const NO_OUTGOING = new Map<number, Outgoing>();
const NO_IDS = new Set<number>();
const NO_SUBSCRIPTIONS: ReadonlyMap<string, SubscriptionOptions> = new Map();
/** Frozen: a push to it throws instead of sharing the message with every other session. */
const NO_DELIVERIES: Delivery[] = Object.freeze([]) as unknown as Delivery[];
const NO_HELD: HeldWrite[] = Object.freeze([]) as unknown as HeldWrite[];

export class Session implements OverflowSession {
  readonly clientId: string;
  /**
   * The username its client presented at its last CONNECT; with `clientId`, the identity read
   * authorization checks deliveries against, also while the session is offline.
   */
  username: string | undefined = undefined;
  /** The name of the listener its latest client connected through (per-listener read authorization); undefined when not known. */
  listener: string | undefined = undefined;
  /** Subscriptions by topic filter; made on the first one (see `subscribe`). */
  private ownSubscriptions: Map<string, SubscriptionOptions> | undefined;
  /**
   * Incoming QoS 2 packet ids for which PUBREC was sent and PUBREL is awaited [MQTT-4.3.3-2]; the
   * shared empty set until the first one (a Set costs about 200 bytes, and most sessions never see QoS 2).
   */
  private incomingQoS2: Set<number> = NO_IDS;
  /**
   * Seconds the session outlives its connection: 0 ends it with the connection (3.1.1 Clean
   * Session 1, 5.0 expiry 0), NEVER_EXPIRES (3.1.1 Clean Session 0, 5.0 0xFFFFFFFF) keeps it.
   */
  expiryInterval: number;
  /** Messages dropped since the session began, by reason (a live record: callers keep it). */
  readonly dropped: Record<DropReason, number> = emptyDropTally();
  /** Set when the broker routes a message and this session matched; see Router. */
  matchStamp = 0;
  /** Best delivery found for the message being routed (overlapping subscriptions). */
  matchQoS: QoS = 0;
  matchRetainAsPublished = false;
  matchSubscriptionIdentifiers: number[] | undefined = undefined;
  /** Told of every change to the QoS 1/2 deliveries; set for persistent sessions when the broker has a store. */
  journal: SessionJournal | undefined;
  /** Told of each dropped delivery (the broker logs the limits that drop); called on drops only. */
  onDrop: ((session: Session, reason: DropReason) => void) | undefined;
  /** Takes QoS 1/2 deliveries beyond the memory queue (the broker's spool); undefined: a full queue drops. */
  overflow: SessionOverflow | undefined;
  /** Where completed messages with a cluster id are noted (see `holdsOrigin`); undefined: nowhere. */
  completed: CompletedOrigins | undefined;

  private sink: SessionSink | undefined;
  /** The protocol state of the attached connection; set exactly when `sink` is. */
  private link: Link | undefined;
  /** QoS 1/2 deliveries in flight by packet id; the shared empty map until the first one. */
  private outgoing: Map<number, Outgoing> = NO_OUTGOING;
  /** NO_DELIVERIES while empty (see `enqueue`). */
  private queue: Delivery[] = NO_DELIVERIES;
  private queueHead = 0;
  /** Payload bytes of the messages in the queue. */
  private queueBytes = 0;
  private nextPacketId = 1;
  /** Ids taken by requests other than PUBLISH (a client's SUBSCRIBE, UNSUBSCRIBE); made on first use. */
  private reservedIds: Set<number> | undefined;
  private inflightLimit: number;
  /**
   * Packets waiting, in order, for a QoS 2 PUBLISH or PUBREL ahead of them to become durable (see
   * `write`); empty on every path without a journal.
   */
  private held: HeldWrite[] = NO_HELD;

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

  /** Subscriptions by topic filter (change them with `subscribe`, `unsubscribe`, `clearSubscriptions`). */
  get subscriptions(): ReadonlyMap<string, SubscriptionOptions> {
    return this.ownSubscriptions ?? NO_SUBSCRIPTIONS;
  }

  /** Adds or replaces the subscription to `topicFilter`. */
  subscribe(topicFilter: string, options: SubscriptionOptions): void {
    (this.ownSubscriptions ??= new Map()).set(topicFilter, options);
  }

  /** Removes the subscription to `topicFilter`; returns whether there was one. */
  unsubscribe(topicFilter: string): boolean {
    return this.ownSubscriptions?.delete(topicFilter) ?? false;
  }

  /** Removes every subscription. */
  clearSubscriptions(): void {
    this.ownSubscriptions = undefined;
  }

  /** The map of deliveries in flight, made on the first one: the shared empty one is never written. */
  private inFlight(): Map<number, Outgoing> {
    if (this.outgoing === NO_OUTGOING) this.outgoing = new Map();
    return this.outgoing;
  }

  /** The set of incoming QoS 2 ids awaiting PUBREL, made on the first one. */
  private heldQoS2(): Set<number> {
    if (this.incomingQoS2 === NO_IDS) this.incomingQoS2 = new Set();
    return this.incomingQoS2;
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
   * Attaches a connection: its bytes go to `sink`, encoded by its `link` (whose settings CONNECT
   * agreed). Unacknowledged messages are sent again, in order, with DUP set (PUBLISH) or as PUBREL
   * [MQTT-4.4.0-1] (3.1.1) [MQTT-4.4.0-1] (5.0); then the queue is sent as the window allows, which
   * the peer's Receive Maximum caps [MQTT-3.3.4-9] (5.0).
   */
  attach(sink: SessionSink, link: Link): void {
    this.sink = sink;
    this.link = link;
    this.inflightLimit = Math.min(this.limits.maxInflightMessages, link.peerReceiveMaximum);
    for (const [packetId, entry] of this.outgoing) {
      if (entry.state === 'awaiting-pubcomp') this.writePubrel(sink, link, packetId);
      else if (!this.writePublish(sink, link, entry.delivery, packetId, true)) this.discard(packetId);
    }
    this.pump();
  }

  /** Detaches `sink` if it is the one attached; what is in flight stays for the next connection. */
  detach(sink: SessionSink): void {
    if (this.sink !== sink) return;
    this.sink = undefined;
    this.link = undefined;
  }

  /** Encodes `d` as a PUBLISH and writes it; false when it is too large for the peer and was not sent. */
  private writePublish(sink: SessionSink, link: Link, d: Delivery, packetId: number, dup: boolean): boolean {
    const buf = link.encodeDelivery(d, packetId, dup);
    if (buf === undefined) return false;
    this.write(sink, buf, d.qos === 2);
    return true;
  }

  private writePubrel(sink: SessionSink, link: Link, packetId: number): void {
    const buf = link.encode({ type: 'pubrel', packetId, reasonCode: 0 });
    if (buf !== undefined) this.write(sink, buf, true);
  }

  /**
   * Writes `buf` to `sink`. A QoS 2 PUBLISH or PUBREL (`durable`) of a journaled session waits until
   * the journal has made its state durable: a PUBLISH that left before its delivery was on disk would
   * be routed and sent again, as a new message, after a crash; a PUBREL before its released state
   * was, re-sent as a PUBLISH the peer already completed [MQTT-4.3.3-1]. What is written after a held
   * packet waits behind it, so the order on the wire (and the topic aliases it sets up) is kept.
   */
  private write(sink: SessionSink, buf: Buffer, durable: boolean): void {
    const journal = this.journal;
    if (durable && journal?.afterDurable !== undefined) {
      const entry: HeldWrite = { sink, buf, ready: false };
      if (this.held === NO_HELD) this.held = [];
      this.held.push(entry);
      journal.afterDurable(() => {
        entry.ready = true;
        this.releaseHeld();
      });
      return;
    }
    if (this.held.length > 0) this.held.push({ sink, buf, ready: true });
    else sink.write(buf);
  }

  /** Writes the held packets that may leave, in order; those of a connection since gone are dropped. */
  private releaseHeld(): void {
    const held = this.held;
    let i = 0;
    while (i < held.length && held[i]!.ready) {
      const entry = held[i++]!;
      // A flow whose connection closed meanwhile is sent again, with DUP, on the next attach.
      if (entry.sink === this.sink) entry.sink.write(entry.buf);
    }
    held.splice(0, i);
  }

  /** What `deliver` would do with a delivery at `qos` now; mirrors its branches. */
  readiness(qos: QoS): Readiness {
    const sink = this.sink;
    if (qos === 0) return sink !== undefined && sink.writable() ? Readiness.Now : Readiness.Dropped;
    const queued = this.queue.length - this.queueHead;
    if (
      sink !== undefined &&
      queued === 0 &&
      this.outgoing.size < this.inflightLimit &&
      sink.writable() &&
      this.overflow?.holds(this) !== true
    ) {
      return Readiness.Now;
    }
    // Full when not even one more byte fits; the size of the message to come is not known here.
    const full = queued >= this.limits.maxQueuedMessages || this.queueBytesFull(1);
    // Behind what waits in the overflow, or past the memory queue, a delivery spills (see `spill`).
    if (this.overflow !== undefined && (full || this.overflow.holds(this))) return Readiness.Spilled;
    if (full) return Readiness.Dropped;
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
      else if (!this.writePublish(sink, this.link!, d, 0, false)) this.drop('too-large');
      return;
    }
    // Anything queued goes first, so that order is kept: in the memory queue, or in the overflow (its
    // rows are read back while the queue is empty and the window open).
    if (sink !== undefined && this.queueHead === this.queue.length && this.outgoing.size < this.inflightLimit) {
      if (sink.writable() && this.overflow?.holds(this) !== true) {
        this.send(sink, d, true);
        return;
      }
    }
    if (this.spill(d)) return;
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
    this.enqueue(d);
    this.journal?.added(this, d, 0);
  }

  /**
   * Past the memory queue (or behind what already waits there), a delivery goes to the overflow,
   * which keeps the order; returns whether it handled `d` (taken, or refused and counted). Shared
   * subscriptions' deliveries too: the overflow gives them to another member if this session ends.
   */
  private spill(d: Delivery): boolean {
    const overflow = this.overflow;
    if (overflow === undefined) return false;
    const full =
      this.queue.length - this.queueHead >= this.limits.maxQueuedMessages ||
      this.queueBytesFull(d.message.payload.length);
    if (!full && !overflow.holds(this)) return false;
    const refused = overflow.spill(this, d);
    if (refused !== undefined) this.drop(refused);
    // Behind rows not being read back (the queue empty, no read on its way): read them now.
    else if (!full && this.sink !== undefined) {
      overflow.drain(this, this.limits.maxQueuedMessages - (this.queue.length - this.queueHead));
    }
    return true;
  }

  /**
   * Moves the newest queued delivery, when it carries `message` (`deliver` has just queued it),
   * before the first queued delivery that `after` says comes after it: a copy that took a longer way
   * (a cluster's node that the session left passed it on) goes before newer messages still waiting.
   * The deliveries it passes are numbered anew in the journal (removed, then added behind it), so
   * that the store keeps the order. One sent, spilled or dropped stays as it is. Returns whether it moved.
   */
  placeLast(message: Message, after: (queued: Delivery) => boolean): boolean {
    const last = this.queue.length - 1;
    if (last < this.queueHead || this.queue[last]!.message !== message) return false;
    let at = this.queueHead;
    while (at < last && !after(this.queue[at]!)) at++;
    if (at === last) return false;
    const moved = this.queue[last]!;
    const passed = this.queue.slice(at, last);
    const journal = this.journal;
    if (journal !== undefined) for (const d of passed) journal.removed(this, d);
    this.queue.splice(at, last + 1 - at, moved, ...passed);
    if (journal !== undefined) for (const d of passed) journal.added(this, d, 0);
    return true;
  }

  /** Deliveries read back from the overflow join the queue, in order, and are sent as the window allows. */
  refill(deliveries: Delivery[]): void {
    for (const d of deliveries) {
      this.queueBytes += d.message.payload.length;
      this.enqueue(d);
      this.journal?.added(this, d, 0);
    }
    this.pump();
  }

  /**
   * Takes the newest queued deliveries past `maxQueuedMessages` and `maxQueuedBytes` off the queue
   * and returns them, oldest first, the journal not told: a session restored with more than its
   * queue holds (moved from another node of a cluster with the backlog that node had spooled), whose
   * excess goes to this node's overflow.
   */
  takeExcess(): Delivery[] {
    const maxBytes = this.limits.maxQueuedBytes ?? 0;
    let keep = Math.min(this.queue.length - this.queueHead, this.limits.maxQueuedMessages);
    let bytes = 0;
    for (let i = 0; maxBytes > 0 && i < keep; i++) {
      bytes += this.queue[this.queueHead + i]!.message.payload.length;
      if (bytes > maxBytes) keep = i;
    }
    if (this.queueHead + keep >= this.queue.length) return [];
    const excess = this.queue.splice(this.queueHead + keep);
    for (const d of excess) this.queueBytes -= d.message.payload.length;
    return excess;
  }

  countDrop(reason: DropReason): void {
    this.drop(reason);
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

  /** Payload bytes waiting in the overflow (the spool), behind the memory queue. */
  get spilledBytes(): number {
    return this.overflow?.bytes(this) ?? 0;
  }

  private drop(reason: DropReason): void {
    this.dropped[reason]++;
    if (this.totals !== undefined) this.totals[reason]++;
    this.onDrop?.(this, reason);
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
      this.queue = NO_DELIVERIES;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    // Below half full, the queue asks the overflow for what waits there (read asynchronously).
    const queued = this.queue.length - this.queueHead;
    if (this.overflow !== undefined && queued * 2 <= this.limits.maxQueuedMessages) {
      this.overflow.drain(this, this.limits.maxQueuedMessages - queued);
    }
  }

  /** Publishes `d` with a new packet id; `fresh`: it was never queued (the journal has not seen it). */
  private send(sink: SessionSink, d: Delivery, fresh: boolean): void {
    const packetId = this.allocatePacketId();
    this.inFlight().set(packetId, { delivery: d, state: d.qos === 1 ? 'awaiting-puback' : 'awaiting-pubrec' });
    const journal = this.journal;
    if (journal !== undefined) {
      if (fresh) journal.added(this, d, packetId);
      else journal.published(this, d, packetId);
    }
    if (!this.writePublish(sink, this.link!, d, packetId, false)) this.discard(packetId);
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
      if (!this.outgoing.has(id) && this.reservedIds?.has(id) !== true) return id;
    }
  }

  /**
   * Client role: a packet id for a SUBSCRIBE or UNSUBSCRIBE, unused by any flow and kept from
   * PUBLISHes until `releasePacketId` [MQTT-2.3.1-2] (3.1.1) [MQTT-2.2.1-3] (5.0).
   */
  reservePacketId(): number {
    const reserved = (this.reservedIds ??= new Set());
    const id = this.allocatePacketId();
    reserved.add(id);
    return id;
  }

  /** Client role: the acknowledgement of a request came; its packet id is free again. */
  releasePacketId(packetId: number): void {
    this.reservedIds?.delete(packetId);
  }

  /**
   * Client role: the peer answered a resumed connection with Session Present 0, so it holds none
   * of this session's flows. The messages it had not yet received go back to the front of the
   * queue, to be published anew with new ids; those whose PUBREC had come are returned, their flow
   * over (the peer had them). Incoming QoS 2 ids are forgotten with the session they belonged to
   * ([MQTT-3.2.2-5] (5.0); 3.1.1 section 3.2.2.2 says the same without an id). Call while detached.
   */
  resetFlows(): Delivery[] {
    const received: Delivery[] = [];
    const again: Delivery[] = [];
    for (const entry of this.outgoing.values()) {
      (entry.state === 'awaiting-pubcomp' ? received : again).push(entry.delivery);
    }
    this.outgoing.clear();
    this.incomingQoS2.clear();
    for (const d of again) this.queueBytes += d.message.payload.length;
    this.queue = [...again, ...this.queue.slice(this.queueHead)];
    this.queueHead = 0;
    return received;
  }

  /** PUBACK received; returns the delivery it completed, undefined when no QoS 1 message had that id. */
  onPuback(packetId: number): Delivery | undefined {
    const entry = this.outgoing.get(packetId);
    if (entry === undefined || entry.state !== 'awaiting-puback') return undefined;
    this.outgoing.delete(packetId);
    this.journal?.removed(this, entry.delivery);
    this.noteCompleted(entry.delivery);
    this.pump();
    return entry.delivery;
  }

  /**
   * PUBREC received: the message is now the peer's; PUBREL follows [MQTT-4.3.3-1].
   * A PUBREC with a failure reason code (5.0) ends the flow instead. Returns the delivery of the
   * flow, undefined when no QoS 2 message had that id.
   */
  onPubrec(packetId: number, failed: boolean): Delivery | undefined {
    const entry = this.outgoing.get(packetId);
    if (entry === undefined || entry.state === 'awaiting-puback') return undefined;
    if (failed) {
      this.outgoing.delete(packetId);
      this.journal?.removed(this, entry.delivery);
      this.pump();
      return entry.delivery;
    }
    entry.state = 'awaiting-pubcomp';
    this.journal?.released(this, entry.delivery, packetId);
    if (this.sink !== undefined) this.writePubrel(this.sink, this.link!, packetId);
    return entry.delivery;
  }

  /** PUBCOMP received; returns the delivery it completed, undefined when no QoS 2 message awaited it. */
  onPubcomp(packetId: number): Delivery | undefined {
    const entry = this.outgoing.get(packetId);
    if (entry === undefined || entry.state !== 'awaiting-pubcomp') return undefined;
    this.outgoing.delete(packetId);
    this.journal?.removed(this, entry.delivery);
    this.noteCompleted(entry.delivery);
    this.pump();
    return entry.delivery;
  }

  /**
   * A delivery acknowledged by the peer: noted when its message has a cluster id. Once acknowledged,
   * the same message would be a new one to the peer: [MQTT-4.3.2-2] [MQTT-4.3.3-2] (3.1.1)
   * [MQTT-4.3.2-5] [MQTT-4.3.3-12] (5.0).
   */
  private noteCompleted(delivery: Delivery): void {
    // Only a stored session moves between nodes, where copies come from; others cost nothing here.
    if (this.journal === undefined) return;
    const { originId } = delivery.message;
    if (originId === undefined) return;
    this.completed?.add(this.clientId, originId);
    this.journal.completedOrigin?.(this, originId);
  }

  /**
   * Whether a delivery of the message of cluster id `originId` (Message.originId) is queued here or
   * in flight, or was completed lately (`completed`): a copy of it that reaches the session again is
   * not delivered (see deliverToSessions).
   */
  holdsOrigin(originId: string): boolean {
    if (this.completed?.has(this.clientId, originId) === true) return true;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      if (this.queue[i]!.message.originId === originId) return true;
    }
    for (const entry of this.outgoing.values()) if (entry.delivery.message.originId === originId) return true;
    return false;
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

  // ---- incoming QoS 2 (the receiver's side) ----

  /** Whether an incoming QoS 2 PUBLISH with `packetId` was accepted and awaits its PUBREL. */
  holdsQoS2(packetId: number): boolean {
    return this.incomingQoS2.has(packetId);
  }

  /**
   * An incoming QoS 2 PUBLISH was accepted (PUBREC with a success code): until PUBREL, a re-send of
   * `packetId` is answered without routing it again [MQTT-4.3.3-2] (3.1.1) [MQTT-4.3.3-9] (5.0), also
   * after a restart when the session is journaled.
   */
  holdQoS2(packetId: number): void {
    this.heldQoS2().add(packetId);
    this.journal?.qos2Received(this, packetId);
  }

  /** PUBREL came for `packetId`: returns whether it was held (else PUBCOMP says 0x92 in 5.0). */
  releaseQoS2(packetId: number): boolean {
    if (!this.incomingQoS2.delete(packetId)) return false;
    this.journal?.qos2Released(this, packetId);
    return true;
  }

  /** Puts back an incoming QoS 2 id read from the store at start, without reporting it to the journal. */
  restoreQoS2(packetId: number): void {
    this.heldQoS2().add(packetId);
  }

  /** Drops all in-flight and queued messages (clean start). */
  clearMessages(): void {
    const journal = this.journal;
    if (journal !== undefined) {
      for (const entry of this.outgoing.values()) journal.removed(this, entry.delivery);
      for (let i = this.queueHead; i < this.queue.length; i++) journal.removed(this, this.queue[i]!);
    }
    this.outgoing.clear();
    this.queue = NO_DELIVERIES;
    this.queueHead = 0;
    this.queueBytes = 0;
    this.incomingQoS2.clear();
    this.overflow?.clear(this);
  }

  /**
   * Puts back a delivery read from the store at start: published (or, QoS 2, released) with
   * `packetId`, or queued when `packetId` is 0. Restored deliveries are not reported to the journal,
   * which already holds them; call in the order they were first sent or queued.
   */
  restore(d: Delivery, packetId: number, released: boolean): void {
    if (packetId === 0) {
      this.enqueue(d);
      // Counted like any queued message, so that maxQueuedBytes holds after a restart too.
      this.queueBytes += d.message.payload.length;
      return;
    }
    this.inFlight().set(packetId, {
      delivery: d,
      state: released ? 'awaiting-pubcomp' : d.qos === 1 ? 'awaiting-puback' : 'awaiting-pubrec',
    });
    this.nextPacketId = packetId === 0xffff ? 1 : packetId + 1;
  }

  /** Appends `d` to the queue, made on the first message (an idle session shares the empty one). */
  private enqueue(d: Delivery): void {
    if (this.queue === NO_DELIVERIES) this.queue = [];
    this.queue.push(d);
  }
}
