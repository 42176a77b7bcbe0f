import { Hub } from '@ssehub/core';
import { describe, expect, inject, it } from 'vitest';
import { uniquePrefix } from '../test/helpers.js';
import { backplaneFromEnv } from './env.js';

describe('backplaneFromEnv', () => {
  it('is undefined without REDIS_URL: one process, in-memory hub', () => {
    expect(backplaneFromEnv({})).toBeUndefined();
    expect(backplaneFromEnv({ REDIS_URL: '' })).toBeUndefined();
  });

  it('names the variable that is malformed', () => {
    expect(() => backplaneFromEnv({ REDIS_URL: 'localhost:6379' })).toThrow(/REDIS_URL/);
    expect(() =>
      backplaneFromEnv({ REDIS_URL: 'redis://127.0.0.1:1', SSE_REDIS_HISTORY_MAX: 'lots' }),
    ).toThrow(/SSE_REDIS_HISTORY_MAX/);
  });

  it('joins hubs that share REDIS_URL and SSE_REDIS_PREFIX into one backplane', async () => {
    const env = { REDIS_URL: inject('redisUrl'), SSE_REDIS_PREFIX: uniquePrefix('env') };
    const a = backplaneFromEnv(env)!;
    const b = backplaneFromEnv(env)!;
    const hubA = new Hub({ ...a.hubOptions });
    const hubB = new Hub({ ...b.hubOptions });
    try {
      a.report(hubA);
      b.report(hubB);
      await Promise.all([a.ready(), b.ready()]);
      const received: string[] = [];
      hubB.connect(
        {
          write: (chunk) => {
            received.push(new TextDecoder().decode(chunk));
            return true;
          },
          close: () => {},
        },
        { group: 'g', id: 'on-b' },
      );
      await hubA.send('on-b', 'g', { event: 'notification', data: { from: 'a' } });
      await expect
        .poll(() => received.join(''))
        .toMatch(/event: notification\nid: \S+\ndata: \{"from":"a"\}/);
      await expect.poll(async () => (await a.info()).nodeCount, { timeout: 8_000 }).toBe(2);
    } finally {
      await Promise.all([hubA.close(), hubB.close()]);
    }
  });
});
