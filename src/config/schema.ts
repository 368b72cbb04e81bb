/**
 * The configuration file's schema: snake_case keys, each with its type, range and unit, built from
 * the option table (options.ts), and the camelCase `FennecConfig` it maps to. Documented key by key
 * in docs/configuration.md.
 */
import { z } from 'zod';
import { fileKey, type OptionSpec, type Section } from './fields.js';
import {
  httpOptionSpecs,
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
const httpEntries = entries(httpOptionSpecs, 'http');

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

/**
 * The schema of a configuration file, as parsed from YAML. Every key is optional; unknown keys are
 * errors. A key and its alias given together are refused by `validateFile`, not by the schema.
 */
export const fileSchema = z.strictObject(
  {
    ...shapeOf(topLevelEntries),
    limits: z.strictObject(shapeOf(limitEntries), { error: 'must be a mapping of limit names to values' }).optional(),
    tls: tlsSchema.optional(),
    http: z
      .strictObject(shapeOf(httpEntries), {
        error: 'must be a mapping of HTTP listener settings (host, port, admin_token)',
      })
      .optional(),
  },
  { error: 'must be a mapping of configuration keys to values' },
) as unknown as z.ZodType<FileConfig>;

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
  const issues = [...(result.success ? [] : result.error.issues), ...aliasIssues(data)];
  if (issues.length > 0 || !result.success) return { success: false, issues };
  return { success: true, config: toFennecConfig(result.data) };
}

/** `values`' options in `specs`, by camelCase name; a key's alias counts as the key. */
function byName(values: Record<string, unknown>, specs: [string, OptionSpec][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of specs) {
    const value = values[spec.key] ?? (spec.alias === undefined ? undefined : values[spec.alias]);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** Maps a validated file's snake_case keys to a FennecConfig, leaving out keys it did not set. */
export function toFennecConfig(file: FileConfig): FennecConfig {
  const config = byName(file, topLevelEntries);
  if (file.limits !== undefined) config.limits = byName(file.limits, limitEntries);
  if (file.tls !== undefined) config.tls = byName(file.tls, tlsEntries);
  if (file.http !== undefined) config.http = byName(file.http, httpEntries);
  return config;
}

/**
 * Every key the file accepts, as dotted paths (`port`, `limits.max_queued_messages`); sections
 * themselves are left out, and so are aliases unless `aliases` is set.
 */
export function configKeys(options: { aliases?: boolean } = {}): string[] {
  const keys: string[] = [];
  for (const [, spec] of [...topLevelEntries, ...limitEntries, ...tlsEntries, ...httpEntries]) {
    keys.push(fileKey(spec));
    if (options.aliases === true && spec.alias !== undefined) keys.push(fileKey({ ...spec, key: spec.alias }));
  }
  return keys;
}
