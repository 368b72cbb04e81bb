/**
 * The hooks of a Broker: every registered hooks object, validated when it is registered and bucketed
 * by kind, so that the handlers and the router loop over a ready array (or call one ready function)
 * instead of looking hooks up per packet. The chain rule is in hooks.ts and docs/hooks.md.
 */
import { FennecError } from '../errors/index.js';
import type { AuthMethod, BrokerHooks } from './hooks.js';
import type { AuthorizeRead } from './read.js';

/** The decision hooks that chain: each asked in registration order until one answers decisively. */
export type DecisionKind = 'redirectConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe';

/** A hook of kind `K`, as a hooks object holds it. */
export type HookOf<K extends keyof BrokerHooks> = NonNullable<BrokerHooks[K]>;

/** One link of a chain: the hook, bound to its hooks object, and the name logs give it. */
export interface ChainLink<F> {
  readonly name: string;
  readonly hook: F;
}

const decisionKinds: readonly DecisionKind[] = [
  'redirectConnect',
  'authenticate',
  'authorizePublish',
  'authorizeSubscribe',
];
/** Every key a plain hooks object may have; any other is a misspelt hook, which would silently do nothing. */
const knownKeys: ReadonlySet<string> = new Set(['name', 'authMethods', 'authorizeRead', ...decisionKinds]);

interface Registration {
  readonly hooks: BrokerHooks;
  readonly name: string;
}

/**
 * The registered hooks objects, in registration order. `add` and `remove` rebuild the buckets; a
 * bucket is never changed in place, so a chain already being asked (waiting on a promise) finishes
 * with the hooks it started with.
 */
export class HookRegistry {
  #registrations: readonly Registration[] = [];
  #serial = 0;
  #redirectConnect: readonly ChainLink<HookOf<'redirectConnect'>>[] = [];
  #authenticate: readonly ChainLink<HookOf<'authenticate'>>[] = [];
  #authorizePublish: readonly ChainLink<HookOf<'authorizePublish'>>[] = [];
  #authorizeSubscribe: readonly ChainLink<HookOf<'authorizeSubscribe'>>[] = [];
  #authorizeRead: AuthorizeRead | undefined;
  #authMethods: ReadonlyMap<string, AuthMethod> = new Map();

  /** Registers each hooks object given, in order; an array counts as its elements. */
  constructor(...hooks: (BrokerHooks | readonly BrokerHooks[] | undefined)[]) {
    for (const entry of hooks) {
      if (entry === undefined) continue;
      for (const one of Array.isArray(entry) ? (entry as readonly BrokerHooks[]) : [entry as BrokerHooks]) {
        this.add(one);
      }
    }
  }

