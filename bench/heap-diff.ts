/**
 * What a heap snapshot holds more of than another: objects grouped by kind and constructor (or
 * closure) name, their count and self size, and the difference divided by the connections added in
 * between: the retainers per connection that bench/idle-connections.ts lists.
 *
 *   node dist/bench/heap-diff.js BEFORE.heapsnapshot AFTER.heapsnapshot CONNECTIONS [ROWS]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

interface Group {
  count: number;
  size: number;
}

/** Count and self size of the snapshot's nodes by `kind:name` (e.g. `object:Connection`, `closure:onData`). */
export function groups(path: string): Map<string, Group> {
  const heap = JSON.parse(readFileSync(path, 'utf8')) as HeapSnapshot;
  const fields = heap.snapshot.meta.node_fields;
  const kinds = heap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const result = new Map<string, Group>();
  const { nodes, strings } = heap;
  for (let i = 0; i < nodes.length; i += width) {
    const kind = kinds[nodes[i + typeAt]!]!;
    let name = strings[nodes[i + nameAt]!]!;
    // Strings and numbers are told apart by kind only: their names are their values.
    if (kind === 'string' || kind === 'concatenated string' || kind === 'sliced string' || kind === 'number') {
      name = '';
    } else if (name.length > 60) name = `${name.slice(0, 57)}...`;
    const key = `${kind}:${name}`;
    const group = result.get(key) ?? { count: 0, size: 0 };
    group.count++;
    group.size += nodes[i + sizeAt]!;
    result.set(key, group);
  }
  return result;
}

/** The `rows` groups that grew most in bytes from `before` to `after`, per one of `connections`. */
export function diff(before: string, after: string, connections: number, rows = 25): string[] {
  const a = groups(before);
  const b = groups(after);
  const grown = [...b].map(([key, g]) => {
    const old = a.get(key) ?? { count: 0, size: 0 };
    return { key, count: (g.count - old.count) / connections, size: (g.size - old.size) / connections };
  });
  grown.sort((x, y) => y.size - x.size);
  const total = grown.reduce((sum, g) => sum + g.size, 0);
  const lines = [
    `  self bytes per connection, all objects: ${total.toFixed(0)}`,
    '  bytes/conn  objects/conn  kind:name',
  ];
  for (const g of grown.slice(0, rows)) {
    lines.push(`  ${g.size.toFixed(0).padStart(10)}  ${g.count.toFixed(2).padStart(12)}  ${g.key}`);
  }
  return lines;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [before, after, connections, rows] = process.argv.slice(2);
  if (before === undefined || after === undefined || connections === undefined) {
    console.error('usage: heap-diff BEFORE.heapsnapshot AFTER.heapsnapshot CONNECTIONS [ROWS]');
    process.exit(2);
  }
  for (const line of diff(before, after, Number(connections), Number(rows ?? 25))) console.log(line);
}
