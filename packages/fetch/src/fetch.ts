/**
 * The fetch adapter: `(Request) => Response` over @ssehub/core's shared request handler.
 *
 * - Deno: https://docs.deno.com/api/deno/~/Deno.serve
 * - Bun: https://bun.sh/docs/api/http (note `idleTimeout`, below)
 * - Cloudflare Workers: https://developers.cloudflare.com/workers/runtime-apis/handlers/fetch/
 * - Hono: https://hono.dev/docs/api/context#req ; Next.js: https://nextjs.org/docs/app/building-your-application/routing/route-handlers
 * - Streams: https://developer.mozilla.org/docs/Web/API/ReadableStream
 */

import {
  type AnyEvents,
  BodyTooLargeError,
  createHandler,
  createStreamSink,
  type EventMap,
  type HandlerOptions,
  type Hub,
  type HubRequest,
  jsonError,
  notFoundResponse,
  type PlainResponse,
  type StreamResponse,
} from '@ssehub/core';

// ---------------------------------------------------------------- types

/** What the runtime knows of the connection besides the request. */
export interface FetchRequestInfo {
  /** The client's address (Bun: `server.requestIP(request)?.address`). */
  readonly remoteAddress?: string | undefined;
  /** Deno's `ServeHandlerInfo` shape, so `Deno.serve(handler)` passes it as is. */
  readonly remoteAddr?: { readonly hostname?: string } | undefined;
  /** Bun's `Server`, so `Bun.serve({ fetch: handler })` passes it as is. */
  readonly requestIP?: ((request: Request) => { readonly address: string } | null) | undefined;
}

/** Options of the fetch adapter: core's handler options plus how responses are produced. */
export interface FetchHandlerOptions extends HandlerOptions {
  /**
   * Resolve `undefined` for requests outside `base` instead of answering core's 404 JSON, so the
   * framework can go on (Hono's `app.use`, a Next.js catch-all that serves more than the hub).
   */
  readonly fallthrough?: boolean;
  /** Bytes a stream body buffers before the hub sees backpressure (default 64 KiB). */
  readonly highWaterMark?: number;
}

/** Answers every request: hub routes, and core's 404 JSON for anything else. */
export type FetchHandler = (request: Request, info?: FetchRequestInfo) => Promise<Response>;

/** Answers hub routes and resolves `undefined` for anything else (`fallthrough: true`). */
export type FetchMiddleware = (
  request: Request,
  info?: FetchRequestInfo,
) => Promise<Response | undefined>;

// ---------------------------------------------------------------- adapter

const decoder = new TextDecoder();
/** Statuses whose response must not have a body (the Response constructor throws otherwise). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * Creates the fetch handler for a hub: the reference routes under `options.base`
 * (default `/api/v1/sse`). Streams are pull-based `ReadableStream` bodies: a client that does not
 * read makes the hub queue, then apply its slow-client policy.
 *
 * ```ts
 * const handle = sseHandler(hub, { publisherKey: 'secret' });
 * Deno.serve(handle);
 * Bun.serve({ idleTimeout: 0, fetch: handle });
 * ```
 */
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options: FetchHandlerOptions & { readonly fallthrough: true },
): FetchMiddleware;
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options?: FetchHandlerOptions,
): FetchHandler;
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options: FetchHandlerOptions = {},
): FetchMiddleware {
  const handle = createHandler(hub, options);
  const { fallthrough = false, highWaterMark } = options;
  return async (request, info) => {
    const result = await handle(toHubRequest(request, info));
    switch (result.kind) {
      case 'pass':
        if (fallthrough) return undefined;
        return toResponse(notFoundResponse(request), request);
      case 'response':
      case 'stream':
        return toFetchResponse(result, request, highWaterMark);
    }
  };
}

/** Turns a fetch `Request` into core's `HubRequest`. */
export function toHubRequest(request: Request, info?: FetchRequestInfo): HubRequest {
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    remoteAddress:
      info?.remoteAddress ??
      info?.remoteAddr?.hostname ??
      (typeof info?.requestIP === 'function' ? info.requestIP(request)?.address : undefined),
    readBody: (limit) => readBody(request, limit),
  };
}

