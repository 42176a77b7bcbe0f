/**
 * The h3 adapter: one h3 v2 handler with the hub's reference routes, over @ssehub/core's shared
 * request handler.
 *
 * h3 v2 hands every handler a Web `Request` (`event.req`). JSON answers are returned as a Web
 * `Response`, so h3's hooks and middleware see them. Streams take one of two paths:
 * - on node:http (`event.runtime.node.res` is there) the bytes go straight to the Node
 *   `ServerResponse`, as in @ssehub/node: `res.write()`'s return value is the hub's backpressure
 *   signal, `'drain'` releases it, Nagle is off and the socket timeout is cleared. The handler is
 *   wrapped in h3's `fromNodeHandler`, which tells h3 the response is already handled;
 * - elsewhere (Bun, Deno, Workers, `app.fetch()`) the answer is a `Response` over core's
 *   pull-based stream sink, as in @ssehub/fetch.
 *
 * - h3 v2: https://h3.dev/guide/basics/handler ; middleware: https://h3.dev/guide/basics/middleware
 * - srvx (the server under `serve` from h3): https://srvx.h3.dev
 * - node:http: https://nodejs.org/api/http.html#class-httpserverresponse
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type AnyEvents,
  createHandler,
  type EventMap,
  type HandlerOptions,
  type Hub,
  type HubRequest,
} from '@ssehub/core';
import { readBody, toFetchResponse } from '@ssehub/fetch';
import { openNodeStream, readNodeBody } from '@ssehub/node';
import { type EventHandler, fromNodeHandler, type H3Event } from 'h3';

// ---------------------------------------------------------------- types

/** Options of the h3 adapter: core's handler options plus the Web stream's buffer. */
export interface H3HandlerOptions extends HandlerOptions {
  /** Bytes a Web stream body buffers before the hub sees backpressure (default 64 KiB). */
  readonly highWaterMark?: number;
}

// ---------------------------------------------------------------- adapter

/**
 * Creates an h3 handler with the reference routes of `hub` under `options.base` (default
 * `/api/v1/sse`). As middleware (`app.use(handler)`) it passes every other path on (it returns
 * `undefined`); it can also be mounted as a route: `app.all('/api/v1/sse/**', handler)`.
 *
 * ```ts
 * import { H3, serve } from 'h3';
 * import { Hub } from '@ssehub/core';
 * import { sseHandler } from '@ssehub/h3';
 *
 * const hub = new Hub();
 * const app = new H3().use(sseHandler(hub, { publisherKey: process.env.SSE_PUBLISH_KEY }));
 * serve(app, { port: 3000 });
 * ```
 */
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options: H3HandlerOptions = {},
): EventHandler {
  const handle = createHandler(hub, options);
  const { highWaterMark } = options;
  return async (event: H3Event) => {
    const request = event.req;
    const state = { abandoned: false };
    const result = await handle(toHubRequest(event, state));
    switch (result.kind) {
      case 'pass':
        return undefined;
      case 'response':
        // A refused body that was not read to its end: the connection closes after the answer.
        if (state.abandoned)
          return toFetchResponse(
            { ...result, headers: { ...result.headers, connection: 'close' } },
            request,
          );
        return toFetchResponse(result, request);
      case 'stream': {
        const node = event.runtime?.node;
        // HTTP/1.x only: an HTTP/2 stream has no socket of its own to tune, the Web path fits.
        if (node?.res && node.req.httpVersionMajor === 1 && request.method !== 'HEAD') {
          const stream = result;
          const extra = event.res.headers;
          // Settles when the response closes: until then h3 leaves the response alone.
          return fromNodeHandler(
            (req, res) =>
              new Promise<void>((resolve) => {
                res.once('close', resolve);
                openNodeStream(req as IncomingMessage, res as ServerResponse, stream, {
                  headers: Object.fromEntries(extra),
                });
              }),
          )(event);
        }
        return toFetchResponse(result, request, highWaterMark);
      }
    }
  };
}

/**
 * Turns an h3 event into core's `HubRequest`. On node:http the body is read from the Node request
 * (as in @ssehub/node, with its lingering close after a 413: `state.abandoned` then asks for
 * `Connection: close`); elsewhere from the Web request.
 */
export function toHubRequest(event: H3Event, state = { abandoned: false }): HubRequest {
  const request = event.req;
  const node = event.runtime?.node?.req;
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    httpVersion: node?.httpVersion,
    remoteAddress: request.ip ?? node?.socket?.remoteAddress,
    readBody: (limit) =>
      node ? readNodeBody(node as IncomingMessage, limit, state) : readBody(request, limit),
  };
}
