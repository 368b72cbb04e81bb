/**
 * The topic limits of the broker's options (maxTopicLength, maxTopicLevels) as the validators take
 * them, and the count of topics refused because of them rather than because of the protocol's rules.
 */
import { isValidTopicFilter, isValidTopicName, type TopicLimits } from '../topic/index.js';
import type { Broker } from './broker.js';

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
 * Called once `topic` failed validation with the broker's limits: counts it under maxTopicLength or
 * maxTopicLevels when the protocol's rules alone would have accepted it.
 */
export function countTopicLimit(broker: Broker, topic: string, isFilter: boolean): void {
  const valid = isFilter ? isValidTopicFilter(topic, SPEC_LIMITS) : isValidTopicName(topic, SPEC_LIMITS);
  if (!valid) return;
  if (Buffer.byteLength(topic) > broker.options.maxTopicLength) broker.counters.limits.maxTopicLength++;
  else broker.counters.limits.maxTopicLevels++;
}
