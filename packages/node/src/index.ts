/**
 * @ssehub/node: the hub's reference routes for node:http and Express.
 *
 * One function, `sseHandler(hub, options)`, returns a `(req, res, next?)` listener that is a
 * node:http request handler and Express middleware at once. Streams are written straight to the
 * `ServerResponse` (no Web Streams): `res.write()`'s return value is the sink's backpressure
 * signal and `'drain'` releases it, so a client that stops reading costs at most the hub's
 * per-connection queue bound.
 *
 * HTTP/2 (node:http2's compatibility API, `http2.createSecureServer(options, handler)`) is
 * served by the same listener: a stream is written straight to its `Http2Stream`, whose
 * `write()` result follows the peer's flow-control window, and a client that must go is reset
 * (RST_STREAM) alone, never its whole connection, which other streams (tabs) share.
 *
 * - node:http: https://nodejs.org/api/http.html#class-httpserverresponse
 * - node:http2: https://nodejs.org/api/http2.html#compatibility-api
 * - backpressure: https://nodejs.org/en/learn/modules/backpressuring-in-streams
 * - Express middleware: https://expressjs.com/en/guide/writing-middleware.html
 */

import {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  ServerResponse,
} from 'node:http';
import {
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type Http2Session,
  constants as http2,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { AnyEvents, DisconnectReason, EventMap, HandlerOptions, Hub } from '@ssehub/core';
import {
  BodyTooLargeError,
  type Connection,
  createHandler,
  type HubHandler,
  type HubRequest,
  notFoundResponse,
  type PlainResponse,
  type Queued,
  type Sink,
  type StreamResponse,
  serverErrorResponse,
} from '@ssehub/core/adapter';

// ---------------------------------------------------------------- types

/** Express's `next`: called with nothing to pass the request on, with an error to fail it. */
export type NextFunction = (error?: unknown) => void;

/** A request of node:http, or of node:http2's compatibility API. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;

/** A response of node:http, or of node:http2's compatibility API. */
export type NodeResponse = ServerResponse | Http2ServerResponse;

/**
 * A node:http (and node:http2) request listener that is also Express (and Connect) middleware.
 *
 * On one of the hub's routes it answers the request. On any other path it calls `next()` when
 * given one (Express), or answers a JSON 404 (plain node:http, node:http2).
 */
export interface NodeHandler {
  (req: NodeRequest, res: NodeResponse, next?: NextFunction): void;
  /**
   * The same routes as a `'stream'` listener of a node:http2 server that has no `'request'`
   * listener: `http2.createSecureServer(options).on('stream', handler.onStream)`. Node then makes
   * no compatibility objects (`Http2ServerRequest`/`Http2ServerResponse`) for a stream, which
   * saves ~2.5 KiB per open SSE stream; the handler answers on the `Http2Stream` itself. HTTP/2
   * only: an `allowHTTP1` server needs the request listener (`createSecureServer(options, handler)`).
   */
  readonly onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;
}

/** Options of `sseHandler`: core's handler options plus how a stream the server ends is closed. */
export interface SSEHandlerOptions extends HandlerOptions {
  /**
   * After the server ends a stream (kick, shutdown), how long a client that is behind gets to
   * read the rest before its socket is destroyed, in ms (default 10 000).
   */
  readonly endTimeoutMs?: number;
}

/** What body parsers (express.json(), body-parser) leave on the request. */
interface ParsedRequest {
  body?: unknown;
  /** Set by body-parser once it consumed the stream. */
  _body?: boolean;
}

// ---------------------------------------------------------------- adapter

/**
 * Mounts the reference routes of `hub` (under `options.base`, default `/api/v1/sse`) on node:http
 * or Express.
 *
 * ```ts
 * import { createServer } from 'node:http';
 * import { Hub } from '@ssehub/core';
 * import { sseHandler } from '@ssehub/node';
 *
 * const hub = new Hub();
 * createServer(sseHandler(hub)).listen(3000);
 * // Express: app.use(sseHandler(hub, { publisherKey: process.env.SSE_PUBLISH_KEY }));
 * // HTTP/2, with HTTP/1.1 for older clients (browsers speak HTTP/2 over TLS only):
 * // http2.createSecureServer({ cert, key, allowHTTP1: true }, sseHandler(hub)).listen(3443);
 * ```
 *
 * Paths are matched against `req.url`, which Express makes relative to a mount path: with
 * `app.use('/events', sseHandler(hub, { base: '/' }))` the stream is at `/events/stream/:g/:id`.
 *
 * Mount it before `express.json()` so that bad JSON and oversized publish bodies get the hub's
 * JSON 400 / 413; mounted after, it reads the already-parsed `req.body` and the parser's own
 * errors are Express's.
 *
 * Streams: the response is written as soon as the handler admits it (headers flushed), Nagle is
 * off, and the socket's inactivity timeout is cleared, so `server.timeout` cannot cut a quiet
 * stream. `server.requestTimeout` and `server.headersTimeout` only bound receiving the request,
 * and `keepAliveTimeout` only the wait between requests: none of them ends a stream.
 *
 * Over HTTP/2 every stream of one browser shares one connection, so the six-connections-per-host
 * limit of HTTP/1.1 does not apply. The stream's own timeout is cleared; Nagle is the server's
 * choice (`noDelay: true` in `createSecureServer`'s options), since an HTTP/2 socket is shared.
 */
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options: SSEHandlerOptions = {},
): NodeHandler {
  const handle = createHandler(hub, options);
  const streamOptions = { endTimeoutMs: options.endTimeoutMs };
  const handler = (req: NodeRequest, res: NodeResponse, next?: NextFunction) => {
    const state = { abandoned: false };
    if (isHttp2(res)) trackSession(res.stream.session);
    const fail = (error: unknown) => {
      if (next) next(error);
      else {
        try {
          writePlain(res, serverErrorResponse());
        } catch {
          res.destroy();
        }
      }
    };
    const request = toHubRequest(req, state);
    handle(request).then((response) => {
      if (response.kind === 'pass' && next) {
        next();
        return;
      }
      // Whatever goes wrong while answering is an error for next() or a 500, never a crash.
      try {
        switch (response.kind) {
          case 'pass':
            writePlain(res, notFoundResponse(request));
            return;
          case 'response':
            writePlain(res, response, state.abandoned);
            return;
          case 'stream':
            openNodeStream(req, res, response, streamOptions);
            return;
        }
      } catch (error) {
        fail(error);
      }
    }, fail);
  };
  return Object.assign(handler, {
    onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) =>
      handleHttp2Stream(handle, streamOptions, stream, headers),
  });
}

