// Turns several run-baseline.sh results.txt files (one per broker) into one markdown table per
// measure, brokers side by side, with Fennec's ratio to each other broker (mean of runs).
// usage: node bench/summarize.mjs DIR/fennec/results.txt DIR/aedes/results.txt DIR/mosquitto/results.txt
import { readFileSync } from 'node:fs';

function load(file) {
  const rows = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('RESULT ')) continue;
    const kv = {};
    for (const token of line.slice(7).trim().split(/\s+/)) {
      const i = token.indexOf('=');
      if (i > 0) kv[token.slice(0, i)] = token.slice(i + 1);
    }
    rows.push(kv);
  }
  return rows;
}

const sets = process.argv.slice(2).map((file) => {
  const rows = load(file);
  return { name: rows[0]?.broker ?? file, rows };
});
if (sets.length === 0) {
  console.error('usage: node bench/summarize.mjs RESULTS...');
  process.exit(1);
}
const tests = [...new Set(sets.flatMap((s) => s.rows.map((r) => r.test)))];
const mean = (values) => (values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length);
function value(set, test, key) {
  const rows = set.rows.filter((r) => r.test === test && r.failed !== '1');
  if (/_us$/.test(key)) return mean(rows.filter((r) => Number(r.lat_samples) > 0).map((r) => Number(r[key])));
  return mean(rows.map((r) => Number(r[key])).filter((v) => !Number.isNaN(v)));
}
function fmt(v, key) {
  if (Number.isNaN(v)) return 'n/a';
  if (key.endsWith('_kb')) return `${(v / 1024).toFixed(1)} MiB`;
  if (key.endsWith('_us')) return v >= 10_000 ? `${(v / 1000).toFixed(0)} ms` : `${(v / 1000).toFixed(2)} ms`;
  if (key.endsWith('_pct')) return `${v.toFixed(0)}%`;
  if (v >= 10_000) return `${(v / 1000).toFixed(1)}k`;
  return String(Math.round(v));
}
const fennec = sets.find((s) => s.name === 'fennec');
const others = sets.filter((s) => s !== fennec);
const measures = [
  ['msgs_per_s', 'delivered msgs/s (higher is better)', true],
  ['p99_us', 'p99 latency (lower is better)', false],
  ['broker_vmhwm_kb', 'broker peak memory (lower is better)', false],
  ['broker_cpu_pct', 'broker CPU (100% = one core)', false],
  ['connects_per_s', 'connections/s (conn test)', true],
  ['broker_rss_per_conn_bytes', 'bytes of broker memory per idle connection', false],
];
for (const [key, title, higherIsBetter] of measures) {
  const testsWith = tests.filter((t) => sets.some((s) => !Number.isNaN(value(s, t, key))));
  if (testsWith.length === 0) continue;
  console.log(`\n### ${title}\n`);
  const ratioHeads = fennec ? others.map((o) => `fennec/${o.name}`) : [];
  console.log(`| test | ${sets.map((s) => s.name).join(' | ')} | ${ratioHeads.join(' | ')} |`);
  console.log(`| --- | ${sets.map(() => '---:').join(' | ')} | ${ratioHeads.map(() => '---:').join(' | ')} |`);
  for (const test of testsWith) {
    const cells = sets.map((s) => fmt(value(s, test, key), key));
    const ratios = fennec
      ? others.map((o) => {
          const r = value(fennec, test, key) / value(o, test, key);
          return Number.isFinite(r) ? `${r.toFixed(2)}x` : 'n/a';
        })
      : [];
    console.log(`| ${test} | ${cells.join(' | ')} | ${ratios.join(' | ')} |`);
  }
  void higherIsBetter;
}
// Durable rows (TEST-E<secs>, persistent subscribers): each broker's figure as a share of its own
// figure for TEST with clean subscribers, the ratio issue 16 sets a target for (Fennec at least 50%).
const durableTests = tests.filter((t) => /-E\d+$/.test(t) && tests.includes(t.replace(/-E\d+$/, '')));
if (durableTests.length > 0) {
  console.log('\n### durable (persistent subscribers, mqload -E) against clean subscribers, delivered msgs/s\n');
  console.log(`| test | ${sets.map((s) => `${s.name} durable / clean`).join(' | ')} |`);
  console.log(`| --- | ${sets.map(() => '---:').join(' | ')} |`);
  for (const test of durableTests) {
    const base = test.replace(/-E\d+$/, '');
    const cells = sets.map((s) => {
      const durable = value(s, test, 'msgs_per_s');
      const clean = value(s, base, 'msgs_per_s');
      const share = durable / clean;
      const shown = Number.isFinite(share) ? `${(100 * share).toFixed(0)}%` : 'n/a';
      return `${fmt(durable, 'msgs_per_s')} / ${fmt(clean, 'msgs_per_s')} = ${shown}`;
    });
    console.log(`| ${test} | ${cells.join(' | ')} |`);
  }
}
console.log('\n### integrity (sum over runs: lost / dup / reorder; failed runs)\n');
console.log(`| test | ${sets.map((s) => s.name).join(' | ')} |`);
console.log(`| --- | ${sets.map(() => '---').join(' | ')} |`);
for (const test of tests) {
  const cells = sets.map((s) => {
    const rows = s.rows.filter((r) => r.test === test);
    const sum = (k) => rows.reduce((a, r) => a + (Number(r[k]) || 0), 0);
    const failed = rows.filter((r) => r.failed === '1' || (r.rc !== '0' && r.rc !== undefined)).length;
    return `${sum('lost')} / ${sum('dup')} / ${sum('reorder')}${failed ? `; ${failed} failed` : ''}`;
  });
  console.log(`| ${test} | ${cells.join(' | ')} |`);
}
