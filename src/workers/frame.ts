/**
 * The batch frame workers send each other through the primary: every entry one worker had for
 * another in one turn of its event loop, as `[kind: u8][length: u32][body]` after each other.
 * Messages are in the cluster's codec (src/cluster/codec.ts), engine-neutral.
 */
import type { Message } from '../session/message.js';
import { decodeMessage, encodeMessage } from '../cluster/codec.js';

/** What an entry carries. */
export const EntryKind = {
  /** A message to deliver; the body starts with the shared groups (`$share/G/F`, NUL-separated) it is to serve. */
  Message: 1,
  /** A retained message set: the topic's length (u32), the topic, the message. */
  Retain: 2,
  /** A retained message cleared: the topic. */
  Unretain: 3,
  /** The sender gained its first subscription to a filter: the filter. */
  RouteAdded: 4,
  /** The sender lost its last subscription to a filter: the filter. */
  RouteRemoved: 5,
  /** Every filter of the sender, NUL-separated, replacing what was known; the receiver answers with its own. */
  Hello: 6,
  /** As Hello, answering one (not answered again). */
  HelloReply: 7,
  /** The sender's connected clients now, in decimal. */
  Clients: 8,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** One entry, decoded. */
export type Entry =
  | { kind: typeof EntryKind.Message; message: Message; groups: string[] }
  | { kind: typeof EntryKind.Retain; topic: string; message: Message }
  | { kind: typeof EntryKind.Unretain; topic: string }
  | { kind: typeof EntryKind.RouteAdded | typeof EntryKind.RouteRemoved; filter: string }
  | { kind: typeof EntryKind.Hello | typeof EntryKind.HelloReply; filters: string[] }
  | { kind: typeof EntryKind.Clients; count: number };

/** The header of an entry whose body is `length` bytes. */
function header(kind: EntryKind, length: number): Buffer {
  const head = Buffer.allocUnsafe(5);
  head.writeUInt8(kind, 0);
  head.writeUInt32BE(length, 1);
  return head;
}

/** An entry whose body is one string. */
export function textEntry(kind: EntryKind, text: string): Buffer[] {
  const body = Buffer.from(text, 'utf8');
  return [header(kind, body.length), body];
}

/** A message entry: `encoded` is encodeMessage's bytes (shared by every target), `groups` the groups to serve. */
export function messageEntry(encoded: Buffer, groups: readonly string[] | undefined): Buffer[] {
  const names = Buffer.from(groups === undefined ? '' : groups.join('\u0000'), 'utf8');
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(names.length, 0);
  return [header(EntryKind.Message, 4 + names.length + encoded.length), count, names, encoded];
}

/** A retained entry: set (`message`) or cleared (undefined). */
export function retainEntry(topic: string, message: Message | undefined): Buffer[] {
  if (message === undefined) return textEntry(EntryKind.Unretain, topic);
  const name = Buffer.from(topic, 'utf8');
  const encoded = encodeMessage(message);
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(name.length, 0);
  return [header(EntryKind.Retain, 4 + name.length + encoded.length), length, name, encoded];
}

/** The parts of a string list: empty for none (a filter is never empty [MQTT-4.7.3-1]). */
function list(body: Buffer): string[] {
  return body.length === 0 ? [] : body.toString('utf8').split('\u0000');
}

/** Decodes a frame into its entries, in order; throws a RangeError on a truncated frame. */
export function decodeFrame(frame: Buffer): Entry[] {
  const entries: Entry[] = [];
  let at = 0;
  while (at < frame.length) {
    if (at + 5 > frame.length) throw new RangeError('worker frame truncated in an entry header');
    const kind = frame.readUInt8(at) as EntryKind;
    const end = at + 5 + frame.readUInt32BE(at + 1);
    if (end > frame.length) throw new RangeError('worker frame truncated in an entry');
    const body = frame.subarray(at + 5, end);
    at = end;
    switch (kind) {
      case EntryKind.Message: {
        const names = body.readUInt32BE(0);
        const groups = list(body.subarray(4, 4 + names));
        entries.push({ kind, groups, message: decodeMessage(body.subarray(4 + names)) });
        break;
      }
      case EntryKind.Retain: {
        const length = body.readUInt32BE(0);
        const topic = body.toString('utf8', 4, 4 + length);
        entries.push({ kind, topic, message: decodeMessage(body.subarray(4 + length)) });
        break;
      }
      case EntryKind.Unretain:
        entries.push({ kind, topic: body.toString('utf8') });
        break;
      case EntryKind.RouteAdded:
      case EntryKind.RouteRemoved:
        entries.push({ kind, filter: body.toString('utf8') });
        break;
      case EntryKind.Hello:
      case EntryKind.HelloReply:
        entries.push({ kind, filters: list(body) });
        break;
      case EntryKind.Clients:
        entries.push({ kind, count: Number(body.toString('utf8')) });
        break;
      default:
        throw new RangeError(`worker frame entry of unknown kind ${String(kind)}`);
    }
  }
  return entries;
}
