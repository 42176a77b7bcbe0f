import { describe, expect, it } from 'vitest';
import { formatRedisMetrics } from './metrics.js';
import { compareStreamIds, envelope, parseEnvelope } from './wire.js';

describe('wire', () => {
  it('orders stream ids by time, then sequence (not as strings)', () => {
    expect(compareStreamIds('999-0', '1000-0')).toBeLessThan(0);
    expect(compareStreamIds('1000-10', '1000-9')).toBeGreaterThan(0);
    expect(compareStreamIds('1000-1', '1000-1')).toBe(0);
  });

  it('round-trips envelopes, bodies with line breaks included', () => {
    const body = JSON.stringify({ t: { kind: 'all' }, d: 'a\nb' });
    expect(parseEnvelope(envelope('1-0', 'node', '7', body))).toEqual({
      streamId: '1-0',
      origin: 'node',
      seq: '7',
      body,
    });
    expect(parseEnvelope('garbage')).toBeUndefined();
  });
});

describe('formatRedisMetrics', () => {
  it('renders gauges and counters', () => {
    const text = formatRedisMetrics({
      connected: true,
      subscribed: false,
      errors: 3,
      appendFailures: 2,
      publishFailures: 1,
      resubscribes: 1,
      orderTimeouts: 0,
      remoteMessages: 10,
      recoveredEvents: 4,
    });
    expect(text).toContain('ssehub_redis_connected 1\n');
    expect(text).toContain('ssehub_redis_subscribed 0\n');
    expect(text).toContain(
      '# TYPE ssehub_redis_append_failures_total counter\nssehub_redis_append_failures_total 2\n',
    );
  });
});
