#!/usr/bin/env node
// Entry point of the `fennec` command: runs the compiled CLI (built by `npm run build`, run by `npm ci`'s prepare step).
import('../dist/src/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
    console.error('fennec: the project is not built yet; run `npm run build` (or `npm ci`) first');
    process.exit(70);
  }
  throw err;
});