/** After a refused body: at most this much more of it is read (and dropped)... */
const LINGER_BYTES = 64 * 1024 * 1024;
/** ...for at most this long, before it is cancelled. */
const LINGER_MS = 10_000;

/**
 * Reads a request body as UTF-8 text, at most `limit` bytes. Past the limit (or with a larger
 * `Content-Length`) it rejects with `BodyTooLargeError` at once, and goes on reading and dropping
 * the rest in the background (at most 64 MiB more or 10 s, then the body is cancelled): a server
 * that closes a connection with unread bytes makes the kernel reset it, and the reset can reach
 * the client before the 413 does.
 */
export async function readBody(request: Request, limit: number): Promise<string> {
  const tooLarge = () => new BodyTooLargeError(`The body is larger than ${limit} bytes.`);
  const body = request.body;
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) {
    if (body !== null) dropRest(body.getReader());
    throw tooLarge();
  }
  if (body === null) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      dropRest(reader);
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return decoder.decode(chunks[0]);
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return decoder.decode(bytes);
}

/** Reads and drops the rest of a refused body, within `LINGER_BYTES` and `LINGER_MS`. */
function dropRest(reader: ReadableStreamDefaultReader<Uint8Array>): void {
  const cancel = () => {
    reader.cancel().catch(() => {});
  };
  const timer = setTimeout(cancel, LINGER_MS);
  (timer as { unref?: () => void }).unref?.();
  void (async () => {
    let dropped = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        dropped += value.byteLength;
        if (dropped > LINGER_BYTES) return cancel();
      }
    } catch {
      // The client went away, or the timer cancelled the body: nothing left to drop.
    } finally {
      clearTimeout(timer);
    }
  })();
}

/**
 * Core's answer as a fetch `Response`: a plain answer as it is, an admitted stream as a body over
 * core's pull-based stream sink (backpressure from the consumer's reads). A client that leaves
 * cancels the body or aborts `request.signal` (Bun, Deno): either releases the connection.
 * Shared by the fetch and h3 adapters.
 */
export function toFetchResponse(
  result: PlainResponse | StreamResponse,
  request: Request,
  highWaterMark?: number,
): Response {
  if (result.kind === 'response') return toResponse(result, request);
  const headers = streamHeaders(result.headers);
  // HEAD gets the stream's headers and no connection: nobody would ever read it.
  if (request.method === 'HEAD') return new Response(null, { status: 200, headers });
  const { stream, sink, bind } = createStreamSink({ highWaterMark });
  const signal = request.signal as AbortSignal | undefined;
  const onAbort = () => connection.closed();
  let connection: ReturnType<typeof result.connect>;
  try {
    connection = result.connect({
      write: (chunk) => sink.write(chunk),
      close(reason) {
        // Deno also aborts the signal once a response is complete: not a client leaving.
        signal?.removeEventListener('abort', onAbort);
        sink.close(reason);
      },
    });
  } catch {
    // The hub closed between routing and connecting (shutdown).
    return toResponse(jsonError(503, 'The hub is closed.', { 'retry-after': '5' }), request);
  }
  bind(connection);
  if (signal?.aborted) connection.closed();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return new Response(stream, { status: result.status, headers });
}

function toResponse(result: PlainResponse, request: Request): Response {
  const empty = request.method === 'HEAD' || NULL_BODY.has(result.status);
  return new Response(empty ? null : result.body, {
    status: result.status,
    headers: result.headers,
  });
}

/**
 * The runtime owns the connection: `Connection` is a hop-by-hop header that fetch runtimes drop
 * or refuse (and HTTP/2 forbids), so it is left out.
 */
function streamHeaders(headers: Record<string, string>): Record<string, string> {
  const { connection: _, ...rest } = headers;
  return rest;
}