/**
 * `onStream`: one request of a node:http2 server without the compatibility API, answered on its
 * `Http2Stream`. Errors are a JSON 500 or, once the head is out, a reset of that stream only.
 */
function handleHttp2Stream(
  handle: HubHandler,
  options: NodeStreamOptions,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
): void {
  trackSession(stream.session);
  const state = { abandoned: false };
  const method = String(headers[':method'] ?? 'GET');
  const request: HubRequest = {
    method,
    url: String(headers[':path'] ?? '/'),
    headers: {
      get(name) {
        const key = name.toLowerCase();
        // RFC 9113, 8.3.1: `:authority` stands for Host.
        const value = headers[key] ?? (key === 'host' ? headers[':authority'] : undefined);
        return Array.isArray(value) ? value.join(', ') : value;
      },
    },
    httpVersion: '2.0',
    remoteAddress: stream.session?.socket?.remoteAddress,
    readBody: (limit) => collectBody(stream, headers['content-length'], limit, state),
  };
  const fail = () => {
    try {
      respondPlain(stream, serverErrorResponse());
    } catch {
      if (!stream.destroyed) stream.close(http2.NGHTTP2_INTERNAL_ERROR);
    }
  };
  handle(request).then((response) => {
    try {
      switch (response.kind) {
        case 'pass':
          respondPlain(stream, notFoundResponse(request));
          return;
        case 'response':
          respondPlain(stream, response);
          // The rest of a refused body is not wanted: RST_STREAM (NO_ERROR) once the answer is
          // out tells the client to stop sending (RFC 9113, 8.1).
          if (state.abandoned) stream.close(http2.NGHTTP2_NO_ERROR);
          return;
        case 'stream':
          if (stream.destroyed || stream.closed) return;
          stream.respond(h2Headers(response.status, { ...options.headers, ...response.headers }));
          if (method === 'HEAD') {
            if (!stream.writableEnded) stream.end();
            return;
          }
          writeHttp2Stream(stream, response, options);
          return;
      }
    } catch {
      fail();
    }
  }, fail);
}

