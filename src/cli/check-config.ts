/**
 * `fennec check-config FILE`: validates a configuration file, then reads every file it names (the
 * password file, the ACL file, the TLS certificate, key and CA; whether data_dir can be used) as
 * `fennec broker` would at start, so that `ok` means the broker will start on it. Prints `FILE: ok` and exits 0, or prints every issue
 * (`file:line:column: key: message`, or `file: key: message` with the absolute path of a named file
 * that fails) and exits 78.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import { Acl, AclFileError } from '../auth/acl.js';
import { PasswordFileError, readPasswordFile } from '../auth/password-file.js';
import { ConfigError, defaultConfig, defaultTlsOptions, loadConfigFile, type FennecConfig } from '../config/index.js';
import { FennecError, type FennecErrorCode } from '../errors/index.js';
import { checkTlsFiles, TlsFileError } from '../transport/tls.js';
import { CliError, ExitCode } from './errors.js';

/** The CliError that ends a command on a ConfigError: one stderr line per issue, exit code 78. */
export function configCliError(error: ConfigError): CliError {
  return new CliError(error.code, error.message, ExitCode.Config, { cause: error });
}

/** One file named by the configuration that the broker could not use. */
interface FileProblem {
  code: FennecErrorCode;
  /** `key: message`, the message naming the absolute path tried. */
  line: string;
}

const tlsKeys = { certFile: 'tls.cert_file', keyFile: 'tls.key_file', caFile: 'tls.ca_file' } as const;

/**
 * Reads each file `config` names, as the broker does at start, with relative paths resolved from the
 * working directory (as the broker resolves them) so that every message shows the absolute path tried.
 */
export async function checkNamedFiles(config: FennecConfig): Promise<FileProblem[]> {
  const problems: FileProblem[] = [];
  const known = (err: unknown, key: string): void => {
    if (!(err instanceof FennecError)) throw err;
    problems.push({ code: err.code, line: `${key}: ${err.message}` });
  };
  if (config.passwordFile !== undefined) {
    await readPasswordFile(resolve(config.passwordFile)).catch((err: unknown) => {
      if (!(err instanceof PasswordFileError)) throw err;
      known(err, 'password_file');
    });
  }
  if (config.aclFile !== undefined) {
    await Acl.load(resolve(config.aclFile)).catch((err: unknown) => {
      if (!(err instanceof AclFileError)) throw err;
      known(err, 'acl_file');
    });
  }
  const tls = config.tls;
  if (tls !== undefined && tls.certFile !== undefined && tls.keyFile !== undefined) {
    await checkTlsFiles({
      certFile: resolve(tls.certFile),
      keyFile: resolve(tls.keyFile),
      caFile: tls.caFile === undefined ? undefined : resolve(tls.caFile),
      minVersion: tls.minVersion ?? defaultTlsOptions.minVersion,
      ciphers: tls.ciphers,
    }).catch((err: unknown) => {
      if (err instanceof TlsFileError) known(err, tlsKeys[err.option]);
      else known(err, 'tls.ciphers');
    });
  }
  const dataDirProblem = await checkDataDir(config);
  if (dataDirProblem !== undefined) problems.push({ code: 'ERR_STORE_OPEN', line: `data_dir: ${dataDirProblem}` });
  return problems;
}

/**
 * Why the broker could not make or use its data directory (persistence: sqlite), or undefined: it
 * must be a directory it may write, or a path whose nearest existing parent is one. Nothing is created.
 */
async function checkDataDir(config: FennecConfig): Promise<string | undefined> {
  if ((config.persistence ?? defaultConfig.persistence) !== 'sqlite') return undefined;
  const directory = resolve(config.dataDir ?? defaultConfig.dataDir);
  let existing = directory;
  for (;;) {
    const found = await stat(existing).catch(() => undefined);
    if (found !== undefined) {
      if (!found.isDirectory()) return `${existing} is not a directory`;
      break;
    }
    if (dirname(existing) === existing) return `${directory}: no existing parent directory`;
    existing = dirname(existing);
  }
  try {
    await access(existing, constants.W_OK | constants.X_OK);
  } catch {
    return `${existing}: permission denied (the store is created in ${directory})`;
  }
  return undefined;
}

export function checkConfigCommand(): Command {
  return new Command('check-config')
    .description(
      'validate a configuration file and the files it names (password file, ACL, TLS certificate, key and CA); print every issue with its line',
    )
    .argument('<file>', 'YAML (or JSON) configuration file, see docs/configuration.md')
    .action(async (file: string) => {
      let config: FennecConfig;
      try {
        config = await loadConfigFile(file);
      } catch (err) {
        if (err instanceof ConfigError) throw configCliError(err);
        throw err;
      }
      const problems = await checkNamedFiles(config);
      if (problems.length > 0) {
        const lines = problems.map((problem) => `${file}: ${problem.line}`);
        throw new CliError(problems[0]!.code, lines.join('\n'), ExitCode.Config);
      }
      process.stdout.write(`${file}: ok\n`);
    });
}
