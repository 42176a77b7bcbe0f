import { describe, expect, it } from 'vitest';
import { compareStreamIds, envelope, parseEnvelopes } from './wire.js';

describe('wire', () => {
  it('orders stream ids by time, then sequence (not as strings)', () => {
    expect(compareStreamIds('999-0', '1000-0')).toBeLessThan(0);
    expect(compareStreamIds('1000-10', '1000-9')).toBeGreaterThan(0);
    expect(compareStreamIds('1000-1', '1000-1')).toBe(0);
  });

  it('round-trips envelopes, bodies with line breaks included', () => {
    const body = JSON.stringify({ t: { kind: 'all' }, d: 'a\nb' });
    expect(parseEnvelopes(envelope('1-0', 'node', '7', body))).toEqual([
      { streamId: '1-0', origin: 'node', seq: '7', body },
    ]);
    expect(parseEnvelopes(envelope('', 'node', '', body))).toEqual([
      { streamId: '', origin: 'node', seq: '', body },
    ]);
  });

  it('splits a message of several envelopes in order, and refuses malformed ones', () => {
    const a = JSON.stringify({ t: { kind: 'all' }, d: 'a' });
    const b = JSON.stringify({ t: { kind: 'all' }, d: 'b' });
    const raw = `${envelope('1-0', 'node', '7', a)}\n${envelope('1-1', 'node', '8', b)}`;
    expect(parseEnvelopes(raw)).toEqual([
      { streamId: '1-0', origin: 'node', seq: '7', body: a },
      { streamId: '1-1', origin: 'node', seq: '8', body: b },
    ]);
    expect(parseEnvelopes('garbage')).toBeUndefined();
    expect(parseEnvelopes(`${envelope('1-0', 'node', '7', a)}\n1-1\nnode`)).toBeUndefined();
  });
});