/** Connection-specific fields are not allowed in HTTP/2 (RFC 9113, 8.2.2). */
const H1_ONLY = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

function h2Headers(
  status: number,
  headers: Readonly<Record<string, string | number>>,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':status': status };
  for (const [name, value] of Object.entries(headers))
    if (!H1_ONLY.has(name.toLowerCase())) out[name.toLowerCase()] = value;
  return out;
}

function respondPlain(stream: ServerHttp2Stream, response: PlainResponse): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    if (!stream.writableEnded) stream.end();
    return;
  }
  const headers: Record<string, string | number> = { ...response.headers };
  if (response.status !== 204 && response.status !== 304)
    headers['content-length'] = Buffer.byteLength(response.body);
  stream.respond(h2Headers(response.status, headers));
  // Node ends the stream itself for HEAD, 204 and 304.
  if (!stream.writableEnded) stream.end(response.body);
}

/**
 * Turns a node:http request into core's `HubRequest`. Past the body limit `readBody` sets
 * `state.abandoned`: the answer then closes the connection instead of draining the unread rest.
 */
export function toHubRequest(
  req: NodeRequest,
  state: { abandoned: boolean } = { abandoned: false },
): HubRequest {
  const parsed = req as NodeRequest & ParsedRequest;
  return {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: {
      get(name) {
        const value = req.headers[name.toLowerCase()];
        return Array.isArray(value) ? value.join(', ') : value;
      },
    },
    httpVersion: req.httpVersion,
    remoteAddress: req.socket?.remoteAddress,
    // A body parser may have got there first (express.json(), express.text(), express.raw()).
    readBody: (limit) =>
      readBody(
        req,
        limit,
        state,
        parsed._body === true || req.readableEnded ? { value: parsed.body } : undefined,
      ),
  };
}

/**
 * Reads a node:http request body as text, at most `limit` bytes. Past the limit (or with a larger
 * `Content-Length`) it rejects with `BodyTooLargeError` at once, sets `state.abandoned` (the
 * answer must carry `Connection: close`) and lingers: the rest of the body is read and dropped,
 * within bounds, so that the client reads the 413 instead of a reset (see `lingerAfterRefusal`).
 * `parsed` is a body that a parser already consumed (express.json(), koa-bodyparser): it is used
 * instead of the stream. Shared by the node:http, Koa and h3 adapters.
 */
export function readBody(
  req: NodeRequest,
  limit: number,
  state: { abandoned: boolean } = { abandoned: false },
  parsed?: { readonly value: unknown },
): Promise<string> {
  const tooLarge = () => new BodyTooLargeError(`The body is larger than ${limit} bytes.`);
  if (parsed !== undefined || req.readableEnded) {
    const value = parsed?.value;
    const text =
      value === undefined
        ? ''
        : typeof value === 'string'
          ? value
          : value instanceof Uint8Array
            ? Buffer.from(value).toString('utf8')
            : JSON.stringify(value);
    return Buffer.byteLength(text) > limit ? Promise.reject(tooLarge()) : Promise.resolve(text);
  }
  return collectBody(req, req.headers['content-length'], limit, state, () =>
    lingerAfterRefusal(req),
  );
}

/** `readBody` from any readable: a request, or an `Http2Stream` (`onStream`). */
function collectBody(
  req: Readable,
  contentLength: string | undefined,
  limit: number,
  state: { abandoned: boolean },
  onRefused: () => void = () => {},
): Promise<string> {
  const tooLarge = () => new BodyTooLargeError(`The body is larger than ${limit} bytes.`);
  if (req.readableEnded) return Promise.resolve('');
  if (Number(contentLength) > limit) {
    state.abandoned = true;
    onRefused();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > limit) {
        cleanup();
        state.abandoned = true;
        onRefused();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size).toString('utf8'));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onAborted = () => onError(new Error('The request was aborted.'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
  });
}

