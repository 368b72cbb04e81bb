/**
 * The kinds of value an option takes and the shape of an option's entry in the option table. Each
 * builder gives the zod schema that checks a value (with the message a user reads when it is
 * wrong) and the type as docs/configuration.md states it, so a rule and its documentation are
 * written once. Also the value lists of the enumerated options.
 */
import type { SecureVersion } from 'node:tls';
import { z } from 'zod';

/** A kind of value: its schema, and its type as the docs' type column reads. */
export interface Field<S extends z.ZodType = z.ZodType> {
  readonly schema: S;
  readonly type: string;
}

/**
 * How a shared subscription group picks the member for each message. `round-robin`: the next member
 * in turn that can take the message at once. `least-inflight`: of the members that can take it at
 * once, the one with the fewest messages in flight and queued (ties go round robin).
 */
export type SharedSubscriptionStrategy = (typeof sharedSubscriptionStrategies)[number];
/** Every SharedSubscriptionStrategy, the default first. */
export const sharedSubscriptionStrategies = ['round-robin', 'least-inflight'] as const;

/** TLS versions a listener may require at least. */
export const tlsMinVersions = ['TLSv1.2', 'TLSv1.3'] as const satisfies readonly SecureVersion[];
/** The oldest TLS version a listener accepts. */
export type TlsMinVersion = (typeof tlsMinVersions)[number];

/** Protocols a listener may speak: MQTT over TCP, over TLS, over WebSocket, over WebSocket and TLS. */
export const listenerProtocols = ['mqtt', 'mqtts', 'ws', 'wss'] as const;
/** A listener's protocol, as its URL scheme reads. */
export type ListenerProtocol = (typeof listenerProtocols)[number];

/** Log levels accepted by `log_level`, from the most to the least severe; `silent` logs nothing. */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A pino log level, or `silent`. */
export type LogLevel = (typeof logLevels)[number];

/** Values of `persistence`: `sqlite` keeps sessions and messages in `data_dir`, `none` keeps them in memory. */
export const persistenceModes = ['sqlite', 'none'] as const;

/** What a session's full queue does once its spool is full too (limits.queue_overflow). */
export const queueOverflowPolicies = ['drop_newest', 'drop_oldest'] as const;
export type QueueOverflowPolicy = (typeof queueOverflowPolicies)[number];
/** Where the broker keeps state that should outlive the process. */
export type Persistence = (typeof persistenceModes)[number];

/** Values of `durability`: what a committed write survives (SQLite store). */
export const durabilityModes = ['process', 'power'] as const;
/** `process`: the broker process dying (WAL, synchronous NORMAL); `power`: power loss too (synchronous FULL). */
export type Durability = (typeof durabilityModes)[number];

/** Values of `allowAnonymous`. */
export type AllowAnonymous = boolean | 'loopback';

/** The longest delay Node's timers hold, in ms; a longer one silently becomes 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;
/** Written as the upper bound of a count that has no useful ceiling. */
const UNBOUNDED = Number.MAX_SAFE_INTEGER;

/**
 * An integer from `min` to `max` inclusive; `what` is the unit as it reads after a number in a
 * sentence (`messages`).
 */
export function integerIn(min: number, max: number, what: string): Field<z.ZodInt> {
  const message =
    max >= UNBOUNDED
      ? `must be an integer of at least ${min} ${what}`
      : `must be an integer from ${min} to ${max} ${what}`;
  return {
    schema: z.int({ error: message }).min(min, { error: message }).max(max, { error: message }),
    type: max >= UNBOUNDED ? `integer, at least ${min}` : `integer, ${min} to ${max}`,
  };
}

/** An integer of at least `min`, as integerIn: a count with no useful ceiling. */
export function integerFrom(min: number, what: string): Field<z.ZodInt> {
  return integerIn(min, UNBOUNDED, what);
}

/** A string that is not empty; `what` says what it names (`a file path`). */
export function nonEmptyString(what: string): Field<z.ZodString> {
  const message = `must be a non-empty string (${what})`;
  return { schema: z.string({ error: message }).min(1, { error: message }), type: 'string, not empty' };
}

/** A non-empty string that must be given, whose absence is reported as such. */
export function requiredString(what: string): Field<z.ZodString> {
  const message = `must be a non-empty string (${what})`;
  return {
    schema: z
      .string({ error: (issue) => (issue.input === undefined ? `is required (${what})` : message) })
      .min(1, { error: message }),
    type: 'string, not empty; required',
  };
}

/** Any string, the empty one included. */
export function anyString(what: string): Field<z.ZodString> {
  return { schema: z.string({ error: `must be a string (${what})` }), type: 'string' };
}

/** `true` or `false`. */
export function boolean(): Field<z.ZodBoolean> {
  return { schema: z.boolean({ error: 'must be true or false' }), type: 'boolean' };
}

/** One of `values`, named in the message. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return {
    schema: z.enum(values, { error: `must be one of ${values.join(', ')}` }),
    type: `one of ${values.map((value) => `\`${value}\``).join(', ')}`,
  };
}

/** Any other kind of value: its schema and its type as the docs state it. */
export function field<S extends z.ZodType>(schema: S, type: string): Field<S> {
  return { schema, type };
}

/** Where an option sits in the configuration file: at the top level, or in a section. */
export type Section = '' | 'limits' | 'tls' | 'listeners' | 'http' | 'cluster';

/**
 * One option, written once. From it come the file's key and schema, the BrokerOptions field and
 * type, the default, the validation of `new Broker(options)` and the row of docs/configuration.md.
 */
export interface OptionSpec {
  /**
   * `broker`: a BrokerOptions field named as the option's entry in its table (within `tls` for the
   * `tls` section); `command`: read by `fennec broker` alone (the store, logs, auth files).
   */
  readonly target: 'broker' | 'command';
  readonly section: Section;
  /** The key in the file, snake_case, within its section. */
  readonly key: string;
  /** Another name the file accepts for the key (another broker's spelling); giving both is an error. */
  readonly alias?: string;
  /** The environment variable that sets it, if any. */
  readonly env?: string;
  /** Must be given whenever its section is (`tls.cert_file`). */
  readonly required?: true;
  /**
   * A file or directory path: in the configuration file, a relative one is resolved against the
   * file's own directory (from flags and variables, against the working directory).
   */
  readonly isPath?: true;
  readonly field: Field;
  /** The unit, as the docs' unit column reads; '' for none. */
  readonly unit: string;
  /** The value used when it is not set; absent: it stays unset. */
  readonly default?: unknown;
  /** The docs' default cell for an option with no default; `unset` when absent. */
  readonly unsetText?: string;
  /** What it does, as the docs' last column reads. */
  readonly doc: string;
}

/** The option's key in the configuration file, with its section: `limits.max_inflight_messages`. */
export function fileKey(spec: OptionSpec): string {
  if (spec.section === 'listeners') return `listeners[].${spec.key}`;
  return spec.section === '' ? spec.key : `${spec.section}.${spec.key}`;
}
