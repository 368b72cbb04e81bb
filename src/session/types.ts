/**
 * The vocabulary of sessions: subscription options, what a session writes to and reports to, its
 * limits, and why a delivery can be dropped. Shared by the Session, the router and the store's journal.
 */
import type { QoS, RetainHandling } from '../protocol/index.js';
import type { Delivery } from './message.js';

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

/** Where a session's bytes go; implemented by the connection it is attached to. */
export interface SessionSink {
  /** Whether the peer reads fast enough to take more (its socket buffer is below the limit). */
  writable(): boolean;
  /** Writes one encoded packet. */
  write(packet: Buffer): void;
}

/** The identity of a session, as its journal sees it. */
export interface JournaledSession {
  readonly clientId: string;
}

/**
 * Where a session reports what a restart needs to know of its QoS 1/2 flows; the broker's
 * persistence implements it for persistent sessions. Calls happen as the state changes.
 */
export interface SessionJournal {
  /** A delivery entered the session: waiting in the queue (`packetId` 0) or published at once with `packetId`. */
  added(session: JournaledSession, d: Delivery, packetId: number): void;
  /** A queued delivery was published with `packetId`. */
  published(session: JournaledSession, d: Delivery, packetId: number): void;
  /** QoS 2: PUBREC came and PUBREL was sent for `packetId`. */
  released(session: JournaledSession, d: Delivery, packetId: number): void;
  /** A delivery left the session: acknowledged, expired, discarded, handed to another member, or cleared. */
  removed(session: JournaledSession, d: Delivery): void;
  /** An incoming QoS 2 PUBLISH with `packetId` was accepted: a re-send of it must not be routed again. */
  qos2Received(session: JournaledSession, packetId: number): void;
  /** PUBREL released the incoming QoS 2 `packetId`. */
  qos2Released(session: JournaledSession, packetId: number): void;
  /**
   * The peer completed (PUBACK, PUBCOMP) the message of cluster id `originId` (Message.originId):
   * kept by a store whose sessions move between nodes, for a copy that reaches the session later
   * on another node or after a restart (see Session.holdsOrigin). Absent: not kept.
   */
  completedOrigin?(session: JournaledSession, originId: string): void;
  /**
   * Calls `fn` once everything reported so far is durable (at once when nothing waits). The session
   * holds each outgoing QoS 2 PUBLISH and PUBREL until then, so that a crash can never make it send
   * again what the peer already took [MQTT-4.3.3-1]. Absent: nothing is held.
   */
  afterDurable?(fn: () => void): void;
}

/** A session as its overflow sees it. */
export interface OverflowSession {
  readonly clientId: string;
  /** Deliveries read back from the overflow, oldest first: they join the memory queue. */
  refill(deliveries: Delivery[]): void;
  /** Counts a drop the overflow made for this session (an older message dropped to make room). */
  countDrop(reason: DropReason): void;
}

/**
 * Where a session puts the QoS 1/2 deliveries its memory queue cannot hold: the broker's spool on
 * disk (src/broker/spool.ts). It keeps them in order and hands them back as the queue drains.
 */
export interface SessionOverflow {
  /** Whether deliveries of `session` wait in the overflow: newer ones must follow them, to keep order. */
  holds(session: OverflowSession): boolean;
  /** Takes `d` after everything it holds; returns undefined when taken, else why it was refused. */
  spill(session: OverflowSession, d: Delivery): DropReason | undefined;
  /** The memory queue has room for `room` messages: hand back the oldest, later, through `refill`. */
  drain(session: OverflowSession, room: number): void;
  /**
   * The session ends: forget what waits in the overflow for it, except deliveries of shared
   * subscriptions, which go to other members of their groups.
   */
  clear(session: OverflowSession): void;
  /** Payload bytes that wait in the overflow for `session`: its backlog there. */
  bytes(session: OverflowSession): number;
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
  /** It would be dropped: QoS 0 to an offline or slow reader, or a full queue without an overflow. */
  Dropped: 0,
  /** It would go to the overflow on disk: the memory queue is full, or deliveries wait there already. */
  Spilled: 1,
  /** It would wait in the queue of an offline session. */
  QueuedOffline: 2,
  /** It would wait in the queue of an online session (window full, slow reader, or others queued first). */
  QueuedOnline: 3,
  /** It would be written at once. */
  Now: 4,
} as const;
export type Readiness = (typeof Readiness)[keyof typeof Readiness];

/**
 * Why a delivery was dropped. `too-large`: over the client's Maximum Packet Size; `expired`: its
 * Message Expiry Interval passed before delivery started; `spool-session-full` / `spool-full`: the
 * memory queue was full and the session's share / the broker's whole spool on disk too.
 */
export type DropReason =
  | 'queue-full'
  | 'queue-bytes-full'
  | 'slow-reader'
  | 'offline-qos0'
  | 'too-large'
  | 'expired'
  | 'spool-session-full'
  | 'spool-full';

/** A Session Expiry Interval that never runs out, in seconds (5.0 section 3.1.2.11.2). */
export const NEVER_EXPIRES = 0xffff_ffff;

/** A tally of drops with every reason at 0. */
export function emptyDropTally(): Record<DropReason, number> {
  return {
    'queue-full': 0,
    'queue-bytes-full': 0,
    'slow-reader': 0,
    'offline-qos0': 0,
    'too-large': 0,
    expired: 0,
    'spool-session-full': 0,
    'spool-full': 0,
  };
}
