/**
 * Admin API listing benchmark: time of GET /api/v1/sessions (through AdminServer.dispatch, JSON
 * included) over a broker holding 100,000 sessions, for the first page, a page in the middle (by
 * cursor), a search matching 1% of client ids, and one matching none; next to it, what sorting every
 * client id per request would cost, the approach the keyset selection of src/http/listing.ts avoids.
 *
 * Figures only, never assertions. Run with `npx tsc -p . && node dist/bench/admin-list.js` (about 10 s).
 */
import { Broker } from '../src/broker/broker.js';
import { AdminServer } from '../src/http/server.js';

const SESSIONS = 100_000;
const REPEAT = 20;

async function timeMs(run: () => Promise<unknown>): Promise<number> {
  await run();
  const start = process.hrtime.bigint();
  for (let i = 0; i < REPEAT; i++) await run();
  return Number(process.hrtime.bigint() - start) / 1e6 / REPEAT;
}

const broker = new Broker({ sysInterval: 0 });
// Ids in random order, as clients arrive; each session has one subscription.
const ids = Array.from({ length: SESSIONS }, (_, i) => `device-${String((i * 7919) % SESSIONS).padStart(6, '0')}`);
for (const id of ids) {
  const { session } = broker.openSession(id, false, 3600);
  broker.addSubscription(session, `devices/${id}/cmd`, {
    qos: 1,
    noLocal: false,
    retainAsPublished: false,
    retainHandling: 0,
    subscriptionIdentifier: undefined,
  });
}
const admin = new AdminServer(broker);
const get = (url: string) => () =>
  admin.dispatch({ method: 'GET', url, remoteAddress: '127.0.0.1', headers: {}, body: Buffer.alloc(0) });

console.log(`GET over ${SESSIONS.toLocaleString('en')} sessions, mean of ${REPEAT} requests`);
const cases: [string, string][] = [
  ['first page, limit 100', '/api/v1/sessions?limit=100'],
  ['middle page by cursor, limit 100', '/api/v1/sessions?limit=100&cursor=device-050000'],
  ['first page, limit 1000', '/api/v1/sessions?limit=1000'],
  ['search ?q=-0123 (1% match), limit 100', '/api/v1/sessions?q=-0123&limit=100'],
  ['search matching none', '/api/v1/sessions?q=nothing'],
];
for (const [name, url] of cases) {
  const reply = await get(url)();
  const total = (reply.body as { total: number }).total;
  console.log(`${name.padEnd(40)} ${(await timeMs(get(url))).toFixed(2).padStart(8)} ms  (total ${total})`);
}
const sortAll = (): Promise<unknown> => Promise.resolve([...broker.sessions.keys()].sort().slice(0, 100));
console.log(
  `${'for reference: sort every id, per request'.padEnd(40)} ${(await timeMs(sortAll)).toFixed(2).padStart(8)} ms`,
);
admin.metrics.close();
