import { describe, expect, it } from 'vitest';
import { DEFAULT_BASE_PATH, lastEventIdOf, streamUrl, withLastEventId } from './url.js';

describe('streamUrl', () => {
  it('builds the stream endpoint under the base', () => {
    expect(streamUrl(DEFAULT_BASE_PATH, { group: 'notifications', id: 'user123' })).toBe(
      '/api/v1/sse/stream/notifications/user123',
    );
  });

  it('encodes path segments and adds token and lastEventId', () => {
    expect(
      streamUrl('https://api.example.com/api/v1/sse/', {
        group: 'challenge/42',
        id: 'ü 1',
        token: 'a+b=c',
        lastEventId: 'e-1',
      }),
    ).toBe(
      'https://api.example.com/api/v1/sse/stream/challenge%2F42/%C3%BC%201?token=a%2Bb%3Dc&lastEventId=e-1',
    );
  });

  it('leaves out an empty lastEventId but keeps an empty token', () => {
    expect(streamUrl('', { group: 'g', id: 'i', token: '', lastEventId: '' })).toBe(
      '/stream/g/i?token=',
    );
  });
});

describe('withLastEventId', () => {
  it('adds, replaces and removes the parameter, keeping the rest', () => {
    expect(withLastEventId('/s', 'a')).toBe('/s?lastEventId=a');
    expect(withLastEventId('/s?token=t', 'a b')).toBe('/s?token=t&lastEventId=a+b');
    expect(withLastEventId('/s?lastEventId=old&token=t', 'new')).toBe('/s?lastEventId=new&token=t');
    expect(withLastEventId('/s?lastEventId=old&token=t', '')).toBe('/s?token=t');
    expect(withLastEventId('/s?lastEventId=old', undefined)).toBe('/s');
  });

  it('returns the URL as written when nothing changes', () => {
    expect(withLastEventId('/s?token=a%20b&flag', '')).toBe('/s?token=a%20b&flag');
    expect(withLastEventId('/s?token=a%20b&lastEventId=7', '7')).toBe(
      '/s?token=a%20b&lastEventId=7',
    );
  });

  it('keeps the fragment and absolute URLs', () => {
    expect(withLastEventId('https://h.example/s?x=1#frag', '9')).toBe(
      'https://h.example/s?x=1&lastEventId=9#frag',
    );
  });
});

describe('lastEventIdOf', () => {
  it('reads the parameter, ignoring the fragment', () => {
    expect(lastEventIdOf('/s')).toBeUndefined();
    expect(lastEventIdOf('/s?token=t')).toBeUndefined();
    expect(lastEventIdOf('/s?lastEventId=a%20b#x')).toBe('a b');
  });
});
