/** The version of this Fennec, as its package.json says: what `fennec --version` and `-V` print. */
import { readFileSync } from 'node:fs';

/** Read once, from the package.json beside dist/ (this file runs as dist/src/cli/version.js). */
export const fennecVersion: string = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
