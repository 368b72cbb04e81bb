/**
 * Messages as async iterators: each `client.messages(filter)` is a MessageStream, found through a
 * TopicIndex so that a filter matches with the same rules as the broker's subscriptions.
 */
import type { PublishProperties, QoS } from '../protocol/index.js';
import { TopicIndex, validateTopicFilter } from '../topic/index.js';

/** A message the broker delivered to the client. */
export interface ClientMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** Whether the broker marked it as a re-send of an earlier delivery attempt. */
  dup: boolean;
  /** The PUBLISH's Packet Identifier (QoS 1 and 2; 0 for QoS 0), for output such as `fennec sub -F %m`. */
  packetId: number;
  /** 5.0 properties (Subscription Identifiers, User Properties, Content Type, ...). */
  properties: PublishProperties | undefined;
}

/** An async iterator of the messages matching one filter; ends when the client ends or `return()` is called. */
export class MessageStream implements AsyncIterableIterator<ClientMessage> {
  /** Messages dropped because `maxBuffered` were already unread. */
  dropped = 0;
  private readonly buffered: ClientMessage[] = [];
  private waiting: ((result: IteratorResult<ClientMessage>) => void) | undefined;
  private done = false;

  constructor(
    private readonly maxBuffered: number,
    private readonly onReturn: (stream: MessageStream) => void,
  ) {}

  /** Hands the stream a message; kept until read, or dropped (and counted) when the buffer is full. */
  push(message: ClientMessage): void {
    if (this.done) return;
    const waiting = this.waiting;
    if (waiting !== undefined) {
      this.waiting = undefined;
      waiting({ value: message, done: false });
    } else if (this.buffered.length < this.maxBuffered) {
      this.buffered.push(message);
    } else {
      this.dropped++;
    }
  }

  /** Ends the stream: what is buffered is still read, then the iteration ends. */
  end(): void {
    this.done = true;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.({ value: undefined, done: true });
  }

  next(): Promise<IteratorResult<ClientMessage>> {
    const message = this.buffered.shift();
    if (message !== undefined) return Promise.resolve({ value: message, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** Called by `break` in a for-await loop: the stream stops receiving. */
  return(): Promise<IteratorResult<ClientMessage>> {
    this.buffered.length = 0;
    this.end();
    this.onReturn(this);
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** The message streams of one client by filter. */
export class MessageStreams {
  private readonly index = new TopicIndex<MessageStream>();
  private readonly keys = new Map<MessageStream, { filter: string; key: string }>();
  private nextKey = 1;

  constructor(private readonly maxBuffered: number) {}

  /** A new stream of the messages matching `filter` (validated as a topic filter; throws when invalid). */
  open(filter: string): MessageStream {
    validateTopicFilter(filter);
    const stream = new MessageStream(this.maxBuffered, (s) => this.remove(s));
    const key = String(this.nextKey++);
    this.index.add(filter, key, stream);
    this.keys.set(stream, { filter, key });
    return stream;
  }

  /** Hands `message` to every stream whose filter matches its topic. */
  dispatch(message: ClientMessage): void {
    if (this.keys.size === 0) return;
    this.index.match(message.topic, (stream) => stream.push(message));
  }

  /** Ends every stream. */
  endAll(): void {
    for (const stream of [...this.keys.keys()]) {
      stream.end();
      this.remove(stream);
    }
  }

  private remove(stream: MessageStream): void {
    const entry = this.keys.get(stream);
    if (entry === undefined) return;
    this.keys.delete(stream);
    this.index.remove(entry.filter, entry.key);
  }
}
