/**
 * The will scheduler: publishes the will of a connection lost without DISCONNECT, at once or after
 * its Will Delay Interval (5.0), and keeps the wills waiting out that delay, by session, until they
 * go out, the session resumes or ends, or the broker closes.
 */
import type { PublishProperties, Will } from '../protocol/index.js';
import { expiresAt, type Message } from '../session/message.js';
import { NEVER_EXPIRES, type Session } from '../session/session.js';
import type { WillLedger } from './bus.js';
import { sessionRecord, type Persistence } from './persistence.js';
import { scheduleAfter, type Scheduled } from './timers.js';

/** A will the store must keep for a session left offline: the will, and when it goes out (ms since the epoch). */
export interface OwedWill {
  will: Will;
  dueAt: number;
}

/** A will waiting out its Will Delay Interval. */
interface PendingWill extends OwedWill {
  message: Message;
  timer: Scheduled;
  /** Its record in the cluster's will ledger; undefined without a cluster. */
  record: string | undefined;
}

export class Wills {
  /** Wills waiting out their Will Delay Interval, by the session of the client that left them. */
  private readonly pending = new Map<Session, PendingWill>();

  constructor(
    /** Routes a will, as the broker routes any message. */
    private readonly route: (message: Message) => void,
    private readonly persistence: Persistence | undefined,
    /** Whether `session` is still the registered session of its client id, and offline. */
    private readonly offline: (session: Session) => boolean,
    /**
     * A cluster's will ledger: each will is recorded there while its client is connected, and goes
     * out only once taken from it, so that a node declared dead and the survivor that publishes its
     * clients' wills never both do. Undefined without a cluster.
     */
    private readonly ledger?: WillLedger | undefined,
  ) {}

  /**
   * Records `will` of a client connecting to `session` in the cluster's ledger, with the delay after
   * which a survivor publishes it should this node die: [MQTT-3.1.3-9] (5.0) the earlier of the Will
   * Delay Interval and the Session Expiry Interval. Returns the record's id; undefined without a cluster.
   */
  record(will: Will | undefined, clientId: string, session: Session): string | undefined {
    if (will === undefined || this.ledger === undefined) return undefined;
    const delay = will.properties?.willDelayInterval ?? 0;
    const expiry = session.expiryInterval === NEVER_EXPIRES ? Infinity : session.expiryInterval;
    return this.ledger.record(willMessage(will, clientId), Math.min(delay, expiry) * 1000);
  }

  /** The will of record `record` will never be published (normal DISCONNECT, CONNECT refused). */
  forget(record: string | undefined): void {
    if (record !== undefined) this.ledger?.drop(record);
  }

  /**
   * The will of a connection lost without DISCONNECT [MQTT-3.1.2-8] (both versions), sent with the
   * retain flag it was given [MQTT-3.1.2-16] [MQTT-3.1.2-17] (3.1.1). `sessionOver`: the session ended
   * with the connection; `successor`: the connection that took over its client id, if any; `closing`:
   * the broker is shutting down; `record`: the will's record in the cluster's ledger. Returns the
   * will the store must keep when the broker shuts down before its delay has passed.
   */
  connectionLost(
    will: Will,
    clientId: string,
    session: Session | undefined,
    sessionOver: boolean,
    successor: { readonly sessionPresent: boolean } | undefined,
    closing: boolean,
    record?: string,
  ): OwedWill | undefined {
    const delay = will.properties?.willDelayInterval ?? 0;
    if (delay === 0 || sessionOver) {
      this.publish(willMessage(will, clientId), record);
    } else if (successor !== undefined) {
      // Taken over: [MQTT-3.1.3-9] (5.0) a connection that resumed the session within the delay
      // cancels the will; one that started clean ended the session, which sends it [MQTT-3.1.2-8]
      if (!successor.sessionPresent) this.publish(willMessage(will, clientId), record);
      else this.forget(record);
    } else if (session !== undefined && !closing) {
      this.delay(session, willMessage(will, clientId), delay, undefined, record);
    } else if (session?.journal !== undefined) {
      // Shutting down: the store keeps the will, which goes out after its delay once restarted (in a
      // cluster, from its record, which says when).
      const dueAt = Date.now() + delay * 1000;
      if (record !== undefined) this.ledger?.due(record, dueAt);
      return { will, dueAt };
    } else {
      this.forget(record);
    }
    return undefined;
  }

  /**
   * Publishes `message` after `delaySeconds`, or when `session` ends first [MQTT-3.1.2-8] (5.0).
   * `restored` is the will as the store keeps it, whose `dueAt` overrides the delay; `record`, its
   * record in the cluster's ledger.
   */
  delay(
    session: Session,
    message: Message,
    delaySeconds: number,
    restored?: { will: Will; dueAt: number; disconnectedAt: number },
    record?: string,
  ): void {
    // Restored from the store, in a cluster: the record the previous run left goes out instead.
    if (this.ledger !== undefined && record === undefined) return;
    const previous = this.pending.get(session);
    previous?.timer.cancel();
    if (previous?.record !== record) this.forget(previous?.record);
    const now = Date.now();
    const due = restored?.dueAt ?? now + delaySeconds * 1000;
    // Should this node die first, a survivor publishes it then, or when the session would have expired.
    if (record !== undefined) {
      const expiry = session.expiryInterval === NEVER_EXPIRES ? Infinity : now + session.expiryInterval * 1000;
      this.ledger?.due(record, Math.min(due, expiry));
    }
    const offlineSince = restored?.disconnectedAt ?? now;
    const timer = scheduleAfter(Math.max(0, due - Date.now()), () => {
      if (this.pending.get(session)?.timer !== timer) return;
      this.pending.delete(session);
      this.publish(message, record);
      // The store no longer owes it, if the session is still offline there.
      if (session.journal !== undefined && this.offline(session)) {
        this.persistence?.saveSession(sessionRecord(session, offlineSince, undefined, undefined));
      }
    });
    this.pending.set(session, { message, timer, will: restored?.will ?? messageWill(message), dueAt: due, record });
  }

