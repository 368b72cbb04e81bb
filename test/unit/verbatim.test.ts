// Forwarding a PUBLISH as received (src/session/verbatim.ts), without sockets: which deliveries get the
// bytes received (a view of the chunk, no copy), and the QoS 1/2 form made from them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WireDecoder, encodePublish, type ProtocolVersion, type PublishPacket } from '../../src/protocol/index.js';
import { Link } from '../../src/session/link.js';
import { delivery, expiresAt, type Message } from '../../src/session/message.js';
import { forwardAsReceived, withPacketId } from '../../src/session/verbatim.js';

/** Every PUBLISH decoded from one chunk holding `packets`, and the chunk. */
function decodeAll(version: ProtocolVersion, packets: PublishPacket[]): { chunk: Buffer; decoded: PublishPacket[] } {
  // A chunk with an ArrayBuffer of its own, as a socket's is: not the pool encodePublish allocates from.
  const bytes = Buffer.concat(packets.map((p) => encodePublish(p, version)));
  const chunk = Buffer.from(new ArrayBuffer(bytes.length));
  bytes.copy(chunk);
  const decoded: PublishPacket[] = [];
  new WireDecoder({ protocolVersion: version }).feed(chunk, (p) => {
    if (p.type === 'publish') decoded.push(p);
  });
  return { chunk, decoded };
}

function messageOf(p: PublishPacket, version: ProtocolVersion): Message {
  const receivedAt = Date.now();
  const message: Message = {
    topic: p.topic,
    payload: p.payload,
    qos: p.qos,
    retain: p.retain,
    properties: p.properties,
    publisherId: 'pub',
    receivedAt,
    expiresAt: expiresAt(p.properties, receivedAt),
  };
  forwardAsReceived(message, p, version);
  return message;
}

function linkOf(version: ProtocolVersion): Link {
  const link = new Link();
  link.version = version;
  return link;
}

const publish = (topic: string, extra: Partial<PublishPacket> = {}): PublishPacket => ({
  type: 'publish',
  topic,
  payload: Buffer.from(`payload of ${topic}`),
  qos: 0,
  retain: false,
  dup: false,
  packetId: 0,
  ...extra,
});

for (const version of [4, 5] as const) {
  describe(`forwarding as received (v${version})`, () => {
    it('a QoS 0 delivery of the same version and RETAIN flag is a view of the chunk the PUBLISH came in, not a copy', () => {
      const { chunk, decoded } = decodeAll(version, [publish('a/1'), publish('a/2', { retain: true })]);
      decoded.forEach((p, i) => {
        const out = linkOf(version).encodeDelivery(delivery(messageOf(p, version), 0, p.retain, undefined), 0, false)!;
        assert.equal(out.buffer, chunk.buffer, `packet ${i} is not a view of the chunk`);
        assert.deepEqual(out, encodePublish(p, version));
      });
    });

    it('[MQTT-3.3.1-9] a delivery with another RETAIN flag, or in the other version, is encoded anew', () => {
      const { chunk, decoded } = decodeAll(version, [publish('r/1', { retain: true })]);
      const message = messageOf(decoded[0]!, version);
      const unretained = linkOf(version).encodeDelivery(delivery(message, 0, false, undefined), 0, false)!;
      assert.notEqual(unretained.buffer, chunk.buffer);
      assert.equal(unretained[0], 0x30);
      const other = version === 5 ? 4 : 5;
      const otherForm = linkOf(other).encodeDelivery(delivery(message, 0, true, undefined), 0, false)!;
      assert.notEqual(otherForm.buffer, chunk.buffer);
      assert.deepEqual(otherForm, encodePublish({ ...decoded[0]!, properties: version === 5 ? undefined : {} }, other));
    });

    it('[MQTT-3.3.1-3] a QoS 1/2 delivery is the bytes received with its own QoS, DUP and packet id, whatever the Remaining Length', () => {
      for (const size of [10, 200, 20_000]) {
        const received = publish('q/1', { qos: 2, dup: true, packetId: 9, payload: Buffer.alloc(size, 7) });
        const { decoded } = decodeAll(version, [received]);
        const message = messageOf(decoded[0]!, version);
        const out = linkOf(version).encodeDelivery(delivery(message, 1, false, undefined), 300, false)!;
        const expected = encodePublish({ ...decoded[0]!, qos: 1, dup: false, packetId: 300 }, version);
        assert.deepEqual(out, expected, `payload of ${size} B`);
        assert.deepEqual(
          withPacketId(out, 2, true, true, 65535),
          encodePublish({ ...decoded[0]!, retain: true, packetId: 65535 }, version),
        );
      }
    });
  });
}

describe('forwarding as received: what 5.0 changes (v5)', () => {
  it('[MQTT-3.3.4-3] a delivery with subscription identifiers is encoded with them', () => {
    const { chunk, decoded } = decodeAll(5, [publish('s/1', { properties: { contentType: 'x' } })]);
    const out = linkOf(5).encodeDelivery(delivery(messageOf(decoded[0]!, 5), 0, false, [4]), 0, false)!;
    assert.notEqual(out.buffer, chunk.buffer);
    assert.deepEqual(
      out,
      encodePublish({ ...decoded[0]!, properties: { contentType: 'x', subscriptionIdentifiers: [4] } }, 5),
    );
  });

  it('[MQTT-3.3.2-6] a PUBLISH with a Message Expiry Interval is never forwarded as received', () => {
    for (const qos of [0, 1] as const) {
      const { decoded } = decodeAll(5, [
        publish('e/1', { qos, packetId: qos, properties: { messageExpiryInterval: 10 } }),
      ]);
      assert.equal(messageOf(decoded[0]!, 5).encoded, undefined);
    }
  });

  it('[MQTT-3.3.2-10] a PUBLISH that uses a topic alias is never forwarded as received', () => {
    // The Link resolves the alias and drops the bytes; forwardAsReceived also refuses an aliased packet.
    const { decoded } = decodeAll(5, [publish('t/1', { properties: { topicAlias: 1 } })]);
    assert.equal(messageOf(decoded[0]!, 5).encoded, undefined);
  });

  it('a PUBLISH made in memory (no bytes received) has no form to forward', () => {
    assert.equal(messageOf(publish('m/1'), 4).encoded, undefined);
  });
});
