// 01: CONNECT and CONNACK: protocol name and level, client identifiers, connect flags, the first
// and a second CONNECT, the connect timeout, keep-alive and session takeover. Run for 3.1.1 and 5.0.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, sleep, startBroker } from '../helpers/broker.js';

/**
 * Expects the broker to close the connection after at most a refusing CONNACK: 3.1.1 allows
 * none ([MQTT-3.1.4-1] closes without CONNACK), 5.0 one with a reason code of 0x80 or more.
 */
async function expectClosedWithoutAccepting(client: RawClient, version: 4 | 5): Promise<void> {
  if (version === 5) {
    const deadline = Date.now() + 2000;
    while (!client.closedYet && client.unread.length === 0 && Date.now() < deadline) await sleep(10);
    if (client.unread.length > 0) {
      const connack = await client.next('connack');
      assert.ok(connack.reasonCode >= 0x80, `a refusing CONNACK, got 0x${connack.reasonCode.toString(16)}`);
      assert.equal(connack.sessionPresent, false);
    }
  }
  await client.closed();
}

for (const v of VERSIONS) {
  describe(`01 connect (v${v})`, () => {
    it(`${cite(v, 'MQTT-3.1.4-4 MQTT-3.2.2-1 MQTT-3.2.0-1', 'MQTT-3.1.4-5 MQTT-3.2.2-2 MQTT-3.2.0-1')} a valid CONNECT is answered first with CONNACK 0 and Session Present 0 (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.open(port, v);
      client.send(pkt.connect({ version: v, clientId: 'valid' }));
      const connack = await client.next();
      assert.equal(connack.type, 'connack');
      assert.equal(connack.reasonCode, 0);
      assert.equal(connack.sessionPresent, false);
      await client.expectNothing(100);
    });

    if (v === 4) {
      it('[MQTT-3.1.2-2] an unsupported protocol level (6) gets CONNACK return code 0x01 and a close (v4)', async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.open(port, 4);
        client.send(pkt.connect({ version: 4, clientId: 'level6', protocolLevel: 6 }));
        const connack = await client.next('connack');
        assert.equal(connack.reasonCode, 0x01);
        assert.equal(connack.sessionPresent, false);
        await client.closed();
      });

      it('[MQTT-3.1.2-2] protocol name MQTT with the 3.1 level (3) gets CONNACK return code 0x01 and a close (v4)', async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.open(port, 4);
        client.send(pkt.connect({ version: 4, clientId: 'level3', protocolLevel: 3 }));
        const connack = await client.next('connack');
        assert.equal(connack.reasonCode, 0x01);
        await client.closed();
      });

      it('[MQTT-3.1.2-1] a wrong protocol name is never accepted: the connection closes, at most after a refusing CONNACK (v4)', async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.open(port, 4);
        client.send(pkt.connect({ version: 4, clientId: 'badname', protocolName: 'MQTX' }));
        const deadline = Date.now() + 2000;
        while (!client.closedYet && client.unread.length === 0 && Date.now() < deadline) await sleep(10);
        if (client.unread.length > 0) {
          const connack = await client.next('connack');
          assert.notEqual(connack.reasonCode, 0, 'a CONNACK refusing the connection');
        }
        await client.closed();
      });
    } else {
      it('[MQTT-3.1.2-2] an unsupported protocol level (6) is refused with a CONNACK every client can read (3.1.1 form, code 0x01) and a close (v5)', async (t) => {
        const { port } = await startBroker(t);
        // The broker cannot know how a level-6 client lays out CONNACK, so it answers in the 3.1.1 form.
        const client = await RawClient.open(port, 4);
        client.send(pkt.connect({ version: 5, clientId: 'level6', protocolLevel: 6 }));
        const connack = await client.next('connack');
        assert.equal(connack.reasonCode, 0x01);
        assert.equal(connack.sessionPresent, false);
        await client.closed();
      });

      it('[MQTT-3.1.2-1] a wrong protocol name at level 5 gets CONNACK 0x84 (Unsupported Protocol Version) and a close (v5)', async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.open(port, 5);
        client.send(pkt.connect({ version: 5, clientId: 'badname', protocolName: 'MQTX' }));
        const connack = await client.next('connack');
        assert.equal(connack.reasonCode, 0x84);
        assert.equal(connack.sessionPresent, false);
        await client.closed();
      });
    }

    it(`${cite(v, 'MQTT-3.1.3-6', 'MQTT-3.1.3-6 MQTT-3.1.3-7 MQTT-3.2.2-16')} an empty client id with a clean session gets a unique assigned id (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const a = await RawClient.connect(port, { version: v, clientId: '', clean: true });
      const b = await RawClient.connect(port, { version: v, clientId: '', clean: true });
      const ids = [...broker.sessions.keys()];
      assert.equal(ids.length, 2);
      assert.ok(ids.every((id) => id.length > 0));
      assert.notEqual(ids[0], ids[1]);
      if (v === 5) {
        const assignedA = a.connack.properties.assignedClientIdentifier;
        const assignedB = b.connack.properties.assignedClientIdentifier;
        assert.ok(assignedA !== undefined && assignedA.length > 0, 'CONNACK has an Assigned Client Identifier');
        assert.notEqual(assignedA, assignedB);
        assert.deepEqual([assignedA, assignedB].sort(), ids.sort());
      } else {
        assert.equal(a.connack.properties.assignedClientIdentifier, undefined);
      }
      // Both clients work independently under their assigned ids.
      await a.subscribe('assigned/a', 1);
      await b.publish({ topic: 'assigned/a', payload: 'hi', qos: 1 });
      assert.equal((await a.receive()).payload.toString(), 'hi');
    });

    if (v === 4) {
      it('[MQTT-3.1.3-8] [MQTT-3.2.2-4] [MQTT-3.2.2-5] an empty client id without Clean Session gets CONNACK 0x02 and a close (v4)', async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.open(port, 4);
        client.send(pkt.connect({ version: 4, clientId: '', clean: false }));
        const connack = await client.next('connack');
        assert.equal(connack.reasonCode, 0x02);
        assert.equal(connack.sessionPresent, false);
        await client.closed();
      });
    } else {
      it('[MQTT-3.1.3-6] [MQTT-3.1.3-7] an empty client id without Clean Start is accepted with an assigned id (v5)', async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.connect(port, { version: 5, clientId: '', clean: false });
        assert.equal(client.connack.sessionPresent, false);
        assert.ok((client.connack.properties.assignedClientIdentifier ?? '').length > 0);
      });
    }

    it(`${cite(v, 'MQTT-3.1.3-9 MQTT-3.2.2-4', 'MQTT-3.1.3-8 MQTT-3.2.2-6 MQTT-3.2.2-7')} a client id the broker refuses (too long) gets ${v === 5 ? 'CONNACK 0x85' : 'CONNACK 0x02'} and a close (v${v})`, async (t) => {
      // 23 bytes is the lowest limit a server may set [MQTT-3.1.3-5]; this id has 24.
      const { port } = await startBroker(t, { maxClientIdLength: 23 });
      const client = await RawClient.open(port, v);
      client.send(pkt.connect({ version: v, clientId: 'a-client-id-of-24-bytes!' }));
      const connack = await client.next('connack');
      assert.equal(connack.reasonCode, v === 5 ? 0x85 : 0x02);
      assert.equal(connack.sessionPresent, false);
      await client.closed();
    });

    it(`${cite(v, 'MQTT-3.1.4-5', 'MQTT-3.1.4-6')} after refusing a CONNECT the broker processes nothing the client sent after it (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t, { maxClientIdLength: 23 });
      const client = await RawClient.open(port, v);
      client.send(
        Buffer.concat([
          pkt.connect({ version: v, clientId: 'a-client-id-of-24-bytes!' }),
          pkt.publish(v, { topic: 'refused/retained', payload: 'x', retain: true }),
        ]),
      );
      await client.next('connack');
      await client.closed();
      let found = 0;
      broker.retained.match('#', () => found++);
      assert.equal(found, 0, 'the PUBLISH after a refused CONNECT was not processed');
    });

    it(`[MQTT-3.1.2-3] a CONNECT with the reserved flag set is not accepted and the connection is closed${v === 4 ? ' without CONNACK [MQTT-3.1.4-1]' : ''} (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.open(port, v);
      client.send(pkt.connect({ version: v, clientId: 'reserved', reservedFlag: true }));
      await expectClosedWithoutAccepting(client, v);
    });

    it(`${cite(v, 'MQTT-3.1.2-14', 'MQTT-3.1.2-12')} a CONNECT with Will QoS 3 is not accepted and the connection is closed (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.open(port, v);
      const bytes = pkt.connect({ version: v, clientId: 'willqos3', will: { topic: 'w', payload: 'x', qos: 2 } });
      // Connect flags sit after the fixed header (2), the protocol name (6) and the level (1).
      bytes[9] = bytes[9]! | 0x18;
      client.send(bytes);
      await expectClosedWithoutAccepting(client, v);
    });

    it(`${cite(v, 'MQTT-3.1.2-15', 'MQTT-3.1.2-13')} a CONNECT with Will Retain but no Will is not accepted and the connection is closed (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.open(port, v);
      const bytes = pkt.connect({ version: v, clientId: 'willretain' });
      bytes[9] = bytes[9]! | 0x20;
      client.send(bytes);
      await expectClosedWithoutAccepting(client, v);
    });

    it(`[MQTT-3.1.4-1] a CONNECT whose will topic has a wildcard is not accepted and the connection is closed (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const client = await RawClient.open(port, v);
      client.send(pkt.connect({ version: v, clientId: 'badwill', will: { topic: 'will/+', payload: 'x' } }));
      await expectClosedWithoutAccepting(client, v);
      assert.equal(broker.sessions.has('badwill'), false);
    });

    if (v === 4) {
      it('[MQTT-3.1.2-22] a CONNECT with a password but no user name is not accepted and the connection is closed (v4)', async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.open(port, 4);
        client.send(pkt.connect({ version: 4, clientId: 'pwonly', password: 'secret' }));
        await expectClosedWithoutAccepting(client, 4);
      });
    }

    it(`[MQTT-3.1.0-2] a second CONNECT closes the connection${v === 5 ? ' after DISCONNECT 0x82' : ''} (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, { version: v, clientId: 'twice' });
      client.send(pkt.connect({ version: v, clientId: 'twice' }));
      if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, 0x82);
      await client.closed();
    });

    it(`[MQTT-3.1.0-1]${v === 5 ? ' [MQTT-3.14.0-1]' : ''} a first packet other than CONNECT closes the connection with nothing sent (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const pinger = await RawClient.open(port, v);
      pinger.send(pkt.pingreq());
      await pinger.closed();
      const subscriber = await RawClient.open(port, v);
      subscriber.send(pkt.subscribe(v, 1, ['a/b']));
      await subscriber.closed();
    });

    it(`a connection that sends no whole CONNECT within connectTimeoutMs is closed (v${v})`, async (t) => {
      const { port } = await startBroker(t, { connectTimeoutMs: 300 });
      const client = await RawClient.open(port, v);
      const start = Date.now();
      client.send(pkt.connect({ version: v, clientId: 'slow' }).subarray(0, 6));
      await client.closed(1500);
      const elapsed = Date.now() - start;
      assert.ok(elapsed >= 250, `closed after ${elapsed} ms, not before the timeout`);
    });

    it(`${cite(v, 'MQTT-3.1.2-24', 'MQTT-3.1.2-22')} a client silent for 1.5 x its keep-alive is disconnected${v === 5 ? ' with DISCONNECT 0x8D' : ''} (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, { version: v, clientId: 'sleepy', keepAlive: 1 });
      const start = Date.now();
      if (v === 5) assert.equal((await client.next('disconnect', 3000)).reasonCode, 0x8d);
      await client.closed(3000);
      const elapsed = Date.now() - start;
      assert.ok(elapsed >= 1400 && elapsed < 2500, `closed after ${elapsed} ms; expected about 1500`);
    });

    it(`[MQTT-3.12.4-1] PINGREQ within the keep-alive gets PINGRESP and keeps the connection open (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, { version: v, clientId: 'pinger', keepAlive: 1 });
      for (let i = 0; i < 4; i++) {
        await sleep(600);
        client.send(pkt.pingreq());
        await client.next('pingresp', 500);
      }
      assert.equal(client.closedYet, false);
    });

    it(`${cite(v, 'MQTT-3.1.4-2', 'MQTT-3.1.4-3')} a second connection with the same client id closes the first${v === 5 ? ' with DISCONNECT 0x8E' : ''} and takes its session (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const persistent: pkt.ConnectOptions = {
        version: v,
        clientId: 'same',
        clean: false,
        properties: v === 5 ? { sessionExpiryInterval: 3600 } : {},
      };
      const first = await RawClient.connect(port, persistent);
      assert.deepEqual(await first.subscribe('takeover/#', 1), [1]);
      const second = await RawClient.connect(port, persistent);
      assert.equal(second.connack.sessionPresent, true, 'the session moved to the new connection');
      if (v === 5) assert.equal((await first.next('disconnect')).reasonCode, 0x8e);
      await first.closed();
      assert.equal(broker.clientState('same'), 'active');
      const publisher = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await publisher.publish({ topic: 'takeover/x', payload: 'moved', qos: 1 });
      const message = await second.receive();
      assert.equal(message.topic, 'takeover/x');
      assert.equal(message.payload.toString(), 'moved');
    });

    it(`closing the broker closes every connection${v === 5 ? ' after DISCONNECT 0x8B (Server shutting down)' : ''} (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const a = await RawClient.connect(port, { version: v, clientId: 'a' });
      const b = await RawClient.connect(port, { version: v, clientId: 'b' });
      const closing = broker.close();
      for (const client of [a, b]) {
        if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, 0x8b);
        await client.closed();
      }
      await closing;
      assert.equal(broker.connectionCount, 0);
    });

    it(`an MQTT 3.1 client (MQIsdp, level 3) connects and exchanges messages with a v${v} client`, async (t) => {
      const { port } = await startBroker(t);
      const old = await RawClient.connect(port, { version: 3, clientId: 'mqtt31' });
      assert.equal(old.connack.sessionPresent, false);
      const modern = await RawClient.connect(port, { version: v, clientId: `mqtt-v${v}` });
      await old.subscribe('legacy/in', 1);
      await modern.subscribe('legacy/out', 1);
      await modern.publish({ topic: 'legacy/in', payload: 'to 3.1', qos: 1 });
      const received = await old.receive();
      assert.equal(received.payload.toString(), 'to 3.1');
      assert.equal(received.qos, 1);
      await old.publish({ topic: 'legacy/out', payload: 'from 3.1', qos: 1 });
      assert.equal((await modern.receive()).payload.toString(), 'from 3.1');
    });
  });
}

describe('01 connect (v3)', () => {
  it('an MQTT 3.1 client with an empty client id gets CONNACK 0x02 (3.1 requires 1 to 23 characters)', async (t) => {
    const { port } = await startBroker(t);
    const client = await RawClient.open(port, 3);
    client.send(pkt.connect({ version: 3, clientId: '' }));
    const connack = await client.next('connack');
    assert.equal(connack.reasonCode, 0x02);
    await client.closed();
  });
});
