/**
 * A real Broker on 127.0.0.1 and an ephemeral port for one test, released when the test ends:
 * its raw clients are destroyed first, then the broker closes.
 */
import { AssertionError } from 'node:assert';
import { Broker } from '../../src/broker/broker.js';
import type { BrokerOptions } from '../../src/broker/options.js';
import { MemoryStore } from '../../src/store/memory.js';
import { destroyAllClients } from './raw-client.js';

/** What a test needs of its context: a place to register cleanup (node:test's TestContext). */
export interface CleanupContext {
  after(fn: () => unknown): void;
}

export interface TestBroker {
  broker: Broker;
  port: number;
}

/**
 * Starts `new Broker({ port: 0, ...options })` and closes it (and every raw client) after the test.
 * The broker publishes no $SYS topics unless `options.sysInterval` asks (test/broker/35-sys): a
 * subscription to `$SYS/#` then gets only what its test publishes.
 */
export async function startBroker(t: CleanupContext, options: BrokerOptions = {}): Promise<TestBroker> {
  // FENNEC_TEST_STORE=memory runs every broker test with a store attached, so that the persistence
  // path (journal, acknowledgements after commit) is held to the same behaviour as the memory path.
  const store = process.env['FENNEC_TEST_STORE'] === 'memory' ? new MemoryStore() : undefined;
  const broker = new Broker({
    host: '127.0.0.1',
    port: 0,
    sysInterval: 0,
    ...(store === undefined ? {} : { store }),
    ...options,
  });
  const { port } = await broker.listen();
  t.after(async () => {
    destroyAllClients();
    await broker.close();
  });
  return { broker, port };
}

/** The MQTT versions every protocol test runs for: 3.1.1 and 5.0. */
export const VERSIONS = [4, 5] as const;

/** `[id]` of the statement in the version under test: the ids differ between 3.1.1 and 5.0. */
export function cite(version: 4 | 5, v311: string, v5: string): string {
  const id = version === 5 ? v5 : v311;
  return id
    .split(' ')
    .map((s) => `[${s}]`)
    .join(' ');
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 5 ms until it holds; fails with `what` after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new AssertionError({ message: `timed out after ${timeoutMs} ms waiting until ${what}` });
    await sleep(5);
  }
}
