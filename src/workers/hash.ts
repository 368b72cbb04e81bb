/**
 * Which worker a client id lives on (`fennec broker --workers N`): FNV-1a (32 bits) of its UTF-8
 * bytes, modulo N. Stable across runs and Node versions, so that a persistent session is found on
 * the worker whose store holds it after a restart with the same N. Exported for tests, which pick
 * client ids that land on the worker they want.
 */

/** The 0-based index of the worker of `clientId` among `count` workers. */
export function workerFor(clientId: string, count: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(clientId, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}
