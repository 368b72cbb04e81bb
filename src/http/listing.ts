/**
 * Paging and search of the admin API's lists (clients, sessions, retained messages) without
 * sorting everything per request: one pass over the broker's map keeps the `limit` smallest keys
 * after the cursor that match the search, in a small sorted array (keyset paging). A page costs
 * O(n) reads and O(limit) insertions at most for each kept key, so it stays fast with 100,000
 * entries (bench in docs/operations.md), and pages stay consistent while entries come and go.
 */
import { HttpError } from './router.js';

/** The largest page the API returns. */
export const MAX_PAGE = 1000;
/** The page size when `limit` is not given. */
export const DEFAULT_PAGE = 100;

/** What a list request asks: at most `limit` entries whose key comes after `cursor`, matching `q`. */
export interface PageRequest {
  limit: number;
  /** The last key of the previous page; undefined: from the start. */
  cursor: string | undefined;
  /** A substring the key (or another searched field) must hold; undefined: all. */
  q: string | undefined;
}

/** A page: its entries, in key order, the cursor of the next page (null: last page) and the matches in all. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
  total: number;
}

/** Reads `limit`, `cursor` and `q` from a query string; a bad `limit` is a 400. */
export function pageRequest(query: URLSearchParams): PageRequest {
  const limitText = query.get('limit');
  let limit = DEFAULT_PAGE;
  if (limitText !== null) {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_PAGE) {
      throw new HttpError(
        400,
        'bad_parameter',
        `limit must be an integer from 1 to ${MAX_PAGE}, got ${JSON.stringify(limitText)}`,
      );
    }
  }
  const cursor = query.get('cursor') ?? undefined;
  const q = query.get('q') ?? undefined;
  return { limit, cursor: cursor === '' ? undefined : cursor, q: q === '' ? undefined : q };
}

/**
 * The page of `entries` that `request` asks for: keys compared as JavaScript strings (UTF-16 code
 * units), `matches` deciding the search. Each entry is read once; none is copied but the page's.
 */
export function selectPage<V>(
  entries: Iterable<[string, V]>,
  request: PageRequest,
  matches: (key: string, value: V) => boolean,
): Page<[string, V]> {
  const { limit, cursor } = request;
  // Sorted by key, at most limit + 1 long: the extra one tells whether a next page exists.
  const kept: [string, V][] = [];
  const capacity = limit + 1;
  let total = 0;
  for (const entry of entries) {
    const key = entry[0];
    if (!matches(key, entry[1])) continue;
    total++;
    if (cursor !== undefined && key <= cursor) continue;
    if (kept.length === capacity && key >= kept[capacity - 1]![0]) continue;
    // Binary search for the insertion point.
    let low = 0;
    let high = kept.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (kept[mid]![0] < key) low = mid + 1;
      else high = mid;
    }
    kept.splice(low, 0, entry);
    if (kept.length > capacity) kept.pop();
  }
  const more = kept.length > limit;
  if (more) kept.pop();
  const last = kept[kept.length - 1];
  return { items: kept, nextCursor: more && last !== undefined ? last[0] : null, total };
}
