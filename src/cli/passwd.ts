/**
 * `fennec passwd FILE USER`: adds a user to a password file or changes their password; `-c` creates
 * (or overwrites) the file, `-D` deletes the user; `-U FILE` hashes a file of plain `user:password`
 * lines in place, as `mosquitto_passwd -U` does (with scrypt). The password comes from `--password`, from two
 * prompts without echo on a terminal, or from the first line of standard input otherwise. The file is
 * written to a temporary file with mode 0600 and renamed over the old one, so a reader (the broker on
 * SIGHUP) sees either the old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ReadStream } from 'node:tty';
import { Command } from 'commander';
import {
  hashPassword,
  parsePasswordFile,
  parseStoredHash,
  PasswordFileError,
  usernameProblem,
} from '../auth/password-file.js';
import { CliError, ExitCode } from './errors.js';

interface PasswdFlags {
  create?: boolean;
  delete?: boolean;
  update?: boolean;
  password?: string;
}

/** Longest password accepted, in bytes: an MQTT password is Binary Data of at most 65,535 bytes. */
const MAX_PASSWORD_BYTES = 65_535;

function inputError(message: string): CliError {
  return new CliError('ERR_PASSWORD_INPUT', message, ExitCode.DataError);
}

/**
 * Reads passwords without echo from a terminal, one per `read(prompt)`. Characters typed ahead (one
 * chunk may hold both lines) are kept for the next read.
 */
class HiddenPrompt {
  private pending = '';

  constructor(private readonly stdin: ReadStream) {}

  read(prompt: string): Promise<string> {
    const stdin = this.stdin;
    // Echo goes off before the prompt shows: whatever is typed after it is never echoed.
    stdin.setRawMode(true);
    stdin.setEncoding('utf8');
    process.stderr.write(prompt);
    return new Promise((resolve, reject) => {
      let value = '';
      const finish = (): void => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        process.stderr.write('\n');
      };
      const onData = (chunk: string): void => {
        const characters = [...chunk];
        for (let i = 0; i < characters.length; i++) {
          const ch = characters[i]!;
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            // A CR LF pair ends one line, not two.
            const next = ch === '\r' && characters[i + 1] === '\n' ? i + 2 : i + 1;
            this.pending = characters.slice(next).join('');
            finish();
            resolve(value);
            return;
          }
          if (ch === '\u0003') {
            finish();
            reject(inputError('interrupted'));
            return;
          }
          if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
          else value += ch;
        }
      };
      stdin.on('data', onData);
      const typedAhead = this.pending;
      this.pending = '';
      if (typedAhead.length > 0) onData(typedAhead);
      stdin.resume();
    });
  }
}

/** The first line of a standard input that is not a terminal (a final `\r` dropped). */
async function readLine(stdin: NodeJS.ReadStream): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of stdin as AsyncIterable<Buffer>) {
    const newline = chunk.indexOf(0x0a);
    const part = newline < 0 ? chunk : chunk.subarray(0, newline);
    chunks.push(part);
    length += part.length;
    if (newline >= 0 || length > MAX_PASSWORD_BYTES) break;
  }
  if (chunks.length === 0) throw inputError('no password on standard input');
  return Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
}

/** The new password, from the flag, the terminal or standard input; checked to be non-empty and not too long. */
async function readPassword(flags: PasswdFlags): Promise<string> {
  let password: string;
  if (flags.password !== undefined) {
    password = flags.password;
  } else if (process.stdin.isTTY) {
    const prompt = new HiddenPrompt(process.stdin);
    password = await prompt.read('Password: ');
    const again = await prompt.read('Password again: ');
    if (again !== password) throw inputError('the passwords differ');
  } else {
    password = await readLine(process.stdin);
  }
  if (password.length === 0) throw inputError('the password is empty');
  if (Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
    throw inputError(`the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
  }
  return password;
}

/** The lines of the existing file, checked; a missing file is reported unless `create`. */
async function readLines(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file (use -c to create it)' : (err as Error).message;
    throw new CliError('ERR_PASSWORD_FILE', `${file}: ${reason}`, ExitCode.NoInput, { cause: err });
  }
  try {
    parsePasswordFile(text, file);
  } catch (err) {
    if (err instanceof PasswordFileError) throw new CliError(err.code, err.message, ExitCode.DataError, { cause: err });
    throw err;
  }
  const lines = text.split('\n');
  // A final newline leaves an empty last element, which the writer puts back.
  if (lines.at(-1) === '') lines.pop();
  return lines;
}

/** The index of `username`'s line among `lines` (which parsed), or -1. */
function lineOf(lines: readonly string[], username: string, file: string): number {
  const entry = parsePasswordFile(lines.join('\n'), file).get(username)?.entry;
  return entry === undefined ? -1 : entry.line - 1;
}

/** Writes `lines` to `file` atomically: a temporary file in the same directory, mode 0600, fsync, rename. */
async function writeAtomically(file: string, lines: readonly string[]): Promise<void> {
  const temporary = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(lines.length === 0 ? '' : `${lines.join('\n')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, file);
  } catch (err) {
    await rm(temporary, { force: true });
    throw new CliError(
      'ERR_PASSWORD_WRITE',
      `${file}: cannot write: ${(err as Error).message}`,
      ExitCode.CannotCreate,
      {
        cause: err,
      },
    );
  }
}

/** Reads `file` for `-U`: a missing or unreadable one ends the command (exit 66). */
async function readPlainFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new CliError('ERR_PASSWORD_FILE', `${file}: ${reason}`, ExitCode.NoInput, { cause: err });
  }
}

