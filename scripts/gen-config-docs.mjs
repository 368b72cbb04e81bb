// Rewrites the key tables of docs/configuration.md from the option table (src/config/options.ts),
// leaving the prose around them alone. Reads the compiled code: run `npm run docs:config`, which
// builds first.
import { readFileSync, writeFileSync } from 'node:fs';
import { updateConfigDocs } from '../dist/src/config/docs.js';

const path = 'docs/configuration.md';
const before = readFileSync(path, 'utf8');
const after = updateConfigDocs(before);
if (after === before) {
  console.log(`${path}: up to date`);
} else {
  writeFileSync(path, after);
  console.log(`${path}: tables regenerated`);
}
