/**
 * How `fennec sub` prints a message: the payload alone, `-v` topic and payload, `-F` mosquitto's
 * format strings (docs/cli.md has the table), or `--json` one object per line.
 */
import { isUtf8 } from 'node:buffer';
import type { ClientMessage } from '../../client/index.js';
import type { PublishProperties } from '../../protocol/index.js';
import { formatTime, isoLocal, timeOf, unixSeconds, type Instant } from './time.js';

/** A `%` parameter with its flags, width and maximum width (`%-10.5t`). */
interface Param {
  kind: 'param';
  char: string;
  zero: boolean;
  left: boolean;
  width: number;
  precision: number | undefined;
}

type Token = { kind: 'text'; bytes: Buffer } | Param | { kind: 'time'; char: string };

/** The `%` parameters, as mosquitto_sub 2.0 has them. */
const PARAMS = new Set('%ACDEFIjJlmPpqRrStUxX'.split(''));
/** Parameters that take a width (`%10t`), and those that also take a maximum width (`%.5t`). */
const WIDTH = new Set('ACEFIlmpRStxX'.split(''));
const PRECISION = new Set('CIRt'.split(''));
/** Parameters whose `0` flag pads with zeros. */
const ZERO = new Set('AEFlmSXx'.split(''));
const ESCAPES: Record<string, string> = {
  '\\': '\\',
  '0': '\0',
  a: '\x07',
  e: '\x1b',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/** A bad `-F` string, with mosquitto's wording. */
export class FormatError extends Error {}

/** Reads a `-F` string once, so that each message only fills it in. Throws FormatError. */
export function compileFormat(format: string): Token[] {
  const tokens: Token[] = [];
  let text = '';
  const flush = (): void => {
    if (text !== '') tokens.push({ kind: 'text', bytes: Buffer.from(text) });
    text = '';
  };
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c === '\\') {
      const next = format[++i];
      const escaped = next === undefined ? undefined : ESCAPES[next];
      if (escaped === undefined) throw new FormatError(`Invalid escape specifier '${next ?? ''}'.`);
      text += escaped;
    } else if (c === '@') {
      const next = format[++i];
      if (next === undefined) throw new FormatError('Incomplete format specifier.');
      if (next === '@') text += '@';
      else {
        flush();
        tokens.push({ kind: 'time', char: next });
      }
    } else if (c === '%') {
      const match = /^([-0]*)(\d*)(?:\.(\d+))?(.)/.exec(format.slice(i + 1));
      if (match === null) throw new FormatError('Incomplete format specifier.');
      const [all, flags = '', width = '', precision, char = ''] = match;
      if (!PARAMS.has(char)) throw new FormatError(`Invalid format specifier '${char}'.`);
      i += all.length;
      if (char === '%') {
        text += '%';
        continue;
      }
      flush();
      tokens.push({
        kind: 'param',
        char,
        left: flags.includes('-'),
        zero: flags.includes('0') && !flags.includes('-') && ZERO.has(char),
        width: WIDTH.has(char) && width !== '' ? Number(width) : 0,
        precision: PRECISION.has(char) && precision !== undefined ? Number(precision) : undefined,
      });
    } else text += c;
  }
  flush();
  return tokens;
}

/** A message as `fennec sub` received it: what the client library gives, and its packet id. */
export type Received = ClientMessage;

/** Fills in a compiled `-F` string for one message; `warn` gets mosquitto's warnings (%J). */
export function formatMessage(tokens: readonly Token[], m: Received, warn: (line: string) => void): Buffer {
  const now = timeOf();
  const parts: Buffer[] = [];
  for (const token of tokens) {
    if (token.kind === 'text') parts.push(token.bytes);
    else if (token.kind === 'time') parts.push(Buffer.from(formatTime(token.char, now)));
    else parts.push(pad(token, param(token.char, m, now, warn)));
  }
  return Buffer.concat(parts);
}

function pad(p: Param, value: Buffer | string | undefined): Buffer {
  let bytes = value === undefined ? Buffer.alloc(0) : Buffer.isBuffer(value) ? value : Buffer.from(value);
  if (p.precision !== undefined && bytes.length > p.precision) bytes = bytes.subarray(0, p.precision);
  const fill = p.width - bytes.length;
  if (fill <= 0) return bytes;
  const padding = Buffer.alloc(fill, p.zero ? '0' : ' ');
  return p.left ? Buffer.concat([bytes, padding]) : Buffer.concat([padding, bytes]);
}

