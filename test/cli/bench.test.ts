// `fennec bench` as a user runs it: `node bin/fennec.js bench ...` in a child process against a
// broker in this process, each scenario briefly, its --json report checked for sane numbers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Broker } from '../../src/broker/broker.js';
import type { BenchReport } from '../../src/cli/bench/report.js';
import { ExitCode } from '../../src/cli/errors.js';
import { killAllPrograms, portOf, runProgram, startBroker, type ProcessResult } from '../interop/support.js';
import { cliEnvironment, fennecBin, repositoryRoot } from '../helpers/cli.js';

/** Longest one bench run may take before it is killed, in ms: 1 s measured plus setup and drain. */
const RUN_TIMEOUT_MS = 15_000;

/** Flags every run shares: a short window, no warm-up, a short drain, one worker thread unless told. */
const SHORT = ['--duration', '1', '--warmup', '0', '--drain', '3', '--json'];

let broker: Broker;
let port = 0;

function bench(args: readonly string[]): Promise<ProcessResult> {
  return runProgram(process.execPath, [fennecBin, 'bench', ...args], RUN_TIMEOUT_MS, cliEnvironment).exited;
}

/** Runs `fennec bench ...args` against the test broker and returns its JSON report. */
async function benchReport(scenario: string, args: readonly string[]): Promise<BenchReport> {
  // The scenario's own flags last, so that they override the shared ones.
  const result = await bench([scenario, '--port', String(port), ...SHORT, ...args]);
  assert.equal(result.code, 0, `exit ${String(result.code)}: ${result.stderr}`);
  assert.equal(result.stderr, '', 'stderr is not a terminal: no progress line');
  return JSON.parse(result.stdout) as BenchReport;
}

/** The checks every message scenario passes: everything delivered once, in order, percentiles ordered. */
function assertSaneDelivery(report: BenchReport, subscribersPerMessage: number): void {
  assert.equal(report.errors, 0, String(report.first_error));
  assert.ok(report.sent > 0, 'publishers sent within the window');
  assert.ok(report.received > 0, 'subscribers received within the window');
  assert.equal(report.msgs_per_s, report.received, 'a 1 s window: msgs/s equals what was received');
  // Deliveries counted by receive time may trail those counted by send time by what was in flight at the end.
  assert.ok(report.received <= report.sent * subscribersPerMessage, `received ${report.received} of ${report.sent}`);
  assert.equal(report.lost, 0, 'QoS 1 and 2 lose nothing');
  assert.equal(report.dup, 0);
  assert.equal(report.reorder, 0);
  assert.equal(
    report.latency_samples,
    report.sent * subscribersPerMessage,
    'one latency sample per delivery sent in the window',
  );
  assert.ok(report.p50_us > 0, 'latency is measured');
  assert.ok(report.p50_us <= report.p90_us && report.p90_us <= report.p99_us && report.p99_us <= report.max_us);
  assert.ok(report.max_us < 10_000_000, `max latency ${report.max_us} µs within the run`);
}

