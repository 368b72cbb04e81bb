/**
 * Keeps a node's RouteTable current: applies the route notices of the pub/sub channel, and re-reads
 * every node's route set when a node (re)joins or this node's subscription connection returns. Notices
 * that arrive while a re-read is under way are applied after it, in order, so that a change made
 * during the read is not lost under an older snapshot.
 */
import type { RedisClient } from './connect.js';
import type { Logger } from 'pino';
import { nodesKey, routesKey } from './keys.js';
import type { RouteTable } from './routes.js';

/** A notice of the routes channel. */
export interface RouteEvent {
  node: string;
  op: '+' | '-' | 'reset';
  filter?: string;
}

export class RouteSync {
  log: Logger | undefined;
  private loading = false;
  private again = false;
  private held: RouteEvent[] = [];

  constructor(
    private readonly redis: RedisClient,
    private readonly routes: RouteTable,
  ) {}

  /** Applies one notice; `reset` (a node joined or left) re-reads every node's routes. */
  event(event: RouteEvent, self: string): void {
    if (event.node === self || typeof event.node !== 'string') return;
    if (event.op === 'reset') {
      this.reload().catch((err: unknown) => this.log?.warn({ err: String(err) }, 'cluster route re-read failed'));
      return;
    }
    if (this.loading) this.held.push(event);
    else this.apply(event);
  }

  /** Re-reads the route set of every node that has joined. */
  async reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      do {
        this.again = false;
        const nodes = await this.redis.smembers(nodesKey);
        const pipeline = this.redis.pipeline();
        for (const node of nodes) pipeline.smembers(routesKey(node));
        const results = (await pipeline.exec()) ?? [];
        const seen = new Set<string>();
        nodes.forEach((node, i) => {
          const [err, filters] = results[i] ?? [new Error('no reply'), undefined];
          if (err !== null) throw err;
          seen.add(node);
          this.routes.replaceNode(node, filters as string[]);
        });
        for (const node of this.routes.nodes()) if (!seen.has(node)) this.routes.replaceNode(node, []);
      } while (this.again);
    } finally {
      this.loading = false;
      for (const event of this.held.splice(0)) this.apply(event);
    }
  }

  private apply(event: RouteEvent): void {
    if (typeof event.filter !== 'string') return;
    this.routes.apply(event.node, event.filter, event.op === '+');
  }
}