function param(char: string, m: Received, now: Instant, warn: (line: string) => void): Buffer | string | undefined {
  const p = m.properties;
  switch (char) {
    case 'A':
      return p?.topicAlias?.toString();
    case 'C':
      return p?.contentType;
    case 'D':
      return p?.correlationData;
    case 'E':
      return p?.messageExpiryInterval?.toString();
    case 'F':
      return p?.payloadFormatIndicator === undefined ? undefined : p.payloadFormatIndicator ? '1' : '0';
    case 'I':
      return isoLocal(now);
    case 'j':
      return mosquittoJson(m, now, JSON.stringify(m.payload.toString('utf8')));
    case 'J':
      try {
        JSON.parse(m.payload.toString('utf8'));
      } catch {
        warn(`Error: Message payload is not valid JSON on topic ${m.topic}.`);
        return undefined;
      }
      return mosquittoJson(m, now, m.payload.toString('utf8'));
    case 'l':
      return String(m.payload.length);
    case 'm':
      return String(m.packetId);
    case 'P':
      return p?.userProperties?.map(([k, v]) => `${k}:${v}`).join(' ');
    case 'p':
      return m.payload;
    case 'q':
      return String(m.qos);
    case 'R':
      return p?.responseTopic;
    case 'r':
      return m.retain ? '1' : '0';
    case 'S':
      return p?.subscriptionIdentifiers?.join(',');
    case 't':
      return m.topic;
    case 'U':
      return unixSeconds(now);
    case 'x':
      return m.payload.toString('hex');
    case 'X':
      return m.payload.toString('hex').toUpperCase();
    default:
      return undefined;
  }
}

/** `%j` and `%J`: mosquitto's JSON, its field order and names, with `payload` given already encoded. */
function mosquittoJson(m: Received, now: Instant, payload: string): string {
  const fields: string[] = [
    `"tst":${JSON.stringify(`${new Date(now.ms).toISOString().slice(0, 19)}.${String(now.micros).padStart(6, '0')}Z+0000`)}`,
    `"topic":${JSON.stringify(m.topic)}`,
    `"qos":${m.qos}`,
    `"retain":${m.retain ? 1 : 0}`,
    `"payloadlen":${m.payload.length}`,
  ];
  if (m.qos > 0) fields.push(`"mid":${m.packetId}`);
  const properties = kebabProperties(m.properties);
  if (properties !== undefined) fields.push(`"properties":${JSON.stringify(properties)}`);
  fields.push(`"payload":${payload}`);
  return `{${fields.join(',')}}`;
}

function kebabProperties(p: PublishProperties | undefined): Record<string, unknown> | undefined {
  if (p === undefined) return undefined;
  const out: Record<string, unknown> = {};
  if (p.subscriptionIdentifiers !== undefined) out['subscription-identifier'] = p.subscriptionIdentifiers[0];
  if (p.userProperties !== undefined) out['user-properties'] = Object.fromEntries(p.userProperties);
  if (p.contentType !== undefined) out['content-type'] = p.contentType;
  if (p.correlationData !== undefined) out['correlation-data'] = p.correlationData.toString('utf8');
  if (p.payloadFormatIndicator !== undefined) out['payload-format-indicator'] = p.payloadFormatIndicator ? 1 : 0;
  if (p.responseTopic !== undefined) out['response-topic'] = p.responseTopic;
  if (p.messageExpiryInterval !== undefined) out['message-expiry-interval'] = p.messageExpiryInterval;
  return Object.keys(out).length === 0 ? undefined : out;
}

/** Bytes as a string when they are UTF-8, else base64, with the encoding said. */
function encoded(bytes: Buffer): { value: string; base64: boolean } {
  return isUtf8(bytes)
    ? { value: bytes.toString('utf8'), base64: false }
    : { value: bytes.toString('base64'), base64: true };
}

/**
 * `--json`: one object per message with `topic`, `payload` (a UTF-8 string, or base64 with
 * `"encoding": "base64"`), `qos`, `retain` and, when there are any, the 5.0 `properties` under the
 * client library's names (correlation data like the payload, with `correlationDataEncoding`).
 */
export function jsonLine(m: Received): string {
  const payload = encoded(m.payload);
  const out: Record<string, unknown> = { topic: m.topic, payload: payload.value };
  if (payload.base64) out['encoding'] = 'base64';
  out['qos'] = m.qos;
  out['retain'] = m.retain;
  if (m.properties !== undefined && Object.keys(m.properties).length > 0) {
    const properties: Record<string, unknown> = { ...m.properties };
    if (m.properties.correlationData !== undefined) {
      const data = encoded(m.properties.correlationData);
      properties['correlationData'] = data.value;
      if (data.base64) properties['correlationDataEncoding'] = 'base64';
    }
    out['properties'] = properties;
  }
  return JSON.stringify(out);
}

/** The default output and `-v`: the payload, or the topic, a space and the payload; `(null)` for an empty one with -v, as mosquitto. */
export function plainMessage(m: Received, verbose: boolean): Buffer {
  if (!verbose) return m.payload;
  return Buffer.concat([Buffer.from(`${m.topic} `), m.payload.length === 0 ? Buffer.from('(null)') : m.payload]);
}
