/**
 * The node:http example: the reference routes on an in-memory hub (or a Redis backplane with REDIS_URL).
 *
 *   PORT=3000 SSE_PUBLISH_KEY=dev pnpm --filter @ssehub/app-node start
 *
 * PORT (default 3000; 0 picks a free port), every other setting from the SSE_* variables that
 * `configFromEnv` reads (SSE_SECRET, SSE_PUBLISH_KEY, SSE_CORS_ORIGINS, SSE_HEARTBEAT_MS...).
 *
 * TLS_CERT and TLS_KEY (paths to PEM files) serve HTTPS with HTTP/2, and HTTP/1.1 for clients
 * that do not speak HTTP/2 (`allowHTTP1`): every tab of a browser then shares one connection.
 * Without them, plain HTTP/1.1.
 */

import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createSecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { configFromEnv, Hub } from '@ssehub/core';
import { closeGracefully, closeIdleConnections, sseHandler } from '@ssehub/node';
import { backplaneFromEnv } from '@ssehub/redis';

const config = configFromEnv(process.env);
// REDIS_URL joins this process to a cluster of hubs (any client reachable from any process);
// without it the hub is in memory.
const backplane = backplaneFromEnv(process.env);
const hub = new Hub({ ...config.hub, ...backplane?.hubOptions });
backplane?.report(hub);
await backplane?.ready();
// Slowloris: a client must send its whole request head within 10 s and its whole request (head
// and body) within 30 s, or Node answers 408 and closes the connection; Node checks every 2 s.
// Neither timeout ends a stream: they bound receiving the request, and a stream's request (a GET)
// is complete once its head is in. The response may then last for days.
const handler = sseHandler(hub, config.handler);
const { TLS_CERT, TLS_KEY } = process.env;
if (Boolean(TLS_CERT) !== Boolean(TLS_KEY)) {
  console.error('TLS_CERT and TLS_KEY go together: set both (paths to PEM files) or neither.');
  process.exit(1);
}
const server =
  TLS_CERT && TLS_KEY
    ? closeIdleConnections(
        createSecureServer(
          {
            cert: readFileSync(TLS_CERT),
            key: readFileSync(TLS_KEY),
            allowHTTP1: true,
            // One socket carries every stream of a browser: no Nagle delay on small events.
            noDelay: true,
            // Slowloris over TLS, where headersTimeout and requestTimeout do not apply: the TLS
            // handshake within 10 s (Node's default is 120 s), and with closeIdleConnections, a
            // connection with no open stream that stays silent for 10 s is closed (see the root
            // README's "Server timeouts").
            handshakeTimeout: 10_000,
          } as Parameters<typeof createSecureServer>[0],
          handler,
        ),
      )
    : createServer(
        { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 2_000 },
        handler,
      );

server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  console.log(`listening on ${TLS_CERT ? 'https' : 'http'}://127.0.0.1:${port}`);
});

async function shutdown() {
  // Ends every stream after what was queued for it (browsers reconnect elsewhere), waits until
  // each client got its last bytes, then closes the server.
  await closeGracefully(server, hub);
  process.exit(0);
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
