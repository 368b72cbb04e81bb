/**
 * The session registry: every session, connected or not, by client id. It opens them (resumed,
 * or new after a clean start), ends them, and ends an offline session once its Session Expiry
 * Interval has passed (5.0), on an unref'd timer that a resume cancels.
 */
import type { Logger } from 'pino';
import type { Will } from '../protocol/index.js';
import {
  NEVER_EXPIRES,
  Session,
  type DropReason,
  type SessionLimits,
  type SessionOverflow,
} from '../session/session.js';
import { CompletedOrigins } from '../session/completed-origins.js';
import { sessionRecord, type Persistence } from './persistence.js';
import type { Subscriptions } from './subscriptions.js';
import { scheduleAfter, type Scheduled } from './timers.js';
import type { OwedWill, Wills } from './wills.js';

export class SessionRegistry {
  /** Every session, connected or not, by client id. */
  readonly sessions = new Map<string, Session>();
  /** The timer that ends each offline session with a finite Session Expiry Interval. */
  private readonly expiries = new Map<Session, Scheduled>();
  /** Where every session puts what its memory queue cannot hold (the spool); undefined: nowhere. */
  overflow: SessionOverflow | undefined;
  /**
   * The messages with a cluster id that sessions completed lately, for every session (see
   * Session.holdsOrigin): outside a cluster messages have none, and it stays empty.
   */
  readonly completed = new CompletedOrigins();

  constructor(
    private readonly limits: Required<SessionLimits>,
    /** The broker-wide tally of drops by reason, which every session adds to. */
    private readonly dropped: Record<DropReason, number>,
    private readonly persistence: Persistence | undefined,
    private readonly subscriptions: Subscriptions,
    private readonly wills: Wills,
    private readonly log: Logger,
    /** Given to every session it makes: told of each dropped delivery. */
    private readonly onDrop?: (session: Session, reason: DropReason) => void,
  ) {}

  /**
   * The session of `clientId`: resumed, or new when there is none or `cleanStart` discards it
   * [MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.1.2-6] (both versions). `expiryInterval` is the Session
   * Expiry Interval in seconds: 0 for 3.1.1's Clean Session 1 and NEVER_EXPIRES for Clean Session 0.
   * Reports whether a session was present.
   */
  open(clientId: string, cleanStart: boolean, expiryInterval: number): { session: Session; sessionPresent: boolean } {
    const existing = this.sessions.get(clientId);
    // A session that ends with its connection is never resumed, even while that connection is still
    // closing or being taken over: [MQTT-3.1.2-6] (3.1.1) [MQTT-4.1.0-2] (5.0, expiry 0)
    if (existing !== undefined && !cleanStart && !existing.clean) {
      // Resumed before it expired: its expiry waits for the next disconnect
      this.expiries.get(existing)?.cancel();
      this.expiries.delete(existing);
      // [MQTT-3.1.3-9] (5.0): a new connection to the session within the Will Delay Interval: no will
      this.wills.cancel(existing);
      existing.expiryInterval = expiryInterval;
      return { session: existing, sessionPresent: true };
    }
    if (existing !== undefined) this.end(existing);
    const session = this.create(clientId, expiryInterval);
    // Clean sessions never touch the store; a persistent one is written from the start.
    if (expiryInterval > 0) session.journal = this.persistence;
    return { session, sessionPresent: false };
  }

  /** A new session of `clientId`, registered in place of none; the store is not told. */
  create(clientId: string, expiryInterval: number): Session {
    const session = new Session(
      clientId,
      expiryInterval,
      // One limits object for every session (they never change while the broker runs).
      this.limits,
      this.dropped,
    );
    session.onDrop = this.onDrop;
    session.overflow = this.overflow;
    session.completed = this.completed;
    this.sessions.set(clientId, session);
    return session;
  }

  /**
   * Called when the last connection of `session` has gone: a clean session ends, and one with a
   * finite Session Expiry Interval starts to expire, unless the broker is `closing`. Returns whether
   * the session ended.
   */
  wentOffline(session: Session, closing: boolean): boolean {
    if (session.clean) {
      this.end(session);
      return true;
    }
    if (session.expiryInterval !== NEVER_EXPIRES && !closing) this.scheduleExpiry(session);
    return false;
  }

  /**
   * Records that stored `session` is offline from now, with the will it still owes: one waiting out
   * its delay, or else `lost`, the will of a connection lost as the broker shuts down.
   */
  savedOffline(session: Session, lost: OwedWill | undefined): void {
    const owed = this.wills.owed(session) ?? lost;
    this.save(session, Date.now(), owed?.will, owed?.dueAt);
  }

  /** Records that a connection attached to `session` with `will` (stored sessions only). */
  attached(session: Session, will: Will | undefined): void {
    if (session.journal === undefined) return;
    this.save(session, undefined, will, undefined);
  }

  /** Writes the record of `session`; see `sessionRecord`. */
  save(
    session: Session,
    disconnectedAt: number | undefined,
    will: Will | undefined,
    willDueAt: number | undefined,
  ): void {
    this.persistence?.saveSession(sessionRecord(session, disconnectedAt, will, willDueAt));
  }

  /**
   * Ends a session: its subscriptions and messages are gone. Retained messages are not session state
   * [MQTT-3.1.2-7]. A will still waiting out its delay goes out now [MQTT-3.1.2-8] (5.0). The session
   * leaves its shared subscription groups (MQTT 5.0 section 4.8.2: sessions are detached when they
   * terminate), then what it held for them goes to another member (see Session.releaseSharedDeliveries).
   */
  end(session: Session): void {
    this.expiries.get(session)?.cancel();
    this.expiries.delete(session);
    this.wills.sendNow(session);
    this.subscriptions.removeAll(session);
    const orphans = session.releaseSharedDeliveries();
    session.clearMessages();
    if (session.journal !== undefined) {
      this.persistence?.endSession(session.clientId);
      session.journal = undefined;
    }
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
    for (const orphan of orphans) this.subscriptions.redeliverShared(orphan);
  }

  /**
   * Ends `session` once its Session Expiry Interval has passed offline [MQTT-4.1.0-2] (5.0), or after
   * `delayMs` (a session restored from the store, which has been offline for part of it).
   */
  scheduleExpiry(session: Session, delayMs = session.expiryInterval * 1000): void {
    this.expiries.get(session)?.cancel();
    const timer = scheduleAfter(delayMs, () => {
      this.expiries.delete(session);
      if (this.sessions.get(session.clientId) === session && !session.online) {
        this.log.debug({ clientId: session.clientId }, 'session expired');
        this.end(session);
      }
    });
    this.expiries.set(session, timer);
  }

  /** Takes `session` out of the registry, writing nothing: it lives on another node now. */
  forget(session: Session): void {
    this.expiries.get(session)?.cancel();
    this.expiries.delete(session);
    if (this.sessions.get(session.clientId) === session) this.sessions.delete(session.clientId);
  }

  /** Whether `session` is the registered session of its client id, and offline. */
  isOffline(session: Session): boolean {
    return this.sessions.get(session.clientId) === session && !session.online;
  }

  /** Stops every expiry timer, ending nothing: on close, the store keeps the sessions they were for. */
  cancelExpiries(): void {
    for (const timer of this.expiries.values()) timer.cancel();
    this.expiries.clear();
  }
}
