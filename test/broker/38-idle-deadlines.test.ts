// 38: an idle connection's timers are one deadline in the process's DeadlineWheel, not a timer each:
// the connect timeout while CONNECT is awaited, then the keep-alive in its place (none with Keep
// Alive 0), and nothing left once the connection has closed, however it ends (a deadline left behind
// would keep the closed connection in memory). Run for 3.1.1 and 5.0.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as pkt from '../helpers/packets.js';
import { RawClient } from '../helpers/raw-client.js';
import { VERSIONS, cite, sleep, startBroker } from '../helpers/broker.js';
import { connectionDeadlines } from '../../src/broker/deadlines.js';

/** Waits until the wheel holds `count` deadlines; fails after 3 s. */
async function deadlinesBecome(count: number): Promise<void> {
  const until = Date.now() + 3000;
  while (connectionDeadlines.size !== count && Date.now() < until) await sleep(10);
  assert.equal(connectionDeadlines.size, count);
}

for (const v of VERSIONS) {
  describe(`38 idle deadlines (v${v})`, () => {
    it(`a connection awaiting CONNECT has one deadline, the connect timeout, and none once it has closed (v${v})`, async (t) => {
      const { port } = await startBroker(t);
      const base = connectionDeadlines.size;
      const client = await RawClient.open(port, v);
      await deadlinesBecome(base + 1);
      client.destroy();
      await deadlinesBecome(base);
    });

    it(`${cite(v, 'MQTT-3.1.2-24', 'MQTT-3.1.2-22')} an accepted connection's keep-alive replaces its connect timeout: one deadline, and none with Keep Alive 0 (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const base = connectionDeadlines.size;
      const kept = await RawClient.connect(port, { version: v, clientId: 'idle-60', keepAlive: 60 });
      await deadlinesBecome(base + 1);
      assert.ok(broker.clients.get('idle-60')!.deadlineSlot >= 0);
      const none = await RawClient.connect(port, { version: v, clientId: 'idle-0', keepAlive: 0 });
      await deadlinesBecome(base + 1);
      assert.equal(broker.clients.get('idle-0')!.deadlineSlot, -1);
      // Still supervised: a PINGREQ is answered and the deadline moves on, not added to.
      kept.send(pkt.pingreq());
      await kept.next('pingresp');
      assert.equal(connectionDeadlines.size, base + 1);
      await kept.disconnect();
      await none.disconnect();
      await deadlinesBecome(base);
    });

    it(`a connection closed by the broker (keep-alive timeout) leaves no deadline (v${v})`, async (t) => {
      const { broker, port } = await startBroker(t);
      const base = connectionDeadlines.size;
      const client = await RawClient.connect(port, { version: v, clientId: 'sleepy', keepAlive: 1 });
      const connection = broker.clients.get('sleepy')!;
      if (v === 5) assert.equal((await client.next('disconnect', 3000)).reasonCode, 0x8d);
      await client.closed(3000);
      await deadlinesBecome(base);
      assert.equal(connection.deadlineSlot, -1);
    });
  });
}
