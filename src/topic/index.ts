/**
 * Topics: Topic Name and Topic Filter validation, `$share` parsing, the subscription index and the
 * retained-message index. Depends on nothing but src/errors.
 */
export {
  DEFAULT_MAX_TOPIC_LEVELS,
  ERR_INVALID_TOPIC_FILTER,
  ERR_INVALID_TOPIC_NAME,
  MAX_TOPIC_BYTES,
  REASON_TOPIC_FILTER_INVALID,
  REASON_TOPIC_NAME_INVALID,
  isValidTopicFilter,
  isValidTopicName,
  malformedTopicFilter,
  parseSharedSubscription,
  validateTopicFilter,
  validateTopicName,
} from './validate.js';
export type { SharedSubscription, TopicLimits } from './validate.js';
export { TopicIndex } from './topic-index.js';
export type { TopicIndexOptions, TopicVisitor } from './topic-index.js';
export { RetainedIndex } from './retained.js';
export type { RetainedIndexOptions, RetainedVisitor } from './retained.js';
