// The configuration file: what it accepts, how each kind of mistake is reported (file, line, column,
// key), and the precedence flags > environment > file > defaults.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { defaultBrokerOptions } from '../../src/broker/options.js';
import {
  ConfigError,
  defaultConfig,
  limitKeys,
  limitSpecs,
  loadConfigFile,
  mergeConfig,
  parseConfigText,
  toBrokerOptions,
  type ConfigIssue,
} from '../../src/config/index.js';
import { FennecError } from '../../src/errors/index.js';
import { temporaryConfigFiles } from '../helpers/config-files.js';

const configFiles = temporaryConfigFiles('fennec-config-');
/** Writes `lines` to a new file in a temporary directory and returns its path. */
const writeConfig = (lines: string[]): string => configFiles.write(lines);

/** Loads the file and returns the ConfigError it must fail with. */
async function loadFailure(path: string): Promise<ConfigError> {
  try {
    await loadConfigFile(path);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${path} to be refused`);
}

/** The one issue a file must fail with. */
async function onlyIssue(lines: string[]): Promise<ConfigIssue> {
  const error = await loadFailure(writeConfig(lines));
  assert.equal(error.issues.length, 1, error.message);
  return error.issues[0]!;
}

void describe('loadConfigFile', () => {
  void it('reads every key of a valid file and names them as BrokerOptions does', async () => {
    const path = writeConfig([
      '# a complete file',
      'host: 0.0.0.0',
      'port: 1884',
      'data_dir: /var/lib/fennec',
      'log_level: debug',
      'persistence: sqlite',
      'shared_subscription_strategy: least-inflight',
      'limits:',
      '  connect_timeout_ms: 5000',
      '  maximum_packet_size: 262144',
      '  max_client_id_length: 256',
      '  max_inflight_messages: 20',
      '  max_queued_messages: 10000',
      '  max_outgoing_buffer_bytes: 4194304',
    ]);
    assert.deepEqual(await loadConfigFile(path), {
      host: '0.0.0.0',
      port: 1884,
      dataDir: '/var/lib/fennec',
      logLevel: 'debug',
      persistence: 'sqlite',
      sharedSubscriptionStrategy: 'least-inflight',
      limits: {
        connectTimeoutMs: 5000,
        maximumPacketSize: 262_144,
        maxClientIdLength: 256,
        maxInflightMessages: 20,
        maxQueuedMessages: 10_000,
        maxOutgoingBufferBytes: 4_194_304,
      },
    });
  });

  void it('returns only the keys the file sets', async () => {
    assert.deepEqual(await loadConfigFile(writeConfig(['port: 0'])), { port: 0 });
  });

  void it('accepts JSON, since JSON is YAML', async () => {
    const path = writeConfig(['{ "port": 1883, "limits": { "max_queued_messages": 50 } }']);
    assert.deepEqual(await loadConfigFile(path), { port: 1883, limits: { maxQueuedMessages: 50 } });
  });

  void it('treats an empty file, or one holding only comments, as setting nothing', async () => {
    assert.deepEqual(await loadConfigFile(writeConfig([])), {});
    assert.deepEqual(await loadConfigFile(writeConfig(['# nothing here yet'])), {});
  });

  void it('accepts the boundary values of each range', async () => {
    const path = writeConfig([
      'port: 65535',
      'limits:',
      '  connect_timeout_ms: 2147483647',
      '  maximum_packet_size: 268435460',
      '  max_client_id_length: 23',
      '  max_inflight_messages: 65535',
      '  max_queued_messages: 1',
      '  max_outgoing_buffer_bytes: 1',
    ]);
    const config = await loadConfigFile(path);
    assert.equal(config.port, 65_535);
    assert.equal(config.limits?.maximumPacketSize, 268_435_460);
    assert.equal(config.limits?.maxClientIdLength, 23);
  });

  void it('reports an unknown top-level key at its line and suggests the key meant', async () => {
    const issue = await onlyIssue(['port: 1883', 'hots: example.com']);
    assert.deepEqual(issue, { path: 'hots', line: 2, column: 1, message: 'unknown key; did you mean host?' });
  });

  void it('reports an unknown key inside limits with its full path and line', async () => {
    const issue = await onlyIssue(['limits:', '  max_queued_messages: 5', '  max_inflight: 3']);
    assert.equal(issue.path, 'limits.max_inflight');
    assert.equal(issue.line, 3);
    assert.equal(issue.column, 3);
    assert.match(issue.message, /unknown key; did you mean limits\.max_inflight_messages\?/);
  });

  void it('suggests the limits section for a limit written at the top level in camelCase', async () => {
    const issue = await onlyIssue(['maxQueuedMessages: 5']);
    assert.equal(issue.message, 'unknown key; did you mean limits.max_queued_messages?');
  });

  void it('reports a value of the wrong type at the line and column of the value', async () => {
    const issue = await onlyIssue(['host: 127.0.0.1', 'port: "1883"']);
    assert.deepEqual(issue, {
      path: 'port',
      line: 2,
      column: 7,
      message: 'must be an integer from 0 to 65535 (a TCP port; 0 picks a free one), got "1883"',
    });
  });

  void it('reports a key with no value as null', async () => {
    const issue = await onlyIssue(['data_dir:', 'port: 1']);
    assert.equal(issue.path, 'data_dir');
    assert.equal(issue.line, 1);
    assert.match(issue.message, /must be a non-empty string .*, got null$/);
  });

  void it('reports a port outside 0 to 65535', async () => {
    const issue = await onlyIssue(['port: 65536']);
    assert.equal(issue.line, 1);
    assert.match(issue.message, /from 0 to 65535.*got 65536$/);
  });

  void it('reports an out-of-range limit with its unit and the largest value MQTT allows', async () => {
    const issue = await onlyIssue(['limits:', '  max_queued_messages: 10', '  maximum_packet_size: 268435461']);
    assert.deepEqual(issue, {
      path: 'limits.maximum_packet_size',
      line: 3,
      column: 24,
      message: 'must be an integer from 1 to 268435460 bytes, got 268435461',
    });
  });

  void it('reports zero, a negative number and a fraction as not positive integers, with units', async () => {
    const error = await loadFailure(
      writeConfig([
        'limits:',
        '  connect_timeout_ms: 0',
        '  max_queued_messages: -5',
        '  max_outgoing_buffer_bytes: 1.5',
      ]),
    );
    assert.deepEqual(
      error.issues.map((issue) => [issue.line, issue.path, issue.message]),
      [
        [2, 'limits.connect_timeout_ms', 'must be an integer from 1 to 2147483647 milliseconds, got 0'],
        [3, 'limits.max_queued_messages', 'must be an integer of at least 1 messages, got -5'],
        [4, 'limits.max_outgoing_buffer_bytes', 'must be an integer of at least 1 bytes, got 1.5'],
      ],
    );
  });

  void it('refuses a client id limit below the 23 bytes every server must accept [MQTT-3.1.3-5]', async () => {
    const issue = await onlyIssue(['limits:', '  max_client_id_length: 22']);
    assert.equal(issue.message, 'must be an integer from 23 to 65535 bytes, got 22');
  });

  void it('names the accepted values of an enumeration', async () => {
    const issue = await onlyIssue(['log_level: verbose']);
    assert.equal(issue.message, 'must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"');
    const persistence = await onlyIssue(['', 'persistence: redis']);
    assert.deepEqual([persistence.line, persistence.message], [2, 'must be one of sqlite, none, got "redis"']);
    const strategy = await onlyIssue(['shared_subscription_strategy: random']);
    assert.equal(strategy.message, 'must be one of round-robin, least-inflight, got "random"');
  });

  void it('reports a section that is not a mapping', async () => {
    const issue = await onlyIssue(['port: 1', 'limits: 5']);
    assert.deepEqual(
      [issue.path, issue.line, issue.message],
      ['limits', 2, 'must be a mapping of limit names to values, got 5'],
    );
  });

  void it('reports a file that is a list rather than a mapping', async () => {
    const issue = await onlyIssue(['- port: 1']);
    assert.deepEqual(issue, {
      path: '',
      line: 1,
      column: 1,
      message: 'must be a mapping of configuration keys to values',
    });
  });

  void it('reports every issue in the file, in line order, not just the first', async () => {
    const error = await loadFailure(
      writeConfig(['port: -1', 'limits:', '  max_inflight_messages: 0', '  colour: blue', 'log_level: 3']),
    );
    assert.deepEqual(
      error.issues.map((issue) => `${issue.line}:${issue.path}`),
      ['1:port', '3:limits.max_inflight_messages', '4:limits.colour', '5:log_level'],
    );
  });

  void it('reports a YAML syntax error with its line', async () => {
    const issue = await onlyIssue(['port: 1883', 'limits:', '  max_queued_messages: [1, 2', 'host: x']);
    assert.equal(issue.path, '');
    assert.equal(issue.line, 4);
    assert.match(issue.message, /^YAML syntax error: /);
  });

  void it('reports a duplicate key at the line of the second one', async () => {
    const issue = await onlyIssue(['port: 1883', 'host: a', 'port: 1884']);
    assert.equal(issue.line, 3);
    assert.match(issue.message, /^YAML syntax error: Map keys must be unique/);
  });

  void it('reports a second YAML document as an error rather than ignoring it', async () => {
    const issue = await onlyIssue(['port: 1883', '---', 'port: 1884']);
    assert.equal(issue.line, 2);
    assert.match(issue.message, /holds one document/);
  });

  void it('refuses a file whose aliases expand without bound rather than exhausting memory', async () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [index, name] of [...'bcdefghij'].entries()) {
      lines.push(`${name}: &${name} [${Array<string>(10).fill(`*${'abcdefghij'[index]!}`).join(', ')}]`);
    }
    const issue = await onlyIssue(lines);
    assert.match(issue.message, /^YAML error: Excessive alias count/);
  });

  void it('names the file when it does not exist', async () => {
    const path = join(configFiles.directory(), 'missing.yaml');
    const error = await loadFailure(path);
    assert.equal(error.source, path);
    assert.deepEqual(error.issues, [{ path: '', line: 0, column: 0, message: 'cannot read the file: no such file' }]);
    assert.equal(error.message, `${path}: cannot read the file: no such file`);
  });

  void it('names the file when it is a directory', async () => {
    const error = await loadFailure(configFiles.directory());
    assert.equal(error.message, `${configFiles.directory()}: cannot read the file: it is a directory`);
  });

  void it('throws a FennecError with code ERR_CONFIG whose message lists each issue as file:line:column: key: message', async () => {
    const path = writeConfig(['port: 70000', 'extra: 1']);
    const error = await loadFailure(path);
    assert.ok(error instanceof FennecError);
    assert.equal(error.code, 'ERR_CONFIG');
    assert.equal(
      error.message,
      [
        `${path}:1:7: port: must be an integer from 0 to 65535 (a TCP port; 0 picks a free one), got 70000`,
        `${path}:2:1: extra: unknown key`,
      ].join('\n'),
    );
  });

  void it('names the source given to parseConfigText in its issues', () => {
    assert.throws(
      () => parseConfigText('port: x\n', 'inline.yaml'),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith('inline.yaml:1:7: port: '),
    );
  });
});

void describe('the schema', () => {
  void it('has a key under limits for every limit in BrokerOptions', () => {
    const notLimits = new Set([
      'host',
      'port',
      'sharedSubscriptionStrategy',
      'responseInformationPrefix',
      'maximumQoS',
      'retainAvailable',
      'wildcardSubscriptionAvailable',
      'subscriptionIdentifiersAvailable',
      'allowAnonymous',
      'sysInterval',
      'sysEvents',
    ]);
    const limitOptions = Object.keys(defaultBrokerOptions).filter((key) => !notLimits.has(key));
    assert.deepEqual(limitKeys.map((key) => limitSpecs[key].option).sort(), limitOptions.sort());
  });
});

void describe('mergeConfig', () => {
  const noEnvironment = {};

  void it('uses the defaults, which are the broker defaults, when nothing is given', () => {
    const config = mergeConfig({}, {}, noEnvironment);
    assert.deepEqual(config, defaultConfig);
    assert.deepEqual(toBrokerOptions(config), defaultBrokerOptions);
    assert.equal(config.dataDir, './data');
    // Quiet by default, as mosquitto without -v: `fennec broker -v` turns the connection lines on
    assert.equal(config.logLevel, 'warn');
    // Durable by default: the SQLite store in ./data, surviving the process dying (issue 5)
    assert.equal(config.persistence, 'sqlite');
    assert.equal(config.durability, 'process');
  });

  void it('takes a value from the file over the default', () => {
    const config = mergeConfig({ port: 1884, limits: { maxQueuedMessages: 5 } }, {}, noEnvironment);
    assert.equal(config.port, 1884);
    assert.equal(config.limits.maxQueuedMessages, 5);
    assert.equal(config.limits.maxInflightMessages, defaultBrokerOptions.maxInflightMessages);
  });

  void it('takes an environment variable over the file', () => {
    const env = { FENNEC_HOST: '0.0.0.0', FENNEC_PORT: '1885', FENNEC_DATA_DIR: '/srv', FENNEC_LOG_LEVEL: 'warn' };
    const config = mergeConfig({ host: 'file', port: 1884, dataDir: '/file', logLevel: 'debug' }, {}, env);
    assert.deepEqual([config.host, config.port, config.dataDir, config.logLevel], ['0.0.0.0', 1885, '/srv', 'warn']);
  });

  void it('takes a flag over the environment and the file', () => {
    const env = { FENNEC_PORT: '1885', FENNEC_LOG_LEVEL: 'warn' };
    const config = mergeConfig({ port: 1884, logLevel: 'debug', host: 'from-file' }, { port: 1886 }, env);
    assert.equal(config.port, 1886, 'flag over environment over file');
    assert.equal(config.logLevel, 'warn', 'environment over file');
    assert.equal(config.host, 'from-file', 'file over default');
  });

  void it('counts an empty environment variable as unset', () => {
    assert.equal(mergeConfig({ port: 1884 }, {}, { FENNEC_PORT: '' }).port, 1884);
  });

  void it('reports an invalid environment variable by name', () => {
    assert.throws(
      () => mergeConfig({}, {}, { FENNEC_PORT: '18a3', FENNEC_LOG_LEVEL: 'loud' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.source, 'environment');
        assert.deepEqual(
          err.issues.map((issue) => issue.path),
          ['FENNEC_PORT', 'FENNEC_LOG_LEVEL'],
        );
        assert.match(err.message, /^environment: FENNEC_PORT: must be an integer from 0 to 65535 .*, got "18a3"$/m);
        return true;
      },
    );
  });

  void it('turns the resolved configuration into BrokerOptions', () => {
    const options = toBrokerOptions(mergeConfig({ host: '::1', limits: { connectTimeoutMs: 500 } }, {}, noEnvironment));
    assert.equal(options.host, '::1');
    assert.equal(options.connectTimeoutMs, 500);
    assert.equal(options.maximumPacketSize, defaultBrokerOptions.maximumPacketSize);
    assert.equal(options.sharedSubscriptionStrategy, 'round-robin');
    const fromFile = mergeConfig({ sharedSubscriptionStrategy: 'least-inflight' }, {}, noEnvironment);
    assert.equal(toBrokerOptions(fromFile).sharedSubscriptionStrategy, 'least-inflight');
  });

  void it('turns the capability keys of a file into BrokerOptions', () => {
    const file = parseConfigText(
      'maximum_qos: 1\nretain_available: false\nwildcard_subscription_available: false\nsubscription_identifiers_available: false\n',
      'caps.yaml',
    );
    const options = toBrokerOptions(mergeConfig(file, {}, noEnvironment));
    assert.equal(options.maximumQoS, 1);
    assert.equal(options.retainAvailable, false);
    assert.equal(options.wildcardSubscriptionAvailable, false);
    assert.equal(options.subscriptionIdentifiersAvailable, false);
    const defaults = toBrokerOptions(mergeConfig({}, {}, noEnvironment));
    assert.equal(defaults.maximumQoS, 2);
    assert.equal(defaults.retainAvailable, true);
  });

  void it('refuses a maximum_qos other than 0, 1 or 2', () => {
    assert.throws(() => parseConfigText('maximum_qos: 3\n', 'caps.yaml'), /maximum_qos/);
  });
});
