/**
 * The configuration file's schema: snake_case keys, each with its type, range and unit, built from
 * the option table (options.ts), and the camelCase `FennecConfig` it maps to. Documented key by key
 * in docs/configuration.md.
 */
import { z } from 'zod';
import { fileKey, type OptionSpec, type Section } from './fields.js';
import { duplicateListenerNames, listenerIssues, listenerTlsOptionNames } from './listener-options.js';
import {
  listenerOptionSpecs,
  httpOptionSpecs,
  clusterOptionSpecs,
  optionSpecs,
  tlsOptionSpecs,
  type FennecConfig,
  type FileConfig,
  type LimitOption,
  type limitOptionSpecs,
} from './options.js';

export {
  durabilityModes,
  logLevels,
  persistenceModes,
  type Durability,
  type LogLevel,
  type Persistence,
} from './fields.js';
export type { ConfigLimits, FennecConfig, FileConfig, LimitOption } from './options.js';

/** The table's entries, untyped, for the loops that walk every option. */
const entries = (specs: Record<string, OptionSpec>, section: Section): [string, OptionSpec][] =>
  Object.entries(specs).filter(([, spec]) => spec.section === section);
const topLevelEntries = entries(optionSpecs, '');
const limitEntries = entries(optionSpecs, 'limits');
const tlsEntries = entries(tlsOptionSpecs, 'tls');
const listenerEntries = entries(listenerOptionSpecs, 'listeners');
/** The TLS keys a listener entry takes, never required there: only a secure listener needs its files. */
const listenerTlsEntries = tlsEntries
  .filter(([name]) => (listenerTlsOptionNames as readonly string[]).includes(name))
  .map(([name, spec]): [string, OptionSpec] => [name, { ...spec, required: undefined } as unknown as OptionSpec]);
/** Every option of a listener entry: its own, then the TLS ones. */
const allListenerEntries = [...listenerEntries, ...listenerTlsEntries];
const listenerKeyOf = new Map(allListenerEntries.map(([name, spec]) => [name, spec.key]));
const httpEntries = entries(httpOptionSpecs, 'http');
const clusterEntries = entries(clusterOptionSpecs, 'cluster');

/** A key of the `limits:` section. */
export type LimitKey = (typeof limitOptionSpecs)[LimitOption]['key'];
/** Each key of the `limits:` section, with the BrokerOptions field it sets. */
export const limitSpecs = Object.fromEntries(limitEntries.map(([name, spec]) => [spec.key, { option: name }])) as {
  readonly [K in LimitOption as (typeof limitOptionSpecs)[K]['key']]: { readonly option: K };
};
/** Every key of the `limits:` section, in documentation order. */
export const limitKeys = limitEntries.map(([, spec]) => spec.key as LimitKey);

/** The zod shape of one level of the file: each key (and alias) of `specs` with its schema. */
function shapeOf(specs: [string, OptionSpec][]): Record<string, z.ZodType> {
  const shape: Record<string, z.ZodType> = {};
  for (const [, spec] of specs) {
    shape[spec.key] = spec.required === true ? spec.field.schema : spec.field.schema.optional();
    if (spec.alias !== undefined) shape[spec.alias] = spec.field.schema.optional();
  }
  return shape;
}

/** The `tls:` section: the TLS listener. Relative file paths are resolved from the working directory. */
const tlsSchema = z
  .strictObject(shapeOf(tlsEntries), { error: 'must be a mapping of TLS settings (cert_file and key_file at least)' })
  .superRefine((tls, context) => {
    if (tls.require_client_certificate === true && tls.ca_file === undefined) {
      context.addIssue({
        code: 'custom',
        path: ['require_client_certificate'],
        message: 'needs ca_file, the CA that client certificates must chain to',
      });
    }
    if (typeof tls.use_identity_as_username === 'string' && tls.require_client_certificate !== true) {
      context.addIssue({
        code: 'custom',
        path: ['use_identity_as_username'],
        message: 'needs require_client_certificate: true, so that every client has a verified certificate',
      });
    }
  });

/** One entry of `listeners:`: each key by its own schema, then the keys that must go together. */
const listenerSchema = z
  .strictObject(shapeOf(allListenerEntries), {
    error: 'must be a mapping of listener settings (protocol and port at least)',
  })
  .superRefine((listener, context) => {
    const byName = byNameOf(listener, allListenerEntries);
    const keyOf = (option: string): string => listenerKeyOf.get(option) ?? option;
    for (const issue of listenerIssues(byName, keyOf)) {
      context.addIssue({ code: 'custom', path: [keyOf(issue.option)], message: issue.message });
    }
  });

/** The `listeners:` list: at least one listener, names unique. */
const listenersSchema = z
  .array(listenerSchema, { error: 'must be a list of listeners, each a mapping with protocol and port' })
  .min(1, { error: 'must list at least one listener (or be left out for the short form host / port / tls)' })
  .superRefine((listeners, context) => {
    const names = listeners.map((listener, index) => listenerName(listener.name, listener.protocol, index));
    for (const index of duplicateListenerNames(names)) {
      context.addIssue({
        code: 'custom',
        path: [index, ...(listeners[index]?.name === undefined ? [] : ['name'])],
        message: `has the name ${JSON.stringify(names[index])}, which another listener has; give each a unique name`,
      });
    }
  });

