import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LimitWarnings } from '../../src/broker/limit-warnings.js';
import { defaultBrokerOptions } from '../../src/broker/options.js';
import { capturingLogger } from '../helpers/log.js';

describe('LimitWarnings', () => {
  it('writes one line per client and limit per interval, and the next one says how many were held back', () => {
    const { logger, lines } = capturingLogger('warn');
    const warnings = new LimitWarnings(logger, { ...defaultBrokerOptions, limitLogIntervalMs: 60_000 });
    const client = { clientId: 'c1', remoteAddress: '192.0.2.1' };
    warnings.warn('maxQueuedMessages', client, 'message dropped', {}, 0);
    for (let i = 1; i <= 5; i++) warnings.warn('maxQueuedMessages', client, 'message dropped', {}, i * 1000);
    assert.equal(lines.length, 1);
    warnings.warn('maxQueuedBytes', client, 'message dropped', {}, 6000);
    assert.equal(lines.length, 2, 'another limit has its own line');
    warnings.warn('maxQueuedMessages', client, 'message dropped', {}, 60_000);
    assert.equal(lines.length, 3);
    assert.equal(lines[2]!['suppressed'], 5);
    assert.equal(lines[2]!['limit'], 'max_queued_messages');
    assert.equal(lines[2]!['value'], defaultBrokerOptions.maxQueuedMessages);
    assert.match(String(lines[2]!['msg']), /\(5 more since the last such line\)$/);
  });

  it('keys a client not yet named by its address', () => {
    const { logger, lines } = capturingLogger('warn');
    const warnings = new LimitWarnings(logger, { ...defaultBrokerOptions, limitLogIntervalMs: 60_000 });
    warnings.warn('maxConnections', { clientId: '', remoteAddress: '192.0.2.1' }, 'refused', {}, 0);
    warnings.warn('maxConnections', { clientId: '', remoteAddress: '192.0.2.1' }, 'refused', {}, 1);
    warnings.warn('maxConnections', { clientId: '', remoteAddress: '192.0.2.2' }, 'refused', {}, 2);
    assert.equal(lines.length, 2);
    assert.match(String(lines[0]!['msg']), /^limit max_connections reached by a client: refused$/);
  });

  it('stays bounded: past 10,000 recent clients, the rest share one line per interval', () => {
    const { logger, lines } = capturingLogger('warn');
    const warnings = new LimitWarnings(logger, { ...defaultBrokerOptions, limitLogIntervalMs: 60_000 });
    for (let i = 0; i < 10_050; i++)
      warnings.warn('maxQueuedMessages', { clientId: `c${i}` }, 'message dropped', {}, 0);
    assert.equal(lines.length, 10_001);
  });
});
