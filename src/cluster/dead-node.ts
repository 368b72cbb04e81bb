/**
 * What the other nodes remove of a node declared dead (its routes, its place among the nodes, its
 * stream and store namespace), each step only while it is still dead: a node that restarts under
 * its id takes its lease before anything else, and then keeps what it has, whatever step of its
 * adoption another node is at (`test/cluster/adoption.test.ts`, "restarts under its id").
 */
import type { RedisClient } from './connect.js';
import { leaseKey, nodesKey, routesChannel, routesKey } from './keys.js';

/** Runs `body` only while the node of lease KEYS[1] has none; replies 1 when it ran, 0 when the node is back. */
const whileDead = (body: string): string =>
  `if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n${body}\nreturn 1`;

/** KEYS: lease, routes, nodes; ARGV: node, routes channel, reset notice. */
const forgetScript = whileDead(`redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])`);

/** KEYS: lease, then the keys to delete. */
const dropScript = whileDead(`for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end`);

/**
 * Removes dead node `node`'s routes and its place in `fennec:nodes`, and tells every node to re-read
 * routes. Resolves false, changing nothing, when the node is back.
 */
export async function forgetDeadNode(redis: RedisClient, node: string): Promise<boolean> {
  const reset = JSON.stringify({ node, op: 'reset' });
  const done = await redis.eval(forgetScript, 3, leaseKey(node), routesKey(node), nodesKey, node, routesChannel, reset);
  return Number(done) === 1;
}

/** Deletes `keys` of dead node `node` (its stream, its store namespace); resolves false, changing nothing, when it is back. */
export async function dropDeadNode(redis: RedisClient, node: string, keys: readonly string[]): Promise<boolean> {
  const done = await redis.eval(dropScript, 1 + keys.length, leaseKey(node), ...keys);
  return Number(done) === 1;
}
