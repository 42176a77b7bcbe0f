/**
 * The storm scenario's server: @ssehub/node on a Redis backplane (so the history outlives a
 * restart), `limits.admitPerSecond` from `STORM_ADMIT`, the default retry jitter. Prints `ready`.
 */
import { createServer } from 'node:http';
import { Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/node';
import { backplaneFromEnv } from '@ssehub/redis';

const backplane = backplaneFromEnv(process.env, { history: { maxEvents: 1000 } });
const hub = new Hub({
  retryMs: Number(process.env.STORM_RETRY_MS ?? 2000),
  ...backplane?.hubOptions,
});
await backplane?.ready();
const admit = Number(process.env.STORM_ADMIT ?? 0);
const server = createServer(
  sseHandler(hub, {
    publisherKey: 'storm',
    ...(admit > 0 && { limits: { admitPerSecond: admit } }),
  }),
);
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
