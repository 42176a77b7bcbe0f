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
  BodyTooLargeError,
  createHandler,
  createStreamSink,
  type EventMap,
  type HandlerOptions,
  type Hub,
  type HubRequest,
  type HubResponse,
  jsonError,
  type PlainResponse,
  type Sink,
  type StreamResponse,
} from '@ssehub/core';
import { type EventHandler, fromNodeHandler, type H3Event } from 'h3';

// ---------------------------------------------------------------- types

/** Options of the h3 adapter: core's handler options plus the Web stream's buffer. */
export interface H3HandlerOptions extends HandlerOptions {
  /** Bytes a Web stream body buffers before the hub sees backpressure (default 64 KiB). */
  readonly highWaterMark?: number;
}

// ---------------------------------------------------------------- adapter

const decoder = new TextDecoder();
/** Statuses whose response must not have a body (the Response constructor throws otherwise). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

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
    let result: HubResponse;
    try {
      result = await handle(toHubRequest(event));
    } catch {
      return toResponse(jsonError(500, 'The request failed inside the server.'), request);
    }
    switch (result.kind) {
      case 'pass':
        return undefined;
      case 'response':
        return toResponse(result, request);
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
                openNodeStream(req as IncomingMessage, res as ServerResponse, stream, extra);
              }),
          )(event);
        }
        return openWebStream(request, result, highWaterMark);
      }
    }
  };
}

/** Turns an h3 event into core's `HubRequest`. */
export function toHubRequest(event: H3Event): HubRequest {
  const request = event.req;
  const node = event.runtime?.node?.req;
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    httpVersion: node?.httpVersion,
    remoteAddress: request.ip ?? node?.socket?.remoteAddress,
    readBody: (limit) => readBody(request, limit),
  };
}

/**
 * Reads a request body as UTF-8 text, at most `limit` bytes: a larger `Content-Length` is refused
 * unread, and a body without one is cancelled as soon as it passes the limit.
 */
export async function readBody(request: Request, limit: number): Promise<string> {
  const tooLarge = () => new BodyTooLargeError(`The body is larger than ${limit} bytes.`);
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge();
  const body = request.body;
  if (body === null) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw tooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return decoder.decode(bytes);
}

function toResponse(result: PlainResponse, request: Request): Response {
  const empty = request.method === 'HEAD' || NULL_BODY.has(result.status);
  return new Response(empty ? null : result.body, {
    status: result.status,
    headers: result.headers,
  });
}

/** The node path: the stream's head and bytes straight to the `ServerResponse`. */
function openNodeStream(
  req: IncomingMessage,
  res: ServerResponse,
  response: StreamResponse,
  extra: Headers,
): void {
  // The client may have gone while authorize was running: then there is nothing to open.
  if (res.destroyed || req.socket.destroyed) {
    res.destroy();
    return;
  }
  // Headers that earlier h3 middleware put on event.res are kept; the stream's own win.
  const headers: Record<string, string> = {};
  for (const [name, value] of extra) headers[name] = value;
  res.writeHead(response.status, { ...headers, ...response.headers });
  res.flushHeaders();
  const socket = req.socket;
  // Events are small and latency matters: no Nagle. No inactivity timeout on a stream either
  // (server.timeout): the hub's heartbeat and stall sweep own its lifetime.
  socket.setNoDelay(true);
  socket.setTimeout(0);
  const sink: Sink = {
    write(chunk) {
      try {
        return res.write(chunk);
      } catch {
        return false;
      }
    },
    close() {
      res.end();
    },
  };
  let connection: ReturnType<StreamResponse['connect']>;
  try {
    connection = response.connect(sink);
  } catch {
    // The hub closed between admitting the request and now.
    res.end();
    return;
  }
  res.on('drain', () => connection.drain());
  res.on('close', () => connection.closed());
}

/** The Web path (Bun, Deno, Workers): a `Response` over core's pull-based stream sink. */
function openWebStream(
  request: Request,
  response: StreamResponse,
  highWaterMark: number | undefined,
): Response {
  // The runtime owns the connection: `Connection` is hop-by-hop, and HTTP/2 forbids it.
  const { connection: _, ...headers } = response.headers;
  if (request.method === 'HEAD') return new Response(null, { status: 200, headers });
  const { stream, sink, bind } = createStreamSink({ highWaterMark });
  // A client that leaves cancels the body and (Bun, Deno) aborts the signal: either releases.
  const signal = request.signal as AbortSignal | undefined;
  const onAbort = () => connection.closed();
  let connection: ReturnType<StreamResponse['connect']>;
  try {
    connection = response.connect({
      write: (chunk) => sink.write(chunk),
      close() {
        signal?.removeEventListener('abort', onAbort);
        sink.close();
      },
    });
  } catch {
    return toResponse(jsonError(503, 'The hub is closed.'), request);
  }
  bind(connection);
  if (signal?.aborted) connection.closed();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return new Response(stream, { status: response.status, headers });
}
