/**
 * A Redis for the cluster test: `REDIS_URL` when set, otherwise a `redis-server` of our own on a
 * free port, started (and its Debian package installed when missing) by @ssehub/redis's test
 * helper, so both suites find and run Redis the same way.
 */

import { startRedisServer } from '../../../redis/test/redis-server.js';

export interface RedisHandle {
  readonly url: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisHandle> {
  const given = process.env.REDIS_URL;
  if (given) return { url: given, stop: async () => {} };
  return startRedisServer();
}
