/**
 * The fetch adapter: `(Request) => Response` over @ssehub/core's shared request handler.
 *
 * - Deno: https://docs.deno.com/api/deno/~/Deno.serve
 * - Bun: https://bun.sh/docs/api/http (note `idleTimeout`, below)
 * - Cloudflare Workers: https://developers.cloudflare.com/workers/runtime-apis/handlers/fetch/
 * - Hono: https://hono.dev/docs/api/context#req ; Next.js: https://nextjs.org/docs/app/building-your-application/routing/route-handlers
 * - Streams: https://developer.mozilla.org/docs/Web/API/ReadableStream
 */

import type { AnyEvents, EventMap, HandlerOptions, Hub } from '@ssehub/core';
import {
  BodyTooLargeError,
  createHandler,
  createStreamSink,
  type HubRequest,
  jsonError,
  notFoundResponse,
  type PlainResponse,
  type StreamResponse,
} from '@ssehub/core/adapter';

// ---------------------------------------------------------------- types

/**
 * What the runtime knows of the connection besides the request: the second argument a runtime
 * hands a fetch handler. Each shape is read by the built-in `runtimeClientAddress`.
 */
export interface FetchRequestInfo {
  /** The client's address, given by hand (`{ remoteAddress: '203.0.113.7' }`). */
  readonly remoteAddress?: string | undefined;
  /** Deno's `ServeHandlerInfo` shape, so `Deno.serve(handler)` passes it as is. */
  readonly remoteAddr?: { readonly hostname?: string } | undefined;
  /** Bun's `Server`, so `Bun.serve({ fetch: handler })` passes it as is. */
  readonly requestIP?: ((request: Request) => { readonly address: string } | null) | undefined;
  /**
   * @hono/node-server's bindings (`getRequestListener(handler)`, Hono's `c.env` on Node): the
   * Node request, whose socket has the address.
   */
  readonly incoming?: { readonly socket?: { readonly remoteAddress?: string } } | undefined;
}

/** Learns the client's address of a request; `undefined` when it cannot. */
export type ClientAddress = (
  request: Request,
  info: FetchRequestInfo | undefined,
) => string | undefined;

/** Options of `sseHandler`: core's handler options plus how responses are produced. */
export interface SSEHandlerOptions extends HandlerOptions {
  /**
   * Resolve `undefined` for requests outside `base` instead of answering core's 404 JSON, so the
   * framework can go on (Hono's `app.use`, a Next.js catch-all that serves more than the hub).
   */
  readonly fallthrough?: boolean;
  /** Bytes a stream body buffers before the hub sees backpressure (default 64 KiB). */
  readonly highWaterMark?: number;
  /**
   * How the client's address (for `limits.maxConnectionsPerIp`) is learned. Default:
   * `runtimeClientAddress`, which reads what Deno (`info.remoteAddr`), Bun
   * (`server.requestIP(request)`) and @hono/node-server (`incoming.socket`) pass as the handler's
   * second argument, or `info.remoteAddress` given by hand.
   */
  readonly clientAddress?: ClientAddress;
  /**
   * A request header that holds the client's address, set by a proxy in front that you trust to
   * overwrite it (Cloudflare Workers: `'cf-connecting-ip'`). When set, the header is read first
   * (its first comma-separated value) and `clientAddress` is the fallback. Never set it for a
   * server reachable without that proxy: any client could then send the header and choose its
   * address.
   */
  readonly trustProxyHeader?: string;
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
  options: SSEHandlerOptions & { readonly fallthrough: true },
): FetchMiddleware;
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options?: SSEHandlerOptions,
): FetchHandler;
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options: SSEHandlerOptions = {},
): FetchMiddleware {
  const addressOf = clientAddressOf(options);
  const handle = createHandler(hub, options);
  const { fallthrough = false, highWaterMark } = options;
  return async (request, info) => {
    const result = await handle({
      method: request.method,
      url: request.url,
      headers: request.headers,
      remoteAddress: addressOf(request, info),
      readBody: (limit) => readBody(request, limit),
    });
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

/**
 * The built-in `clientAddress`: `info.remoteAddress`, else Deno's `info.remoteAddr.hostname`,
 * else Bun's `info.requestIP(request)?.address`, else @hono/node-server's
 * `info.incoming.socket.remoteAddress`.
 */
export const runtimeClientAddress: ClientAddress = (request, info) =>
  info?.remoteAddress ??
  info?.remoteAddr?.hostname ??
  (typeof info?.requestIP === 'function' ? info.requestIP(request)?.address : undefined) ??
  info?.incoming?.socket?.remoteAddress;

/**
 * The address function of `options` (`trustProxyHeader`, then `clientAddress`). Throws when
 * `limits.maxConnectionsPerIp` is set and nothing can learn addresses: on a runtime that passes
 * none (Cloudflare Workers, or anything but Node, Deno and Bun) without `clientAddress` or
 * `trustProxyHeader`, a per-IP limit would otherwise be silently off.
 */
export function clientAddressOf(
  options: Pick<SSEHandlerOptions, 'clientAddress' | 'trustProxyHeader' | 'limits'>,
): ClientAddress {
  const { clientAddress, trustProxyHeader } = options;
  if (
    options.limits?.maxConnectionsPerIp !== undefined &&
    clientAddress === undefined &&
    trustProxyHeader === undefined &&
    !runtimePassesAddress()
  ) {
    throw new TypeError(
      'limits.maxConnectionsPerIp is set, but this runtime passes no client address to a fetch handler: ' +
        "set clientAddress, or trustProxyHeader (e.g. 'cf-connecting-ip' on Cloudflare Workers).",
    );
  }
  const fallback = clientAddress ?? runtimeClientAddress;
  if (trustProxyHeader === undefined) return fallback;
  const header = trustProxyHeader.toLowerCase();
  return (request, info) => {
    const value = request.headers.get(header)?.split(',')[0]?.trim();
    return value || fallback(request, info);
  };
}

/** Node, Deno and Bun hand a fetch handler what `runtimeClientAddress` reads. */
function runtimePassesAddress(): boolean {
  const g = globalThis as {
    Deno?: unknown;
    Bun?: unknown;
    process?: { versions?: { node?: string } };
  };
  if (g.Deno !== undefined || g.Bun !== undefined) return true;
  // Workers with nodejs_compat define `process` too, but their user agent says so.
  const agent = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent;
  return g.process?.versions?.node !== undefined && agent !== 'Cloudflare-Workers';
}

/** Turns a fetch `Request` into core's `HubRequest`, with the built-in client address. */
export function toHubRequest(request: Request, info?: FetchRequestInfo): HubRequest {
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    remoteAddress: runtimeClientAddress(request, info),
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
