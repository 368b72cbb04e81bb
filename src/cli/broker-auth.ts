/**
 * The password files and ACL files of `fennec broker`: the top level's, and a listener's own where it
 * gives one (Mosquitto's `per_listener_settings`). Each file becomes hooks that speak only for the
 * clients of the listeners it covers and abstain for the others, so the files chain like any hooks.
 */
import type { Logger } from 'pino';
import { Acl, AclFileError, aclHooks } from '../auth/acl.js';
import { PasswordFile, PasswordFileError } from '../auth/password-file.js';
import type { BrokerHooks, ClientIdentity } from '../broker/hooks.js';
import { listenerName, type ResolvedConfig } from '../config/index.js';
import { CliError, ExitCode } from './errors.js';

/** The auth hooks of a configuration and how to read their files again. */
export interface BrokerAuth {
  /** To register after `allow_anonymous`: password files first (who logs in), then ACLs (what they may do). */
  hooks: BrokerHooks[];
  /** Reads every file again (SIGHUP); a bad file is logged and what was loaded before stays. */
  reload: () => void;
}

/** Which listeners a file covers: those named, or all but those named. */
type Scope = { only: ReadonlySet<string> } | { except: ReadonlySet<string> };

function covers(scope: Scope, listener: string | undefined): boolean {
  if ('only' in scope) return listener !== undefined && scope.only.has(listener);
  return listener === undefined || !scope.except.has(listener);
}

/** `hooks` answering only for clients of the listeners in `scope`, abstaining for every other. */
export function scopedHooks(hooks: BrokerHooks, scope: Scope, name: string): BrokerHooks {
  const scoped: BrokerHooks = { name };
  const { authenticate, authorizePublish, authorizeSubscribe, authorizeRead } = hooks;
  const ours = (client: ClientIdentity): boolean => covers(scope, client.listener);
  if (authenticate !== undefined) {
    scoped.authenticate = (request) => (ours(request) ? authenticate.call(hooks, request) : undefined);
  }
  if (authorizePublish !== undefined) {
    scoped.authorizePublish = (client, topic, qos, retain) =>
      ours(client) ? authorizePublish.call(hooks, client, topic, qos, retain) : undefined;
  }
  if (authorizeSubscribe !== undefined) {
    scoped.authorizeSubscribe = (client, filter, qos) =>
      ours(client) ? authorizeSubscribe.call(hooks, client, filter, qos) : undefined;
  }
  if (authorizeRead !== undefined) {
    scoped.authorizeRead = (client, topic) => (ours(client) ? authorizeRead.call(hooks, client, topic) : undefined);
  }
  return scoped;
}

/** A password file to load; a bad one ends the command like a bad configuration (exit 78). */
async function loadPasswords(file: string): Promise<PasswordFile> {
  try {
    return await PasswordFile.load(file);
  } catch (err) {
    if (err instanceof PasswordFileError) throw new CliError(err.code, err.message, ExitCode.Config, { cause: err });
    throw err;
  }
}

async function loadAcl(file: string): Promise<Acl> {
  try {
    return await Acl.load(file);
  } catch (err) {
    if (err instanceof AclFileError) throw new CliError(err.code, err.message, ExitCode.Config, { cause: err });
    throw err;
  }
}

/** One ACL file kept current: the hooks read `current` on every check, so a reload replaces the rules in place. */
class AclSlot {
  constructor(
    readonly file: string,
    public current: Acl,
  ) {}
}

/**
 * Loads the password and ACL files of `config`: the top level's cover every listener without its own
 * (and streams given to the broker without a listener); a listener's own cover its clients only.
 * @throws CliError (exit 78) naming a file that cannot be read or parsed.
 */
export async function loadBrokerAuth(config: ResolvedConfig, log: Logger): Promise<BrokerAuth> {
  const listeners = (config.listeners ?? []).map((listener, index) => ({
    name: listenerName(listener.name, listener.protocol, index),
    passwordFile: listener.passwordFile,
    aclFile: listener.aclFile,
  }));
  const passwordHooks: BrokerHooks[] = [];
  const aclHookList: BrokerHooks[] = [];
  const passwordFiles: PasswordFile[] = [];
  const acls: AclSlot[] = [];

  const ownPasswords = new Set(listeners.filter((l) => l.passwordFile !== undefined).map((l) => l.name));
  const ownAcls = new Set(listeners.filter((l) => l.aclFile !== undefined).map((l) => l.name));
  const addPasswords = async (file: string, scope: Scope, name: string): Promise<void> => {
    const passwords = await loadPasswords(file);
    passwordFiles.push(passwords);
    passwordHooks.push(scopedHooks(passwords.hooks, scope, name));
  };
  const addAcl = async (file: string, scope: Scope, name: string): Promise<void> => {
    const slot = new AclSlot(file, await loadAcl(file));
    acls.push(slot);
    aclHookList.push(
      scopedHooks(
        aclHooks(() => slot.current),
        scope,
        name,
      ),
    );
  };
  if (config.passwordFile !== undefined)
    await addPasswords(config.passwordFile, { except: ownPasswords }, 'password-file');
  if (config.aclFile !== undefined) await addAcl(config.aclFile, { except: ownAcls }, 'acl');
  for (const listener of listeners) {
    const only = { only: new Set([listener.name]) };
    if (listener.passwordFile !== undefined) {
      await addPasswords(listener.passwordFile, only, `password-file of listener ${listener.name}`);
    }
    if (listener.aclFile !== undefined) await addAcl(listener.aclFile, only, `acl of listener ${listener.name}`);
  }

  const reload = (): void => {
    for (const passwords of passwordFiles) {
      passwords.reload().then(
        (users) => log.info({ file: passwords.path, users }, 'password file reloaded'),
        (err: unknown) =>
          log.error(
            { file: passwords.path, err: err instanceof Error ? err.message : String(err) },
            'password file not reloaded; keeping the users loaded before',
          ),
      );
    }
    for (const slot of acls) {
      // A file that no longer parses is logged and the rules in force stay, as Mosquitto does.
      Acl.load(slot.file).then(
        (next) => {
          slot.current = next;
          log.info({ aclFile: slot.file }, 'ACL file reloaded');
        },
        (err: unknown) => {
          log.error(
            { aclFile: slot.file, err: err instanceof Error ? err.message : String(err) },
            'ACL file not reloaded',
          );
        },
      );
    }
  };
  return { hooks: [...passwordHooks, ...aclHookList], reload };
}
