/**
 * What the client's callers wait for: publishes until their QoS flow ends, and SUBSCRIBE /
 * UNSUBSCRIBE requests until acknowledged. The requests keep their packets, so that a request
 * whose link dropped is sent again on the next one, and they keep the session's subscriptions.
 */
import type { Packet, Subscription, SubscribePacket, UnsubscribePacket } from '../protocol/index.js';
import type { Delivery } from '../session/message.js';
import type { Session } from '../session/session.js';
import { hex, MqttClientError } from './errors.js';

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: MqttClientError): void;
}

/** An acknowledgement of a PUBLISH: its reason code and Reason String. */
interface Ack {
  reasonCode: number;
  properties?: { reasonString?: string } | undefined;
}

/** Publishes awaiting the end of their QoS 1/2 flow, by delivery. */
export class PendingPublishes {
  private readonly waiting = new Map<Delivery, Waiter<void>>();

  /** Resolves when `d`'s flow completes; rejects when the broker refuses it or the client fails it. */
  track(d: Delivery): Promise<void> {
    return new Promise<void>((resolve, reject) => this.waiting.set(d, { resolve, reject }));
  }

  /** The flow of `d` ended with `ack`: a reason code of 0x80 or more rejects with it. */
  acknowledged(d: Delivery | undefined, ack: Ack): void {
    if (d === undefined) return;
    if (ack.reasonCode < 0x80) {
      this.settle(d, undefined);
      return;
    }
    const reasonString = ack.properties?.reasonString;
    const detail = `${hex(ack.reasonCode)}${reasonString === undefined ? '' : `, ${reasonString}`}`;
    this.settle(
      d,
      new MqttClientError(
        'ERR_CLIENT_PUBLISH_REFUSED',
        `the broker refused the PUBLISH to ${d.message.topic}: ${detail}`,
        {
          reasonCode: ack.reasonCode,
          reasonString,
        },
      ),
    );
  }

  /** Settles `d`'s publish: resolved without `error`, rejected with it. */
  settle(d: Delivery, error: MqttClientError | undefined): void {
    const waiter = this.waiting.get(d);
    if (waiter === undefined) return;
    this.waiting.delete(d);
    if (error === undefined) waiter.resolve();
    else waiter.reject(error);
  }

  /** Rejects every publish still waiting with `error`. */
  failAll(error: MqttClientError): void {
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    for (const waiter of waiters) waiter.reject(error);
  }
}

type RequestPacket = SubscribePacket | UnsubscribePacket;

/** SUBSCRIBE and UNSUBSCRIBE requests awaiting their acknowledgement, by packet id. */
export class PendingRequests {
  private readonly waiting = new Map<number, { packet: RequestPacket; waiter: Waiter<number[]> }>();

  constructor(private readonly session: Session) {}

  /**
   * Gives `packet` a packet id no other flow uses, and resolves with the reason codes of its
   * acknowledgement. `send` writes it now when connected; otherwise `resend` does on the next link.
   */
  add(packet: RequestPacket, send: (packet: Packet) => void): Promise<number[]> {
    return new Promise<number[]>((resolve, reject) => {
      packet.packetId = this.session.reservePacketId();
      this.waiting.set(packet.packetId, { packet, waiter: { resolve, reject } });
      send(packet);
    });
  }

  /** Sends every request still unacknowledged: the link it went on dropped before the answer. */
  resend(send: (packet: Packet) => void): void {
    for (const { packet } of this.waiting.values()) send(packet);
  }

  /**
   * Makes the session's subscriptions again, in one SUBSCRIBE (the broker answered Session Present
   * 0). Nobody waits for it; a filter it refuses leaves the session's subscriptions.
   */
  resubscribe(send: (packet: Packet) => void): void {
    const subscriptions = [...this.session.subscriptions].map(([topicFilter, o]): Subscription => ({
      topicFilter,
      qos: o.qos,
      noLocal: o.noLocal,
      retainAsPublished: o.retainAsPublished,
      retainHandling: o.retainHandling,
    }));
    if (subscriptions.length === 0) return;
    // Nobody awaits it, so its rejection (the client ended first) is not left unhandled
    this.add({ type: 'subscribe', packetId: 0, subscriptions }, send).catch(() => undefined);
  }

  /** SUBACK or UNSUBACK for `packetId`: the session's subscriptions follow it, and the caller gets the codes. */
  acknowledged(packetId: number, reasonCodes: number[]): void {
    const entry = this.waiting.get(packetId);
    if (entry === undefined) return;
    this.waiting.delete(packetId);
    this.session.releasePacketId(packetId);
    const { packet, waiter } = entry;
    const session = this.session;
    if (packet.type === 'subscribe') {
      packet.subscriptions.forEach((s, i) => {
        // A SUBACK with fewer codes than filters is the broker's error; the filter counts as refused
        const code = reasonCodes[i] ?? 0x80;
        const { topicFilter, ...options } = s;
        if (code < 0x80) session.subscribe(topicFilter, { ...options, subscriptionIdentifier: undefined });
        else session.unsubscribe(topicFilter);
      });
    } else {
      for (const filter of packet.topicFilters) session.unsubscribe(filter);
    }
    waiter.resolve(reasonCodes);
  }

  /** Rejects every request still waiting with `error`. */
  failAll(error: MqttClientError): void {
    const entries = [...this.waiting.values()];
    this.waiting.clear();
    for (const { packet, waiter } of entries) {
      this.session.releasePacketId(packet.packetId);
      waiter.reject(error);
    }
  }
}
