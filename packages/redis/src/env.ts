import type { Env } from '@ssehub/core';
import { RedisBackplane, type RedisBackplaneOptions } from './backplane.js';

/**
 * The backplane named by the environment, or `undefined` when `REDIS_URL` is unset: how the demo and
 * every example app run on one process by default and scale out without code changes.
 *
 * | variable | option |
 * | --- | --- |
 * | `REDIS_URL` | `redis` (unset: no backplane) |
 * | `SSE_REDIS_PREFIX` | `prefix` (default `ssehub`) |
 * | `SSE_REDIS_HISTORY_MAX`, `SSE_REDIS_HISTORY_MAX_AGE_MS` | `history` bounds |
 *
 * ```ts
 * const backplane = backplaneFromEnv(process.env);
 * const hub = new Hub({ ...configFromEnv(process.env).hub, ...backplane?.hubOptions });
 * backplane?.report(hub);
 * await backplane?.ready();
 * ```
 */
export function backplaneFromEnv(
  env: Env,
  options: Omit<RedisBackplaneOptions, 'redis'> = {},
): RedisBackplane | undefined {
  const url = env.REDIS_URL;
  if (url === undefined || url === '') return undefined;
  if (!/^rediss?:\/\//.test(url)) {
    throw new RangeError(`REDIS_URL must be a redis:// or rediss:// URL, got "${url}"`);
  }
  const number = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`${name} must be a positive number, got "${raw}"`);
    }
    return value;
  };
  return new RedisBackplane({
    ...options,
    redis: url,
    prefix: env.SSE_REDIS_PREFIX || options.prefix,
    history: {
      maxEvents: number('SSE_REDIS_HISTORY_MAX') ?? options.history?.maxEvents,
      maxAgeMs: number('SSE_REDIS_HISTORY_MAX_AGE_MS') ?? options.history?.maxAgeMs,
    },
  });
}