/** After a refused body: at most this much more of it is read (and dropped)... */
const LINGER_BYTES = 64 * 1024 * 1024;
/** ...for at most this long, before the socket is destroyed. */
const LINGER_MS = 10_000;

/**
 * Lingering close after answering before the whole request body arrived (a 413). A socket
 * destroyed with unread bytes in its receive buffer makes the kernel send a reset, which often
 * reaches the client before it has read the answer: Node's `fetch` then fails with EPIPE or
 * ECONNRESET instead of showing the 413. So the answer goes out at once with `Connection: close`,
 * our side half-closes after it (FIN), the rest of the body is read and dropped, and the socket
 * is destroyed once the body has ended (or the client closed), or after `LINGER_BYTES` more bytes
 * or `LINGER_MS`, whichever comes first: what a client can cost after a refusal is bounded (the
 * same bounded lingering close as Apache's and nginx's). A client that stops sending when it sees
 * the answer (undici does, for a chunked body) is released at once.
 *
 * node:http ends a `Connection: close` response with `socket.destroySoon()` (end, then destroy as
 * soon as the answer is flushed): that call is replaced on this socket by one that waits for the
 * body to end.
 */
function lingerAfterRefusal(req: NodeRequest): void {
  // HTTP/2 (compat API) resets the one stream and keeps the connection: nothing to linger for.
  if (req.httpVersionMajor !== 1) return;
  const socket = req.socket as Socket & { destroySoon?: () => void };
  const destroySoon = socket.destroySoon;
  if (typeof destroySoon !== 'function' || socket.destroyed) return;
  let answered = false;
  let dropped = 0;
  const release = () => {
    if (answered && req.complete) destroySoon.call(socket);
  };
  socket.destroySoon = () => {
    answered = true;
    // Half-close now: the client sees the end of the answer while it may still be sending.
    if (socket.writable) socket.end();
    release();
  };
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.byteLength;
    if (dropped > LINGER_BYTES) socket.destroy();
  });
  req.once('end', release);
  // An abort while lingering is expected, not an error to report.
  req.on('error', () => {});
  req.resume();
}

function writePlain(res: NodeResponse, response: PlainResponse, close = false): void {
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.end();
    return;
  }
  const headers: Record<string, string | number> = { ...response.headers };
  if (response.status !== 204 && response.status !== 304)
    headers['content-length'] = Buffer.byteLength(response.body);
  // HTTP/2 has no Connection header (RFC 9113, 8.2.2): an abandoned body resets the one stream.
  if (close && !isHttp2(res)) headers.connection = 'close';
  res.writeHead(response.status, headers);
  // Node drops the body itself for HEAD and 204.
  res.end(response.body);
}

/** Options of `openNodeStream`. */
export interface NodeStreamOptions {
  /** Headers set earlier (by other middleware) to send along; the stream's own headers win. */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * After the server ends a stream (kick, shutdown), how long a client that is behind gets to
   * read the rest before its socket is destroyed, in ms (default 10 000).
   */
  readonly endTimeoutMs?: number;
}

/**
 * Writes an admitted stream straight to a node:http `ServerResponse`: head flushed at once, no
 * Nagle, no inactivity timeout, `res.write()`'s return value as backpressure and `'drain'` to
 * release it. A client closed as `slow` or `stalled` is not reading, so its socket is destroyed;
 * other ends are graceful, bounded by `endTimeoutMs`. Shared by the node:http, Koa and h3 adapters.
 */
