/**
 * The Fastify example: the @ssehub/fastify plugin on an in-memory hub.
 *
 *   PORT=3000 SSE_PUBLISH_KEY=dev pnpm --filter @ssehub/app-fastify start
 *
 * PORT (default 3000; 0 picks a free port), every other setting from the SSE_* variables that
 * `configFromEnv` reads (SSE_SECRET, SSE_PUBLISH_KEY, SSE_CORS_ORIGINS, SSE_HEARTBEAT_MS...).
 */

import { configFromEnv, Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/fastify';
import Fastify from 'fastify';

const config = configFromEnv(process.env);
const hub = new Hub(config.hub);
// Slowloris bounds, as in apps/node: a request head within 10 s, a whole request within 30 s.
// Neither ends a stream (its request is complete once its head is in).
const app = Fastify({ requestTimeout: 30_000, http: { headersTimeout: 10_000 } });
await app.register(sseHandler(hub, config.handler));

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
console.log(`listening on ${address}`);

async function shutdown() {
  // The plugin's preClose hook ends every stream after what was queued for it, then Fastify closes.
  await app.close();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
