import { describe, expect, it } from 'vitest';
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
