/**
 * The `fennec` command line. Each subcommand lives in its own file; errors are one line on
 * stderr and a documented exit code (docs/cli.md).
 */
import { Command, CommanderError } from 'commander';
import { benchCommand } from './bench/command.js';
import { brokerCommand } from './broker.js';
import { checkConfigCommand } from './check-config.js';
import { importConfigCommand } from './import-config.js';
import { passwdCommand } from './passwd.js';
import { reportError } from './daemon.js';
import { pubCommand } from './pub.js';
import { subCommand } from './sub.js';
import { ExitCode, CliError } from './errors.js';
import { fennecVersion } from './version.js';

const program = new Command('fennec')
  .description(
    'Fennec: an MQTT 3.1, 3.1.1 and 5.0 broker with its password file tool, configuration check and Mosquitto configuration import, the command-line clients pub and sub (the flags of mosquitto_pub and mosquitto_sub) and the load generator bench; the broker, its codec and the client library also embed in Node.js programs as the fennec-mqtt package',
  )
  .version(fennecVersion, '-V, --version', 'print the version and exit')
  // `fennec -V` is the version, `fennec bench -V 5` bench's MQTT version: options go with their command.
  .enablePositionalOptions()
  .showHelpAfterError(false)
  .exitOverride()
  .configureOutput({
    writeErr: (text) => process.stderr.write(text),
    // Commander puts a suggestion ("(Did you mean --port?)") on a line of its own; errors are one line,
    // with the prefix of every other error of the command rather than Commander's "error:".
    outputError: (text, write) =>
      write(
        `${text
          .trimEnd()
          .replace(/\s*\n\s*/g, ' ')
          .replace(/^error: /, 'fennec: ')}\n`,
      ),
  });
// A command made apart and added with addCommand inherits nothing: without these settings a bad
// flag would make Commander call process.exit(1) itself instead of throwing for the catch below.
program.addCommand(brokerCommand().copyInheritedSettings(program));
program.addCommand(checkConfigCommand().copyInheritedSettings(program));
program.addCommand(passwdCommand().copyInheritedSettings(program));
program.addCommand(importConfigCommand().copyInheritedSettings(program));
program.addCommand(pubCommand().copyInheritedSettings(program));
program.addCommand(subCommand().copyInheritedSettings(program));
program.addCommand(benchCommand().copyInheritedSettings(program));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander has already printed its one-line message; help and version exit with 0.
    process.exitCode = err.exitCode === 0 ? 0 : ExitCode.Usage;
  } else {
    const error =
      err instanceof CliError
        ? err
        : new CliError('ERR_INTERNAL', err instanceof Error ? err.message : String(err), ExitCode.Software);
    // The background broker of `fennec broker -d` hands its error to the command that started it.
    if (!reportError(error)) {
      // One line each: a configuration error carries one line per issue.
      for (const line of error.message.split('\n')) process.stderr.write(`fennec: ${line}\n`);
    }
    process.exitCode = error.exitCode;
  }
}