/**
 * `-U`: each `user:password` line (split at the first `:`, as Mosquitto does, so a password may hold
 * one) becomes `user:scrypt-hash`; comments and blank lines stay. A line that already holds a hash a
 * password file accepts is refused with the whole file unchanged: hashing a hash would lock the user out.
 */
async function convertPlainFile(file: string): Promise<void> {
  const text = await readPlainFile(file);
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const bad = (line: number, message: string): CliError =>
    new CliError('ERR_PASSWORD_FILE', `${file}:${line}: ${message}`, ExitCode.DataError);
  const seen = new Map<string, number>();
  const plain: { index: number; username: string; password: string }[] = [];
  for (const [index, raw] of lines.entries()) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) throw bad(index + 1, 'expected user:password');
    const username = line.slice(0, colon);
    const password = line.slice(colon + 1);
    const problem = usernameProblem(username);
    if (problem !== undefined) throw bad(index + 1, problem);
    if (password === '') throw bad(index + 1, `user ${username}: the password is empty`);
    if (typeof parseStoredHash(password) !== 'string') {
      throw bad(
        index + 1,
        `user ${username} already has a hash; -U converts plain passwords only, nothing was changed`,
      );
    }
    const earlier = seen.get(username);
    if (earlier !== undefined) throw bad(index + 1, `user ${username} is already on line ${earlier}`);
    seen.set(username, index + 1);
    plain.push({ index, username, password });
  }
  // One at a time: each scrypt takes 32 MiB.
  for (const { index, username, password } of plain) lines[index] = `${username}:${await hashPassword(password)}`;
  await writeAtomically(file, lines);
}

/** Runs `fennec passwd` with its parsed arguments. */
export async function passwd(file: string, user: string | undefined, flags: PasswdFlags): Promise<void> {
  if (flags.update === true) {
    if (user !== undefined || flags.create === true || flags.delete === true || flags.password !== undefined) {
      throw new CliError('ERR_BAD_FLAG', '-U (--update) takes the file alone', ExitCode.Usage);
    }
    return convertPlainFile(file);
  }
  if (user === undefined) throw new CliError('ERR_BAD_FLAG', "missing required argument 'user'", ExitCode.Usage);
  const username = user;
  if (flags.create === true && flags.delete === true) {
    throw new CliError('ERR_BAD_FLAG', '-c (--create) and -D (--delete) cannot go together', ExitCode.Usage);
  }
  if (flags.delete === true && flags.password !== undefined) {
    throw new CliError('ERR_BAD_FLAG', '--password makes no sense with -D (--delete)', ExitCode.Usage);
  }
  const problem = usernameProblem(username);
  if (problem !== undefined) throw new CliError('ERR_BAD_FLAG', `USER: ${problem}`, ExitCode.Usage);
  if (flags.delete === true) {
    const lines = await readLines(file);
    const index = lineOf(lines, username, file);
    if (index < 0) throw new CliError('ERR_NO_SUCH_USER', `${file}: no user ${username}`, ExitCode.NoUser);
    lines.splice(index, 1);
    await writeAtomically(file, lines);
    return;
  }
  // Read the file first: a missing or bad one should fail before the user types a password.
  const lines = flags.create === true ? [] : await readLines(file);
  const password = await readPassword(flags);
  const line = `${username}:${await hashPassword(password)}`;
  const index = lineOf(lines, username, file);
  if (index < 0) lines.push(line);
  else lines[index] = line;
  await writeAtomically(file, lines);
}

export function passwdCommand(): Command {
  return new Command('passwd')
    .description(
      "add a user to a password file, change their password, or delete them; -U hashes a plain user:password file (Mosquitto's $6$ and $7$ hashes are read as they are)",
    )
    .argument('<file>', 'password file (user:hash lines, see docs/cli.md)')
    .argument('[user]', 'user name (not with -U)')
    .option('-c, --create', 'create the file, or overwrite it, with this user alone')
    .option('-D, --delete', 'delete the user')
    .option('-U, --update', 'hash every password of a plain user:password file in place, as mosquitto_passwd -U')
    .option('--password <password>', 'the password (for scripts; it shows in the process list); default: prompt')
    .action((file: string, user: string | undefined, flags: PasswdFlags) => passwd(file, user, flags));
}
