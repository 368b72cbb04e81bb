// 28: Access control with an ACL file: SUBSCRIBE refused per filter, PUBLISH acknowledged but not
// routed (3.1.1) or refused (5.0), every delivery (live, retained, queued offline, shared, will)
// only to sessions that may read its topic, wills checked for write at CONNECT, %u/%c patterns.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, startBroker, type CleanupContext } from '../helpers/broker.js';
import { Acl, aclHooks } from '../../src/auth/acl.js';

/** A broker enforcing the ACL file made of `lines`. */
function startWithAcl(t: CleanupContext, ...lines: string[]): ReturnType<typeof startBroker> {
  return startBroker(t, { hooks: aclHooks(Acl.parse(lines.join('\n'), '28-acl.acl')) });
}

for (const v of VERSIONS) {
  const refused = v === 5 ? 0x87 : 0x80;
  const connect = (port: number, clientId: string, username?: string, extra: pkt.ConnectOptions = {}) =>
    RawClient.connect(port, {
      version: v,
      clientId,
      ...(username === undefined ? {} : { username }),
      ...extra,
    });

  describe(`28 ACL (v${v})`, () => {
    it(`${cite(v, 'MQTT-3.8.4-5', 'MQTT-3.8.4-7')} a filter no read rule covers gets SUBACK 0x${refused.toString(16)}, the others their QoS (v${v})`, async (t) => {
      const { port } = await startWithAcl(t, 'user alice', 'topic read a/#', 'topic read b/c', 'topic write w/#');
      const alice = await connect(port, 'alice-1', 'alice');
      const codes = await alice.subscribe(
        [
          { topic: 'a/+', qos: 1 },
          { topic: 'b/+', qos: 1 },
          { topic: 'b/c', qos: 2 },
          { topic: 'w/x', qos: 0 },
          { topic: '#', qos: 0 },
        ],
        0,
      );
      assert.deepEqual(codes, [1, refused, 2, refused, refused], 'a/+ is covered by a/#, b/+ is not covered by b/c');
    });

    it(`${cite(v, 'MQTT-3.8.4-5 MQTT-4.7.2-1', 'MQTT-3.8.4-7 MQTT-4.7.2-1')} $SYS filters are refused unless a rule names $SYS, even to a client allowed # (v${v})`, async (t) => {
      const { port } = await startWithAcl(t, 'user alice', 'topic read #', 'user admin', 'topic read $SYS/#');
      const alice = await connect(port, 'alice-1', 'alice');
      assert.deepEqual(await alice.subscribe(['#', '$SYS/#', '$SYS/broker/uptime', '+/broker']), [
        0,
        refused,
        refused,
        0,
      ]);
      const admin = await connect(port, 'admin-1', 'admin');
      assert.deepEqual(await admin.subscribe(['$SYS/#', '$SYS/broker/+', '#']), [0, 0, refused]);
    });

    it(`${cite(v, 'MQTT-3.3.5-2', 'MQTT-3.3.5-2')} a PUBLISH the client may not write is ${v === 5 ? 'refused with PUBACK / PUBREC 0x87' : 'acknowledged'} and not routed (v${v})`, async (t) => {
      const { port } = await startWithAcl(t, 'user reader', 'topic read #', 'user writer', 'topic write allowed/#');
      const reader = await connect(port, 'reader-1', 'reader');
      await reader.subscribe('#', 2);
      const writer = await connect(port, 'writer-1', 'writer');
      assert.equal(await writer.publish({ topic: 'forbidden/x', qos: 1, payload: 'no' }), v === 5 ? 0x87 : 0);
      if (v === 5) {
        writer.send(pkt.publish(v, { topic: 'forbidden/y', qos: 2, packetId: 77, payload: 'no' }));
        const pubrec = await writer.next('pubrec');
        assert.equal(pubrec.packetId, 77);
        assert.equal(pubrec.reasonCode, 0x87);
      }
      await writer.publish({ topic: 'forbidden/z', qos: 0, payload: 'no' });
      await reader.expectNothing(100);
      assert.equal(await writer.publish({ topic: 'allowed/x', qos: 1, payload: 'yes' }), 0);
      const received = await reader.receive();
      assert.equal(received.topic, 'allowed/x');
      await reader.expectNothing(50);
      assert.equal(writer.closedYet, false, 'a refused PUBLISH does not close the connection');
    });

    it(`a subscriber to # receives only the topics it may read (v${v})`, async (t) => {
      const { port } = await startWithAcl(
        t,
        'user reader',
        'topic read #',
        'topic deny secret/#',
        'user writer',
        'topic write #',
      );
      const reader = await connect(port, 'reader-1', 'reader');
      assert.deepEqual(await reader.subscribe('#', 1), [1]);
      const writer = await connect(port, 'writer-1', 'writer');
      for (const topic of ['secret/a', 'public/a', 'secret', 'secret/b/c', 'public/b'])
        await writer.publish({ topic, qos: 1, payload: topic });
      assert.equal((await reader.receive()).topic, 'public/a');
      assert.equal((await reader.receive()).topic, 'public/b');
      await reader.expectNothing(100);
    });

    it(`rules before any user line are the anonymous clients' and no one else's (v${v})`, async (t) => {
      const { port } = await startWithAcl(t, 'topic readwrite public/#', 'user alice', 'topic readwrite private/#');
      const anonymous = await connect(port, 'anon-1');
      assert.deepEqual(await anonymous.subscribe(['public/#', 'private/#']), [0, refused]);
      const alice = await connect(port, 'alice-1', 'alice');
      assert.deepEqual(await alice.subscribe(['public/#', 'private/#']), [refused, 0]);
      const other = await connect(port, 'anon-2');
      assert.equal(await other.publish({ topic: 'public/hello', qos: 1, payload: 'hi' }), 0);
      assert.equal((await anonymous.receive()).topic, 'public/hello');
      await alice.expectNothing(50);
    });

    it(`pattern rules give each client its own topics by %u and %c (v${v})`, async (t) => {
      const { port } = await startWithAcl(t, 'pattern readwrite users/%u/#', 'pattern write devices/%c/state');
      const alice = await connect(port, 'alice-phone', 'alice');
      const bob = await connect(port, 'bob-laptop', 'bob');
      assert.deepEqual(await alice.subscribe(['users/alice/#', 'users/bob/#', 'users/+/inbox'], 1), [
        1,
        refused,
        refused,
      ]);
      await bob.subscribe('users/bob/#', 1);
      assert.equal(await alice.publish({ topic: 'users/bob/inbox', qos: 1, payload: 'x' }), v === 5 ? 0x87 : 0);
      await bob.expectNothing(50);
      await alice.publish({ topic: 'users/alice/inbox', qos: 0, payload: 'note' });
      assert.equal((await alice.receive()).topic, 'users/alice/inbox');
      assert.equal(
        await alice.publish({ topic: 'devices/alice-phone/state', qos: 1, payload: 'on' }),
        v === 5 ? 0x10 : 0,
      );
      assert.equal(
        await alice.publish({ topic: 'devices/bob-laptop/state', qos: 1, payload: 'on' }),
        v === 5 ? 0x87 : 0,
      );
    });

    it(`a username holding + or # gets no other user's topics through a %u pattern (v${v})`, async (t) => {
      const { port } = await startWithAcl(t, 'pattern readwrite users/%u/#', 'user admin', 'topic write #');
      const victim = await connect(port, 'victim-1', 'victim');
      await victim.subscribe('users/victim/#', 1);
      for (const [clientId, username] of [
        ['plus', '+'],
        ['hash', '#'],
        ['slash', 'victim/#'],
      ] as const) {
        const mallory = await connect(port, clientId, username);
        assert.deepEqual(await mallory.subscribe(['users/+/#', 'users/#', 'users/victim/#'], 1), [
          refused,
          refused,
          refused,
        ]);
        assert.equal(await mallory.publish({ topic: 'users/victim/inbox', qos: 1, payload: 'x' }), v === 5 ? 0x87 : 0);
      }
      await victim.expectNothing(50);
    });

    it(`retained messages on SUBSCRIBE are sent only for topics the subscriber may read (v${v})`, async (t) => {
      const { port } = await startWithAcl(
        t,
        'user admin',
        'topic readwrite #',
        'user reader',
        'topic read status/#',
        'topic deny status/secret',
      );
      const admin = await connect(port, 'admin-1', 'admin');
      for (const topic of ['status/a', 'status/secret', 'status/b'])
        await admin.publish({ topic, qos: 1, retain: true, payload: topic });
      const reader = await connect(port, 'reader-1', 'reader');
      await reader.subscribe('status/#', 1);
      const topics = [(await reader.receive()).topic, (await reader.receive()).topic].sort();
      assert.deepEqual(topics, ['status/a', 'status/b']);
      await reader.expectNothing(100);
    });

    it(`messages queued for an offline session are checked against the username of its last client (v${v})`, async (t) => {
      const { port } = await startWithAcl(
        t,
        'user reader',
        'topic read news/#',
        'topic deny news/internal',
        'user writer',
        'topic write #',
      );
      const persistent: pkt.ConnectOptions =
        v === 5 ? { clean: false, properties: { sessionExpiryInterval: 60 } } : { clean: false };
      const reader = await connect(port, 'reader-1', 'reader', persistent);
      await reader.subscribe('news/#', 1);
      await reader.disconnect();
      const writer = await connect(port, 'writer-1', 'writer');
      await writer.publish({ topic: 'news/internal', qos: 1, payload: 'hidden' });
      await writer.publish({ topic: 'news/public', qos: 1, payload: 'shown' });
      const back = await connect(port, 'reader-1', 'reader', { ...persistent, clean: false });
      assert.equal(back.connack.sessionPresent, true);
      assert.equal((await back.receive()).topic, 'news/public');
      await back.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-3.2.2-5', 'MQTT-3.1.4-2 MQTT-3.2.2-7')} a will on a topic the client may not write is refused at CONNECT with ${v === 5 ? '0x87' : 'return code 5'} (v${v})`, async (t) => {
      const { port } = await startWithAcl(t, 'user alice', 'topic write alice/#');
      const refusedClient = await RawClient.open(port, v);
      refusedClient.send(
        pkt.connect({
          version: v,
          clientId: 'alice-1',
          username: 'alice',
          will: { topic: 'others/alice', payload: 'x' },
        }),
      );
      const connack = await refusedClient.next('connack');
      assert.equal(connack.reasonCode, v === 5 ? 0x87 : 5);
      assert.equal(connack.sessionPresent, false);
      await refusedClient.closed();
      const accepted = await connect(port, 'alice-2', 'alice', { will: { topic: 'alice/status', payload: 'gone' } });
      assert.equal(accepted.connack.reasonCode, 0);
    });

    it(`a will goes only to the subscribers that may read its topic (v${v})`, async (t) => {
      const { port } = await startWithAcl(
        t,
        'user watcher',
        'topic read wills/#',
        'user outsider',
        'topic read wills/#',
        'topic deny wills/private/#',
        'user dying',
        'topic write wills/#',
      );
      const watcher = await connect(port, 'watcher-1', 'watcher');
      await watcher.subscribe('wills/#', 1);
      const outsider = await connect(port, 'outsider-1', 'outsider');
      await outsider.subscribe('wills/#', 1);
      const dying = await connect(port, 'dying-1', 'dying', {
        will: { topic: 'wills/private/dying-1', payload: 'gone', qos: 1 },
      });
      dying.destroy();
      const will = await watcher.receive();
      assert.equal(will.topic, 'wills/private/dying-1');
      assert.equal(will.payload.toString(), 'gone');
      await outsider.expectNothing(150);
    });

    it(`a shared subscription gives each message to a member that may read it, and none to one that may not (v${v})`, async (t) => {
      const { port } = await startWithAcl(
        t,
        'user senior',
        'topic read jobs/#',
        'user junior',
        'topic read jobs/#',
        'topic deny jobs/secret/#',
        'user boss',
        'topic write #',
      );
      const senior = await connect(port, 'senior-1', 'senior');
      const junior = await connect(port, 'junior-1', 'junior');
      assert.deepEqual(await senior.subscribe('$share/workers/jobs/#', 1), [1]);
      assert.deepEqual(await junior.subscribe('$share/workers/jobs/#', 1), [1]);
      const boss = await connect(port, 'boss-1', 'boss');
      for (let i = 0; i < 4; i++) await boss.publish({ topic: `jobs/secret/${i}`, qos: 1, payload: String(i) });
      for (let i = 0; i < 4; i++) assert.equal((await senior.receive()).topic, `jobs/secret/${i}`);
      await junior.expectNothing(100);
      // Round robin still shares what both may read
      const topics: string[] = [];
      for (let i = 0; i < 4; i++) await boss.publish({ topic: `jobs/open/${i}`, qos: 1, payload: String(i) });
      for (let i = 0; i < 2; i++) topics.push((await senior.receive()).topic, (await junior.receive()).topic);
      assert.deepEqual(topics.sort(), ['jobs/open/0', 'jobs/open/1', 'jobs/open/2', 'jobs/open/3']);
    });

    it(`a shared subscription group none of whose members may read a topic delivers nothing (v${v})`, async (t) => {
      const { port } = await startWithAcl(
        t,
        'user junior',
        'topic read jobs/#',
        'topic deny jobs/secret',
        'user boss',
        'topic write #',
      );
      const junior = await connect(port, 'junior-1', 'junior');
      await junior.subscribe('$share/workers/jobs/#', 1);
      const boss = await connect(port, 'boss-1', 'boss');
      // 5.0: 0x10, No matching subscribers: no delivery was made
      assert.equal(await boss.publish({ topic: 'jobs/secret', qos: 1, payload: 'x' }), v === 5 ? 0x10 : 0);
      await junior.expectNothing(100);
    });

    it(`an authorizeRead hook that throws refuses the delivery, and the broker goes on (v${v})`, async (t) => {
      const { port } = await startBroker(t, {
        hooks: {
          authorizeRead: (_client, topic) => {
            if (topic === 'boom') throw new Error('hook failure');
            return true;
          },
        },
      });
      const sub = await connect(port, 'sub-1');
      await sub.subscribe('#', 1);
      const pub = await connect(port, 'pub-1');
      await pub.publish({ topic: 'boom', qos: 1, payload: 'x' });
      await pub.publish({ topic: 'fine', qos: 1, payload: 'y' });
      assert.equal((await sub.receive()).topic, 'fine');
      await sub.expectNothing(50);
    });

    it(`rules swapped behind aclHooks apply to subscriptions made under the old ones (v${v})`, async (t) => {
      let acl = Acl.parse('user reader\ntopic read feed/#\nuser writer\ntopic write #', 'before.acl');
      const { port } = await startBroker(t, { hooks: aclHooks(() => acl) });
      const reader = await connect(port, 'reader-1', 'reader');
      assert.deepEqual(await reader.subscribe('feed/#', 1), [1]);
      const writer = await connect(port, 'writer-1', 'writer');
      await writer.publish({ topic: 'feed/a', qos: 1, payload: 'a' });
      assert.equal((await reader.receive()).topic, 'feed/a');
      acl = Acl.parse('user reader\ntopic read feed/public\nuser writer\ntopic write #', 'after.acl');
      await writer.publish({ topic: 'feed/b', qos: 1, payload: 'b' });
      await writer.publish({ topic: 'feed/public', qos: 1, payload: 'p' });
      assert.equal((await reader.receive()).topic, 'feed/public');
      await reader.expectNothing(50);
    });
  });
}