export function openNodeStream(
  req: NodeRequest,
  res: NodeResponse,
  response: StreamResponse,
  options: NodeStreamOptions = {},
): void {
  if (isHttp2(res)) {
    openHttp2Stream(req, res, response, options);
    return;
  }
  // The client may have gone while authorize was running: then there is nothing to open.
  if (res.destroyed || req.socket.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(
    response.status,
    options.headers === undefined ? response.headers : { ...options.headers, ...response.headers },
  );
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  res.flushHeaders();
  const socket = req.socket;
  // Events are small and latency matters: no Nagle. And no inactivity timeout on a stream
  // (server.timeout / server.setTimeout()): the hub's heartbeat and stall sweep own its lifetime.
  socket.setNoDelay(true);
  socket.setTimeout(0);
  // The fast path: frame each chunk for HTTP/1.1 chunked encoding once (see `frameChunk`) and
  // write it to the socket in one call. `res.write()` would cork the socket, queue four writes
  // (size, CRLF, chunk, CRLF) and uncork on the next tick, for every response. It is taken while
  // nothing else shapes the body: chunked framing is on, no content coding was negotiated, and
  // `res.write` is Node's own (compression middleware replaces it), and only while the socket
  // still belongs to this response.
  const direct =
    res.chunkedEncoding &&
    res.write === ServerResponse.prototype.write &&
    res.getHeader('content-encoding') === undefined;
  const sink = new NodeSink(res, socket, direct, options.endTimeoutMs ?? 10_000);
  try {
    sink.connection = response.connect(sink);
  } catch {
    // The hub closed between admitting the request and now.
    res.end();
    return;
  }
  // Direct writes fill the socket, writes through res.write() the response: either releases
  // (`drain()` does nothing for a connection that is not blocked).
  // Shared listeners that find the sink through the response: no closures per connection.
  (res as SinkHolder)[SINK] = sink;
  res.on('drain', onResponseDrain);
  if (direct) socket.on('drain', onSocketDrain);
  res.on('close', onResponseClose);
}

/**
 * The sink of one stream: one object per connection, its methods on the prototype (memory per
 * connection counts when a server holds tens of thousands).
 */
class NodeSink implements Sink {
  connection: Connection | undefined;
  constructor(
    readonly res: ServerResponse,
    readonly socket: Socket,
    readonly direct: boolean,
    readonly endTimeoutMs: number,
  ) {}

  write(chunk: Uint8Array): boolean {
    const { res, socket } = this;
    try {
      if (chunk.byteLength === 0) return true;
      // Past res.end() a direct write would land after the chunked terminator.
      if (res.writableEnded) return false;
      if (this.direct && (socket as OwnedSocket)._httpMessage === res && socket.writable)
        return socket.write(frameChunk(chunk));
      return res.write(chunk);
    } catch {
      return false;
    }
  }

  /** Everything queued, framed into one buffer (see `frameParts`). */
  writeParts(parts: readonly Queued[], length: number): boolean {
    const { res, socket } = this;
    try {
      if (length === 0) return true;
      if (res.writableEnded) return false;
      if (this.direct && (socket as OwnedSocket)._httpMessage === res && socket.writable)
        return writeFrame(socket, parts, length);
      const body = Buffer.allocUnsafe(length);
      copyParts(body, 0, parts);
      return res.write(body);
    } catch {
      return false;
    }
  }

  close(reason: DisconnectReason): void {
    const res = this.res;
    if (reason === 'slow' || reason === 'stalled') {
      res.destroy();
      return;
    }
    res.end();
    if (res.writableFinished) return;
    // Until its last bytes leave, `closeGracefully` waits for it; a client that is behind may
    // never read them, so its socket is not kept for ever either.
    ending.add(res);
    const timer = setTimeout(() => res.destroy(), this.endTimeoutMs).unref();
    const done = () => {
      clearTimeout(timer);
      ending.delete(res);
    };
    res.once('finish', done);
    res.once('close', done);
  }
}

/** Where a stream's response holds its sink, for the listeners below. */
const SINK = Symbol('ssehub.sink');

type SinkHolder = ServerResponse & { [SINK]?: NodeSink };

/** The response's `'drain'`: writes through `res.write()` can go on. */
function onResponseDrain(this: ServerResponse): void {
  (this as SinkHolder)[SINK]?.connection?.drain();
}

/** The socket's `'drain'` on the direct path: the response that owns the socket can go on. */
function onSocketDrain(this: Socket): void {
  ((this as OwnedSocket)._httpMessage as SinkHolder | undefined)?.[SINK]?.connection?.drain();
}

/** The response's `'close'`. */
function onResponseClose(this: ServerResponse): void {
  const sink = (this as SinkHolder)[SINK];
  if (sink === undefined) return;
  // A kept-alive socket outlives the response: it must not keep this connection's listener.
  if (sink.direct) sink.socket.off('drain', onSocketDrain);
  sink.connection?.closed();
}

/** A response of node:http2's compatibility API (an HTTP/1.1 request on an `allowHTTP1` server is not). */
function isHttp2(res: NodeResponse): res is Http2ServerResponse {
  return (res as Partial<Http2ServerResponse>).stream !== undefined;
}

/**
 * `openNodeStream` over HTTP/2: the events go straight to the `Http2Stream` (DATA frames, no
 * chunked framing). Its `write()` returns false once more than its high-water mark waits for the
 * peer's flow-control window, and its `'drain'` releases the connection. A client closed as
 * `slow` or `stalled` gets RST_STREAM (CANCEL) on its stream only: the connection, and the other
 * streams on it, carry on.
 */
function openHttp2Stream(
  req: NodeRequest,
  res: Http2ServerResponse,
  response: StreamResponse,
  options: NodeStreamOptions,
): void {
  const stream: ServerHttp2Stream = res.stream;
  if (stream.destroyed || stream.closed) return;
  // The compatibility API sends the HEADERS frame here: the client sees the stream open at once.
  res.writeHead(response.status, { ...options.headers, ...response.headers });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  writeHttp2Stream(stream, response, options);
}

/** The events of an admitted stream, once its head is out, written to its `Http2Stream`. */
function writeHttp2Stream(
  stream: ServerHttp2Stream,
  response: StreamResponse,
  options: NodeStreamOptions,
): void {
  // Like node:http's `server.timeout`, a stream timeout must not cut a quiet stream.
  stream.setTimeout(0);
  const endTimeoutMs = options.endTimeoutMs ?? 10_000;
  const reset = () => {
    if (!stream.destroyed) stream.close(http2.NGHTTP2_CANCEL);
  };
  const sink: Sink = {
    write(chunk) {
      if (chunk.byteLength === 0) return true;
      // Ended or reset: 'close' follows and closes the connection.
      if (stream.destroyed || !stream.writable) return false;
      try {
        return stream.write(chunk);
      } catch {
        return false;
      }
    },
    close(reason) {
      if (reason === 'slow' || reason === 'stalled') {
        reset();
        return;
      }
      if (!stream.destroyed && !stream.writableEnded) stream.end();
      if (stream.writableFinished || stream.destroyed) return;
      ending.add(stream);
      const timer = setTimeout(reset, endTimeoutMs).unref();
      const done = () => {
        clearTimeout(timer);
        ending.delete(stream);
      };
      stream.once('finish', done);
      stream.once('close', done);
    },
  };
  let connection: Connection;
  try {
    connection = response.connect(sink);
  } catch {
    // The hub closed between admitting the request and now.
    stream.end();
    return;
  }
  stream.on('drain', () => connection.drain());
  stream.once('close', () => connection.closed());
}

/** HTTP/2 sessions that made a request to an `sseHandler`: `closeGracefully` closes them. */
const sessions = new Set<Http2Session>();

function trackSession(session: Http2Session | undefined): void {
  if (session === undefined || sessions.has(session) || session.destroyed) return;
  sessions.add(session);
  session.once('close', () => sessions.delete(session));
}

/** node:http's mark of the response that currently owns a socket. */
type OwnedSocket = Socket & { _httpMessage?: unknown };

let lastChunk: Uint8Array | undefined;
let lastFrame: Buffer = Buffer.alloc(0);

/**
 * `chunk` framed as one HTTP/1.1 chunk: hex size, CRLF, the bytes, CRLF (RFC 9112, 7.1). A
 * broadcast hands the same chunk to every connection, so the last framing is kept and reused: one
 * frame per event, not one per recipient.
 */
function frameChunk(chunk: Uint8Array): Buffer {
  if (chunk === lastChunk) return lastFrame;
  const size = chunk.byteLength.toString(16);
  const frame = Buffer.allocUnsafe(size.length + chunk.byteLength + 4);
  let at = frame.write(size, 0, 'latin1');
  frame[at++] = 13;
  frame[at++] = 10;
  frame.set(chunk, at);
  at += chunk.byteLength;
  frame[at++] = 13;
  frame[at] = 10;
  lastChunk = chunk;
  lastFrame = frame;
  return frame;
}

let lastParts: readonly Uint8Array[] = [];
let lastPartsFrame: Buffer = Buffer.alloc(0);
let lastFirst: Queued | undefined;

/** Frames of at most this size are built in a reused buffer (`writeFrame`); Node's pool size. */
const SCRATCH_SIZE = 8 * 1024;
let scratch: Buffer | undefined;

/**
 * Writes what a connection queued as one HTTP/1.1 chunk (see `frameParts`). A frame of the
 * connection's own bytes (a unicast) is built in a reused buffer when the socket has nothing
 * pending: a socket that takes the whole write at once, the usual case, has copied it by the time
 * `write` returns, and the buffer serves the next frame. When the write stays pending, the socket
 * keeps that buffer (no larger than one of Node's pool slabs, which a frame of its own would pin
 * as well) and the next frame gets a new one.
 */
function writeFrame(socket: Socket, parts: readonly Queued[], length: number): boolean {
  const first = parts[0]!;
  const size = frameLength(length);
  if (
    parts.length === 1 ||
    first === lastFirst ||
    sameParts(parts, lastParts) ||
    size > SCRATCH_SIZE ||
    socket.writableLength !== 0
  ) {
    return socket.write(frameParts(parts, length));
  }
  lastFirst = first;
  scratch ??= Buffer.allocUnsafeSlow(SCRATCH_SIZE);
  fillFrame(scratch, parts, length);
  const accepted = socket.write(scratch.subarray(0, size));
  if (socket.writableLength !== 0) scratch = undefined;
  return accepted;
}

/** Bytes of a chunk frame of `length` bytes: hex size, CRLF, the bytes, CRLF. */
function frameLength(length: number): number {
  return length.toString(16).length + length + 4;
}

/**
 * What a connection queued, `length` bytes in all, framed as one HTTP/1.1 chunk like
 * `frameChunk`: event bytes are copied in, text (ASCII: one byte per character) is written in. A
 * burst of broadcasts (or list sends) queues the same events, in the same order, on every
 * connection: once a second connection starts with the same bytes as the one before, its frame is
 * kept and reused, so the burst is framed twice, not once per recipient.
 */
function frameParts(parts: readonly Queued[], length: number): Buffer {
  const first = parts[0]!;
  const shared = first instanceof Uint8Array;
  if (shared && parts.length === 1) return frameChunk(first);
  if (shared && sameParts(parts, lastParts)) return lastPartsFrame;
  const frame = fillFrame(Buffer.allocUnsafe(frameLength(length)), parts, length);
  if (shared && first === lastFirst && allBytes(parts)) {
    lastParts = parts.slice() as Uint8Array[];
    lastPartsFrame = frame;
  }
  lastFirst = first;
  return frame;
}

/** Writes the chunk frame of `parts` at the start of `frame`; returns `frame`. */
function fillFrame(frame: Buffer, parts: readonly Queued[], length: number): Buffer {
  let at = frame.write(length.toString(16), 0, 'latin1');
  frame[at++] = 13;
  frame[at++] = 10;
  at = copyParts(frame, at, parts);
  frame[at++] = 13;
  frame[at] = 10;
  return frame;
}

/** Copies the parts into `target` from `at`; returns where they end. */
function copyParts(target: Buffer, at: number, parts: readonly Queued[]): number {
  for (const part of parts) {
    if (typeof part === 'string') at += target.write(part, at, 'latin1');
    else {
      target.set(part, at);
      at += part.byteLength;
    }
  }
  return at;
}

function sameParts(parts: readonly Queued[], last: readonly Uint8Array[]): boolean {
  if (parts.length !== last.length) return false;
  for (let i = 0; i < parts.length; i++) if (parts[i] !== last[i]) return false;
  return true;
}

function allBytes(parts: readonly Queued[]): boolean {
  for (const part of parts) if (!(part instanceof Uint8Array)) return false;
  return true;
}

/** Streams the server ended whose last bytes are still on their way out. */
const ending = new Set<Writable>();

/**
 * Graceful shutdown of a node:http server with ssehub streams (on SIGTERM): the hub ends every
 * stream after what was queued for it (browsers reconnect, elsewhere), new streams get 503, the
 * last bytes of each stream are flushed to its client (at most `timeoutMs`, default 10 s), and
 * then the server closes with every remaining connection. `server.close()` alone would drop what
 * an ended response still had buffered for a client that is behind.
 *
 * ```ts
 * process.once('SIGTERM', async () => {
 *   await closeGracefully(server, hub);
 *   process.exit(0);
 * });
 * ```
 */
export async function closeGracefully(
  server: Server | Http2Server | Http2SecureServer,
  hub: Pick<Hub, 'close'>,
  options: { readonly timeoutMs?: number } = {},
): Promise<void> {
  await hub.close();
  const flushed = Promise.all(
    [...ending].map(
      (res) =>
        new Promise<void>((resolve) => {
          if (res.writableFinished || res.destroyed) return resolve();
          res.once('finish', () => resolve());
          res.once('close', () => resolve());
        }),
    ),
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    flushed,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.timeoutMs ?? 10_000);
    }),
  ]);
  clearTimeout(timer);
  if ('closeAllConnections' in server) {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return;
  }
  // node:http2 has no closeAllConnections: every session gets GOAWAY (its streams have ended)
  // and is destroyed; an HTTP/1.1 connection of an `allowHTTP1` server is waited for, at most
  // `timeoutMs`.
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const session of sessions)
    if ((session as ServerHttp2Session).server === server) session.destroy();
  await Promise.race([
    closed,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.timeoutMs ?? 10_000);
    }),
  ]);
  clearTimeout(timer);
}

