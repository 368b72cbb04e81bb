// Reports which normative statements of MQTT 3.1.1 and 5.0 that bind a server are named by a test.
// A statement counts as tested when a file under test/ names its id as `MQTT-x.y.z-n` or `mqtt_x_y_z_n`.
// Usage: node scripts/spec-coverage.mjs [--spec DIR] [--missing]
// The statement lists live in the shared folder beside the checkout (../shared/spec).
import { readFileSync, readdirSync, statSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const specIndex = args.indexOf('--spec');
const specDir = resolve(specIndex >= 0 ? args[specIndex + 1] : '../shared/spec');
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

const testText = files('test')
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

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
  for (const [id, , , summary] of rows) {
    const snake = id.toLowerCase().replace(/[.-]/g, '_');
    const named = new RegExp(
      `\\[${id.replace(/\./g, '\\.')}\\]|${id.replace(/\./g, '\\.')}(?![0-9])|${snake}(?![0-9])`,
    );
    if (!named.test(testText)) missing.push(`${id}\t${summary}`);
  }
  const covered = rows.length - missing.length;
  console.log(
    `MQTT ${version}: ${covered} of ${rows.length} server statements named by a test (${missing.length} missing)`,
  );
  if (showMissing) for (const line of missing) console.log(`  ${line}`);
}
