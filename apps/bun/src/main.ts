/**
 * The Bun example: the reference routes of @ssehub/fetch on an in-memory hub (or a Redis backplane with REDIS_URL), on Bun.serve.
 *
 *   PORT=3000 SSE_PUBLISH_KEY=dev pnpm --filter @ssehub/app-bun start
 *
 * PORT (default 3000; 0 picks a free port), every other setting from the SSE_* variables that
 * `configFromEnv` reads (SSE_SECRET, SSE_PUBLISH_KEY, SSE_CORS_ORIGINS, SSE_HEARTBEAT_MS...).
 * https://bun.sh/docs/api/http
 */

import { configFromEnv, Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/fetch';
import { backplaneFromEnv } from '@ssehub/redis';
import type { BunServer } from './bun.js';

declare const Bun: import('./bun.js').Bun;

const config = configFromEnv(Bun.env);
// REDIS_URL joins this process to a cluster of hubs (any client reachable from any process);
// without it the hub is in memory.
const backplane = backplaneFromEnv(Bun.env);
const hub = new Hub({ ...config.hub, ...backplane?.hubOptions });
backplane?.report(hub);
await backplane?.ready();
const handle = sseHandler(hub, config.handler);

const server: BunServer = Bun.serve({
  port: Number(Bun.env.PORT ?? 3000),
  hostname: '127.0.0.1',
  async fetch(request, server) {
    const response = await handle(request, {
      remoteAddress: server.requestIP(request)?.address,
    });
    // Bun closes a connection idle for `idleTimeout` s (default 10), and a quiet stream is idle
    // between heartbeats: streams opt out; the hub's heartbeat and stall sweep look after them.
    if (response.headers.get('content-type')?.startsWith('text/event-stream'))
      server.timeout(request, 0);
    return response;
  },
});
console.log(`listening on http://127.0.0.1:${server.port}`);

async function shutdown() {
  // Ends every stream first, so stopping the server does not wait for them.
  await hub.close();
  await server.stop();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
