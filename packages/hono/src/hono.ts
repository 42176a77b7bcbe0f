/**
 * The Hono adapter: one Hono middleware with the hub's reference routes, over @ssehub/core's
 * shared request handler.
 *
 * JSON answers are Web `Response`s, so Hono's middleware sees them. Streams take one of two paths:
 * - on @hono/node-server (`c.env.incoming` / `c.env.outgoing` are Node's request and response)
 *   the bytes go straight to the Node `ServerResponse`, as in @ssehub/node: `res.write()`'s return
 *   value is the hub's backpressure signal, `'drain'` releases it, Nagle is off and the socket
 *   timeout is cleared. The middleware then answers @hono/node-server's "already sent" response
 *   (`x-hono-already-sent`), so it leaves the Node response alone;
 * - elsewhere (Bun, Deno, Workers, `app.request()`) the answer is a `Response` over core's
 *   pull-based stream sink, as in @ssehub/fetch.
 *
 * - Hono middleware: https://hono.dev/docs/guides/middleware
 * - @hono/node-server bindings: https://github.com/honojs/node-server#accessing-nodejs-api
 * - Hono's connection info: https://hono.dev/docs/helpers/conninfo
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnyEvents, EventMap, Hub } from '@ssehub/core';
import { createHandler, type HubRequest } from '@ssehub/core/adapter';
import {
  clientAddressOf,
  type SSEHandlerOptions as FetchHandlerOptions,
  type FetchRequestInfo,
  readBody as readRequestBody,
  runtimeClientAddress,
  toFetchResponse,
} from '@ssehub/fetch';
import { openNodeStream } from '@ssehub/node';
import type { Context, MiddlewareHandler } from 'hono';

// ---------------------------------------------------------------- types

/**
 * Options of `sseHandler`: core's handler options, the fetch adapter's `highWaterMark`,
 * `clientAddress` and `trustProxyHeader` (Web path and addresses), and `endTimeoutMs` (node path).
 */
export interface SSEHandlerOptions
  extends Omit<FetchHandlerOptions, 'fallthrough' | 'clientAddress'> {
  /**
   * On @hono/node-server: after the server ends a stream (kick, shutdown), how long a client that
   * is behind gets to read the rest before its socket is destroyed, in ms (default 10 000).
   */
  readonly endTimeoutMs?: number;
  /**
   * How the client's address (for `limits.maxConnectionsPerIp`) is learned from Hono's context.
   * Default: what the runtime passes as `c.env` (Node's socket on @hono/node-server, Bun's
   * `server.requestIP`, Deno's `info.remoteAddr`), as @ssehub/fetch's `runtimeClientAddress`.
   * Hono's `getConnInfo` fits: `clientAddress: (c) => getConnInfo(c).remote.address`.
   */
  readonly clientAddress?: (c: Context) => string | undefined;
}

/** @hono/node-server's mark of a response the handler already wrote to the Node response. */
const ALREADY_SENT = 'x-hono-already-sent';

// ---------------------------------------------------------------- adapter

/**
 * Creates a Hono middleware with the reference routes of `hub` under `options.base` (default
 * `/api/v1/sse`); any other path goes on to the next handler.
 *
 * ```ts
 * import { serve } from '@hono/node-server';
 * import { Hono } from 'hono';
 * import { Hub } from '@ssehub/core';
 * import { sseHandler } from '@ssehub/hono';
 *
 * const hub = new Hub();
 * const app = new Hono();
 * app.use(sseHandler(hub, { publisherKey: process.env.SSE_PUBLISH_KEY }));
 * serve({ fetch: app.fetch, port: 3000 });
 * ```
 */
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options: SSEHandlerOptions = {},
): MiddlewareHandler {
  const { clientAddress, highWaterMark, endTimeoutMs } = options;
  const addressOf = clientAddressOf({
    ...options,
    clientAddress: clientAddress && ((_request, info) => clientAddress(info as unknown as Context)),
  });
  const handle = createHandler(hub, options);
  return async (c, next) => {
    const request = c.req.raw;
    // Hono's context as the address function's `info`: `clientAddress` gets `c`, the built-in `c.env`.
    const info = (clientAddress ? c : c.env) as FetchRequestInfo | undefined;
    const result = await handle({ ...toHubRequest(c), remoteAddress: addressOf(request, info) });
    switch (result.kind) {
      case 'pass':
        await next();
        return;
      case 'response':
        return toFetchResponse(result, request);
      case 'stream': {
        const node = nodeBindings(c);
        // HTTP/1.x only: an HTTP/2 stream has no socket of its own to tune, the Web path fits.
        if (node && node.incoming.httpVersionMajor === 1 && request.method !== 'HEAD') {
          openNodeStream(node.incoming, node.outgoing, result, {
            headers: Object.fromEntries(c.res.headers),
            endTimeoutMs,
          });
          return alreadySent();
        }
        return toFetchResponse(result, request, highWaterMark);
      }
    }
  };
}

/**
 * Turns Hono's context into core's `HubRequest`, with the address of the runtime's bindings
 * (`c.env`) as @ssehub/fetch's `runtimeClientAddress` reads them; the body is read from the Web
 * request.
 */
export function toHubRequest(c: Context): HubRequest {
  const request = c.req.raw;
  const info = c.env as FetchRequestInfo | undefined;
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    httpVersion: nodeBindings(c)?.incoming.httpVersion,
    remoteAddress: runtimeClientAddress(request, info),
    readBody: (limit) => readBody(c, limit),
  };
}

/**
 * Reads the request body as UTF-8 text, at most `limit` bytes, rejecting with core's
 * `BodyTooLargeError` past it (as @ssehub/fetch's `readBody`, with its lingering read of a refused
 * body).
 */
export function readBody(c: Context, limit: number): Promise<string> {
  return readRequestBody(c.req.raw, limit);
}

/**
 * @hono/node-server's "already sent" answer. Its own `Response` (installed as the global one by
 * `serve`) would answer a body-less response from a cache that ignores the mark and writes a
 * second head; reading `body` drops that cache, so the mark is honoured.
 */
function alreadySent(): Response {
  const response = new Response(null, { headers: { [ALREADY_SENT]: 'true' } });
  void response.body;
  return response;
}

/** Node's request and response when Hono runs on @hono/node-server (HTTP/1.x). */
function nodeBindings(
  c: Context,
): { incoming: IncomingMessage; outgoing: ServerResponse } | undefined {
  const env = c.env as { incoming?: unknown; outgoing?: unknown } | undefined;
  const incoming = env?.incoming as IncomingMessage | undefined;
  const outgoing = env?.outgoing as ServerResponse | undefined;
  if (!incoming || !outgoing || typeof outgoing.writeHead !== 'function') return undefined;
  if (typeof incoming.httpVersionMajor !== 'number' || !incoming.socket) return undefined;
  return { incoming, outgoing };
}
