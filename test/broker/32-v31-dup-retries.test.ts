// 32: MQTT 3.1 clients resend PUBREL, SUBSCRIBE and UNSUBSCRIBE with DUP set (first byte 0x6A, 0x8A,
// 0xAA). The 3.1 specification gives those packets a DUP flag, so the broker answers them as usual;
// 3.1.1 and 5.0 fix the flags at 0010, where the same bytes are a Malformed Packet [MQTT-3.6.1-1]
// [MQTT-3.8.1-1] [MQTT-3.10.1-1].
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { frame, str, u16, u8 } from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, startBroker } from '../helpers/broker.js';

/** A PUBREL with DUP set: what an MQTT 3.1 client sends when it retries one. */
const pubrelWithDup = (packetId: number): Buffer => frame(0x6a, u16(packetId));

describe('32 DUP on retried PUBREL, SUBSCRIBE and UNSUBSCRIBE (v3)', () => {
  it('a QoS 2 flow completes when the 3.1 client sends its PUBREL with DUP set: PUBCOMP, and the message is delivered once', async (t) => {
    const { port } = await startBroker(t);
    const subscriber = await RawClient.connect(port, { version: 4, clientId: 'sub' });
    await subscriber.subscribe('old/q2', 2);
    const old = await RawClient.connect(port, { version: 3, clientId: 'mqtt31' });
    old.send(pkt.publish(3, { topic: 'old/q2', payload: 'once', qos: 2, packetId: 7 }));
    assert.equal((await old.next('pubrec')).packetId, 7);
    old.send(pubrelWithDup(7));
    assert.equal((await old.next('pubcomp')).packetId, 7);
    assert.equal((await subscriber.receive()).payload.toString(), 'once');
    await subscriber.expectNothing(100);
    await old.ping();
  });

  it('a PUBREL resent with DUP after the first was answered gets PUBCOMP again, and the message is not delivered twice', async (t) => {
    const { port } = await startBroker(t);
    const subscriber = await RawClient.connect(port, { version: 4, clientId: 'sub' });
    await subscriber.subscribe('old/retry', 2);
    const old = await RawClient.connect(port, { version: 3, clientId: 'mqtt31' });
    old.send(pkt.publish(3, { topic: 'old/retry', payload: 'm', qos: 2, packetId: 9 }));
    await old.next('pubrec');
    old.send(pkt.pubrel(3, 9));
    assert.equal((await old.next('pubcomp')).packetId, 9);
    old.send(pubrelWithDup(9));
    assert.equal((await old.next('pubcomp')).packetId, 9);
    assert.equal((await subscriber.receive()).payload.toString(), 'm');
    await subscriber.expectNothing(100);
  });

  it('a SUBSCRIBE and an UNSUBSCRIBE resent with DUP set are answered with SUBACK and UNSUBACK', async (t) => {
    const { port } = await startBroker(t);
    const old = await RawClient.connect(port, { version: 3, clientId: 'mqtt31' });
    old.send(frame(0x8a, u16(3), str('dup/sub'), u8(1)));
    assert.deepEqual((await old.next('suback')).reasonCodes, [1]);
    old.send(frame(0xaa, u16(4), str('dup/sub')));
    assert.equal((await old.next('unsuback')).packetId, 4);
  });
});

for (const v of VERSIONS) {
  describe(`32 DUP on PUBREL, SUBSCRIBE and UNSUBSCRIBE is malformed (v${v})`, () => {
    const props = v === 5 ? u8(0) : Buffer.alloc(0);
    const cases: [name: string, bytes: Buffer][] = [
      ['[MQTT-3.6.1-1] a PUBREL with DUP set (0x6A)', pubrelWithDup(1)],
      ['[MQTT-3.8.1-1] a SUBSCRIBE with DUP set (0x8A)', frame(0x8a, u16(1), props, str('a'), u8(0))],
      ['[MQTT-3.10.1-1] an UNSUBSCRIBE with DUP set (0xAA)', frame(0xaa, u16(1), props, str('a'))],
    ];
    for (const [name, bytes] of cases) {
      it(`${name} closes the connection${v === 5 ? ' with DISCONNECT 0x81' : ''}: the flags are fixed at 0010 after 3.1 (v${v})`, async (t) => {
        const { port } = await startBroker(t);
        const client = await RawClient.connect(port, { version: v, clientId: 'fixed-flags' });
        if (name.includes('PUBREL')) {
          client.send(pkt.publish(v, { topic: 'q2', payload: 'x', qos: 2, packetId: 1 }));
          await client.next('pubrec');
        }
        client.send(bytes);
        if (v === 5) assert.equal((await client.next('disconnect')).reasonCode, 0x81);
        await client.closed();
      });
    }
  });
}
