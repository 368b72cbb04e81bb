/**
 * The history of a fault-injection run: every event every client saw, and every fault the nemesis
 * made, in the order they happened in this process (one clock: `t`, ms since the run started).
 * The checker (checker.ts) reads nothing else.
 */
import { writeFileSync } from 'node:fs';

/** QoS of a numbered message or of a subscription (the run uses only 1 and 2). */
export type FaultQoS = 1 | 2;

export type FaultEvent =
  /** A publisher sent message `seq` on its connection number `conn` (a new connection per node). */
  | { type: 'send'; t: number; publisher: string; seq: number; qos: FaultQoS; conn: number; node: string }
  /** The broker acknowledged it: PUBACK (QoS 1) or PUBCOMP (QoS 2), with a success reason code. */
  | { type: 'ack'; t: number; publisher: string; seq: number }
  /** No acknowledgement came (the connection died or the broker refused): delivered or not, unknown. */
  | { type: 'unknown'; t: number; publisher: string; seq: number; reason: string }
  /** A subscriber's subscription was granted at `qos`. */
  | { type: 'subscribed'; t: number; subscriber: string; qos: FaultQoS }
  /** A client's CONNACK, with Session Present. */
  | { type: 'connected'; t: number; client: string; node: string; conn: number; sessionPresent: boolean }
  | { type: 'closed'; t: number; client: string; conn: number }
  /**
   * The client library handed a message to the subscriber's application (QoS 1: on PUBLISH; QoS 2:
   * on PUBREL, MQTT.js's method A). `intact` is false when the payload is not the one published.
   */
  | {
      type: 'deliver';
      t: number;
      subscriber: string;
      publisher: string;
      seq: number;
      qos: 0 | 1 | 2;
      dup: boolean;
      conn: number;
      intact: boolean;
    }
  /** A fault made or healed by the nemesis. */
  | { type: 'nemesis'; t: number; action: string; target: string };

/** Distributes Omit over the union's members. */
type Unstamped<E> = E extends unknown ? Omit<E, 't'> : never;

/** The events of one run, in memory, written as JSON lines on request. */
export class History {
  readonly events: FaultEvent[] = [];
  private readonly start = Date.now();

  /** Appends `event`, stamped with the time since the run started. */
  add(event: Unstamped<FaultEvent>): void {
    this.events.push({ ...event, t: Date.now() - this.start });
  }

  /** Writes every event, one JSON object a line, to `path`. */
  write(path: string): void {
    writeFileSync(path, this.events.map((event) => JSON.stringify(event)).join('\n') + '\n');
  }
}
