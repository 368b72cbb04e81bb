/**
 * `fennec check-config FILE`: validates a configuration file; prints `FILE: ok` and exits 0, or
 * prints every issue (`file:line:column: key: message`) and exits 78.
 */
import { Command } from 'commander';
import { ConfigError, loadConfigFile } from '../config/index.js';
import { CliError, ExitCode } from './errors.js';

/** The CliError that ends a command on a ConfigError: one stderr line per issue, exit code 78. */
export function configCliError(error: ConfigError): CliError {
  return new CliError(error.code, error.message, ExitCode.Config, { cause: error });
}

export function checkConfigCommand(): Command {
  return new Command('check-config')
    .description('validate a configuration file and print every issue with its line')
    .argument('<file>', 'YAML (or JSON) configuration file, see docs/configuration.md')
    .action(async (file: string) => {
      try {
        await loadConfigFile(file);
      } catch (err) {
        if (err instanceof ConfigError) throw configCliError(err);
        throw err;
      }
      process.stdout.write(`${file}: ok\n`);
    });
}