/** Options of `closeIdleConnections`. */
export interface CloseIdleOptions {
  /** How long a connection with no open stream may stay silent, in ms (default 10 000). */
  readonly timeoutMs?: number;
}

/**
 * Bounds what a client that never completes a request costs a node:http2 server, where
 * `headersTimeout` and `requestTimeout` do not apply. Sets `server.setTimeout(timeoutMs)` and
 * answers its `'timeout'` event: an HTTP/2 session that has been silent (no frame either way) for
 * `timeoutMs` is destroyed if no stream of it is open, such as a client that completed the TLS
 * handshake and never sent a request; a session with an open stream (an SSE stream, which may be
 * quiet between heartbeats) is left alone. On an `allowHTTP1` server an HTTP/1.1 connection that
 * is silent for `timeoutMs` is destroyed, such as a client that sent part of a request head and
 * stopped (the adapter clears this timeout on a socket once it carries a stream). Returns the
 * server.
 *
 * A client that keeps dribbling bytes is not silent: the TLS handshake is bounded by
 * `handshakeTimeout`, an HTTP/2 request's headers by `maxHeaderListSize` and `maxSessionMemory`
 * (options of `createSecureServer`).
 */
export function closeIdleConnections<S extends Http2Server | Http2SecureServer>(
  server: S,
  options: CloseIdleOptions = {},
): S {
  const open = new WeakMap<Http2Session, number>();
  server.on('stream', (stream: ServerHttp2Stream) => {
    const session = stream.session;
    if (session === undefined) return;
    open.set(session, (open.get(session) ?? 0) + 1);
    stream.once('close', () => open.set(session, (open.get(session) ?? 1) - 1));
  });
  server.setTimeout(options.timeoutMs ?? 10_000);
  server.on('timeout', (target: Http2Session | Socket) => {
    if ('goaway' in target) {
      if ((open.get(target) ?? 0) === 0) target.destroy();
      return;
    }
    target.destroy();
  });
  return server;
}
