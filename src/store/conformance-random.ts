/**
 * Random store operations for the conformance suite, from a seeded generator so that every run, on
 * every machine, commits the same batches (a failure names its seed and run, and reproduces).
 * Shipped with the suite, it needs no test library beyond node:test.
 */
import type { PublishProperties } from '../protocol/index.js';
import type { QoS } from '../protocol/index.js';
import { DeliveryState, type StoredMessage, type StoredRetained, type StoreOp } from './types.js';

/** A seeded pseudo-random generator (mulberry32): 32 bits of state, the same sequence for a seed. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  }

  /** An integer in [min, max]; one time in eight exactly min or max, where bugs hide. */
  int(min: number, max: number): number {
    if (this.next() < 0.125) return this.next() < 0.5 ? min : max;
    return min + Math.floor(this.next() * (max - min + 1));
  }

  boolean(): boolean {
    return this.next() < 0.5;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** `make()` three times in four, `undefined` otherwise. */
  maybe<T>(make: () => T): T | undefined {
    return this.next() < 0.25 ? undefined : make();
  }

  array<T>(maxLength: number, make: () => T): T[] {
    return Array.from({ length: this.int(0, maxLength) }, make);
  }

  /** Up to 20 bytes of any value. */
  bytes(maxLength = 20): Buffer {
    return Buffer.from(this.array(maxLength, () => this.int(0, 255)));
  }

  /** A string of up to 8 pieces: ASCII, accents, combining marks, other scripts and astral characters. */
  string(): string {
    return this.array(8, () => this.pick(STRING_PIECES)).join('');
  }
}

const STRING_PIECES = [
  'a',
  'Z',
  '0',
  ' ',
  '/',
  '+',
  '#',
  '$',
  '"',
  '\\',
  'é',
  'e\u0301',
  'ΣΩ',
  'ключ',
  '温',
  '🦊',
  '\u{10FFFD}',
];

// Few client ids, filters, topics, ids and sequence numbers, so that random operations often meet.
const CLIENT_IDS = ['c1', 'c2', 'ç3'];
const TOPICS = ['a', 'a/b', 'ü/🦊', ''];
const QOS: readonly QoS[] = [0, 1, 2];
const STATES = [DeliveryState.Queued, DeliveryState.Published, DeliveryState.Released];
const MAX_SUBSCRIPTION_IDENTIFIER = 268_435_455;
const MAX_TIME = 2 ** 42;

function properties(random: SeededRandom): PublishProperties | undefined {
  return random.maybe(() => {
    const chosen: PublishProperties = {};
    // Each property is present or absent on its own, as in a real PUBLISH.
    if (random.boolean()) chosen.payloadFormatIndicator = random.boolean();
    if (random.boolean()) chosen.messageExpiryInterval = random.int(0, 0xffff_ffff);
    if (random.boolean()) chosen.contentType = random.string();
    if (random.boolean()) chosen.responseTopic = random.string();
    if (random.boolean()) chosen.correlationData = random.bytes();
    if (random.boolean()) chosen.userProperties = random.array(4, () => [random.string(), random.string()]);
    if (random.boolean()) {
      chosen.subscriptionIdentifiers = random.array(3, () => random.int(1, MAX_SUBSCRIPTION_IDENTIFIER));
    }
    return chosen;
  });
}

function retainedMessage(random: SeededRandom): StoredRetained {
  return {
    topic: random.pick(TOPICS),
    payload: random.bytes(64),
    qos: random.pick(QOS),
    retain: random.boolean(),
    properties: properties(random),
    publisherId: random.string(),
    receivedAt: random.int(0, MAX_TIME),
    expiresAt: random.maybe(() => random.int(0, MAX_TIME)),
  };
}

// The spool's operations have tests of their own (conformance-spool.ts): their numbering must not repeat.
// 'stream-committed' is a cluster node's (test/cluster/qos2-once-local.test.ts); the Redis store skips it.
const OP_KINDS: readonly Exclude<
  StoreOp['op'],
  'spool' | 'unspool' | 'clear-spool' | 'move-spool' | 'stream-committed'
>[] = [
  'session',
  'end-session',
  'subscribe',
  'unsubscribe',
  'message',
  'forget-message',
  'enqueue',
  'delivery-state',
  'complete',
  'qos2-received',
  'qos2-released',
  'retain',
  'unretain',
];

/** One operation of any kind, with fields drawn from small sets so that operations meet. */
export function randomOp(random: SeededRandom): StoreOp {
  const clientId = random.pick(CLIENT_IDS);
  const kind = random.pick(OP_KINDS);
  switch (kind) {
    case 'session':
      return {
        op: kind,
        record: {
          clientId,
          expiryInterval: random.int(0, 0xffff_ffff),
          disconnectedAt: random.maybe(() => random.int(0, MAX_TIME)),
          will: random.maybe(() => {
            const willProperties = properties(random);
            return {
              topic: random.pick(TOPICS),
              payload: random.bytes(64),
              qos: random.pick(QOS),
              retain: random.boolean(),
              properties: willProperties === undefined ? undefined : { ...willProperties, willDelayInterval: 5 },
            };
          }),
          willDueAt: random.maybe(() => random.int(0, MAX_TIME)),
        },
      };
    case 'end-session':
      return { op: kind, clientId };
    case 'subscribe':
      return {
        op: kind,
        record: {
          clientId,
          topicFilter: random.pick(['a', 'a/+', '#', '$share/g/a']),
          qos: random.pick(QOS),
          noLocal: random.boolean(),
          retainAsPublished: random.boolean(),
          retainHandling: random.pick(QOS),
          subscriptionIdentifier: random.maybe(() => random.int(1, MAX_SUBSCRIPTION_IDENTIFIER)),
        },
      };
    case 'unsubscribe':
      return { op: kind, clientId, topicFilter: random.pick(['a', 'a/+', '#']) };
    case 'message': {
      const message: StoredMessage = { id: random.int(1, 6), ...retainedMessage(random) };
      return { op: kind, message };
    }
    case 'forget-message':
      return { op: kind, id: random.int(1, 6) };
    case 'enqueue':
      return {
        op: kind,
        record: {
          seq: random.int(1, 6),
          clientId,
          messageId: random.int(1, 6),
          qos: random.pick(QOS),
          retain: random.boolean(),
          subscriptionIdentifiers: random.maybe(() =>
            random.array(3, () => random.int(1, MAX_SUBSCRIPTION_IDENTIFIER)),
          ),
          sharedFilter: random.maybe(() => '$share/g/a'),
          state: random.pick(STATES),
          packetId: random.int(0, 65_535),
        },
      };
    case 'delivery-state':
      return { op: kind, seq: random.int(1, 6), state: random.pick(STATES), packetId: random.int(1, 65_535) };
    case 'complete':
      return { op: kind, seq: random.int(1, 6) };
    case 'qos2-received':
    case 'qos2-released':
      return { op: kind, clientId, packetId: random.int(1, 3) };
    case 'retain':
      return { op: kind, message: retainedMessage(random) };
    case 'unretain':
      return { op: kind, topic: random.pick(TOPICS) };
    default: {
      const unknown: never = kind;
      throw new Error(`unknown store operation ${String(unknown)}`);
    }
  }
}

/** Up to 8 batches of up to 25 random operations each. */
export function randomBatches(random: SeededRandom): StoreOp[][] {
  return random.array(8, () => random.array(25, () => randomOp(random)));
}
