/**
 * Routing benchmark: messages routed per second by `route()` to 1, 100 and 1,000 matching sessions
 * (QoS 0, a sink that accepts every write), with no read authorization, and with the `authorizeRead`
 * hook of an ACL of a user rule and two patterns (one with `%u`): what a per-delivery check costs.
 *
 * Figures only, never assertions. Run with `npx tsc -p . && node dist/bench/route.js` (about 5 s).
 */
import type { Message } from '../src/session/message.js';
import { Link } from '../src/session/link.js';
import { Session, type SessionSink } from '../src/session/session.js';
import { TopicIndex } from '../src/topic/index.js';
import { route, type RouteEntry } from '../src/broker/router.js';
import { Acl, aclHooks } from '../src/auth/acl.js';
import { HookRegistry } from '../src/broker/hook-registry.js';

const SUBSCRIBERS = [1, 100, 1000];
const TIME_PER_CASE_MS = 500;

const sink: SessionSink = {
  writable: () => true,
  write: (_packet: Buffer) => undefined,
};

/** The protocol state of a 3.1.1 connection with the broker's default limits. */
function link(): Link {
  const l = new Link();
  l.agree({
    keepAlive: 60,
    receiveMaximum: 65_535,
    topicAliasMaximum: 0,
    peerReceiveMaximum: 65_535,
    peerMaximumPacketSize: 268_435_460,
    outgoingTopicAliasMaximum: 0,
  });
  return l;
}

/** An index with `count` sessions subscribed to `sensors/+/temperature`, each attached to `sink`. */
function build(count: number): { index: TopicIndex<RouteEntry>; sessions: Session[] } {
  const index = new TopicIndex<RouteEntry>();
  const sessions: Session[] = [];
  for (let i = 0; i < count; i++) {
    const session = new Session(`client-${i}`, 0, { maxInflightMessages: 100, maxQueuedMessages: 100 });
    session.username = `user-${i % 10}`;
    session.attach(sink, link());
    const options = {
      qos: 0,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      subscriptionIdentifier: undefined,
    } as const;
    session.subscribe('sensors/+/temperature', options);
    index.add('sensors/+/temperature', session.clientId, { session, options });
    sessions.push(session);
  }
  return { index, sessions };
}

function message(): Message {
  return {
    topic: 'sensors/kitchen/temperature',
    payload: Buffer.from('21.5'),
    qos: 0,
    retain: false,
    properties: undefined,
    publisherId: 'publisher',
    receivedAt: 0,
  };
}

/** Deliveries per second routing one message after another for TIME_PER_CASE_MS. */
function measure(run: () => number): number {
  for (let i = 0; i < 200; i++) run();
  let deliveries = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(TIME_PER_CASE_MS) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 50; i++) deliveries += run();
    now = process.hrtime.bigint();
  }
  return deliveries / (Number(now - start) / 1e9);
}

const acl = Acl.parse(
  ['pattern read sensors/+/temperature', 'pattern deny sensors/%u/secret', 'user admin', 'topic #'].join('\n'),
  'bench.acl',
);
// As the broker calls it: the registry hands the router the one registered read hook, bound to its object.
const read = new HookRegistry(aclHooks(acl)).authorizeRead!;

console.log('subscribers  no read hook (deliveries/s)  ACL authorizeRead (deliveries/s)  cost per delivery (ns)');
for (const count of SUBSCRIBERS) {
  const { index } = build(count);
  const plain = measure(() => route(index, message()));
  const checked = measure(() => route(index, message(), read));
  const cost = 1e9 / checked - 1e9 / plain;
  console.log(
    `${String(count).padStart(11)}  ${Math.round(plain).toLocaleString('en').padStart(27)}  ${Math.round(checked)
      .toLocaleString('en')
      .padStart(32)}  ${cost.toFixed(0).padStart(22)}`,
  );
}