  /** The will `session` still owes, waiting out its delay; undefined when none. */
  owed(session: Session): OwedWill | undefined {
    const pending = this.pending.get(session);
    return pending === undefined ? undefined : { will: pending.will, dueAt: pending.dueAt };
  }

  /**
   * The connection of a will was taken over by a client connecting to another node of the cluster
   * [MQTT-3.1.4-3]. A will without delay, or of a session that ended here (not stored), goes out
   * now [MQTT-3.1.2-8]; one with a delay whose session `moved` there is that node's to drop, should
   * the session be resumed within the delay [MQTT-3.1.3-9], or to publish, should it end or the
   * delay pass.
   */
  takenOverElsewhere(will: Will, clientId: string, record: string | undefined, moved: boolean): void {
    if ((will.properties?.willDelayInterval ?? 0) === 0 || !moved) this.publish(willMessage(will, clientId), record);
    else if (record !== undefined) this.ledger?.handedOver(record);
  }

  /** `session` moves to another node of the cluster: the will it waits to send goes with it (see takenOverElsewhere). */
  handOver(session: Session): void {
    const pending = this.pending.get(session);
    if (pending === undefined) return;
    pending.timer.cancel();
    this.pending.delete(session);
    if (pending.record !== undefined) this.ledger?.handedOver(pending.record);
  }

  /**
   * The session of `clientId` moved here from another node (`session`, or undefined when it ended at
   * once, expired): the will its last connection left there, if any, is this node's now. It waits
   * out the rest of its delay, or goes out now that it is due or the session ended [MQTT-3.1.2-8].
   */
  moved(clientId: string, session: Session | undefined): void {
    const moved = this.ledger?.takeMoved?.(clientId);
    if (moved === undefined) return;
    if (session === undefined || moved.dueAt <= Date.now()) {
      this.publish(moved.message, moved.handle);
      return;
    }
    const disconnectedAt = Date.now();
    const restored = { will: messageWill(moved.message), dueAt: moved.dueAt, disconnectedAt };
    this.delay(session, moved.message, 0, restored, moved.handle);
  }

  /** Drops the will `session` waits to send: [MQTT-3.1.3-9] (5.0) a connection resumed it within the delay. */
  cancel(session: Session): void {
    this.ledger?.resumed(session.clientId);
    const pending = this.pending.get(session);
    if (pending === undefined) return;
    pending.timer.cancel();
    this.pending.delete(session);
    this.forget(pending.record);
  }

  /** Sends the will `session` waits to send now, since it ends [MQTT-3.1.2-8] (5.0). */
  sendNow(session: Session): void {
    const pending = this.pending.get(session);
    if (pending === undefined) return;
    pending.timer.cancel();
    this.pending.delete(session);
    this.publish(pending.message, pending.record);
  }

  /**
   * Stops every timer, sending nothing: on close, the store keeps the wills they were for (and in a
   * cluster their records stay, for the restarted node to publish); without a store they are lost.
   */
  cancelAll(): void {
    for (const [session, { timer, record }] of this.pending) {
      timer.cancel();
      if (session.journal === undefined) this.forget(record);
    }
    this.pending.clear();
  }

  /**
   * Publishes a will, stamped with the time it goes out (its Message Expiry Interval starts then).
   * In a cluster, a will with a record goes out only once taken from the ledger: not when a survivor
   * took it first, this node having been declared dead meanwhile.
   */
  publish(message: Message, record?: string): void {
    if (this.ledger === undefined) this.send(message);
    else if (record !== undefined) this.ledger.take(record, () => this.send(message));
    // else: a will restored from the store, left by this node's previous run: in a cluster its record
    // in Redis is the one that goes out (or already went, from a survivor), never the store's copy.
  }

  private send(message: Message): void {
    const now = Date.now();
    message.receivedAt = now;
    message.expiresAt = expiresAt(message.properties, now);
    this.route(message);
  }
}

/** The Will a will message was made from, for the store. */
function messageWill(message: Message): Will {
  return {
    topic: message.topic,
    payload: message.payload,
    qos: message.qos,
    retain: message.retain,
    properties: message.properties,
  };
}

/** The message a will becomes; `Wills.publish` stamps its times. */
export function willMessage(will: Will, clientId: string): Message {
  return {
    topic: will.topic,
    payload: will.payload,
    qos: will.qos,
    retain: will.retain,
    // [MQTT-3.1.3-10] (5.0): the will goes out with its properties, user properties in order
    properties: willPublishProperties(will),
    publisherId: clientId,
    receivedAt: 0,
  };
}

/** The PUBLISH properties of a will: its Will Properties without Will Delay Interval, which is not one. */
function willPublishProperties(will: Will): PublishProperties | undefined {
  if (will.properties === undefined) return undefined;
  const { willDelayInterval: _willDelayInterval, ...properties } = will.properties;
  return properties;
}
