// 34: the server statements of MQTT 3.1.1 and 5.0 that no other file proves: packet identifiers of
// SUBACK / UNSUBACK, UNSUBSCRIBE of several filters, delivery already started when a subscription
// goes, QoS 0 flags, UTF-8 filters and topics, one CONNACK per connection, nothing after DISCONNECT,
// the QoS 2 and refusal-code rules of section 4.3 and 4.4, closing after a refusal code (4.13), and
// acknowledgements that drop their Reason String and User Properties to fit the client's Maximum
// Packet Size. Each runs for 3.1.1 and 5.0 where the statement exists in both.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { frame, str, u16, u8 } from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, sleep, startBroker } from '../helpers/broker.js';
import type { AuthMethod, AuthStep } from '../../src/broker/hooks.js';

/** Bytes that are not UTF-8: a lone continuation byte. */
const NOT_UTF8 = Buffer.from([0x61, 0x80, 0x62]);

for (const v of VERSIONS) {
  const persistent = (clientId: string): pkt.ConnectOptions => ({
    version: v,
    clientId,
    clean: false,
    ...(v === 5 ? { properties: { sessionExpiryInterval: 600 } } : {}),
  });
  /** 5.0: DISCONNECT with `reasonCode`, then the close; 3.1.1: the close alone. */
  const expectClose = async (client: RawClient, reasonCode: number): Promise<void> => {
    if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, reasonCode);
    await client.closed();
  };

  describe(`34 server statements (v${v})`, () => {
    it(`${cite(v, 'MQTT-2.3.1-7', 'MQTT-2.2.1-6')} SUBACK and UNSUBACK carry the Packet Identifier of the SUBSCRIBE and UNSUBSCRIBE they answer, whatever it is (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, { version: v, clientId: 'ids' });
      for (const id of [1, 0x1234, 0xffff]) {
        client.send(pkt.subscribe(v, id, ['ids/a']));
        assert.equal((await client.next('suback')).packetId, id);
        client.send(pkt.unsubscribe(v, id, ['ids/a']));
        assert.equal((await client.next('unsuback')).packetId, id);
      }
    });

    it(`${cite(v, 'MQTT-3.10.4-6', 'MQTT-3.10.4-6')} an UNSUBSCRIBE of several filters removes each, as a sequence of UNSUBSCRIBEs, answered by one UNSUBACK (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe(['u/one', 'u/two', 'u/+', 'u/kept'], 1);
      sub.send(pkt.unsubscribe(v, 9, ['u/one', 'u/missing', 'u/+', 'u/two']));
      const unsuback = await sub.next('unsuback');
      assert.equal(unsuback.packetId, 9);
      // 5.0: one Reason Code per filter, in order; 0x11 for the filter that named no subscription
      assert.deepEqual(unsuback.reasonCodes, v === 5 ? [0, 0x11, 0, 0] : []);
      await sub.expectNothing(50);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      for (const topic of ['u/one', 'u/two', 'u/kept']) await pub.publish({ topic, payload: topic, qos: 1 });
      assert.equal((await sub.receive()).topic, 'u/kept');
      await sub.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-3.10.4-3', 'MQTT-3.10.4-3')} after UNSUBSCRIBE the broker completes a QoS 2 delivery it had started for that filter (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('started/q2', 2);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'started/q2', payload: 'm', qos: 2 });
      const message = await sub.next('publish');
      assert.equal(message.qos, 2);
      assert.deepEqual(await sub.unsubscribe('started/q2'), v === 5 ? [0] : []);
      sub.send(pkt.pubrec(v, message.packetId));
      assert.equal((await sub.next('pubrel')).packetId, message.packetId);
      sub.send(pkt.pubcomp(v, message.packetId));
      await sub.ping();
    });

    it(`${cite(v, 'MQTT-3.10.4-3', 'MQTT-3.10.4-3')} after UNSUBSCRIBE an unacknowledged QoS 1 delivery of that filter is still sent again on reconnect (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, persistent('sub'));
      await sub.subscribe('started/q1', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'started/q1', payload: 'm', qos: 1 });
      const first = await sub.next('publish');
      await sub.unsubscribe('started/q1');
      sub.destroy();
      const back = await RawClient.connect(port, persistent('sub'));
      const again = await back.next('publish');
      assert.equal(again.packetId, first.packetId);
      assert.equal(again.dup, true);
      back.send(pkt.puback(v, again.packetId));
      await back.expectNothing(100);
    });

    it(`${cite(v, 'MQTT-4.3.1-1', 'MQTT-4.3.1-1')} a QoS 0 message is sent with QoS 0 and DUP 0, also to a QoS 2 subscription and when published with DUP set on QoS 1 (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe([
        { topic: 'q0/a', qos: 2 },
        { topic: 'q0/b', qos: 0 },
      ]);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'q0/a', payload: 'zero' });
      pub.send(pkt.publish(v, { topic: 'q0/b', payload: 'dup', qos: 1, dup: true, packetId: 3 }));
      await pub.next('puback');
      for (const topic of ['q0/a', 'q0/b']) {
        const message = await sub.next('publish');
        assert.equal(message.topic, topic);
        assert.equal(message.qos, 0);
        assert.equal(message.dup, false);
      }
    });

    for (const [ids, name, bytes] of [
      [
        cite(v, 'MQTT-3.3.2-1', 'MQTT-3.3.2-1'),
        'a PUBLISH whose Topic Name',
        (props: Buffer) => frame(0x30, str(NOT_UTF8), props),
      ],
      [
        cite(v, 'MQTT-3.8.3-1', 'MQTT-3.8.3-1'),
        'a SUBSCRIBE whose Topic Filter',
        (props: Buffer) => frame(0x82, u16(1), props, str(NOT_UTF8), u8(0)),
      ],
      [
        cite(v, 'MQTT-3.10.3-1', 'MQTT-3.10.3-1'),
        'an UNSUBSCRIBE whose Topic Filter',
        (props: Buffer) => frame(0xa2, u16(1), props, str(NOT_UTF8)),
      ],
    ] as const) {
      it(`${ids} ${name} is not UTF-8 is malformed: the connection closes (v${v})`, async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.connect(port, { version: v, clientId: 'utf8' });
        client.send(bytes(v === 5 ? u8(0) : Buffer.alloc(0)));
        await expectClose(client, 0x81);
      });
    }

    it(`${cite(v, 'MQTT-3.3.2-1', 'MQTT-3.3.2-1')} a PUBLISH sent by the broker starts its variable header with the Topic Name, in UTF-8 (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('ünï/#', 1);
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      await pub.publish({ topic: 'ünï/cödé', payload: 'x', qos: 1 });
      // The test-side parser reads the topic as the first field and refuses a string that is not UTF-8
      assert.equal((await sub.receive()).topic, 'ünï/cödé');
    });

    it(`${cite(v, 'MQTT-7.1.1-1', 'MQTT-4.2.0-1')} the broker serves MQTT over TCP, an ordered, lossless, two-way byte stream: 200 QoS 0 messages arrive in order (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const sub = await RawClient.connect(port, { version: v, clientId: 'sub' });
      await sub.subscribe('tcp/#');
      const pub = await RawClient.connect(port, { version: v, clientId: 'pub' });
      pub.send(...Array.from({ length: 200 }, (_, i) => pkt.publish(v, { topic: 'tcp/n', payload: String(i) })));
      for (let i = 0; i < 200; i++) assert.equal((await sub.next('publish')).payload.toString(), String(i));
    });

    if (v === 4) {
      it('[MQTT-7.0.0-2] a client built from the standard alone (no extension) connects, subscribes, publishes at every QoS and disconnects (v4)', async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.connect(port, { version: 4, clientId: 'plain' });
        const other = await RawClient.connect(port, { version: 4, clientId: 'other' });
        assert.deepEqual(
          await client.subscribe(
            ['plain/0', 'plain/1', 'plain/2'].map((topic, qos) => ({ topic, qos: qos as 0 | 1 | 2 })),
          ),
          [0, 1, 2],
        );
        for (const qos of [0, 1, 2] as const) {
          await other.publish({ topic: `plain/${qos}`, payload: `q${qos}`, qos });
          assert.equal((await client.receive()).payload.toString(), `q${qos}`);
        }
        await client.disconnect();
      });
    }
  });
}