  /**
   * Registers `hooks` after those registered before: its decision hooks are asked after theirs.
   * Throws ERR_INVALID_HOOKS, registering nothing, when a field is not what BrokerHooks says, a plain
   * object has a key that names no hook, an authentication method name is already registered, or
   * the same object is registered twice.
   */
  add(hooks: BrokerHooks): void {
    const name = validate(hooks, ++this.#serial, this.#registrations);
    const registrations = [...this.#registrations, { hooks, name }];
    // Built before anything changes, so that a duplicate method leaves the registry as it was.
    this.#authMethods = mergeAuthMethods(registrations);
    this.#registrations = registrations;
    this.rebuild();
  }

  /** Unregisters `hooks` (the object given to `add`); false when it was not registered. */
  remove(hooks: BrokerHooks): boolean {
    const registrations = this.#registrations.filter((registration) => registration.hooks !== hooks);
    if (registrations.length === this.#registrations.length) return false;
    this.#registrations = registrations;
    this.#authMethods = mergeAuthMethods(registrations);
    this.rebuild();
    return true;
  }

  /** The names of the registered hooks objects, in registration order (the order chains run in). */
  get names(): readonly string[] {
    return this.#registrations.map((registration) => registration.name);
  }

  /** The redirectConnect chain; empty when no hooks object has one. */
  get redirectConnect(): readonly ChainLink<HookOf<'redirectConnect'>>[] {
    return this.#redirectConnect;
  }

  /** The authenticate chain, `allowAnonymous` first when the Broker registered it. */
  get authenticate(): readonly ChainLink<HookOf<'authenticate'>>[] {
    return this.#authenticate;
  }

  /** The authorizePublish chain (PUBLISH, and wills at CONNECT). */
  get authorizePublish(): readonly ChainLink<HookOf<'authorizePublish'>>[] {
    return this.#authorizePublish;
  }

  /** The authorizeSubscribe chain, asked once per topic filter. */
  get authorizeSubscribe(): readonly ChainLink<HookOf<'authorizeSubscribe'>>[] {
    return this.#authorizeSubscribe;
  }

  /**
   * The authorizeRead chain as one function: undefined when no hooks object has one (the router then
   * does no work per delivery), the hook itself when one has, and a loop returning the first answer
   * that is not undefined when several have. A hook that throws ends the chain: the caller refuses.
   */
  get authorizeRead(): AuthorizeRead | undefined {
    return this.#authorizeRead;
  }

  /** Every registered enhanced authentication method, by Authentication Method name. */
  get authMethods(): ReadonlyMap<string, AuthMethod> {
    return this.#authMethods;
  }

  private rebuild(): void {
    const registrations = this.#registrations;
    this.#redirectConnect = chain(registrations, 'redirectConnect');
    this.#authenticate = chain(registrations, 'authenticate');
    this.#authorizePublish = chain(registrations, 'authorizePublish');
    this.#authorizeSubscribe = chain(registrations, 'authorizeSubscribe');
    this.#authorizeRead = composeRead(chain(registrations, 'authorizeRead').map((link) => link.hook));
  }
}

/** The hooks of kind `kind`, bound to their objects, in registration order. */
function chain<K extends DecisionKind | 'authorizeRead'>(
  registrations: readonly Registration[],
  kind: K,
): ChainLink<HookOf<K>>[] {
  const links: ChainLink<HookOf<K>>[] = [];
  for (const { hooks, name } of registrations) {
    const hook = hooks[kind];
    if (hook !== undefined)
      links.push({ name, hook: (hook as (...args: never[]) => unknown).bind(hooks) as HookOf<K> });
  }
  return links;
}

/** One read authorization asking `hooks` in order; see HookRegistry.authorizeRead. */
function composeRead(hooks: readonly AuthorizeRead[]): AuthorizeRead | undefined {
  if (hooks.length <= 1) return hooks[0];
  return (client, topic) => {
    for (const hook of hooks) {
      const answer = hook(client, topic);
      if (answer !== undefined) return answer;
    }
    return undefined;
  };
}

/** The methods of every registration; throws ERR_INVALID_HOOKS when a name is registered twice. */
function mergeAuthMethods(registrations: readonly Registration[]): Map<string, AuthMethod> {
  const methods = new Map<string, AuthMethod>();
  const owners = new Map<string, string>();
  for (const { hooks, name } of registrations) {
    const own = hooks.authMethods;
    if (own === undefined) continue;
    for (const [method, implementation] of Object.entries(own)) {
      const owner = owners.get(method);
      if (owner !== undefined) {
        throw invalid(name, `authentication method ${JSON.stringify(method)} is already registered by ${owner}`);
      }
      owners.set(method, name);
      methods.set(method, implementation);
    }
  }
  return methods;
}

/** Checks `hooks` against BrokerHooks and returns the name logs give it. */
function validate(hooks: BrokerHooks, serial: number, registered: readonly Registration[]): string {
  if (typeof hooks !== 'object' || hooks === null) throw invalid(`hooks #${serial}`, 'is not an object');
  const given = hooks.name;
  if (given !== undefined && (typeof given !== 'string' || given.length === 0)) {
    throw invalid(`hooks #${serial}`, 'name is not a non-empty string');
  }
  const name = given ?? `hooks #${serial}`;
  if (registered.some((registration) => registration.hooks === hooks)) throw invalid(name, 'is already registered');
  const prototype = Object.getPrototypeOf(hooks) as unknown;
  // A class instance may carry state of its own; only a plain object is held to the known keys.
  if (prototype === Object.prototype || prototype === null) {
    for (const key of Object.keys(hooks)) {
      if (!knownKeys.has(key)) throw invalid(name, `${key} is not a hook (known: ${[...knownKeys].join(', ')})`);
    }
  }
  for (const kind of [...decisionKinds, 'authorizeRead'] as const) {
    const hook: unknown = hooks[kind];
    if (hook !== undefined && typeof hook !== 'function') throw invalid(name, `${kind} is not a function`);
  }
  const methods: unknown = hooks.authMethods;
  if (methods === undefined) return name;
  if (typeof methods !== 'object' || methods === null) throw invalid(name, 'authMethods is not an object');
  for (const [method, implementation] of Object.entries(methods)) {
    const start: unknown = (implementation as Partial<AuthMethod> | null)?.start;
    if (typeof start !== 'function') throw invalid(name, `authMethods[${JSON.stringify(method)}] has no start()`);
  }
  return name;
}

function invalid(name: string, problem: string): FennecError {
  return new FennecError('ERR_INVALID_HOOKS', `${name}: ${problem}`);
}
