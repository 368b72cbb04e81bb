/**
 * Per-connection limits kept out of Connection: the topic limits of the broker's options
 * (maxTopicLength, maxTopicLevels) as the validators take them and the count of topics refused
 * because of them rather than the protocol's rules, and the publish and control packet rates.
 */
import { isValidTopicFilter, isValidTopicName, type TopicLimits } from '../topic/index.js';
import type { LimitName } from './options.js';

/** The protocol's rules alone: no cap on levels, 65,535 bytes. */
const SPEC_LIMITS: TopicLimits = { maxLevels: Infinity };

/** The TopicLimits of a broker's options, made once by the Broker. */
export function topicLimits(options: { maxTopicLevels: number; maxTopicLength: number }): TopicLimits {
  return { maxLevels: options.maxTopicLevels, maxLength: options.maxTopicLength };
}

/** `topic` quoted for a log line or Reason String, cut to 80 characters: a topic can be 65,535 bytes. */
export function quoteTopic(topic: string): string {
  return JSON.stringify(topic.length > 80 ? `${topic.slice(0, 80)}...` : topic);
}

/**
 * Called once `topic` failed validation with the broker's limits (`options`): counts it in `counters`
 * (the broker's `counters.limits`) under maxTopicLength or maxTopicLevels when the protocol's rules
 * alone would have accepted it, and returns that limit; undefined when the topic broke a rule.
 */
export function countTopicLimit(
  options: { maxTopicLength: number },
  counters: Record<LimitName, number>,
  topic: string,
  isFilter: boolean,
): 'maxTopicLength' | 'maxTopicLevels' | undefined {
  const valid = isFilter ? isValidTopicFilter(topic, SPEC_LIMITS) : isValidTopicName(topic, SPEC_LIMITS);
  if (!valid) return undefined;
  const limit = Buffer.byteLength(topic) > options.maxTopicLength ? 'maxTopicLength' : 'maxTopicLevels';
  counters[limit]++;
  return limit;
}

/**
 * The token buckets of maxPublishRate (messages per second) and maxPublishBytesRate (payload bytes
 * per second) of one connection; 0 turns a bucket off. Each holds at most one second's worth: that
 * is the burst a client may send at once. Sans-I/O: the caller passes the clock and does the waiting.
 */
export class PublishBuckets {
  private messages: number;
  private bytes: number;
  private refilledAt: number;
  /** The bucket that ran dry on the last `take`, if one did (the bytes one when both did). */
  dry: 'maxPublishRate' | 'maxPublishBytesRate' | undefined;

  constructor(
    private readonly messagesPerSecond: number,
    private readonly bytesPerSecond: number,
    private readonly counters: Record<LimitName, number>,
    now: number,
  ) {
    this.messages = messagesPerSecond;
    this.bytes = bytesPerSecond;
    this.refilledAt = now;
  }

  /** Whether either bucket is on. */
  get enabled(): boolean {
    return this.messagesPerSecond > 0 || this.bytesPerSecond > 0;
  }

  /**
   * Takes one PUBLISH of `payloadBytes` at time `now` (ms) and returns how long, in ms, the connection
   * must wait before handling it for the buckets to be out of debt: 0 when neither ran dry. Each
   * bucket that ran dry is counted.
   */
  take(payloadBytes: number, now: number): number {
    const elapsed = (now - this.refilledAt) / 1000;
    this.refilledAt = now;
    let waitMs = 0;
    this.dry = undefined;
    if (this.messagesPerSecond > 0) {
      const rate = this.messagesPerSecond;
      this.messages = Math.min(rate, this.messages + elapsed * rate) - 1;
      if (this.messages < 0) {
        this.counters.maxPublishRate++;
        this.dry = 'maxPublishRate';
        waitMs = Math.max(waitMs, (-this.messages / rate) * 1000);
      }
    }
    if (this.bytesPerSecond > 0) {
      const rate = this.bytesPerSecond;
      this.bytes = Math.min(rate, this.bytes + elapsed * rate) - payloadBytes;
      if (this.bytes < 0) {
        this.counters.maxPublishBytesRate++;
        this.dry = 'maxPublishBytesRate';
        waitMs = Math.max(waitMs, (-this.bytes / rate) * 1000);
      }
    }
    return Math.ceil(waitMs);
  }
}

/**
 * maxControlPacketRate of one connection: SUBSCRIBE, UNSUBSCRIBE and PINGREQ counted in windows of
 * one second; 0 turns it off. Sans-I/O: the caller passes the clock.
 */
export class ControlPacketWindow {
  private count = 0;
  private windowStart = -Infinity;

  constructor(private readonly perSecond: number) {}

  /** Counts one control packet at time `now` (ms); false when it is one too many for its second. */
  allow(now: number): boolean {
    if (this.perSecond === 0) return true;
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    return ++this.count <= this.perSecond;
  }
}
