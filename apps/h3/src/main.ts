/**
 * The h3 example: the reference routes of @ssehub/h3 on an in-memory hub (or a Redis backplane with REDIS_URL), served by h3's `serve`
 * (srvx), on Node (streams take the direct node:http path), Bun and Deno (Web streams).
 *
 *   PORT=3000 SSE_PUBLISH_KEY=dev pnpm --filter @ssehub/app-h3 start        # or start:bun, start:deno
 *
 * PORT (default 3000; 0 picks a free port), every other setting from the SSE_* variables that
 * `configFromEnv` reads (SSE_SECRET, SSE_PUBLISH_KEY, SSE_CORS_ORIGINS, SSE_HEARTBEAT_MS...).
 */

import { configFromEnv, Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/h3';
import { backplaneFromEnv } from '@ssehub/redis';
import { H3, serve } from 'h3';

const config = configFromEnv(process.env);
// REDIS_URL joins this process to a cluster of hubs (any client reachable from any process);
// without it the hub is in memory.
const backplane = backplaneFromEnv(process.env);
const hub = new Hub({ ...config.hub, ...backplane?.hubOptions });
backplane?.report(hub);
await backplane?.ready();
const app = new H3().use(sseHandler(hub, config.handler));

const server = serve(app, {
  port: Number(process.env.PORT ?? 3000),
  hostname: '127.0.0.1',
  silent: true,
  // Our own shutdown below ends the streams first.
  gracefulShutdown: false,
  // Bun.serve closes connections idle for 10 s by default, and a quiet stream is idle between
  // heartbeats: the hub's heartbeat and stall sweep look after streams instead.
  bun: { idleTimeout: 0 },
  // Slowloris, on Node: a client must send its whole request head within 10 s and its whole
  // request (head and body) within 30 s, or Node answers 408 and closes the connection; Node
  // checks every 2 s. Neither timeout ends a stream: they bound receiving the request, and a
  // stream's request (a GET) is complete once its head is in. The response may then last for days.
  node: { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 2_000 },
});
await server.ready();
console.log(`listening on http://127.0.0.1:${new URL(server.url!).port}`);

async function shutdown() {
  // Ends every stream first, so closing the server does not wait for them.
  await hub.close();
  await server.close();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
