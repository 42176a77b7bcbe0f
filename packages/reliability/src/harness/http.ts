/**
 * HTTP/1.1 over raw `net` sockets: the suite writes requests byte for byte (so it can send what a
 * well-behaved client library never would) and reads responses itself (status, headers, chunked
 * bodies and whether the chunked terminator arrived). SSE bodies go through eventsource-parser.
 */

import { connect, type Socket } from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

// ---------------------------------------------------------------- response parsing

export interface ResponseHead {
  readonly status: number;
  readonly headers: Record<string, string>;
}

/** Parses one HTTP/1.1 response incrementally. */
export class ResponseReader {
  head: ResponseHead | undefined;
  /** The body ended as its framing says (chunked terminator, or Content-Length reached). */
  complete = false;
  /** The framing was broken (bad chunk size, bytes after the end). */
  malformed: string | undefined;
  #buffer: Buffer = Buffer.alloc(0);
  #mode: 'head' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'length' | 'close' =
    'head';
  #remaining = 0;

  constructor(private readonly onBody: (chunk: Buffer) => void) {}

  feed(data: Buffer): void {
    if (this.complete) {
      if (data.length > 0) this.malformed ??= 'bytes after the end of the response';
      return;
    }
    this.#buffer = this.#buffer.length === 0 ? data : Buffer.concat([this.#buffer, data]);
    for (;;) {
      const buffer = this.#buffer;
      switch (this.#mode) {
        case 'head': {
          const end = buffer.indexOf('\r\n\r\n');
          if (end === -1) return;
          const lines = buffer.subarray(0, end).toString('latin1').split('\r\n');
          const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
          if (statusMatch === null) {
            this.malformed = `bad status line ${JSON.stringify(lines[0])}`;
            this.complete = true;
            return;
          }
          const headers: Record<string, string> = {};
          for (const line of lines.slice(1)) {
            const colon = line.indexOf(':');
            if (colon > 0) {
              const name = line.slice(0, colon).trim().toLowerCase();
              const value = line.slice(colon + 1).trim();
              headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
            }
          }
          this.head = { status: Number(statusMatch[1]), headers };
          this.#buffer = buffer.subarray(end + 4);
          if (headers['transfer-encoding']?.toLowerCase() === 'chunked') this.#mode = 'chunk-size';
          else if (headers['content-length'] !== undefined) {
            this.#mode = 'length';
            this.#remaining = Number(headers['content-length']);
          } else if (this.head.status === 204 || this.head.status === 304) {
            this.complete = true;
            return;
          } else this.#mode = 'close';
          continue;
        }
        case 'chunk-size': {
          const end = buffer.indexOf('\r\n');
          if (end === -1) return;
          const size = Number.parseInt(buffer.subarray(0, end).toString('latin1'), 16);
          if (!Number.isFinite(size) || size < 0) {
            this.malformed = 'bad chunk size';
            this.complete = true;
            return;
          }
          this.#buffer = buffer.subarray(end + 2);
          if (size === 0) this.#mode = 'trailers';
          else {
            this.#mode = 'chunk-data';
            this.#remaining = size;
          }
          continue;
        }
        case 'chunk-data': {
          if (buffer.length === 0) return;
          const take = Math.min(this.#remaining, buffer.length);
          this.onBody(buffer.subarray(0, take));
          this.#remaining -= take;
          this.#buffer = buffer.subarray(take);
          if (this.#remaining === 0) this.#mode = 'chunk-crlf';
          continue;
        }
        case 'chunk-crlf': {
          if (buffer.length < 2) return;
          if (buffer[0] !== 13 || buffer[1] !== 10) {
            this.malformed = 'chunk not followed by CRLF';
            this.complete = true;
            return;
          }
          this.#buffer = buffer.subarray(2);
          this.#mode = 'chunk-size';
          continue;
        }
        case 'trailers': {
          const end = buffer.indexOf('\r\n');
          if (end === -1) return;
          this.#buffer = buffer.subarray(end + 2);
          if (end === 0) {
            this.complete = true;
            if (this.#buffer.length > 0) this.malformed = 'bytes after the end of the response';
            return;
          }
          continue;
        }
        case 'length': {
          const take = Math.min(this.#remaining, buffer.length);
          if (take > 0) this.onBody(buffer.subarray(0, take));
          this.#remaining -= take;
          this.#buffer = buffer.subarray(take);
          if (this.#remaining === 0) {
            this.complete = true;
            if (this.#buffer.length > 0) this.malformed = 'bytes after the end of the response';
          }
          return;
        }
        case 'close':
          if (buffer.length > 0) this.onBody(buffer);
          this.#buffer = Buffer.alloc(0);
          return;
      }
    }
  }
}

// ---------------------------------------------------------------- plain requests

export interface RawResponse {
  /** 0 when the server closed or reset without a response. */
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly complete: boolean;
  readonly malformed: string | undefined;
  /** The response was still streaming when the request's time was up. */
  readonly timedOut: boolean;
  readonly error: string | undefined;
}

/**
 * Writes `request` (bytes or text, sent as is) on a fresh connection and reads one response.
 * Ends after the response, the connection's close, or `timeoutMs` (e.g. an SSE stream that was
 * opened), destroying the socket in every case.
 */
export function rawRequest(
  port: number,
  request: string | Uint8Array,
  options: {
    timeoutMs?: number;
    halfClose?: boolean;
    /** Ends early once this returns true for the body so far (e.g. a stream's first event). */
    enough?: (body: string) => boolean;
  } = {},
): Promise<RawResponse> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const reader = new ResponseReader((chunk) => chunks.push(Buffer.from(chunk)));
    const socket = connect({ port, host: '127.0.0.1' });
    let error: string | undefined;
    let timedOut = false;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({
        status: reader.head?.status ?? 0,
        headers: reader.head?.headers ?? {},
        body: Buffer.concat(chunks).toString('utf8'),
        complete: reader.complete,
        malformed: reader.malformed,
        timedOut,
        error,
      });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      finish();
    }, options.timeoutMs ?? 5_000);
    socket.on('connect', () => {
      socket.write(request);
      if (options.halfClose) socket.end();
    });
    socket.on('data', (data: Buffer) => {
      reader.feed(data);
      if (reader.complete) finish();
      else if (options.enough?.(Buffer.concat(chunks).toString('utf8'))) finish();
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
      finish();
    });
    socket.on('close', finish);
  });
}

