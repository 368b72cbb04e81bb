/**
 * The Redis store's spool (src/cluster/redis-store.ts, docs/cluster.md "Keys"): QoS 1/2 deliveries
 * beyond a session's memory queue, kept under the node's namespace so that they move with the
 * session (claim, hand-over, adoption) and outlive a killed node. Per key (a client id, or an orphan
 * key starting with U+0000) two sorted sets scored by `n`: `spool:KEY` holds each row encoded
 * (`encodeSpoolRow`), `spoolsz:KEY` holds `"n bytes"`, so that sizes are read without payloads; the set
 * `spoolclients` names the keys with rows. Rows are written by the commit script, read back with
 * ZRANGEBYSCORE. The sizes of committed rows are also kept in memory (`SpoolIndex`), because
 * `Store.spoolSizes` is synchronous.
 */
import type { Redis } from 'ioredis';
import type { QoS } from '../protocol/index.js';
import type { SpoolOp, SpoolRecord, SpoolSummary } from '../store/types.js';
import { decodeStoredMessage, encodeStoredMessage } from './store-codec.js';

/** The rows of `key` in namespace `ns`. */
export const spoolKey = (ns: string, key: string): string => `${ns}spool:${key}`;
/** The `"n bytes"` index of the rows of `key` in namespace `ns`. */
export const spoolSizesKey = (ns: string, key: string): string => `${ns}spoolsz:${key}`;

/** Whether `key` is an orphan key (U+0000 first), a node's own and never a client id [MQTT-1.5.4-2]. */
export const isOrphanKey = (key: string): boolean => key.startsWith('\u0000');

interface RowHeader {
  /** Its n: two rows of one key never share a member, even with the same message. */
  n: number;
  q: QoS;
  r: boolean;
  i?: number[];
  s?: string;
}

/** A spooled row: 4-byte header length, the JSON header, then the stored message (encodeStoredMessage). */
export function encodeSpoolRow(record: SpoolRecord): Buffer {
  const header: RowHeader = { n: record.n, q: record.qos, r: record.retain };
  if (record.subscriptionIdentifiers !== undefined) header.i = record.subscriptionIdentifiers;
  if (record.sharedFilter !== undefined) header.s = record.sharedFilter;
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.allocUnsafe(4);
  length.writeUInt32BE(json.length, 0);
  return Buffer.concat([length, json, encodeStoredMessage(record.message)]);
}

/** The inverse of encodeSpoolRow, for the rows of `key`. */
export function decodeSpoolRow(key: string, bytes: Buffer): SpoolRecord {
  const length = bytes.readUInt32BE(0);
  const header = JSON.parse(bytes.subarray(4, 4 + length).toString()) as RowHeader;
  return {
    clientId: key,
    n: header.n,
    message: decodeStoredMessage(bytes.subarray(4 + length)),
    qos: header.q,
    retain: header.r,
    subscriptionIdentifiers: header.i,
    sharedFilter: header.s,
  };
}

/** The commit script's arguments (a, b, c) of a spool operation; see commitScript. */
export function spoolArgs(op: SpoolOp): [string | Buffer, string | Buffer, string] {
  switch (op.op) {
    case 'spool':
      return [String(op.record.n), encodeSpoolRow(op.record), String(op.record.message.payload.length)];
    case 'unspool':
      return [String(op.through), '', ''];
    case 'clear-spool':
      return ['', '', ''];
    case 'move-spool':
      return [op.to, '', ''];
  }
}

/** Reads rows of `key` from `n = from` on, at most `limit`. */
export async function readSpoolRows(
  redis: Redis,
  ns: string,
  key: string,
  from: number,
  limit: number,
): Promise<SpoolRecord[]> {
  if (limit <= 0) return [];
  const rows = await redis.zrangebyscoreBuffer(spoolKey(ns, key), from, '+inf', 'LIMIT', 0, limit);
  return rows.map((bytes) => decodeSpoolRow(key, bytes));
}

/** One key's committed rows: sizes[i - head] is the payload size of row first + i - head. */
interface Rows {
  first: number;
  head: number;
  sizes: number[];
}

/**
 * The payload size of each committed spooled row of the keys this node owns, by key: filled at
 * `load` and by claims, kept current by the commits of this store. A number per row.
 */
export class SpoolIndex {
  private readonly keys = new Map<string, Rows>();

  /** Forgets everything (a new `load`). */
  reset(): void {
    this.keys.clear();
  }

  /** Sets the rows of `key` from its `"n bytes"` members, in n order; returns its summary, undefined if none. */
  fill(key: string, members: readonly string[]): SpoolSummary | undefined {
    this.keys.delete(key);
    let bytes = 0;
    for (const member of members) {
      const [n, size] = member.split(' ').map(Number) as [number, number];
      this.add(key, n, size);
      bytes += size;
    }
    const rows = this.keys.get(key);
    if (rows === undefined) return undefined;
    const count = rows.sizes.length - rows.head;
    return { clientId: key, count, bytes, first: rows.first, last: rows.first + count - 1 };
  }

  /** Applies a committed spool operation (or the end of a session: `clear-spool`). */
  apply(op: SpoolOp): void {
    switch (op.op) {
      case 'spool':
        this.add(op.record.clientId, op.record.n, op.record.message.payload.length);
        break;
      case 'unspool':
        this.dropThrough(op.clientId, op.through);
        break;
      case 'clear-spool':
        this.keys.delete(op.clientId);
        break;
      case 'move-spool': {
        const rows = this.keys.get(op.clientId);
        this.keys.delete(op.clientId);
        if (rows !== undefined) this.keys.set(op.to, rows);
        break;
      }
    }
  }

  /** See Store.spoolSizes. */
  sizes(key: string, from: number, limit: number): { n: number; bytes: number }[] {
    const rows = this.keys.get(key);
    const out: { n: number; bytes: number }[] = [];
    if (rows === undefined) return out;
    const last = rows.first + rows.sizes.length - rows.head - 1;
    for (let n = Math.max(from, rows.first); n <= last && out.length < limit; n++) {
      const bytes = rows.sizes[rows.head + n - rows.first]!;
      if (bytes >= 0) out.push({ n, bytes });
    }
    return out;
  }

  private add(key: string, n: number, bytes: number): void {
    let rows = this.keys.get(key);
    if (rows === undefined) {
      rows = { first: n, head: 0, sizes: [] };
      this.keys.set(key, rows);
    }
    const at = rows.head + n - rows.first;
    // Rows are numbered without gaps; a gap (never expected) is marked unknown (-1), not invented.
    if (at < rows.head) return;
    while (rows.sizes.length < at) rows.sizes.push(-1);
    rows.sizes[at] = bytes;
  }

  private dropThrough(key: string, through: number): void {
    const rows = this.keys.get(key);
    if (rows === undefined || through < rows.first) return;
    const count = rows.sizes.length - rows.head;
    const drop = Math.min(through - rows.first + 1, count);
    if (drop >= count) {
      this.keys.delete(key);
      return;
    }
    rows.head += drop;
    rows.first += drop;
    // Copies the live part now and then, so that the front's dropped sizes do not pile up.
    if (rows.head > 1024 && rows.head * 2 > rows.sizes.length) {
      rows.sizes = rows.sizes.slice(rows.head);
      rows.head = 0;
    }
  }
}
