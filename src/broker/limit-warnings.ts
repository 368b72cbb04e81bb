/**
 * The `warn` line a limit writes when it fires, at most once per `limits.limit_log_interval_ms` for each
 * client (or remote address, before CONNECT) and limit, so that a flood of refusals cannot flood the
 * log. The lines held back are counted and the next line that passes says how many.
 */
import type { Logger } from 'pino';
import { limitOptionSpecs } from '../config/limit-options.js';
import type { FennecError } from '../errors/index.js';
import { PacketTooLargeError, ReasonCode } from '../protocol/index.js';

/** A limit of the `limits:` section, by its BrokerOptions name. */
export type LimitOptionName = keyof typeof limitOptionSpecs;

/**
 * The most (client, limit) pairs remembered at once. Past it, pairs older than the interval are
 * forgotten; when all are recent (a flood from many clients), further clients share one pair, so the
 * map stays bounded and the log still gets one line per interval for them.
 */
const MAX_TRACKED = 10_000;

/** The file key of a limit: `max_control_packet_rate` for maxControlPacketRate. */
export function limitKey(limit: LimitOptionName): string {
  return limitOptionSpecs[limit].key;
}

/** Who a warning is about: its client id, and where it connects from. */
export interface LimitSubject {
  readonly clientId: string;
  readonly remoteAddress?: string | undefined;
}

export class LimitWarnings {
  /** By `limit` and subject: when the last line was written (ms), and the lines held back since. */
  private readonly last = new Map<string, { at: number; held: number }>();

  /** `options`: the broker's, for the value each limit has; `limitLogIntervalMs` of 0 writes every line. */
  constructor(
    private readonly log: Logger,
    private readonly options: Readonly<Record<LimitOptionName, unknown>> & { readonly limitLogIntervalMs: number },
  ) {}

  /**
   * Logs at warn that `limit` fired for `subject` (`what` says what it did: "message dropped"),
   * unless a line for the same client and limit was written less than the interval ago.
   */
  warn(limit: LimitOptionName, subject: LimitSubject, what: string, details: object = {}, now = Date.now()): void {
    if (!this.log.isLevelEnabled('warn')) return;
    const who = subject.clientId !== '' ? subject.clientId : `@${subject.remoteAddress ?? ''}`;
    let key = `${limit}\n${who}`;
    let entry = this.last.get(key);
    if (entry === undefined && this.last.size >= MAX_TRACKED) {
      this.forgetBefore(now - this.options.limitLogIntervalMs);
      if (this.last.size >= MAX_TRACKED) {
        key = `${limit}\n*`;
        entry = this.last.get(key);
      }
    }
    if (
      entry !== undefined &&
      this.options.limitLogIntervalMs > 0 &&
      now - entry.at < this.options.limitLogIntervalMs
    ) {
      entry.held++;
      return;
    }
    const held = entry?.held ?? 0;
    this.last.set(key, { at: now, held: 0 });
    const suppressed = held > 0 ? { suppressed: held } : {};
    const client = subject.clientId === '' ? 'a client' : `client ${subject.clientId}`;
    this.log.warn(
      {
        clientId: subject.clientId,
        remoteAddress: subject.remoteAddress,
        limit: limitKey(limit),
        value: this.options[limit],
        ...details,
        ...suppressed,
      },
      `limit ${limitKey(limit)} reached by ${client}: ${what}${held > 0 ? ` (${held} more since the last such line)` : ''}`,
    );
  }

  private forgetBefore(time: number): void {
    for (const [key, entry] of this.last) if (entry.at < time) this.last.delete(key);
  }
}

/** The limit an error of the codec or the protocol core reports, if it is one. */
export function limitOf(err: FennecError): LimitOptionName | undefined {
  if (err instanceof PacketTooLargeError) return 'maximumPacketSize';
  if (err.reasonCode === ReasonCode.ReceiveMaximumExceeded) return 'receiveMaximum';
  if (err.reasonCode === ReasonCode.TopicAliasInvalid) return 'topicAliasMaximum';
  return undefined;
}