/** A 5.0 client whose Maximum Packet Size of 20 bytes fits its 18-byte CONNACK, and no Reason String. */
const TIGHT = 20;

describe('34 server statements (v5)', () => {
  it('[MQTT-3.2.0-2] the broker sends at most one CONNACK per connection: a second CONNECT gets DISCONNECT 0x82, not a CONNACK (v5)', async (t) => {
    const { port } = await startBroker(t);
    const client = await RawClient.connect(port, { version: 5, clientId: 'twice' });
    client.send(pkt.connect({ version: 5, clientId: 'twice' }));
    assert.equal((await client.next('disconnect')).reasonCode, 0x82);
    await client.closed();
  });

  it('[MQTT-3.14.4-1] [MQTT-3.14.4-2] after its DISCONNECT the broker sends nothing more and closes, even to packets already on their way (v5)', async (t) => {
    const { port } = await startBroker(t);
    const client = await RawClient.connect(port, { version: 5, clientId: 'after' });
    await client.subscribe('after/#', 1);
    client.send(frame(0x60, u16(1))); // PUBREL with flags 0000: malformed
    assert.equal((await client.next('disconnect')).reasonCode, 0x81);
    client.send(pkt.pingreq(), pkt.publish(5, { topic: 'after/x', payload: 'x', qos: 1, packetId: 2 }));
    await client.closed();
  });

  it("[MQTT-4.13.2-1] a refused CONNACK that does not fit the client's Maximum Packet Size is not sent, and the connection still closes (v5)", async (t) => {
    const { port } = await startBroker(t, { hooks: { authenticate: () => ({ ok: false, reasonCode: 0x86 }) } });
    const client = await RawClient.open(port, 5);
    client.send(
      pkt.connect({ version: 5, clientId: 'tiny', username: 'u', password: 'p', properties: { maximumPacketSize: 4 } }),
    );
    await client.closed();
  });

  it('[MQTT-4.13.2-1] a DISCONNECT with a reason code of 0x80 or more is followed by the close, with or without its Reason String (v5)', async (t) => {
    const { port } = await startBroker(t);
    for (const properties of [undefined, { maximumPacketSize: TIGHT }]) {
      const client = await RawClient.connect(port, {
        version: 5,
        clientId: 'closing',
        ...(properties ? { properties } : {}),
      });
      client.send(frame(0x60, u16(1)));
      const disconnect = await client.next('disconnect');
      assert.equal(disconnect.reasonCode, 0x81);
      assert.equal(disconnect.properties.reasonString === undefined, properties !== undefined);
      await client.closed();
    }
  });

  it('[MQTT-4.3.3-9] after PUBREC 0x87 the broker treats a PUBLISH with the same Packet Identifier as a new message (v5)', async (t) => {
    let allow = false;
    const { port } = await startBroker(t, { hooks: { authorizePublish: () => allow } });
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe('refused/q2', 2);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    pub.send(pkt.publish(5, { topic: 'refused/q2', payload: 'first', qos: 2, packetId: 5 }));
    assert.equal((await pub.next('pubrec')).reasonCode, 0x87);
    allow = true;
    pub.send(pkt.publish(5, { topic: 'refused/q2', payload: 'second', qos: 2, packetId: 5 }));
    assert.equal((await pub.next('pubrec')).reasonCode, 0);
    pub.send(pkt.pubrel(5, 5));
    assert.equal((await pub.next('pubcomp')).reasonCode, 0);
    assert.equal((await sub.receive()).payload.toString(), 'second');
  });

  for (const [ack, qos] of [
    ['PUBACK', 1],
    ['PUBREC', 2],
  ] as const) {
    it(`[MQTT-4.4.0-2] a message the subscriber answers with ${ack} 0x80 counts as acknowledged: it is not sent again on reconnect (v5)`, async (t) => {
      const { port } = await startBroker(t);
      const options = {
        version: 5,
        clientId: 'sub',
        clean: false,
        properties: { sessionExpiryInterval: 600 },
      } as const;
      const sub = await RawClient.connect(port, options);
      await sub.subscribe('refusing/x', qos);
      const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
      await pub.publish({ topic: 'refusing/x', payload: 'no', qos });
      const message = await sub.next('publish');
      sub.send(qos === 1 ? pkt.puback(5, message.packetId, 0x80) : pkt.pubrec(5, message.packetId, 0x80));
      await sub.ping();
      sub.destroy();
      const back = await RawClient.connect(port, options);
      await back.expectNothing(200);
    });
  }

  it('[MQTT-4.3.3-3] the broker keeps a QoS 2 message unacknowledged until PUBREC: without one it is sent again, DUP set, on reconnect (v5)', async (t) => {
    const { port } = await startBroker(t);
    const options = { version: 5, clientId: 'sub', clean: false, properties: { sessionExpiryInterval: 600 } } as const;
    const sub = await RawClient.connect(port, options);
    await sub.subscribe('q2/held', 2);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'q2/held', payload: 'held', qos: 2 });
    const first = await sub.next('publish');
    sub.destroy();
    const back = await RawClient.connect(port, options);
    const again = await back.next('publish');
    assert.equal(again.packetId, first.packetId);
    assert.equal(again.dup, true);
    back.send(pkt.pubrec(5, again.packetId));
    assert.equal((await back.next('pubrel')).packetId, again.packetId);
  });

  it('[MQTT-4.3.3-7] a QoS 2 message already sent is not expired: it is sent again after its Message Expiry Interval has passed (v5)', async (t) => {
    const { port } = await startBroker(t);
    const options = { version: 5, clientId: 'sub', clean: false, properties: { sessionExpiryInterval: 600 } } as const;
    const sub = await RawClient.connect(port, options);
    await sub.subscribe('q2/expiring', 2);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'q2/expiring', payload: 'e', qos: 2, properties: { messageExpiryInterval: 1 } });
    const first = await sub.next('publish');
    sub.destroy();
    await sleep(1300);
    const back = await RawClient.connect(port, options);
    const again = await back.next('publish');
    assert.equal(again.packetId, first.packetId);
    assert.equal(again.payload.toString(), 'e');
  });

  it("[MQTT-4.3.3-13] the broker completes a QoS 2 flow from a client after the message's expiry: PUBREL past the interval gets PUBCOMP 0x00 (v5)", async (t) => {
    const { port } = await startBroker(t);
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    pub.send(
      pkt.publish(5, { topic: 'late', payload: 'x', qos: 2, packetId: 4, properties: { messageExpiryInterval: 1 } }),
    );
    // 0x10 No matching subscribers: a success code, the flow goes on
    assert.ok((await pub.next('pubrec')).reasonCode < 0x80);
    await sleep(1300);
    pub.send(pkt.pubrel(5, 4));
    const pubcomp = await pub.next('pubcomp');
    assert.equal(pubcomp.packetId, 4);
    assert.equal(pubcomp.reasonCode, 0);
  });

  it('[MQTT-3.3.4-5] a client with a shared and an ordinary subscription gets one copy for each, each with its own Subscription Identifier (v5)', async (t) => {
    const { port } = await startBroker(t);
    const sub = await RawClient.connect(port, { version: 5, clientId: 'sub' });
    await sub.subscribe('copies/#', 1, { subscriptionIdentifier: 1 });
    await sub.subscribe('$share/g/copies/+', 1, { subscriptionIdentifier: 2 });
    const pub = await RawClient.connect(port, { version: 5, clientId: 'pub' });
    await pub.publish({ topic: 'copies/x', payload: 'x', qos: 1 });
    const ids = [
      (await sub.receive()).properties.subscriptionIdentifiers,
      (await sub.receive()).properties.subscriptionIdentifiers,
    ];
    assert.deepEqual(ids.sort(), [[1], [2]]);
  });

  it("[MQTT-3.15.2-2] [MQTT-3.15.2-3] the broker's AUTH carries no Reason String or User Properties, and keeps to the Maximum Packet Size of the CONNECT (v5)", async (t) => {
    /** Continues once with `data`, then accepts. */
    const method = (data: Buffer): AuthMethod => ({
      start: () => {
        let round = 0;
        return { step: (): AuthStep => (++round === 1 ? { kind: 'continue', data } : { kind: 'success' }) };
      },
    });
    const { port } = await startBroker(t, {
      hooks: { authMethods: { SMALL: method(Buffer.from('hi')), LARGE: method(Buffer.alloc(100, 0x61)) } },
    });
    const connecting = async (authenticationMethod: string): Promise<RawClient> => {
      const client = await RawClient.open(port, 5);
      client.send(
        pkt.connect({
          version: 5,
          clientId: authenticationMethod,
          properties: { authenticationMethod, maximumPacketSize: 64 },
        }),
      );
      return client;
    };
    const small = await connecting('SMALL');
    const auth = await small.next('auth');
    assert.equal(auth.reasonCode, 0x18);
    assert.equal(auth.properties.reasonString, undefined);
    assert.equal(auth.properties.userProperties, undefined);
    small.send(pkt.auth(0x18, { authenticationMethod: 'SMALL' }));
    assert.equal((await small.next('connack')).reasonCode, 0);
    // 100 bytes of Authentication Data cannot fit 64 bytes: that AUTH is not sent
    const large = await connecting('LARGE');
    await large.expectNothing(200);
  });

  describe(`acknowledgements within a Maximum Packet Size of ${TIGHT} bytes`, () => {
    const tight = (clientId: string): pkt.ConnectOptions => ({
      version: 5,
      clientId,
      properties: { maximumPacketSize: TIGHT },
    });

    it('[MQTT-3.9.2-1] [MQTT-3.9.2-2] a SUBACK refusing a filter is sent without the Reason String that would not fit (v5)', async (t) => {
      const { port } = await startBroker(t, { hooks: { authorizeSubscribe: () => false } });
      const roomy = await RawClient.connect(port, { version: 5, clientId: 'roomy' });
      roomy.send(pkt.subscribe(5, 1, ['s/a']));
      const full = await roomy.next('suback');
      assert.ok(full.properties.reasonString !== undefined, 'without a limit the SUBACK says why');
      const client = await RawClient.connect(port, tight('tight'));
      client.send(pkt.subscribe(5, 1, ['s/a']));
      const suback = await client.next('suback');
      assert.deepEqual(suback.reasonCodes, [0x87]);
      assert.equal(suback.properties.reasonString, undefined);
      assert.equal(suback.properties.userProperties, undefined);
    });

    it('[MQTT-3.5.2-2] [MQTT-3.5.2-3] a PUBREC refusing a QoS 2 message is sent without the Reason String that would not fit (v5)', async (t) => {
      const { port } = await startBroker(t, { hooks: { authorizePublish: () => false } });
      const roomy = await RawClient.connect(port, { version: 5, clientId: 'roomy' });
      roomy.send(pkt.publish(5, { topic: 'no/pub', payload: 'x', qos: 2, packetId: 1 }));
      assert.ok(
        (await roomy.next('pubrec')).properties.reasonString !== undefined,
        'without a limit the PUBREC says why',
      );
      const client = await RawClient.connect(port, tight('tight'));
      client.send(pkt.publish(5, { topic: 'no/pub', payload: 'x', qos: 2, packetId: 1 }));
      const pubrec = await client.next('pubrec');
      assert.equal(pubrec.reasonCode, 0x87);
      assert.equal(pubrec.properties.reasonString, undefined);
      assert.equal(pubrec.properties.userProperties, undefined);
    });

    it('[MQTT-3.14.2-3] [MQTT-3.14.2-4] a DISCONNECT from the broker is sent without the Reason String that would not fit (v5)', async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, tight('tight'));
      client.send(frame(0x60, u16(1)));
      const disconnect = await client.next('disconnect');
      assert.equal(disconnect.reasonCode, 0x81);
      assert.equal(disconnect.properties.reasonString, undefined);
      assert.equal(disconnect.properties.userProperties, undefined);
      await client.closed();
    });

    it('[MQTT-3.6.2-2] [MQTT-3.6.2-3] [MQTT-3.7.2-2] [MQTT-3.7.2-3] [MQTT-3.11.2-1] [MQTT-3.11.2-2] PUBREL, PUBCOMP and UNSUBACK fit and are sent, without a Reason String or User Properties (v5)', async (t) => {
      const { port } = await startBroker(t);
      const client = await RawClient.connect(port, tight('tight'));
      await client.subscribe('fit/q2', 2);
      client.send(pkt.publish(5, { topic: 'other/q2', payload: 'x', qos: 2, packetId: 1 }));
      await client.next('pubrec');
      client.send(pkt.pubrel(5, 1));
      const pubcomp = await client.next('pubcomp');
      const publisher = await RawClient.connect(port, { version: 5, clientId: 'publisher' });
      await publisher.publish({ topic: 'fit/q2', payload: 'y', qos: 2 });
      const delivered = await client.next('publish');
      client.send(pkt.pubrec(5, delivered.packetId));
      const pubrel = await client.next('pubrel');
      // PUBCOMP 0x92 for an unknown id: a refusal code that could have said why
      client.send(pkt.pubrel(5, 999));
      const unknown = await client.next('pubcomp');
      assert.equal(unknown.reasonCode, 0x92);
      client.send(pkt.unsubscribe(5, 7, ['fit/q2', 'fit/none']));
      const unsuback = await client.next('unsuback');
      assert.deepEqual(unsuback.reasonCodes, [0, 0x11]);
      for (const ack of [pubcomp, pubrel, unknown, unsuback]) {
        assert.equal(ack.properties.reasonString, undefined, ack.type);
        assert.equal(ack.properties.userProperties, undefined, ack.type);
      }
    });
  });
});
