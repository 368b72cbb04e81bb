/**
 * The options of `new Broker(options)`, checked by the same schemas as the configuration file's
 * keys, so that an embedder's mistake reads as the file's would; and the defaults filled in.
 */
import { z } from 'zod';
import { describeInput, InvalidOptionError, type OptionIssue } from './errors.js';
import { fileKey, type OptionSpec } from './fields.js';
import { duplicateListenerNames, listenerIssues, listenerTlsOptionNames } from './listener-options.js';
import {
  defaultBrokerOptions,
  listenerOptionSpecs,
  optionSpecs,
  tlsOptionSpecs,
  type ResolvedBrokerOptions,
  type SettableBrokerOptions,
} from './options.js';

function shapeOf(specs: Record<string, OptionSpec>, target?: OptionSpec['target']): Record<string, z.ZodType> {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, spec] of Object.entries(specs)) {
    if (target !== undefined && spec.target !== target) continue;
    shape[name] = spec.required === true ? spec.field.schema : spec.field.schema.optional();
  }
  return shape;
}

/** The TLS options a listener takes, none required. */
const listenerTlsShape = Object.fromEntries(
  listenerTlsOptionNames.map((name) => [name, tlsOptionSpecs[name].field.schema.optional()]),
);

/** One of BrokerOptions.listeners: each field by its schema, then the fields that must go together. */
const listenerSchema = z
  .object(
    { ...shapeOf(listenerOptionSpecs, 'broker'), ...listenerTlsShape },
    { error: 'must be an object of listener settings (protocol and port at least)' },
  )
  .superRefine((listener, context) => {
    for (const issue of listenerIssues(listener, (option) => option)) {
      context.addIssue({ code: 'custom', path: [issue.option], message: issue.message });
    }
  });

const listenersSchema = z
  .array(listenerSchema, { error: 'must be an array of listeners' })
  .min(1, { error: 'must hold at least one listener (or be left out for host, port and tls)' })
  .superRefine((listeners, context) => {
    const names = listeners.map((listener, index) =>
      typeof listener.name === 'string' ? listener.name : `${String(listener.protocol)}-${index}`,
    );
    for (const index of duplicateListenerNames(names)) {
      context.addIssue({ code: 'custom', path: [index, 'name'], message: `repeats the name ${String(names[index])}` });
    }
  });

/**
 * BrokerOptions in camelCase: each plain value by its option's schema. Fields that are not plain
 * values (`hooks`, `logger`, `store`) and unknown ones are left alone.
 */
const brokerOptionsSchema = z.object(
  {
    ...shapeOf(optionSpecs, 'broker'),
    tls: z
      .object(shapeOf(tlsOptionSpecs), { error: 'must be an object of TLS settings (certFile and keyFile at least)' })
      .optional(),
    listeners: listenersSchema.optional(),
  },
  { error: 'must be an object' },
);

const specOf = optionSpecs as Record<string, OptionSpec>;
const tlsSpecOf = tlsOptionSpecs as Record<string, OptionSpec>;
const listenerSpecOf: Record<string, OptionSpec> = { ...tlsSpecOf, ...listenerOptionSpecs };

function toOptionIssue(issue: z.core.$ZodIssue): OptionIssue {
  const message = `${issue.message}${describeInput(issue.input)}`;
  const [name, tlsName] = issue.path.map(String);
  if (name === undefined) return { option: '', key: '', message };
  if (name === 'listeners') {
    const [, index, field] = issue.path.map(String);
    const spec = field === undefined ? undefined : listenerSpecOf[field];
    const at = index === undefined ? '' : `[${index}]`;
    return spec === undefined
      ? { option: `listeners${at}`, key: `listeners${at}`, message }
      : { option: `listeners${at}.${field}`, key: `listeners${at}.${spec.key}`, message };
  }
  if (name === 'tls') {
    const spec = tlsName === undefined ? undefined : tlsSpecOf[tlsName];
    return spec === undefined
      ? { option: 'tls', key: 'tls', message }
      : { option: `tls.${tlsName}`, key: fileKey(spec), message };
  }
  const spec = specOf[name];
  return { option: name, key: spec === undefined ? '' : fileKey(spec), message };
}

/**
 * Checks `options` against the option table and fills in the defaults, leaving out keys given as
 * undefined (they count as unset).
 * @throws InvalidOptionError (`ERR_INVALID_OPTION`) naming every invalid field, its file key and the rule.
 */
export function resolveOptions(options: SettableBrokerOptions): ResolvedBrokerOptions {
  const result = brokerOptionsSchema.safeParse(options, { reportInput: true });
  if (!result.success) throw new InvalidOptionError(result.error.issues.map(toOptionIssue));
  const resolved: Record<string, unknown> = { ...defaultBrokerOptions };
  const given = options as Record<string, unknown>;
  for (const name of Object.keys(defaultBrokerOptions)) {
    const value = given[name];
    if (value !== undefined) resolved[name] = value;
  }
  return resolved as ResolvedBrokerOptions;
}
