/**
 * The body of POST /api/v1/publish, checked field by field: a bad one is a 400 naming the field.
 */
import { z } from 'zod';
import type { Message } from '../session/message.js';
import { isValidTopicName, type TopicLimits } from '../topic/index.js';
import { HttpError } from './router.js';

const publishBody = z.strictObject({
  topic: z.string({ error: 'must be a string (a topic name)' }),
  payload: z.string({ error: 'must be a string' }).default(''),
  qos: z.union([z.literal(0), z.literal(1), z.literal(2)], { error: 'must be 0, 1 or 2' }).default(0),
  retain: z.boolean({ error: 'must be true or false' }).default(false),
  encoding: z.enum(['utf8', 'base64'], { error: 'must be utf8 or base64' }).default('utf8'),
});

/** `{ topic, payload?, qos?, retain?, encoding? }` as a Message the broker publishes as its own. */
export function parsePublishRequest(body: Buffer, limits: TopicLimits, maximumQoS: number): Message {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, 'bad_json', `the body is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const result = publishBody.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    const message = issue.code === 'unrecognized_keys' ? `unknown field ${issue.keys.join(', ')}` : issue.message;
    throw new HttpError(400, 'bad_request', `${where}${message}`);
  }
  const { topic, payload, qos, retain, encoding } = result.data;
  if (!isValidTopicName(topic, limits)) {
    throw new HttpError(
      400,
      'bad_request',
      `topic: ${JSON.stringify(topic)} is not a valid topic name (no wildcards, not empty, within the topic limits)`,
    );
  }
  if (qos > maximumQoS) throw new HttpError(400, 'bad_request', `qos: the broker's maximum QoS is ${maximumQoS}`);
  if (encoding === 'base64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(payload)) {
    throw new HttpError(400, 'bad_request', 'payload: is not base64');
  }
  return {
    topic,
    payload: Buffer.from(payload, encoding),
    qos,
    retain,
    properties: undefined,
    publisherId: '',
    receivedAt: Date.now(),
  };
}
