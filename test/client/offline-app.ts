/**
 * An application process for the offline-store tests (run by test/client/offline-store.test.ts, not
 * a test itself): a client over a SqliteStore in a directory. Its one argument is JSON:
 * { url, dir, clientId, version, clean, messages: [[topic, payload, qos]] }. It prints `connected`;
 * then on stdin `publish` publishes the messages at once, `publish-offline` once the link is down,
 * and prints `stored` (the store has them: its commits apply within the call); `drain` waits until
 * nothing is queued or in flight and prints `drained`, then ends.
 */
import { createInterface } from 'node:readline';
import { connect } from '../../src/client/index.js';
import type { QoS } from '../../src/protocol/index.js';
import { SqliteStore } from '../../src/store/sqlite.js';

interface Args {
  url: string;
  dir: string;
  clientId: string;
  version: 4 | 5;
  clean: boolean;
  messages: [string, string, QoS][];
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const store = await SqliteStore.open(args.dir);
const client = await connect(args.url, {
  clientId: args.clientId,
  protocolVersion: args.version,
  // 3.1.1: Clean Session 0 is what makes the session persistent; 5.0: the expiry interval below
  clean: args.version === 4 ? false : args.clean,
  sessionExpiryInterval: 300,
  offlineStore: store,
  reconnect: { minDelayMs: 20, maxDelayMs: 100 },
});
client.on('error', (err) => console.error(`error: ${err.message}`));
console.log('connected');

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'publish' || line === 'publish-offline') {
    if (line === 'publish-offline') await until(() => !client.connected);
    for (const [topic, payload, qos] of args.messages) {
      // Nobody awaits them: this process is killed before they complete
      client.publish(topic, payload, { qos }).catch(() => undefined);
    }
    console.log(`stored ${client.queuedCount} ${client.inflightCount}`);
  } else if (line === 'drain') {
    await until(() => client.connected && client.queuedCount === 0 && client.inflightCount === 0);
    await client.end();
    await store.close();
    console.log('drained');
    process.exit(0);
  }
}
