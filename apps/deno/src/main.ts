/**
 * The Deno example: the reference routes of @ssehub/fetch on an in-memory hub (or a Redis backplane with REDIS_URL), on Deno.serve.
 *
 *   PORT=3000 SSE_PUBLISH_KEY=dev pnpm --filter @ssehub/app-deno start
 *
 * PORT (default 3000; 0 picks a free port), every other setting from the SSE_* variables that
 * `configFromEnv` reads (SSE_SECRET, SSE_PUBLISH_KEY, SSE_CORS_ORIGINS, SSE_HEARTBEAT_MS...).
 * The workspace packages resolve from node_modules: a package.json beside the app makes Deno use
 * it (https://docs.deno.com/runtime/fundamentals/node/#node_modules).
 */

import { configFromEnv, Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/fetch';
import { backplaneFromEnv } from '@ssehub/redis';

declare const Deno: import('./deno.js').Deno;

const env = Deno.env.toObject();
const config = configFromEnv(env);
// REDIS_URL joins this process to a cluster of hubs (any client reachable from any process);
// without it the hub is in memory.
const backplane = backplaneFromEnv(env);
const hub = new Hub({ ...config.hub, ...backplane?.hubOptions });
backplane?.report(hub);
await backplane?.ready();
const handle = sseHandler(hub, config.handler);

// Deno passes { remoteAddr } as the second argument, which the handler reads as is.
const server = Deno.serve(
  {
    port: Number(env.PORT ?? 3000),
    hostname: '127.0.0.1',
    onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
  },
  handle,
);

async function shutdown() {
  // Ends every stream first, so the server's shutdown does not wait for them.
  await hub.close();
  await server.shutdown();
  Deno.exit(0);
}
Deno.addSignalListener('SIGTERM', shutdown);
Deno.addSignalListener('SIGINT', shutdown);
