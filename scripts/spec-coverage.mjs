// Reports which normative statements of MQTT 3.1.1 and 5.0 that bind a server are named by a test.
// A statement counts as tested when a file under test/ names its id as `MQTT-x.y.z-n` or `mqtt_x_y_z_n`.
// Statements that cannot be tested on this server (not applicable, or a documented deviation) are read
// from the table in docs/conformance.md, "Statements that no test names", and reported with its reason.
// Usage: node scripts/spec-coverage.mjs [--spec DIR] [--missing]
// The statement lists live in the repository, spec/ (see spec/README.md for where they come from);
// the script reads them, test/ and docs/ relative to the repository, from whatever directory it runs in.
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const specIndex = args.indexOf('--spec');
const specDir = specIndex >= 0 ? resolve(args[specIndex + 1]) : join(root, 'spec');
const showMissing = args.includes('--missing');

if (!existsSync(specDir)) {
  console.error(`spec-coverage: no statement lists at ${specDir} (pass --spec DIR)`);
  process.exit(2);
}

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...files(path));
    else if (/\.(ts|js|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

const testText = files(join(root, 'test'))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

/** `version id` -> { status, reason }, from the rows `| 5.0 | MQTT-x.y.z-n | status | reason |` of the docs table. */
const excused = new Map();
for (const line of readFileSync(join(root, 'docs/conformance.md'), 'utf8').split('\n')) {
  // Cells are padded to align the columns (prettier), so spaces around each are optional.
  const row =
    /^\|\s*(3\.1\.1|5\.0)\s*\|\s*(MQTT-[0-9.]+-[0-9]+)\s*\|\s*(not applicable|deviation)\s*\|\s*(.+?)\s*\|$/.exec(line);
  if (row !== null) excused.set(`${row[1]} ${row[2]}`, { status: row[3], reason: row[4] });
}

let exitCode = 0;
for (const [version, file] of [
  ['3.1.1', 'mqtt-3.1.1-statements.tsv'],
  ['5.0', 'mqtt-5.0-statements.tsv'],
]) {
  const rows = readFileSync(join(specDir, file), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t'))
    .filter(([, , appliesTo]) => appliesTo === 'server' || appliesTo === 'both');
  const missing = [];
  const notTested = [];
  const stale = [];
  for (const [id, , , summary] of rows) {
    const snake = id.toLowerCase().replace(/[.-]/g, '_');
    const named = new RegExp(
      `\\[${id.replace(/\./g, '\\.')}\\]|${id.replace(/\./g, '\\.')}(?![0-9])|${snake}(?![0-9])`,
    );
    const excuse = excused.get(`${version} ${id}`);
    if (named.test(testText)) {
      if (excuse !== undefined) stale.push(id);
    } else if (excuse !== undefined) {
      notTested.push(`${id}\t${excuse.status}: ${excuse.reason}`);
    } else {
      missing.push(`${id}\t${summary}`);
    }
  }
  const covered = rows.length - missing.length - notTested.length;
  console.log(
    `MQTT ${version}: ${covered} of ${rows.length} server statements named by a test, ` +
      `${notTested.length} not applicable or deviations (docs/conformance.md), ${missing.length} missing`,
  );
  if (showMissing) {
    for (const line of missing) console.log(`  missing  ${line}`);
    for (const line of notTested) console.log(`  excused  ${line}`);
  }
  for (const id of stale) console.log(`  stale: ${id} is named by a test; remove its row from docs/conformance.md`);
  if (missing.length > 0 || stale.length > 0) exitCode = 1;
}
process.exitCode = exitCode;