/** A request's text: request line, headers (given as raw lines too), CRLFs, body. */
export function formatRequest(
  method: string,
  target: string,
  headers: Record<string, string> | readonly string[] = {},
  body?: string | Uint8Array,
): Buffer {
  const lines = Array.isArray(headers)
    ? [...headers]
    : Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  if (!lines.some((line) => /^host:/i.test(line))) lines.unshift('Host: 127.0.0.1');
  const bodyBytes = body === undefined ? undefined : Buffer.from(body);
  if (
    bodyBytes !== undefined &&
    !lines.some((line) => /^(content-length|transfer-encoding):/i.test(line))
  )
    lines.push(`Content-Length: ${bodyBytes.length}`);
  if (!lines.some((line) => /^connection:/i.test(line))) lines.push('Connection: close');
  const head = Buffer.from(
    `${method} ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`,
    'latin1',
  );
  return bodyBytes === undefined ? head : Buffer.concat([head, bodyBytes]);
}

/** POSTs JSON (or any text) and reads the answer. */
export async function postJson(
  port: number,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse & { json: unknown }> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await rawRequest(
    port,
    formatRequest('POST', path, { 'Content-Type': 'application/json', ...headers }, text),
  );
  return { ...response, json: parseJson(response.body) };
}

export async function getJson(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawResponse & { json: unknown }> {
  const response = await rawRequest(port, formatRequest('GET', path, headers));
  return { ...response, json: parseJson(response.body) };
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------- SSE streams

export interface SseClient {
  readonly socket: Socket;
  /** Resolves with the head (or status 0 when the connection ended without one). */
  readonly ready: Promise<ResponseHead>;
  head: ResponseHead | undefined;
  /** Parsed events (kept unless `keepEvents: false`). */
  readonly events: EventSourceMessage[];
  readonly comments: string[];
  readonly retries: number[];
  /** The decoded body as text. */
  text: string;
  /** The chunked terminator arrived: the server ended the stream cleanly. */
  cleanEnd: boolean;
  /** The socket closed (for any reason). */
  closed: boolean;
  malformed: string | undefined;
  /** Resolves once the socket is closed. */
  readonly done: Promise<void>;
  waitFor(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  /** Closes cleanly (FIN). */
  end(): void;
  /** Resets the connection (RST). */
  reset(): void;
}

export interface SseOptions {
  /** Header values are written byte for byte: one character, one byte (latin1). */
  readonly headers?: Record<string, string>;
  /** Called for each event with the wall-clock time (ms, sub-ms precision) it was read. */
  readonly onEvent?: (event: EventSourceMessage, receivedAt: number) => void;
  readonly keepEvents?: boolean;
  readonly keepText?: boolean;
}

/** Opens `GET path` as an event stream on a raw socket. */
export function openSse(port: number, path: string, options: SseOptions = {}): SseClient {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.setNoDelay(true);
  const keepEvents = options.keepEvents ?? true;
  const keepText = options.keepText ?? true;
  const decoder = new TextDecoder();
  let resolveReady!: (head: ResponseHead) => void;
  let resolveDone!: () => void;
  const client: SseClient = {
    socket,
    ready: new Promise((r) => (resolveReady = r)),
    head: undefined,
    events: [],
    comments: [],
    retries: [],
    text: '',
    cleanEnd: false,
    closed: false,
    malformed: undefined,
    done: new Promise((r) => (resolveDone = r)),
    async waitFor(check, timeoutMs = 10_000, what = 'a condition') {
      const deadline = Date.now() + timeoutMs;
      while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        if (client.closed && !check()) throw new Error(`stream closed while waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    end() {
      socket.end();
    },
    reset() {
      socket.resetAndDestroy();
    },
  };
  let receivedAt = 0;
  const parser = createParser({
    onEvent: (event) => {
      if (keepEvents) client.events.push(event);
      options.onEvent?.(event, receivedAt);
    },
    onComment: (comment) => {
      if (keepEvents) client.comments.push(comment);
    },
    onRetry: (retry) => client.retries.push(retry),
  });
  const reader = new ResponseReader((chunk) => {
    const text = decoder.decode(chunk, { stream: true });
    if (keepText) client.text += text;
    parser.feed(text);
  });
  const headers = Object.entries(options.headers ?? {})
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.on('connect', () => {
    // latin1: each character is one byte, so a header given as bytes (e.g. UTF-8 read as
    // latin1) goes out exactly as given.
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${headers}\r\n`,
      'latin1',
    );
  });
  socket.on('data', (data: Buffer) => {
    receivedAt = performance.timeOrigin + performance.now();
    const hadHead = reader.head !== undefined;
    reader.feed(data);
    if (!hadHead && reader.head !== undefined) {
      client.head = reader.head;
      resolveReady(reader.head);
    }
    if (reader.complete) client.cleanEnd = reader.malformed === undefined;
    client.malformed = reader.malformed;
  });
  socket.on('error', () => {});
  socket.on('close', () => {
    client.closed = true;
    resolveReady({ status: 0, headers: {} });
    resolveDone();
  });
  return client;
}
