// The option table: `new Broker(options)` checks each option with the schema the configuration file
// uses and reports it in the same words; every BrokerOptions field that holds a value has a file key;
// server_keep_alive (Mosquitto's max_keepalive) reaches BrokerOptions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import {
  ConfigError,
  configKeys,
  defaultBrokerOptions,
  fileKey,
  InvalidOptionError,
  mergeConfig,
  optionSpecs,
  parseConfigText,
  resolveOptions,
  tlsOptionSpecs,
  toBrokerOptions,
  type OptionSpec,
  type SettableBrokerOptions,
} from '../../src/config/index.js';
import { FennecError } from '../../src/errors/index.js';

/** The InvalidOptionError that `new Broker(options)` throws. */
function refusal(options: unknown): InvalidOptionError {
  try {
    new Broker(options as BrokerOptions);
  } catch (err) {
    assert.ok(err instanceof InvalidOptionError, `expected an InvalidOptionError, got ${String(err)}`);
    return err;
  }
  assert.fail(`new Broker(${JSON.stringify(options)}) was accepted`);
}

/** The message of the one issue the configuration text raises at `path`. */
function fileMessage(text: string, path: string): string {
  try {
    parseConfigText(text, 'fennec.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    const issue = err.issues.find((candidate) => candidate.path === path);
    assert.ok(issue !== undefined, `an issue at ${path} among ${err.message}`);
    return issue.message;
  }
  assert.fail(`the configuration was accepted: ${text}`);
}

const brokerSpecs = Object.entries(optionSpecs as Record<string, OptionSpec>).filter(
  ([, spec]) => spec.target === 'broker',
);

void describe('new Broker(options)', () => {
  void it('refuses maxInflightMessages 0 with ERR_INVALID_OPTION, naming the option, its file key and the rule', () => {
    const error = refusal({ maxInflightMessages: 0 });
    assert.ok(error instanceof FennecError);
    assert.equal(error.code, 'ERR_INVALID_OPTION');
    assert.equal(
      error.message,
      'BrokerOptions.maxInflightMessages (file key limits.max_inflight_messages): must be an integer from 1 to 65535 messages, got 0',
    );
    assert.deepEqual(error.issues, [
      {
        option: 'maxInflightMessages',
        key: 'limits.max_inflight_messages',
        message: 'must be an integer from 1 to 65535 messages, got 0',
      },
    ]);
  });

  void it('words the rule as the file loader does for the same key', () => {
    const fromFile = fileMessage('limits:\n  max_inflight_messages: 0\n', 'limits.max_inflight_messages');
    assert.equal(refusal({ maxInflightMessages: 0 }).issues[0]?.message, fromFile);
  });

  void it('refuses a negative port', () => {
    assert.equal(
      refusal({ port: -1 }).message,
      'BrokerOptions.port (file key port): must be an integer from 0 to 65535 (a TCP port; 0 picks a free one), got -1',
    );
  });

  void it('refuses a string where a number goes, and a number where a string goes', () => {
    assert.equal(
      refusal({ maxQueuedMessages: '10' }).message,
      'BrokerOptions.maxQueuedMessages (file key limits.max_queued_messages): must be an integer of at least 1 messages, got "10"',
    );
    assert.equal(
      refusal({ responseInformationPrefix: 5 }).message,
      'BrokerOptions.responseInformationPrefix (file key response_information_prefix): must be a string (a topic prefix), got 5',
    );
  });

  void it('lists every invalid field, one line each', () => {
    const error = refusal({ host: '', maximumQoS: 3, allowAnonymous: 'yes', serverKeepAlive: 70_000 });
    assert.deepEqual(
      error.issues.map((issue) => issue.option),
      ['host', 'maximumQoS', 'serverKeepAlive', 'allowAnonymous'],
    );
    assert.equal(error.message.split('\n').length, 4);
    assert.match(
      error.message,
      /^BrokerOptions\.serverKeepAlive \(file key server_keep_alive\): must be an integer from 0 to 65535 seconds, got 70000$/m,
    );
  });

  void it('names a bad TLS field by its path in BrokerOptions and in the file', () => {
    const error = refusal({ tls: { certFile: '', minVersion: 'TLSv1.1' } });
    assert.deepEqual(
      error.issues.map((issue) => `${issue.option} (${issue.key}): ${issue.message}`),
      [
        'tls.certFile (tls.cert_file): must be a non-empty string (a PEM certificate file path), got ""',
        'tls.keyFile (tls.key_file): is required (a PEM private key file path)',
        'tls.minVersion (tls.min_version): must be one of TLSv1.2, TLSv1.3, got "TLSv1.1"',
      ],
    );
  });

  void it('refuses options that are not an object', () => {
    assert.equal(refusal(null).message, 'BrokerOptions: must be an object, got null');
    assert.equal(refusal({ tls: 'yes' }).issues[0]?.option, 'tls');
  });

  void it('takes a field given as undefined as unset, and leaves hooks, logger and store unchecked', () => {
    const options = { port: undefined, maxQueuedMessages: 5, hooks: {} } as unknown as BrokerOptions;
    const resolved = resolveOptions(options);
    assert.equal(resolved.port, defaultBrokerOptions.port);
    assert.equal(resolved.maxQueuedMessages, 5);
    assert.equal(new Broker(options).options.maxQueuedMessages, 5);
  });

  void it('gives, for every option of the table, the message the file gives for its key', () => {
    // null is refused by every option's schema, so each option yields exactly one issue.
    for (const [name, spec] of brokerSpecs) {
      const yaml = spec.section === '' ? `${spec.key}: null\n` : `${spec.section}:\n  ${spec.key}: null\n`;
      const issue = refusal({ [name]: null }).issues[0];
      assert.deepEqual(issue, { option: name, key: fileKey(spec), message: fileMessage(yaml, fileKey(spec)) });
    }
    for (const [name, spec] of Object.entries(tlsOptionSpecs as Record<string, OptionSpec>)) {
      const file: Record<string, string | null> = { cert_file: 'a.pem', key_file: 'a.key', [spec.key]: null };
      const yaml = `tls:\n${Object.entries(file)
        .map(([key, value]) => `  ${key}: ${value ?? 'null'}\n`)
        .join('')}`;
      const issue = refusal({ tls: { certFile: 'a.pem', keyFile: 'a.key', [name]: null } }).issues[0];
      assert.deepEqual(issue, { option: `tls.${name}`, key: fileKey(spec), message: fileMessage(yaml, fileKey(spec)) });
    }
  });
});

void describe('the option table', () => {
  void it('has a default that its own schema accepts, for every option that has one', () => {
    for (const [name, spec] of [...Object.entries(optionSpecs), ...Object.entries(tlsOptionSpecs)] as [
      string,
      OptionSpec,
    ][]) {
      if (!('default' in spec)) continue;
      const result = spec.field.schema.safeParse(spec.default);
      assert.ok(result.success, `the default of ${name} passes its schema`);
    }
  });

  void it('gives every BrokerOptions field that holds a value a key in the file', () => {
    // Only the hooks, the logger, the store and the bus, which hold code, are not settable (the
    // file's cluster: section makes the bus in fennec broker).
    type NotSettable = Exclude<keyof BrokerOptions, keyof SettableBrokerOptions>;
    const notSettable: Record<NotSettable, true> = { hooks: true, logger: true, store: true, bus: true };
    assert.deepEqual(Object.keys(notSettable).sort(), ['bus', 'hooks', 'logger', 'store']);
    const keys = new Set(configKeys());
    for (const [name, spec] of brokerSpecs)
      assert.ok(keys.has(fileKey(spec)), `${name} has the file key ${fileKey(spec)}`);
    assert.ok(keys.has('tls.cert_file'));
  });

  void it('resolves every default the table gives a broker option', () => {
    const defaults = brokerSpecs.filter(([, spec]) => 'default' in spec).map(([name, spec]) => [name, spec.default]);
    assert.deepEqual(resolveOptions({}), Object.fromEntries(defaults));
  });
});

void describe('server_keep_alive and max_keepalive', () => {
  const optionsOf = (text: string): SettableBrokerOptions =>
    toBrokerOptions(mergeConfig(parseConfigText(text, 'fennec.yaml'), {}, {}));

  void it('sets BrokerOptions.serverKeepAlive from server_keep_alive', () => {
    assert.equal(optionsOf('server_keep_alive: 30\n').serverKeepAlive, 30);
    assert.equal(new Broker(optionsOf('server_keep_alive: 30\n')).serverKeepAlive, 30);
  });

  void it("accepts max_keepalive, Mosquitto's name, for the same option", () => {
    assert.deepEqual(parseConfigText('max_keepalive: 45\n', 'fennec.yaml'), { serverKeepAlive: 45 });
    assert.equal(optionsOf('max_keepalive: 0\n').serverKeepAlive, 0);
  });

  void it('leaves serverKeepAlive unset when the file does not set it', () => {
    assert.equal('serverKeepAlive' in optionsOf('port: 1883\n'), false);
  });

  void it('refuses both names at once, at the line of the alias', () => {
    try {
      parseConfigText('server_keep_alive: 30\nport: 1883\nmax_keepalive: 30\n', 'fennec.yaml');
      assert.fail('both names were accepted');
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      assert.equal(
        err.message,
        'fennec.yaml:3:16: max_keepalive: is another name for server_keep_alive; set one of them, not both',
      );
    }
  });

  void it('refuses a keep alive beyond the Two Byte Integer of CONNACK, under either name', () => {
    assert.equal(
      fileMessage('max_keepalive: 65536\n', 'max_keepalive'),
      'must be an integer from 0 to 65535 seconds, got 65536',
    );
    assert.equal(
      fileMessage('server_keep_alive: -1\n', 'server_keep_alive'),
      'must be an integer from 0 to 65535 seconds, got -1',
    );
  });

  void it('suggests the alias for a near miss of it', () => {
    assert.equal(fileMessage('max_keep_alive: 5\n', 'max_keep_alive'), 'unknown key; did you mean max_keepalive?');
  });
});
