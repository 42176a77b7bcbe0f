/**
 * The Elysia example on Bun: the @ssehub/fetch handler on an Elysia app, on an in-memory hub.
 *
 *   PORT=3000 SSE_PUBLISH_KEY=dev pnpm --filter @ssehub/app-elysia start
 *
 * PORT (default 3000; 0 picks a free port), every other setting from the SSE_* variables that
 * `configFromEnv` reads (SSE_SECRET, SSE_PUBLISH_KEY, SSE_CORS_ORIGINS, SSE_HEARTBEAT_MS...).
 * https://elysiajs.com/patterns/mount
 */

import { configFromEnv, Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/fetch';
import { Elysia } from 'elysia';

declare const Bun: { readonly env: Record<string, string | undefined> };

const config = configFromEnv(Bun.env);
const hub = new Hub(config.hub);
const handle = sseHandler(hub, config.handler);

// Bun closes a connection idle for `idleTimeout` s (default 10), and a quiet stream is idle
// between heartbeats: 0 turns it off; the hub's heartbeat and stall sweep look after streams.
const app = new Elysia({ serve: { idleTimeout: 0 } })
  // `app.mount(handle)` would do, but it hands the handler the request alone. A route with
  // `parse: 'none'` (what `mount` registers) also passes Bun's server, whose `requestIP` gives
  // the client address for SSE_MAX_PER_IP.
  .all('/api/v1/sse/*', ({ request, server }) => handle(request, server ?? undefined), {
    parse: 'none',
  })
  .listen({ port: Number(Bun.env.PORT ?? 3000), hostname: '127.0.0.1' });
console.log(`listening on http://127.0.0.1:${app.server?.port}`);

async function shutdown() {
  // Ends every stream first, so stopping the server does not wait for them.
  await hub.close();
  await app.stop();
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
