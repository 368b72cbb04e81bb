/**
 * The cluster's route table as one node sees it: how many of its own subscriptions hold each topic
 * filter, and the filters of every other node, cached in a topic index so that a message is matched
 * once and sent only to the nodes that want it.
 */
import { TopicIndex } from '../topic/index.js';

export class RouteTable {
  /** Other nodes' filters: the value and key of each entry are the node id. */
  private readonly remote: TopicIndex<string>;
  private readonly byNode = new Map<string, Set<string>>();
  /** This node's filters, each with the number of subscriptions that hold it. */
  private readonly local = new Map<string, number>();
  /** The nodes matched by the call of `targets` in progress (cleared after each). */
  private readonly found = new Set<string>();
  private readonly collect = (node: string): void => {
    if (node !== this.self) this.found.add(node);
  };

  constructor(
    private readonly self: string,
    maxLevels: number,
  ) {
    this.remote = new TopicIndex<string>({ maxLevels });
  }

  /** Counts one more subscription of this node to `filter`; true when it is the first. */
  addLocal(filter: string): boolean {
    const count = this.local.get(filter) ?? 0;
    this.local.set(filter, count + 1);
    return count === 0;
  }

  /** Counts one subscription less; true when it was the last. */
  removeLocal(filter: string): boolean {
    const count = this.local.get(filter);
    if (count === undefined) return false;
    if (count > 1) {
      this.local.set(filter, count - 1);
      return false;
    }
    this.local.delete(filter);
    return true;
  }

  /** This node's filters. */
  localFilters(): string[] {
    return [...this.local.keys()];
  }

  /** Records that `node` now has (`add`) or no longer has a subscription to `filter`. */
  apply(node: string, filter: string, add: boolean): void {
    if (node === this.self) return;
    let filters = this.byNode.get(node);
    if (add) {
      if (filters === undefined) this.byNode.set(node, (filters = new Set()));
      if (filters.has(filter)) return;
      filters.add(filter);
      this.remote.add(filter, node, node);
      return;
    }
    if (filters?.delete(filter) !== true) return;
    this.remote.remove(filter, node);
  }

  /** Replaces everything known of `node` with `filters`. */
  replaceNode(node: string, filters: readonly string[]): void {
    if (node === this.self) return;
    for (const filter of this.byNode.get(node) ?? []) this.remote.remove(filter, node);
    this.byNode.delete(node);
    for (const filter of filters) this.apply(node, filter, true);
  }

  /** The other nodes known to have routes. */
  nodes(): string[] {
    return [...this.byNode.keys()];
  }

  /** How many filters `node` is known to have subscriptions to. */
  filterCount(node: string): number {
    return this.byNode.get(node)?.size ?? 0;
  }

  /** Whether `node` is known to have a subscription to `filter`. */
  has(node: string, filter: string): boolean {
    return this.byNode.get(node)?.has(filter) === true;
  }

  /** The other nodes with a subscription matching `topic`, each once. */
  targets(topic: string): string[] {
    this.remote.match(topic, this.collect);
    if (this.found.size === 0) return [];
    const nodes = [...this.found];
    this.found.clear();
    return nodes;
  }
}
