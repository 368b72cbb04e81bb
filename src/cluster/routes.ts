/**
 * The cluster's route table as one node sees it: how many of its own subscriptions hold each topic
 * filter, and the filters of every other node, cached in a topic index so that a message is matched
 * once and sent only to the nodes that want it.
 *
 * A shared subscription group is announced as its full filter `$share/G/F` and indexed under `F`,
 * keyed by group and node, so that one match finds both the nodes with plain subscribers and, for
 * each matching group, the nodes with members of it (this node's own groups included). The
 * publishing node then picks one of those nodes per group (`plan`), so that each message reaches
 * one member of the group in the whole cluster (docs/cluster.md#shared-subscriptions).
 */
import { parseSharedSubscription, TopicIndex } from '../topic/index.js';

/** An entry of the index: a node's plain filter (`group` undefined) or its members of a shared group. */
interface Route {
  node: string;
  /** The group's full filter `$share/G/F`. */
  group: string | undefined;
}

/** Where a message goes, as decided by the publishing node. */
export interface RoutePlan {
  /** The other nodes to send it to, each once. */
  nodes: string[];
  /** The shared groups each node of `nodes` is to serve (`$share/G/F`); a node absent serves none. */
  serve: Map<string, string[]> | undefined;
  /** The shared groups this node is to serve itself. */
  local: ReadonlySet<string>;
}

const NONE: ReadonlySet<string> = new Set();

/** A group's round-robin turn among its nodes, and how many nodes have members of it. */
interface GroupState {
  nodes: number;
  turn: number;
}

export class RouteTable {
  /** Every node's filters (this node's shared groups included, not its plain filters). */
  private readonly remote: TopicIndex<Route>;
  private readonly byNode = new Map<string, Set<string>>();
  /** This node's filters, each with the number of subscriptions that hold it. */
  private readonly local = new Map<string, number>();
  private readonly groups = new Map<string, GroupState>();
  /** The nodes with plain filters matched by the match in progress (cleared after each). */
  private readonly found = new Set<string>();
  /** The nodes of each group matched by the match in progress (cleared after each). */
  private readonly candidates = new Map<string, string[]>();
  private readonly collect = (route: Route): void => {
    if (route.group === undefined) {
      if (route.node !== this.self) this.found.add(route.node);
      return;
    }
    const nodes = this.candidates.get(route.group);
    if (nodes === undefined) this.candidates.set(route.group, [route.node]);
    else nodes.push(route.node);
  };

  constructor(
    private readonly self: string,
    maxLevels: number,
  ) {
    this.remote = new TopicIndex<Route>({ maxLevels });
  }

  /** Counts one more subscription of this node to `filter`; true when it is the first. */
  addLocal(filter: string): boolean {
    const count = this.local.get(filter) ?? 0;
    this.local.set(filter, count + 1);
    if (count === 0) this.index(this.self, filter, true);
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
    this.index(this.self, filter, false);
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
      this.index(node, filter, true);
      return;
    }
    if (filters?.delete(filter) !== true) return;
    this.index(node, filter, false);
  }

  /** Replaces everything known of `node` with `filters`. */
  replaceNode(node: string, filters: readonly string[]): void {
    if (node === this.self) return;
    for (const filter of this.byNode.get(node) ?? []) this.index(node, filter, false);
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

  /** Whether this node has a subscription to `filter` (a shared group: a member of `$share/G/F`). */
  hasLocal(filter: string): boolean {
    return this.local.has(filter);
  }

  /**
   * Another node with members of the shared group `group` (`$share/G/F`) for a message on `topic`,
   * by the group's turn; undefined when no other node has one. For a message this node was chosen
   * to serve the group for, once its own last member left.
   */
  passOn(topic: string, group: string): string | undefined {
    this.remote.match(topic, this.collect);
    this.found.clear();
    const candidates = this.candidates.get(group)?.filter((node) => node !== this.self) ?? [];
    this.candidates.clear();
    return candidates.length === 0 ? undefined : this.choose(group, candidates);
  }

  /** Whether `node` is known to have a subscription to `filter` (a group: `$share/G/F`). */
  has(node: string, filter: string): boolean {
    return this.byNode.get(node)?.has(filter) === true;
  }

  /** Whether a message on `topic` may go to another node: one has a plain filter or a shared group matching it. */
  reaches(topic: string): boolean {
    this.remote.match(topic, this.collect);
    let other = this.found.size > 0;
    for (const nodes of this.candidates.values()) if (nodes.some((node) => node !== this.self)) other = true;
    this.found.clear();
    this.candidates.clear();
    return other;
  }

  /**
   * Where a message on `topic` goes: every other node with a plain filter matching it, and for each
   * matching shared group one node among those with members (round robin, this node included),
   * which alone is to serve that group.
   */
  plan(topic: string): RoutePlan {
    this.remote.match(topic, this.collect);
    const nodes = this.found.size === 0 ? [] : [...this.found];
    this.found.clear();
    if (this.candidates.size === 0) return { nodes, serve: undefined, local: NONE };
    let serve: Map<string, string[]> | undefined;
    let local: Set<string> | undefined;
    for (const [group, candidates] of this.candidates) {
      const chosen = this.choose(group, candidates);
      if (chosen === this.self) {
        (local ??= new Set()).add(group);
        continue;
      }
      serve ??= new Map();
      const groups = serve.get(chosen);
      if (groups !== undefined) groups.push(group);
      else {
        serve.set(chosen, [group]);
        if (!nodes.includes(chosen)) nodes.push(chosen);
      }
    }
    this.candidates.clear();
    return { nodes, serve, local: local ?? NONE };
  }

  /** The node whose turn it is to serve `group`, among `candidates` (in the index's stable order). */
  private choose(group: string, candidates: string[]): string {
    if (candidates.length === 1) return candidates[0]!;
    const state = this.groups.get(group);
    if (state === undefined) return candidates[0]!;
    const chosen = candidates[state.turn % candidates.length]!;
    state.turn = state.turn === Number.MAX_SAFE_INTEGER ? 0 : state.turn + 1;
    return chosen;
  }

  /** Adds or removes the index entry of `node`'s `filter`. */
  private index(node: string, filter: string, add: boolean): void {
    let shared;
    try {
      shared = parseSharedSubscription(filter);
    } catch {
      return; // Not a valid shared filter: no node's subscription, never indexed.
    }
    if (shared === undefined) {
      // This node's plain filters are delivered by its own router, not through the table.
      if (node === this.self) return;
      if (add) this.remote.add(filter, node, { node, group: undefined });
      else this.remote.remove(filter, node);
      return;
    }
    // U+0000 separates: no share name holds it [MQTT-1.5.4-2].
    const key = `\u0000${shared.shareName}\u0000${node}`;
    const state = this.groups.get(filter);
    if (add) {
      if (!this.remote.add(shared.topicFilter, key, { node, group: filter })) return;
      if (state === undefined) this.groups.set(filter, { nodes: 1, turn: 0 });
      else state.nodes++;
      return;
    }
    if (!this.remote.remove(shared.topicFilter, key) || state === undefined) return;
    if (--state.nodes === 0) this.groups.delete(filter);
  }
}
