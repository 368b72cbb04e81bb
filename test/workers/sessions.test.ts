// `fennec broker --workers 2`: a client id always lands on the same worker, so what is a session's
// stays on one worker: a persistent session resumed with the messages queued while away, a takeover
// of a client id, and the will of a dropped client reaching a subscriber on the other worker.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { idOn, workersForSuite } from './workers-process.js';

void describe('fennec broker --workers 2: sessions stay on the worker of their client id', () => {
  const pool = workersForSuite();

  void it('a persistent session on worker 2 is resumed [MQTT-3.2.2-2] with the QoS 1 messages published on worker 1 while it was away', async () => {
    const clientId = idOn(1, 'persist');
    const first = await pool.connect({ clientId, clean: false, protocolVersion: 4 });
    await first.client.subscribeAsync('away/t', { qos: 1 });
    const pub = await pool.connect({ clientId: idOn(0, 'persist-pub') });
    await pool.disconnect(first.client);
    for (let i = 0; i < 5; i++) await pub.client.publishAsync('away/t', `q${i}`, { qos: 1 });
    const again = await pool.connect({ clientId, clean: false, protocolVersion: 4 });
    assert.equal(again.connack.sessionPresent, true, 'the same worker had the session');
    const messages = await again.inbox.waitFor(5);
    assert.deepEqual(
      messages.map((m) => m.payload),
      ['q0', 'q1', 'q2', 'q3', 'q4'],
    );
  });

  void it("a second connection with a client id takes the first one over [MQTT-3.1.4-2], on that id's worker", async () => {
    const clientId = idOn(0, 'takeover');
    const first = await pool.connect({ clientId, protocolVersion: 4 });
    const closed = new Promise<void>((resolve) => first.client.once('close', () => resolve()));
    const second = await pool.connect({ clientId, protocolVersion: 4 });
    await closed;
    assert.equal(second.client.connected, true);
    assert.equal(first.client.connected, false);
  });

  void it('the will of a client dropped on worker 1 [MQTT-3.1.2-8] reaches a subscriber on worker 2', async () => {
    const watcher = await pool.connect({ clientId: idOn(1, 'will-watch') });
    await watcher.client.subscribeAsync('wills/#', { qos: 1 });
    const dying = await pool.connect({
      clientId: idOn(0, 'will-dying'),
      protocolVersion: 4,
      will: { topic: 'wills/dying', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    // Closed without DISCONNECT: the will goes out.
    dying.client.stream.destroy();
    const [message] = await watcher.inbox.waitFor(1);
    assert.equal(message!.topic, 'wills/dying');
    assert.equal(message!.payload, 'gone');
  });
});
