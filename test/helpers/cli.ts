/** What the tests of the `fennec` command share: where it is, and the environment it runs in. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this file runs as dist/test/helpers/cli.js. */
export const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The `fennec` executable of this checkout. */
export const fennecBin = join(repositoryRoot, 'bin', 'fennec.js');

/** This process's environment without FENNEC_* settings, and in memory: the CLI tests are not about the store. */
export const cliEnvironment: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('FENNEC_'))),
  FENNEC_PERSISTENCE: 'none',
};
