/**
 * Admission: the open connections, counted in all and by remote address, and the limits on them
 * (maxConnections, maxConnectionsPerAddress), checked before anything of a connection is read.
 */
import { ReasonCode } from '../protocol/index.js';
import type { LimitName } from './options.js';

/** What admission knows of a connection: where it comes from. */
export interface Admitted {
  readonly peer: { readonly remoteAddress?: string | undefined };
}

/** The CONNACK refusal a connection over a limit gets: its reason code and why. */
export interface AdmissionRefusal {
  reasonCode: number;
  why: string;
  /** The limit that refused it. */
  limit: 'maxConnections' | 'maxConnectionsPerAddress';
  /** Over twice the limit: closed at once, unread. */
  flood: boolean;
}

export class Admission<C extends Admitted> {
  /** Every open connection. */
  readonly open = new Set<C>();
  /** Open connections by remote address, for maxConnectionsPerAddress. */
  private readonly byAddress = new Map<string, number>();
  /** Resolves `drain()` once the last connection has gone. */
  private drained: (() => void) | undefined;

  constructor(
    private readonly options: { maxConnections: number; maxConnectionsPerAddress: number },
    /** The broker's `counters.limits`. */
    private readonly counters: Record<LimitName, number>,
  ) {}

  /** Number of open connections. */
  get size(): number {
    return this.open.size;
  }

  /**
   * Checks maxConnections and maxConnectionsPerAddress for one more connection from `address`:
   * undefined when it may proceed; the CONNACK refusal it gets when over a limit, a `flood` when over
   * twice a limit, so that a flood of sockets that never send CONNECT is closed at once, unread.
   */
  check(address: string | undefined): AdmissionRefusal | undefined {
    const { maxConnections, maxConnectionsPerAddress } = this.options;
    if (maxConnections > 0 && this.open.size >= maxConnections) {
      this.counters.maxConnections++;
      return {
        reasonCode: ReasonCode.ServerBusy,
        why: `the broker holds its maximum of ${maxConnections} connections`,
        limit: 'maxConnections',
        flood: this.open.size >= 2 * maxConnections,
      };
    }
    const fromAddress = address === undefined ? 0 : (this.byAddress.get(address) ?? 0);
    if (maxConnectionsPerAddress > 0 && fromAddress >= maxConnectionsPerAddress) {
      this.counters.maxConnectionsPerAddress++;
      return {
        reasonCode: ReasonCode.QuotaExceeded,
        why: `at most ${maxConnectionsPerAddress} connections from one address`,
        limit: 'maxConnectionsPerAddress',
        flood: fromAddress >= 2 * maxConnectionsPerAddress,
      };
    }
    return undefined;
  }

  /** Counts `connection` as open. */
  add(connection: C): void {
    this.open.add(connection);
    const address = connection.peer.remoteAddress;
    if (address !== undefined) this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
  }

  /** Counts `connection` as gone. */
  remove(connection: C): void {
    this.open.delete(connection);
    const address = connection.peer.remoteAddress;
    if (address !== undefined) {
      const count = (this.byAddress.get(address) ?? 1) - 1;
      if (count === 0) this.byAddress.delete(address);
      else this.byAddress.set(address, count);
    }
    if (this.open.size === 0) this.drained?.();
  }

  /** Resolves once no connection is open: at once when none is. */
  drain(): Promise<void> {
    return this.open.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.drained = resolve));
  }
}
