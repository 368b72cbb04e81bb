/**
 * `fennec import-config MOSQUITTO_CONF`: prints the Fennec configuration equivalent to a Mosquitto
 * configuration file on stdout, with a `# not translated: ...` comment for each line it cannot
 * translate. The translation itself is src/config/mosquitto-import.ts.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { importMosquittoConfig } from '../config/mosquitto-import.js';
import { CliError, ExitCode } from './errors.js';

export function importConfigCommand(): Command {
  return new Command('import-config')
    .description(
      'print the Fennec YAML configuration equivalent to a Mosquitto configuration file, with a comment on each line it cannot translate',
    )
    .argument('<mosquitto.conf>', "Mosquitto's configuration file")
    .action(async (file: string) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
        throw new CliError('ERR_IMPORT_CONFIG', `${resolve(file)}: cannot read: ${reason}`, ExitCode.NoInput, {
          cause: err,
        });
      }
      process.stdout.write(importMosquittoConfig(text, file).yaml);
    });
}