void describe('fennec bench', () => {
  before(async () => {
    const started = await startBroker();
    broker = started.broker;
    port = portOf(started.url);
  });

  after(async () => {
    await killAllPrograms();
    await broker.close();
  });

  void it('fanin at QoS 1: 3 publishers to 1 subscriber, nothing lost, latency percentiles in order', async () => {
    const report = await benchReport('fanin', ['--clients', '3', '--qos', '1']);
    assert.equal(report.scenario, 'fanin');
    assert.deepEqual([report.options.publishers, report.options.subscribers, report.connections], [3, 1, 4]);
    assertSaneDelivery(report, 1);
  });

  void it('fanout at QoS 1 over 2 worker threads: every subscriber gets every message, counters merged', async () => {
    const report = await benchReport('fanout', ['--clients', '4', '--qos', '1', '--threads', '2']);
    assert.deepEqual([report.options.publishers, report.options.subscribers, report.options.threads], [1, 4, 2]);
    assert.equal(report.connections, 5);
    assertSaneDelivery(report, 4);
  });

  void it('pairs at QoS 2 over MQTT 5.0: each publisher reaches its own subscriber exactly once', async () => {
    const report = await benchReport('pairs', ['--clients', '2', '--qos', '2', '-V', '5', '--window', '10']);
    assert.equal(report.options.mqtt_version, 5);
    assert.equal(report.connections, 4);
    assertSaneDelivery(report, 1);
  });

  void it('pub at a fixed rate sends about rate × publishers × seconds, and a sub on the same prefix receives them', async () => {
    const prefix = `bench-test/${process.pid}`;
    const [subscriber, publisher] = await Promise.all([
      benchReport('sub', ['--clients', '2', '--topic-prefix', prefix, '--duration', '3']),
      // Started after the subscribers have had time to subscribe: each run's setup takes well under 1 s.
      new Promise((resolve) => setTimeout(resolve, 1000)).then(() =>
        benchReport('pub', ['--clients', '2', '--qos', '1', '--rate', '200', '--topic-prefix', prefix]),
      ),
    ]);
    assert.equal(publisher.errors, 0, String(publisher.first_error));
    assert.ok(publisher.sent >= 300 && publisher.sent <= 420, `sent ${publisher.sent}, about 2 × 200 in 1 s`);
    assert.equal(publisher.received, 0, 'pub has no subscribers of its own');
    assert.equal(subscriber.connections, 2);
    assert.equal(subscriber.errors, 0, String(subscriber.first_error));
    assert.ok(subscriber.received >= 2 * publisher.sent, `the 2 subscribers got ${subscriber.received}`);
  });

  void it('conn opens every connection and counts connects per second', async () => {
    const report = await benchReport('conn', ['--clients', '200', '--connect-concurrency', '20']);
    assert.equal(report.connections, 200);
    assert.ok(report.connects_per_s > 0);
    assert.equal(report.errors, 0, String(report.first_error));
    assert.equal(report.sent, 0);
  });

  void it('prints a table without --json', async () => {
    const result = await bench([
      'fanin',
      '--port',
      String(port),
      '--clients',
      '1',
      '--duration',
      '0.5',
      '--warmup',
      '0',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^scenario +fanin \(MQTT 3\.1\.1, QoS 0, \d+ threads?\)$/m);
    assert.match(result.stdout, /^latency µs +p50 \d+ +p90 \d+ +p99 \d+ +max \d+/m);
  });

  void it('exits 69 with one line naming the address when nothing listens there', async () => {
    const closed = await startBroker();
    const closedPort = portOf(closed.url);
    await closed.broker.close();
    const result = await bench(['fanin', '--port', String(closedPort), '--duration', '1', '--json']);
    assert.equal(result.code, ExitCode.Unavailable);
    assert.equal(result.stdout, '');
    assert.match(
      result.stderr,
      new RegExp(`^fennec: cannot connect \\S+ to 127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED.*\\n$`),
    );
  });

  void it('lists every flag in `fennec bench --help`, each documented in docs/cli.md', async () => {
    const result = await bench(['--help']);
    assert.equal(result.code, 0, result.stderr);
    const flags = [...new Set(result.stdout.match(/--[a-z][a-z-]+/g))].filter((flag) => flag !== '--help');
    assert.ok(flags.length >= 19, `flags in the help: ${flags.join(' ')}`);
    const docs = await readFile(join(repositoryRoot, 'docs', 'cli.md'), 'utf8');
    const section = docs.slice(docs.indexOf('## fennec bench'), docs.indexOf('## Exit codes'));
    for (const flag of flags)
      assert.ok(section.includes(`\`${flag}`), `${flag} is not in docs/cli.md's fennec bench section`);
  });

  for (const [what, args] of [
    ['an unknown flag', ['fanin', '--bogus']],
    ['a QoS of 3', ['fanin', '--qos', '3']],
    ['an unknown scenario', ['storm']],
    ['a payload too small for the timestamp and sequence', ['fanin', '--payload', '8']],
    ['an MQTT version of 3', ['fanin', '-V', '3']],
    ['a URL of another scheme', ['fanin', '-L', 'ws://127.0.0.1:1883']],
  ] as const) {
    void it(`refuses ${what} with one line and exit code 2`, async () => {
      const result = await bench(args);
      assert.equal(result.code, ExitCode.Usage, result.stderr);
      assert.equal(result.stderr.trimEnd().split('\n').length, 1, result.stderr);
      assert.equal(result.stdout, '');
    });
  }
});
