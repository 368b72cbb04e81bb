// A real browser against the WebSocket listener: Debian's Chromium (package chromium, at
// /usr/bin/chromium), headless, driven by playwright-core. The page speaks MQTT 3.1.1 by hand over
// the browser's own WebSocket (sub-protocol mqtt, binary frames): it subscribes, receives a message
// a TCP client publishes, and publishes one a TCP subscriber receives. Without Chromium the test
// fails under CI=true and is skipped, loudly, elsewhere.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chromium, type Browser as ChromiumBrowser } from 'playwright-core';
import { Broker } from '../../src/broker/broker.js';
import { listenerUrl } from '../../src/transport/listener.js';
import { ClientPool, requireProgram, WAIT_MS } from './support.js';

const CHROMIUM = '/usr/bin/chromium';
/** Starting Chromium on a loaded machine takes a while; this bounds it, not the test's speed. */
const LAUNCH_TIMEOUT_MS = 60_000;

/** The page: MQTT 3.1.1 CONNECT, SUBSCRIBE, PUBLISH (QoS 0) and the packets that come back, by hand. */
function pageHtml(url: string): string {
  return `<!doctype html>
<html><head><title>fennec browser test</title></head><body>
<script>
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const utf8 = (text) => { const bytes = encoder.encode(text); return [bytes.length >> 8, bytes.length & 255, ...bytes]; };
const packet = (first, body) => {
  const length = [];
  let n = body.length;
  do { let digit = n % 128; n = Math.floor(n / 128); if (n > 0) digit |= 128; length.push(digit); } while (n > 0);
  return new Uint8Array([first, ...length, ...body]);
};
window.state = { open: false, protocol: '', connack: -1, suback: [], received: [], errors: [] };
const ws = new WebSocket(${JSON.stringify(url)}, ['mqtt']);
ws.binaryType = 'arraybuffer';
let pending = new Uint8Array(0);
ws.onopen = () => {
  window.state.open = true;
  window.state.protocol = ws.protocol;
  // CONNECT: protocol name MQTT, level 4, Clean Session, keep alive 60 s, client id
  ws.send(packet(0x10, [...utf8('MQTT'), 4, 0x02, 0, 60, ...utf8('chromium-1')]));
};
ws.onerror = () => window.state.errors.push('websocket error');
ws.onmessage = (event) => {
  const chunk = new Uint8Array(event.data);
  const joined = new Uint8Array(pending.length + chunk.length);
  joined.set(pending); joined.set(chunk, pending.length);
  pending = joined;
  for (;;) {
    let length = 0, multiplier = 1, i = 1, complete = false;
    while (i < pending.length && i <= 4) {
      const digit = pending[i++];
      length += (digit & 127) * multiplier; multiplier *= 128;
      if ((digit & 128) === 0) { complete = true; break; }
    }
    if (!complete || pending.length < i + length) break;
    handle(pending[0], pending.subarray(i, i + length));
    pending = pending.slice(i + length);
  }
};
function handle(first, body) {
  const type = first >> 4;
  if (type === 2) {
    window.state.connack = body[1];
    // SUBSCRIBE packet id 1: to-browser/# at QoS 0
    if (body[1] === 0) ws.send(packet(0x82, [0, 1, ...utf8('to-browser/#'), 0]));
  } else if (type === 9) {
    window.state.suback = Array.from(body.subarray(2));
  } else if (type === 3) {
    const topicLength = (body[0] << 8) | body[1];
    const topic = decoder.decode(body.subarray(2, 2 + topicLength));
    const qos = (first >> 1) & 3;
    const payload = decoder.decode(body.subarray(2 + topicLength + (qos > 0 ? 2 : 0)));
    window.state.received.push({ topic, payload });
  }
}
window.publish = (topic, payload) => ws.send(packet(0x30, [...utf8(topic), ...encoder.encode(payload)]));
</script></body></html>`;
}

/** What the page's script leaves on its global object. */
interface PageGlobals {
  state: {
    open: boolean;
    protocol: string;
    connack: number;
    suback: number[];
    received: { topic: string; payload: string }[];
    errors: string[];
  };
  publish(topic: string, payload: string): void;
}

void describe('a browser (Chromium) over WebSocket', () => {
  let browser: ChromiumBrowser | undefined;
  const brokers: Broker[] = [];
  let tcpUrl = '';
  const pool = new ClientPool(() => tcpUrl);
  after(async () => {
    await pool.closeAll();
    await browser?.close();
    for (const broker of brokers) await broker.close();
  });

  void it('subscribes and receives what a TCP client publishes, and publishes what a TCP subscriber receives [MQTT-6.0.0-4]', async (t) => {
    if (!requireProgram(t, 'chromium', 'chromium', { ...process.env, PATH: `/usr/bin:${process.env.PATH ?? ''}` }))
      return;
    const broker = new Broker({
      host: '127.0.0.1',
      listeners: [
        { name: 'tcp', protocol: 'mqtt', port: 0 },
        { name: 'web', protocol: 'ws', port: 0 },
      ],
    });
    brokers.push(broker);
    await broker.listen();
    const urls = new Map(broker.addresses.map((address) => [address.name, listenerUrl(address)]));
    tcpUrl = urls.get('tcp')!;

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // CI runs as root, where Chromium's sandbox cannot start
      args: ['--no-sandbox'],
      timeout: LAUNCH_TIMEOUT_MS,
    });
    const page = await browser.newPage();
    await page.setContent(pageHtml(urls.get('web')!));
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).state.suback.length > 0, undefined, {
      timeout: WAIT_MS,
    });
    const state = await page.evaluate(() => (globalThis as unknown as PageGlobals).state);
    assert.equal(state.protocol, 'mqtt', 'the broker selected the sub-protocol mqtt');
    assert.equal(state.connack, 0);
    assert.deepEqual(state.suback, [0]);

    // TCP -> browser
    const tcp = await pool.connect({ clientId: 'tcp-peer' });
    await tcp.client.subscribeAsync('from-browser/#', { qos: 0 });
    await tcp.client.publishAsync('to-browser/greeting', 'hello, browser', { qos: 1 });
    await page.waitForFunction(() => (globalThis as unknown as PageGlobals).state.received.length > 0, undefined, {
      timeout: WAIT_MS,
    });
    const received = await page.evaluate(() => (globalThis as unknown as PageGlobals).state.received);
    assert.deepEqual(received, [{ topic: 'to-browser/greeting', payload: 'hello, browser' }]);

    // browser -> TCP
    await page.evaluate(() => (globalThis as unknown as PageGlobals).publish('from-browser/1', 'hello from chromium'));
    const [message] = await tcp.inbox.waitFor(1);
    assert.deepEqual([message?.topic, message?.payload], ['from-browser/1', 'hello from chromium']);
    const errors = await page.evaluate(() => (globalThis as unknown as PageGlobals).state.errors);
    assert.deepEqual(errors, []);
  });
});
