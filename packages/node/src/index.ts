/**
 * @ssehub/node: the hub's reference routes for node:http and Express.
 *
 * One function, `sseHandler(hub, options)`, returns a `(req, res, next?)` listener that is a
 * node:http request handler and Express middleware at once. Streams are written straight to the
 * `ServerResponse` (no Web Streams): `res.write()`'s return value is the sink's backpressure
 * signal and `'drain'` releases it, so a client that stops reading costs at most the hub's
 * per-connection queue bound.
 *
 * - node:http: https://nodejs.org/api/http.html#class-httpserverresponse
 * - backpressure: https://nodejs.org/en/learn/modules/backpressuring-in-streams
 * - Express middleware: https://expressjs.com/en/guide/writing-middleware.html
 */

import { type IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { AnyEvents, DisconnectReason, EventMap, HandlerOptions, Hub } from '@ssehub/core';
import {
  BodyTooLargeError,
  type Connection,
  createHandler,
  type HubRequest,
  notFoundResponse,
  type PlainResponse,
  type Sink,
  type StreamResponse,
  serverErrorResponse,
} from '@ssehub/core/adapter';

// ---------------------------------------------------------------- types

/** Express's `next`: called with nothing to pass the request on, with an error to fail it. */
export type NextFunction = (error?: unknown) => void;

/**
 * A node:http request listener that is also Express (and Connect) middleware.
 *
 * On one of the hub's routes it answers the request. On any other path it calls `next()` when
 * given one (Express), or answers a JSON 404 (plain node:http).
 */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: NextFunction) => void;

/** Options of `sseHandler`: core's handler options plus how a stream the server ends is closed. */
export interface SSEHandlerOptions extends HandlerOptions {
  /**
   * After the server ends a stream (kick, shutdown), how long a client that is behind gets to
   * read the rest before its socket is destroyed, in ms (default 10 000).
   */
  readonly endTimeoutMs?: number;
}

/** What body parsers (express.json(), body-parser) leave on the request. */
interface ParsedRequest extends IncomingMessage {
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
 */
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options: SSEHandlerOptions = {},
): NodeHandler {
  const handle = createHandler(hub, options);
  const streamOptions = { endTimeoutMs: options.endTimeoutMs };
  return (req, res, next) => {
    const state = { abandoned: false };
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
}

/**
 * Turns a node:http request into core's `HubRequest`. Past the body limit `readBody` sets
 * `state.abandoned`: the answer then closes the connection instead of draining the unread rest.
 */
export function toHubRequest(
  req: IncomingMessage,
  state: { abandoned: boolean } = { abandoned: false },
): HubRequest {
  const parsed = req as ParsedRequest;
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
  req: IncomingMessage,
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
  if (Number(req.headers['content-length']) > limit) {
    state.abandoned = true;
    lingerAfterRefusal(req);
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
        lingerAfterRefusal(req);
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
function lingerAfterRefusal(req: IncomingMessage): void {
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

function writePlain(res: ServerResponse, response: PlainResponse, close = false): void {
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.end();
    return;
  }
  const headers: Record<string, string | number> = { ...response.headers };
  if (response.status !== 204 && response.status !== 304)
    headers['content-length'] = Buffer.byteLength(response.body);
  if (close) headers.connection = 'close';
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
  req: IncomingMessage,
  res: ServerResponse,
  response: StreamResponse,
  options: NodeStreamOptions = {},
): void {
  // The client may have gone while authorize was running: then there is nothing to open.
  if (res.destroyed || req.socket.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(response.status, { ...options.headers, ...response.headers });
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
  res.on('drain', sink.drain);
  if (direct) socket.on('drain', sink.drain);
  res.on('close', sink.closed);
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

  /** Unicast text (printable ASCII): framed and encoded into one buffer, no UTF-8 copy first. */
  writeText(text: string): boolean {
    const { res, socket } = this;
    try {
      if (text.length === 0) return true;
      if (res.writableEnded) return false;
      if (this.direct && (socket as OwnedSocket)._httpMessage === res && socket.writable)
        return socket.write(frameText(text));
      return res.write(text, 'latin1');
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

  /** The `'drain'` listener of the response (and of the socket, on the direct path). */
  readonly drain = (): void => this.connection?.drain();

  /** The response's `'close'` listener. */
  readonly closed = (): void => {
    // A kept-alive socket outlives the response: it must not keep this connection's listener.
    if (this.direct) this.socket.off('drain', this.drain);
    this.connection?.closed();
  };
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

/** `text` (ASCII: one byte per character) framed as one HTTP/1.1 chunk, like `frameChunk`. */
function frameText(text: string): Buffer {
  const size = text.length.toString(16);
  const frame = Buffer.allocUnsafe(size.length + text.length + 4);
  let at = frame.write(size, 0, 'latin1');
  frame[at++] = 13;
  frame[at++] = 10;
  at += frame.write(text, at, 'latin1');
  frame[at++] = 13;
  frame[at] = 10;
  return frame;
}

/** Streams the server ended whose last bytes are still on their way out. */
const ending = new Set<ServerResponse>();

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
  server: Server,
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
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
