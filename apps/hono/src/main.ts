/**
 * The Hono example on Node: the @ssehub/hono middleware on an in-memory hub, served by
 * @hono/node-server (streams take @ssehub/node's direct path through `c.env.outgoing`).
 *
 *   PORT=3000 SSE_PUBLISH_KEY=dev pnpm --filter @ssehub/app-hono start
 *
 * PORT (default 3000; 0 picks a free port), every other setting from the SSE_* variables that
 * `configFromEnv` reads (SSE_SECRET, SSE_PUBLISH_KEY, SSE_CORS_ORIGINS, SSE_HEARTBEAT_MS...).
 */

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { configFromEnv, Hub } from '@ssehub/core';
import { closeGracefully, sseHandler } from '@ssehub/hono';
import { Hono } from 'hono';

const config = configFromEnv(process.env);
const hub = new Hub(config.hub);
const app = new Hono();
app.use(sseHandler(hub, config.handler));

const server = serve(
  {
    fetch: app.fetch,
    port: Number(process.env.PORT ?? 3000),
    hostname: '127.0.0.1',
    // Slowloris bounds, as in apps/node; neither ends a stream.
    serverOptions: { headersTimeout: 10_000, requestTimeout: 30_000 },
  },
  (info: AddressInfo) => console.log(`listening on http://127.0.0.1:${info.port}`),
) as Server;

async function shutdown() {
  // Ends every stream after what was queued for it, then closes the server.
  await closeGracefully(server, hub);
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
