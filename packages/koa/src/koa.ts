/**
 * The Koa adapter: one middleware with the hub's reference routes, over @ssehub/core's shared
 * request handler.
 *
 * JSON answers go through Koa (`ctx.status`, `ctx.set`, `ctx.body`), so upstream middleware sees
 * and may wrap them. Streams bypass Koa's response handling (`ctx.respond = false`) and are
 * written straight to the Node `ServerResponse`: koa-compress, koa-etag or any body-buffering
 * middleware upstream finds no `ctx.body` to hold back or compress, and `res.write()`'s return
 * value is the hub's backpressure signal.
 *
 * - Koa: https://koajs.com/#context ; bypassing Koa's response: https://koajs.com/#ctx-respond
 * - node:http: https://nodejs.org/api/http.html#class-httpserverresponse
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AnyEvents, EventMap, HandlerOptions, Hub } from '@ssehub/core';
import {
  createHandler,
  type HubRequest,
  type HubResponse,
  type PlainResponse,
} from '@ssehub/core/adapter';
import { openNodeStream, readBody as readNodeBody } from '@ssehub/node';

// ---------------------------------------------------------------- types

/**
 * What the middleware uses of Koa's context: a structural subset of `Koa.Context`, so neither
 * this package nor its users need `@types/koa`.
 */
export interface KoaContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** The path with its query (Koa's `ctx.url`). */
  readonly url: string;
  readonly path: string;
  /** The client's address (`X-Forwarded-For` when `app.proxy` is set). */
  readonly ip: string;
  /** What a body parser (`@koa/bodyparser`, `koa-body`) left, if one ran before. */
  readonly request: { readonly body?: unknown };
  status: number;
  body: unknown;
  /** `false` hands the response to the middleware (Koa writes nothing). */
  respond?: boolean;
  set(field: string, value: string): void;
}

/** Options of `sseHandler`: core's handler options plus how a stream the server ends is closed. */
export interface SSEHandlerOptions extends HandlerOptions {
  /**
   * After the server ends a stream (kick, shutdown), how long a client that is behind gets to
   * read the rest before its socket is destroyed, in ms (default 10 000).
   */
  readonly endTimeoutMs?: number;
}

/** Koa middleware. */
export type KoaMiddleware = (ctx: KoaContext, next: () => Promise<unknown>) => Promise<void>;

// ---------------------------------------------------------------- adapter

/**
 * Creates Koa middleware with the reference routes of `hub` under `options.base` (default
 * `/api/v1/sse`); every other request goes on to `next()`.
 *
 * ```ts
 * import Koa from 'koa';
 * import { Hub } from '@ssehub/core';
 * import { sseHandler } from '@ssehub/koa';
 *
 * const hub = new Hub();
 * const app = new Koa();
 * app.use(sseHandler(hub, { publisherKey: process.env.SSE_PUBLISH_KEY }));
 * app.listen(3000);
 * ```
 *
 * With `@koa/router`, `router.all('/api/v1/sse/{*path}', sseHandler(hub))` works too: the routes
 * are matched on `ctx.path`, which routers leave whole.
 */
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options: SSEHandlerOptions = {},
): KoaMiddleware {
  const handle = createHandler(hub, options);
  const streamOptions = { endTimeoutMs: options.endTimeoutMs };
  return async (ctx, next) => {
    const state = { abandoned: false };
    const response: HubResponse = await handle(toHubRequest(ctx, state));
    switch (response.kind) {
      case 'pass':
        await next();
        return;
      case 'response':
        respondPlain(ctx, response, state.abandoned);
        return;
      case 'stream':
        ctx.respond = false;
        openNodeStream(ctx.req, ctx.res, response, streamOptions);
        return;
    }
  };
}

/**
 * Turns a Koa context into core's `HubRequest`. Past the body limit `readBody` sets
 * `state.abandoned`: the answer then closes the connection instead of draining the unread rest.
 */
export function toHubRequest(
  ctx: KoaContext,
  state: { abandoned: boolean } = { abandoned: false },
): HubRequest {
  const req = ctx.req;
  return {
    method: ctx.method,
    url: ctx.url,
    headers: {
      get(name) {
        const value = req.headers[name.toLowerCase()];
        return Array.isArray(value) ? value.join(', ') : value;
      },
    },
    httpVersion: req.httpVersion,
    remoteAddress: ctx.ip || req.socket?.remoteAddress,
    readBody: (limit) => readBody(ctx, limit, state),
  };
}

/**
 * Reads the request body as text, at most `limit` bytes, or takes what a body parser left in
 * `ctx.request.body`. Past the limit it stops reading and sets `state.abandoned`: the answer then
 * closes the connection instead of draining the unread rest.
 */
export function readBody(
  ctx: KoaContext,
  limit: number,
  state: { abandoned: boolean } = { abandoned: false },
): Promise<string> {
  const parsed = ctx.request.body;
  return readNodeBody(ctx.req, limit, state, parsed === undefined ? undefined : { value: parsed });
}

function respondPlain(ctx: KoaContext, response: PlainResponse, close: boolean): void {
  ctx.status = response.status;
  for (const [name, value] of Object.entries(response.headers)) ctx.set(name, value);
  if (close) ctx.set('connection', 'close');
  // Koa keeps the Content-Type set above, and drops the body itself for HEAD, 204 and 304.
  ctx.body = response.body === '' ? null : response.body;
}
