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

/** The files one place of the configuration names: the top level, or one entry of `listeners:`. */
interface NamedFiles {
  passwordFile?: string | undefined;
  aclFile?: string | undefined;
  certFile?: string | undefined;
  keyFile?: string | undefined;
  caFile?: string | undefined;
  minVersion?: string | undefined;
  ciphers?: string | undefined;
}

/**
 * Reads each file `config` names, at the top level and in each listener, as the broker does at
 * start, so that every message shows the absolute path tried (the loader has already resolved
 * relative paths against the file's directory).
 */
export async function checkNamedFiles(config: FennecConfig): Promise<FileProblem[]> {
  const problems: FileProblem[] = [];
  await checkFilesOf({ ...config, ...config.tls }, { prefix: '', tlsPrefix: 'tls.' }, problems);
  for (const [index, listener] of (config.listeners ?? []).entries()) {
    const prefix = `listeners[${index}].`;
    await checkFilesOf(listener, { prefix, tlsPrefix: prefix }, problems);
  }
  const dataDirProblem = await checkDataDir(config);
  if (dataDirProblem !== undefined) problems.push({ code: 'ERR_STORE_OPEN', line: `data_dir: ${dataDirProblem}` });
  return problems;
}

/** Checks the password file, the ACL file and the TLS files of one place, keys named with its prefixes. */
async function checkFilesOf(
  files: NamedFiles,
  keys: { prefix: string; tlsPrefix: string },
  problems: FileProblem[],
): Promise<void> {
  const known = (err: unknown, key: string): void => {
    if (!(err instanceof FennecError)) throw err;
    problems.push({ code: err.code, line: `${key}: ${err.message}` });
  };
  if (files.passwordFile !== undefined) {
    await readPasswordFile(resolve(files.passwordFile)).catch((err: unknown) => {
      if (!(err instanceof PasswordFileError)) throw err;
      known(err, `${keys.prefix}password_file`);
    });
  }
  if (files.aclFile !== undefined) {
    await Acl.load(resolve(files.aclFile)).catch((err: unknown) => {
      if (!(err instanceof AclFileError)) throw err;
      known(err, `${keys.prefix}acl_file`);
    });
  }
  if (files.certFile === undefined || files.keyFile === undefined) return;
  const tlsKeys = { certFile: 'cert_file', keyFile: 'key_file', caFile: 'ca_file' } as const;
  await checkTlsFiles({
    certFile: resolve(files.certFile),
    keyFile: resolve(files.keyFile),
    caFile: files.caFile === undefined ? undefined : resolve(files.caFile),
    minVersion: (files.minVersion ?? defaultTlsOptions.minVersion) as typeof defaultTlsOptions.minVersion,
    ciphers: files.ciphers,
  }).catch((err: unknown) => {
    if (err instanceof TlsFileError) known(err, `${keys.tlsPrefix}${tlsKeys[err.option]}`);
    else known(err, `${keys.tlsPrefix}ciphers`);
  });
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
