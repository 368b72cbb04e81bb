/**
 * The key tables of docs/configuration.md, generated from the option table (options.ts). Each sits
 * between a pair of marker comments, and the prose around them stays hand-written.
 * `npm run docs:config` rewrites them; test/unit/config-docs.test.ts fails when they are stale.
 */
import { fileKey, type OptionSpec, type Section } from './fields.js';
import { clusterOptionSpecs, httpOptionSpecs, listenerOptionSpecs, optionSpecs, tlsOptionSpecs } from './options.js';

/** The command that regenerates the tables. */
export const regenerateCommand = 'npm run docs:config';

/** The generated tables, by the name their markers carry. */
const tables: Record<string, { section: Section; specs: Record<string, OptionSpec>; prefix: string }> = {
  keys: { section: '', specs: optionSpecs, prefix: '' },
  limits: { section: 'limits', specs: optionSpecs, prefix: '' },
  tls: { section: 'tls', specs: tlsOptionSpecs, prefix: 'tls.' },
  listeners: { section: 'listeners', specs: listenerOptionSpecs, prefix: 'listeners[].' },
  http: { section: 'http', specs: httpOptionSpecs, prefix: 'http.' },
  cluster: { section: 'cluster', specs: clusterOptionSpecs, prefix: 'cluster.' },
};

/** The names of the generated tables, in the order the document holds them. */
export const tableNames = Object.keys(tables);

/** The comments that open and close the generated table `name`. */
export function tableMarkers(name: string): { begin: string; end: string } {
  return {
    begin: `<!-- generated table "${name}": edit src/config/options.ts and run ${regenerateCommand} -->`,
    end: `<!-- end of generated table "${name}" -->`,
  };
}

const header = ['key', 'BrokerOptions', 'type', 'unit', 'default', 'what it does'];

function rowOf(name: string, spec: OptionSpec, prefix: string): string[] {
  const key = `\`${fileKey(spec)}\`${spec.alias === undefined ? '' : ` or \`${spec.alias}\``}`;
  const field = spec.target === 'broker' ? `\`${prefix}${name}\`` : '';
  const fallback = 'default' in spec ? `\`${String(spec.default)}\`` : (spec.unsetText ?? 'unset');
  return [key, field, spec.field.type, spec.unit, fallback, spec.doc];
}

/** A Markdown table with its columns padded to one width, as Prettier lays it out. */
function formatTable(rows: string[][]): string {
  const escaped = rows.map((row) => row.map((cell) => cell.replace(/\|/g, '\\|')));
  const widths = header.map((_, column) => Math.max(3, ...escaped.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  const [head, ...body] = escaped;
  return [line(head ?? []), line(widths.map((width) => '-'.repeat(width))), ...body.map(line)].join('\n');
}

/** The generated table `name`: one row per option of its section, in the table's order. */
export function renderTable(name: string): string {
  const table = tables[name];
  if (table === undefined) throw new Error(`no generated table named ${name}`);
  const rows = Object.entries(table.specs)
    .filter(([, spec]) => spec.section === table.section)
    .map(([option, spec]) => rowOf(option, spec, table.prefix));
  return formatTable([header, ...rows]);
}

/**
 * `markdown` with each generated table replaced by what the option table gives now.
 * @throws Error when a table's markers are missing, so that a table cannot silently go stale.
 */
export function updateConfigDocs(markdown: string): string {
  let out = markdown;
  for (const name of Object.keys(tables)) {
    const { begin, end } = tableMarkers(name);
    const start = out.indexOf(begin);
    const stop = out.indexOf(end, start);
    if (start < 0 || stop < 0) throw new Error(`docs/configuration.md lacks the markers of the "${name}" table`);
    out = `${out.slice(0, start + begin.length)}\n\n${renderTable(name)}\n\n${out.slice(stop)}`;
  }
  return out;
}
