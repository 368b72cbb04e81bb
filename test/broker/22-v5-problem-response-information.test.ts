// 18: what a 5.0 client asks to be told: Request Problem Information 0 keeps Reason Strings off
// every packet but PUBLISH, CONNACK and DISCONNECT (the broker then sends none), and Request
// Response Information 1 gets a Response Information string in CONNACK, never otherwise.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { startBroker } from '../helpers/broker.js';

/** Refuses publishing and subscribing under `private/`. */
const hooks = {
  authorizePublish: (_client: unknown, topic: string) => !topic.startsWith('private/'),
  authorizeSubscribe: (_client: unknown, filter: string) => !filter.startsWith('private/'),
};

/** A filter over the maxTopicLength of 32 these brokers get: refused with 0x8F (a malformed one would close). */
const TOO_LONG = `long/${'x'.repeat(40)}`;

/** A 5.0 CONNECT with Request Problem Information `wanted` (absent when undefined). */
const asking = (clientId: string, wanted: number | undefined): pkt.ConnectOptions => ({
  version: 5,
  clientId,
  ...(wanted === undefined ? {} : { properties: { requestProblemInformation: wanted } }),
});

describe('18 problem and response information (v5)', () => {
  it('[MQTT-3.1.2-29] with Request Problem Information 0, a refused PUBACK, PUBREC and SUBACK carry no Reason String (v5)', async (t) => {
    const { port } = await startBroker(t, { hooks, maxTopicLength: 32 });
    const client = await RawClient.connect(port, asking('quiet', 0));
    client.send(pkt.publish(5, { topic: 'private/a', payload: 'x', qos: 1, packetId: 1 }));
    const puback = await client.next('puback');
    assert.equal(puback.reasonCode, 0x87);
    assert.equal(puback.properties.reasonString, undefined);
    client.send(pkt.publish(5, { topic: 'private/b', payload: 'x', qos: 2, packetId: 2 }));
    const pubrec = await client.next('pubrec');
    assert.equal(pubrec.reasonCode, 0x87);
    assert.equal(pubrec.properties.reasonString, undefined);
    client.send(
      pkt.subscribe(5, 3, [
        { topic: 'private/#', qos: 1 },
        { topic: TOO_LONG, qos: 1 },
      ]),
    );
    const suback = await client.next('suback');
    assert.deepEqual(suback.reasonCodes, [0x87, 0x8f]);
    assert.equal(suback.properties.reasonString, undefined);
  });

  it('without Request Problem Information 0, a refused PUBACK, PUBREC and SUBACK say why in a Reason String (v5)', async (t) => {
    for (const wanted of [undefined, 1]) {
      const { port } = await startBroker(t, { hooks, maxTopicLength: 32 });
      const client = await RawClient.connect(port, asking(`told-${String(wanted)}`, wanted));
      client.send(pkt.publish(5, { topic: 'private/a', payload: 'x', qos: 1, packetId: 1 }));
      assert.match((await client.next('puback')).properties.reasonString ?? '', /not authorized/);
      client.send(pkt.publish(5, { topic: 'private/b', payload: 'x', qos: 2, packetId: 2 }));
      assert.match((await client.next('pubrec')).properties.reasonString ?? '', /not authorized/);
      client.send(pkt.subscribe(5, 3, [{ topic: TOO_LONG, qos: 1 }]));
      assert.match((await client.next('suback')).properties.reasonString ?? '', /invalid topic filter/);
    }
  });

  it('a DISCONNECT for a protocol error carries the reason as a Reason String, unless the client asked for no problem information (v5)', async (t) => {
    const { port } = await startBroker(t);
    const told = await RawClient.connect(port, asking('told', undefined));
    told.send(pkt.connect(asking('told', undefined)));
    const disconnect = await told.next('disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    assert.match(disconnect.properties.reasonString ?? '', /second CONNECT/);
    const quiet = await RawClient.connect(port, asking('quiet', 0));
    quiet.send(pkt.connect(asking('quiet', 0)));
    const bare = await quiet.next('disconnect');
    assert.equal(bare.reasonCode, 0x82);
    assert.equal(bare.properties.reasonString, undefined);
  });

  it('[MQTT-3.1.2-28] Response Information is in CONNACK only when the client sets Request Response Information to 1, made of responseInformationPrefix and the client id (v5)', async (t) => {
    const { port } = await startBroker(t, { responseInformationPrefix: 'reply/' });
    const wants = await RawClient.connect(port, {
      version: 5,
      clientId: 'wants',
      properties: { requestResponseInformation: 1 },
    });
    assert.equal(wants.connack.properties.responseInformation, 'reply/wants');
    const declines = await RawClient.connect(port, {
      version: 5,
      clientId: 'declines',
      properties: { requestResponseInformation: 0 },
    });
    assert.equal(declines.connack.properties.responseInformation, undefined);
    const silent = await RawClient.connect(port, { version: 5, clientId: 'silent' });
    assert.equal(silent.connack.properties.responseInformation, undefined);
  });

  it('the default Response Information is responses/<client id> (v5)', async (t) => {
    const { port } = await startBroker(t);
    const client = await RawClient.connect(port, {
      version: 5,
      clientId: 'dflt',
      properties: { requestResponseInformation: 1 },
    });
    assert.equal(client.connack.properties.responseInformation, 'responses/dflt');
  });

  it('a CONNACK refusal carries the Reason String the authenticate hook gave, unless the client asked for no problem information (v5)', async (t) => {
    const { port } = await startBroker(t, {
      hooks: { authenticate: () => ({ ok: false, reasonCode: 0x86, reasonString: 'unknown user' }) },
    });
    const told = await RawClient.open(port, 5);
    told.send(pkt.connect(asking('told', undefined)));
    const refusal = await told.next('connack');
    assert.equal(refusal.reasonCode, 0x86);
    assert.equal(refusal.properties.reasonString, 'unknown user');
    const quiet = await RawClient.open(port, 5);
    quiet.send(pkt.connect(asking('quiet', 0)));
    const bare = await quiet.next('connack');
    assert.equal(bare.reasonCode, 0x86);
    assert.equal(bare.properties.reasonString, undefined);
  });
});