/** A listener's name: the one given, else `PROTOCOL-INDEX` (`ws-2`, counting from 0 in the list). */
export function listenerName(name: unknown, protocol: unknown, index: number): string {
  return typeof name === 'string' ? name : `${String(protocol)}-${index}`;
}

/**
 * The schema of a configuration file, as parsed from YAML. Every key is optional; unknown keys are
 * errors. A key and its alias given together are refused by `validateFile`, not by the schema.
 */
export const fileSchema = z.strictObject(
  {
    ...shapeOf(topLevelEntries),
    limits: z.strictObject(shapeOf(limitEntries), { error: 'must be a mapping of limit names to values' }).optional(),
    tls: tlsSchema.optional(),
    listeners: listenersSchema.optional(),
    http: z
      .strictObject(shapeOf(httpEntries), {
        error: 'must be a mapping of HTTP listener settings (host, port, admin_token)',
      })
      .optional(),
    cluster: z
      .strictObject(shapeOf(clusterEntries), {
        error: `must be a mapping of cluster settings (${Object.values(clusterOptionSpecs)
          .map((spec) => spec.key)
          .join(', ')})`,
      })
      .optional(),
  },
  { error: 'must be a mapping of configuration keys to values' },
) as unknown as z.ZodType<FileConfig>;

/** The short form's keys given next to `listeners:`, which replaces them: reported at each such key. */
function shortFormIssues(data: unknown): z.core.$ZodIssue[] {
  if (typeof data !== 'object' || data === null || !('listeners' in data)) return [];
  return ['port', 'tls']
    .filter((key) => key in data)
    .map((key) => ({
      code: 'custom',
      path: [key],
      message: `belongs to the short form of one listener; with listeners: give every listener in the list (top level host stays their default address)`,
      input: undefined,
    }));
}

/** A key given under both its names: reported at the alias, so that the line shown is the one to remove. */
function aliasIssues(data: unknown): z.core.$ZodIssue[] {
  if (typeof data !== 'object' || data === null) return [];
  const issues: z.core.$ZodIssue[] = [];
  for (const [, spec] of topLevelEntries) {
    if (spec.alias !== undefined && spec.key in data && spec.alias in data) {
      issues.push({
        code: 'custom',
        path: [spec.alias],
        message: `is another name for ${spec.key}; set one of them, not both`,
      });
    }
  }
  return issues;
}

/** The outcome of `validateFile`: the configuration, or every issue found (with zod's paths). */
export type FileValidation = { success: true; config: FennecConfig } | { success: false; issues: z.core.$ZodIssue[] };

/** Validates a parsed configuration file (or the environment's settings, by file key). */
export function validateFile(data: unknown): FileValidation {
  const result = fileSchema.safeParse(data, { reportInput: true });
  const issues = [...(result.success ? [] : result.error.issues), ...aliasIssues(data), ...shortFormIssues(data)];
  if (issues.length > 0 || !result.success) return { success: false, issues };
  return { success: true, config: toFennecConfig(result.data) };
}

/** `values`' options in `specs`, by camelCase name; a key's alias counts as the key. */
function byNameOf(values: Record<string, unknown>, specs: [string, OptionSpec][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of specs) {
    const value = values[spec.key] ?? (spec.alias === undefined ? undefined : values[spec.alias]);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Maps a validated file's snake_case keys to a FennecConfig, leaving out keys it did not set. */
export function toFennecConfig(file: FileConfig): FennecConfig {
  const config = byNameOf(file, topLevelEntries);
  if (file.limits !== undefined) config.limits = byNameOf(file.limits, limitEntries);
  if (file.tls !== undefined) config.tls = byNameOf(file.tls, tlsEntries);
  if (file.listeners !== undefined) {
    config.listeners = file.listeners.map((listener) => byNameOf(listener, allListenerEntries));
  }
  if (file.http !== undefined) config.http = byNameOf(file.http, httpEntries);
  if (file.cluster !== undefined) config.cluster = byNameOf(file.cluster, clusterEntries);
  return config;
}

/**
 * Every key the file accepts, as dotted paths (`port`, `limits.max_queued_messages`); sections
 * themselves are left out, and so are aliases unless `aliases` is set.
 */
export function configKeys(options: { aliases?: boolean } = {}): string[] {
  const keys: string[] = [];
  for (const [, spec] of [
    ...topLevelEntries,
    ...limitEntries,
    ...tlsEntries,
    ...listenerEntries,
    ...httpEntries,
    ...clusterEntries,
  ]) {
    keys.push(fileKey(spec));
    if (options.aliases === true && spec.alias !== undefined) keys.push(fileKey({ ...spec, key: spec.alias }));
  }
  return keys;
}
