/**
 * Taking, finishing and dropping a will record (docs/cluster.md, "Node liveness", wills): the Redis
 * side of exactly-once, and at-least-once across the death of the node publishing it.
 *
 * - **Take**: marks record ID of `{fennec}:wills:NODE` as taken by `TAKER_NODE/RUN#N` in
 *   `{fennec}:will-taken:NODE:ID`; the record itself stays. One taker at a time: a record marked by
 *   a taker whose lease still holds its run is not taken again; one marked by a taker that lost its
 *   lease (it died between taking and finishing) is taken over, and published again.
 * - **Finish**: once the will is published and what that queued is written (its stream entries and
 *   retained change in Redis, its deliveries committed by the store), the taker deletes the record
 *   and its mark. A record is gone only once its will is out.
 * - **Drop**: a will never to go out (normal DISCONNECT, session resumed within its delay) is deleted.
 *
 * Each also keeps `{fennec}:will-of:CLIENT` (the client's current record, `NODE ID`, written with
 * cluster-wide sessions) from outliving the record it names.
 */
import type { Outbox } from './outbox.js';
import { leaseKey, willOfKey, willsKey, willTakenKey } from './keys.js';

/**
 * KEYS: wills hash, lease of the record's node, the record's mark, lease of the marking taker (any
 * key when none is expected). ARGV: record id, the run that wrote it ('' skips the check), this take's mark,
 * the mark expected ('' none), the marking taker's run. Returns 1 (taken by this taker, now or in a
 * batch sent again), 0 (gone: dropped, or published and finished), -1 (the run that wrote it holds
 * its lease: its node is alive), -2 (marked by a taker other than expected: look again), -3 (marked
 * by a taker that still holds its lease: it publishes).
 */
const takeScript = `
local mark = redis.call('GET', KEYS[3])
if mark == ARGV[3] then return 1 end
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) == ARGV[2] then return -1 end
if mark then
  if mark ~= ARGV[4] then return -2 end
  if redis.call('GET', KEYS[4]) == ARGV[5] then return -3 end
end
redis.call('SET', KEYS[3], ARGV[3])
return 1`;

/** KEYS: wills hash, the record's mark, the client's pointer. ARGV: record id, mark, pointer value. */
const finishScript = `
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
end
if redis.call('GET', KEYS[3]) == ARGV[3] then redis.call('DEL', KEYS[3]) end
return 1`;

/** KEYS: wills hash, the client's pointer. ARGV: record id, pointer value. Leaves a taken record alone. */
const dropScript = `
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('GET', KEYS[2]) == ARGV[2] then redis.call('DEL', KEYS[2]) end
return 1`;

/** The pointer value naming record `id` of node `node`. */
export const pointerValue = (node: string, id: string): string => `${node} ${id}`;

/** Numbers the takes of this process: two takes of one node (its own timer, its reaper) are two takers. */
let takes = 0;

/**
 * Takes record `id` of `node`'s wills for `taker` (`NODE/RUN`); `ownerRun`: the run that wrote it,
 * whose node must have lost its lease ('' when the node taking is the record's own, or the session
 * moved). Resolves with the mark this take holds it under (`NODE/RUN#N`, for `finishRecord`), or
 * undefined when it does not.
 */
export async function takeRecord(
  outbox: Outbox,
  node: string,
  id: string,
  ownerRun: string,
  taker: string,
): Promise<string | undefined> {
  const mark = `${taker}#${++takes}`;
  const take = (expected: string, markerLease: string, markerRun: string): Promise<number> =>
    outbox
      .request([
        'EVAL',
        takeScript,
        4,
        willsKey(node),
        leaseKey(node),
        willTakenKey(node, id),
        markerLease,
        id,
        ownerRun,
        mark,
        expected,
        markerRun,
      ])
      .then(Number);
  let answer = await take('', leaseKey(node), '');
  if (answer === -2) {
    // Marked by another taker: taken over only if that one lost its lease (it died before finishing).
    const other = await outbox.request(['GET', willTakenKey(node, id)]);
    if (typeof other !== 'string') answer = await take('', leaseKey(node), '');
    else {
      const expected = other;
      const slash = expected.indexOf('/');
      const run = expected.slice(slash + 1, expected.lastIndexOf('#'));
      answer = await take(expected, leaseKey(expected.slice(0, slash)), run);
    }
  }
  return answer === 1 ? mark : undefined;
}

/** Deletes record `id` of `node` and its mark, once the take that holds `mark` published its will (in order with that publication's writes). */
export function finishRecord(outbox: Outbox, node: string, id: string, mark: string, clientId: string): Promise<void> {
  return outbox
    .request([
      'EVAL',
      finishScript,
      3,
      willsKey(node),
      willTakenKey(node, id),
      willOfKey(clientId),
      id,
      mark,
      pointerValue(node, id),
    ])
    .then(() => undefined);
}

/** Deletes record `id` of `node`, a will never to go out. */
export function dropRecord(outbox: Outbox, node: string, id: string, clientId: string): void {
  outbox.push(['EVAL', dropScript, 2, willsKey(node), willOfKey(clientId), id, pointerValue(node, id)]);
}
