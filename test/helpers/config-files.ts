/**
 * Temporary configuration files for tests: a directory made before the file's tests and removed
 * after them, and a writer that puts each file there under a fresh name.
 */
import { after, before } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The temporary directory and a writer of files in it. */
export interface ConfigFiles {
  /** Writes `lines` to a new file in the directory and returns its path. */
  write(lines: string[]): string;
  /** The directory (made in `before`). */
  directory(): string;
}

/** Registers the directory's `before` / `after` hooks in the calling test file. */
export function temporaryConfigFiles(prefix: string): ConfigFiles {
  let dir = '';
  let fileCount = 0;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    write(lines) {
      const path = join(dir, `config-${++fileCount}.yaml`);
      writeFileSync(path, lines.join('\n') + '\n');
      return path;
    },
    directory: () => dir,
  };
}
