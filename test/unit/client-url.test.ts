// The client reads its broker URL: the scheme picks the transport, the port and the WebSocket path
// have defaults, credentials in the URL are decoded, and anything else is a typed error.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MqttClientError } from '../../src/client/errors.js';
import { parseEndpoint } from '../../src/client/transport.js';

void describe('client URL', () => {
  void it('gives each scheme its default port', () => {
    assert.deepEqual(
      ['mqtt://h', 'mqtts://h', 'ws://h', 'wss://h'].map((url) => parseEndpoint(url).port),
      [1883, 8883, 80, 443],
    );
  });

  void it('keeps an explicit port, a bare IPv6 host and decoded credentials', () => {
    const endpoint = parseEndpoint('mqtt://us%40er:p%3Ass@[::1]:1999');
    assert.deepEqual(
      [endpoint.host, endpoint.port, endpoint.username, endpoint.password],
      ['::1', 1999, 'us@er', 'p:ss'],
    );
  });

  void it('takes the WebSocket path from the URL, /mqtt when it has none', () => {
    assert.equal(parseEndpoint('ws://h:8080').path, '/mqtt');
    assert.equal(parseEndpoint('ws://h:8080/broker?x=1').path, '/broker?x=1');
  });

  void it('refuses an unknown scheme and a string that is not a URL with ERR_CLIENT_URL', () => {
    for (const url of ['http://h', 'not a url', 'tcp://h:1883']) {
      assert.throws(
        () => parseEndpoint(url),
        (err: unknown) => err instanceof MqttClientError && err.code === 'ERR_CLIENT_URL',
        url,
      );
    }
  });
});
