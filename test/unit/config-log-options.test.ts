// The keys of the broker process: log_format, log_dest (Mosquitto's values) and pid_file.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, mergeConfig, parseConfigText } from '../../src/config/index.js';
import { parseLogDest } from '../../src/cli/logging.js';

function issuesOf(text: string): string[] {
  try {
    parseConfigText(text, 'fennec.yaml');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((issue) => `${issue.line}:${issue.path}: ${issue.message}`);
    throw err;
  }
  return [];
}

void describe('log_format, log_dest and pid_file', () => {
  void it('reads each value Mosquitto users write for log_dest, and the format and pid file', () => {
    for (const dest of ['stderr', 'stdout', 'syslog', 'syslog /run/log.sock', 'file /var/log/fennec.log']) {
      const config = parseConfigText(`log_dest: ${dest}\nlog_format: json\npid_file: /run/fennec.pid\n`, 'f.yaml');
      assert.deepEqual(config, { logDest: dest, logFormat: 'json', pidFile: '/run/fennec.pid' });
    }
  });

  void it('defaults to stderr, auto and no pid file', () => {
    const config = mergeConfig({}, {}, {});
    assert.deepEqual([config.logDest, config.logFormat, config.pidFile], ['stderr', 'auto', undefined]);
  });

  void it('refuses a bad value with its line and key', () => {
    assert.deepEqual(issuesOf('log_dest: file\nlog_format: xml\npid_file: ""\nlog_dest2: x\n'), [
      '1:log_dest: must be stderr, stdout, syslog or file PATH, got "file"',
      '2:log_format: must be one of auto, pretty, json, got "xml"',
      '3:pid_file: must be a non-empty string (a file path), got ""',
      '4:log_dest2: unknown key; did you mean log_dest?',
    ]);
  });

  void it('takes FENNEC_LOG_DEST and FENNEC_LOG_FORMAT from the environment', () => {
    const config = mergeConfig({}, {}, { FENNEC_LOG_DEST: 'file /tmp/f.log', FENNEC_LOG_FORMAT: 'pretty' });
    assert.deepEqual([config.logDest, config.logFormat], ['file /tmp/f.log', 'pretty']);
  });

  void it('parses log_dest into where the lines go', () => {
    assert.deepEqual(parseLogDest('stderr'), { kind: 'stderr' });
    assert.deepEqual(parseLogDest('stdout'), { kind: 'stdout' });
    assert.deepEqual(parseLogDest('file /var/log/a b.log'), { kind: 'file', path: '/var/log/a b.log' });
    assert.deepEqual(parseLogDest('syslog'), { kind: 'syslog', socket: undefined });
    assert.deepEqual(parseLogDest('syslog /dev/log'), { kind: 'syslog', socket: '/dev/log' });
  });
});
