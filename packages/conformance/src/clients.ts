/**
 * The suite's clients, each an independent implementation:
 * - `openRaw`: fetch, with the bytes kept and parsed by `eventsource-parser` (for byte checks);
 * - `openEventSource('eventsource', ...)`: the npm `eventsource` package (v4, WHATWG-style);
 * - `openEventSource('undici', ...)`: undici's `EventSource`;
 * - `openChromiumEventSource`: the `EventSource` of a page in Debian's Chromium;
 * - `openPaused`: node:http, paused after the headers (a client that stops reading).
 *
 * Against an `https:` origin (a fixture with `tls`, self-signed certificate) every client speaks
 * HTTP/2: fetch and both EventSources through an undici agent with `allowH2`, `openPaused` with
 * Node's own http2 client, Chromium with `--ignore-certificate-errors`.
 */

import { get } from 'node:http';
import { connect as connectHttp2 } from 'node:http2';
import { EventSource as NpmEventSource } from 'eventsource';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { type Browser, chromium } from 'playwright-core';
import { Agent, EventSource as UndiciEventSource, fetch as undiciFetch } from 'undici';
import { CHROMIUM_ARGS, ensureChromium } from './chromium.js';

// ---------------------------------------------------------------- waiting

/** Polls `check` until it is true (no fixed sleeps); fails naming `what` after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// ---------------------------------------------------------------- fetch, over HTTP/2 for https

/**
 * HTTP/2 over TLS (ALPN), trusting the test's self-signed certificate. undici keeps one
 * connection per origin and multiplexes every request on it.
 */
const http2Agent = new Agent({
  allowH2: true,
  connect: { rejectUnauthorized: false },
  // Streams wait on the heartbeat for seconds; never cut a quiet body.
  bodyTimeout: 0,
});

/** `fetch`, over HTTP/2 (undici, `allowH2`) for an `https:` URL. */
export function suiteFetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
  if (!String(url).startsWith('https:')) return fetch(url, init);
  return undiciFetch(url, {
    ...(init as Parameters<typeof undiciFetch>[1]),
    dispatcher: http2Agent,
  }) as unknown as Promise<Response>;
}

// ---------------------------------------------------------------- raw fetch reader

export interface RawStream {
  readonly status: number;
  readonly headers: Headers;
  /** Parsed events, in order. */
  readonly events: EventSourceMessage[];
  readonly comments: string[];
  readonly retries: number[];
  /** Every byte received, decoded as UTF-8. */
  text: string;
  /** The whole body when the answer was not a stream (errors). */
  body: string;
  ended: boolean;
  /** The first event (from the start) that matches. */
  next(
    match: (event: EventSourceMessage) => boolean,
    what?: string,
    timeoutMs?: number,
  ): Promise<EventSourceMessage>;
  close(): void;
}

/** Opens a stream with fetch and reads it in the background. */
export async function openRaw(
  url: string,
  headers: Record<string, string> = {},
): Promise<RawStream> {
  const abort = new AbortController();
  const response = await suiteFetch(url, { headers, signal: abort.signal });
  const stream: RawStream = {
    status: response.status,
    headers: response.headers,
    events: [],
    comments: [],
    retries: [],
    text: '',
    body: '',
    ended: false,
    async next(match, what = 'an event', timeoutMs = 10_000) {
      let found: EventSourceMessage | undefined;
      await waitFor(
        () => (found = stream.events.find(match)) !== undefined || stream.ended,
        what,
        timeoutMs,
      );
      if (found === undefined)
        throw new Error(`the stream ended before ${what}; received:\n${stream.text}`);
      return found;
    },
    close() {
      abort.abort();
    },
  };
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
    stream.body = await response.text();
    stream.ended = true;
    return stream;
  }
  const parser = createParser({
    onEvent: (event) => stream.events.push(event),
    onComment: (comment) => stream.comments.push(comment),
    onRetry: (retry) => stream.retries.push(retry),
  });
  const decoder = new TextDecoder();
  void (async () => {
    try {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        const text = decoder.decode(chunk, { stream: true });
        stream.text += text;
        parser.feed(text);
      }
    } catch {
      // Aborted by close(), or the connection broke: either way the stream is over.
    }
    stream.ended = true;
  })();
  return stream;
}

// ---------------------------------------------------------------- EventSource clients

export type EventSourceKind = 'eventsource' | 'undici';

export interface ReceivedEvent {
  readonly type: string;
  readonly data: string;
  readonly lastEventId: string;
}

export interface EventSourceClient {
  readonly events: ReceivedEvent[];
  /** `open` events seen (one per (re)connection). */
  opens: number;
  errors: number;
  close(): void;
}

interface EventSourceLike {
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
}

/**
 * Opens an EventSource of either implementation and records the listed event types.
 * `headers` are sent through the npm package's custom `fetch` (undici's EventSource cannot).
 */
export function openEventSource(
  kind: EventSourceKind,
  url: string,
  types: readonly string[],
  headers?: Record<string, string>,
): EventSourceClient {
  let source: EventSourceLike;
  if (kind === 'eventsource') {
    source = new NpmEventSource(url, {
      fetch: (input, init) =>
        suiteFetch(String(input), {
          ...init,
          headers: { ...(init?.headers ?? {}), ...headers },
        } as RequestInit),
    }) as unknown as EventSourceLike;
  } else {
    if (headers) throw new Error("undici's EventSource cannot send headers");
    source = new UndiciEventSource(
      url,
      url.startsWith('https:') ? { dispatcher: http2Agent } : {},
    ) as unknown as EventSourceLike;
  }
  const client: EventSourceClient = {
    events: [],
    opens: 0,
    errors: 0,
    close: () => source.close(),
  };
  source.addEventListener('open', () => client.opens++);
  source.addEventListener('error', () => client.errors++);
  for (const type of types) {
    source.addEventListener(type, (event) =>
      client.events.push({ type, data: String(event.data), lastEventId: event.lastEventId }),
    );
  }
  return client;
}

// ---------------------------------------------------------------- Chromium's EventSource

let browser: Promise<Browser> | undefined;

let path: string | undefined | null = null;

/**
 * Chromium's path, or undefined (with a loud message) where it cannot be had. Looked up (and
 * installed when missing) on the first call, not when this module loads.
 */
export function chromiumPath(): string | undefined {
  if (path === null) path = ensureChromium();
  return path;
}

/**
 * Opens `url` with the `EventSource` of a page in Chromium and mirrors the listed event types
 * into `events` here as they arrive. The page is first navigated to the stream's origin, so the
 * stream is same-origin (no CORS in the way). One browser serves every call; `closeChromium()`
 * ends it.
 */
export async function openChromiumEventSource(
  url: string,
  types: readonly string[],
): Promise<EventSourceClient> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) throw new Error('Chromium is not available');
  const page = await (await launchChromium()).newPage();
  const client: EventSourceClient = {
    events: [],
    opens: 0,
    errors: 0,
    close: () => {
      page.close().catch(() => {});
    },
  };
  await page.exposeFunction('ssehubReport', (type: string, data: string, lastEventId: string) => {
    if (type === 'open') client.opens++;
    else if (type === 'error') client.errors++;
    else client.events.push({ type, data, lastEventId });
  });
  await page.goto(new URL('/', url).href);
  await page.evaluate(
    ({ url, types }) => {
      const report = (window as unknown as { ssehubReport: (...a: string[]) => void }).ssehubReport;
      const source = new EventSource(url);
      source.addEventListener('open', () => report('open', '', ''));
      source.addEventListener('error', () => report('error', '', ''));
      for (const type of types) {
        source.addEventListener(type, (event) =>
          report(type, String(event.data), event.lastEventId),
        );
      }
    },
    { url, types },
  );
  return client;
}

/**
 * The suite's one browser (started on the first call). It accepts the test's self-signed
 * certificate, so that `https:` fixtures are reached over TLS, where Chromium speaks HTTP/2.
 */
export function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) throw new Error('Chromium is not available');
  browser ??= chromium.launch({
    executablePath,
    args: [...CHROMIUM_ARGS, '--ignore-certificate-errors'],
  });
  return browser;
}

/** Ends the browser of `openChromiumEventSource`, if one was started. */
export async function closeChromium(): Promise<void> {
  const started = browser;
  browser = undefined;
  await (await started)?.close();
}

// ---------------------------------------------------------------- a client that stops reading

export interface PausedStream {
  readonly events: EventSourceMessage[];
  ended: boolean;
  /** Starts reading again. */
  resume(): void;
  close(): void;
}

/**
 * Opens a stream with node:http and stops reading right after the `connected` event: node then
 * stops reading the socket, the kernel buffers fill, and the server sees backpressure.
 */
export function openPaused(url: string): Promise<PausedStream> {
  if (url.startsWith('https:')) return openPausedHttp2(url);
  return new Promise((resolve, reject) => {
    const request = get(url, { agent: false }, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`stream answered ${response.statusCode}`));
        response.resume();
        return;
      }
      const stream: PausedStream = {
        events: [],
        ended: false,
        resume: () => response.resume(),
        close: () => request.destroy(),
      };
      const parser = createParser({
        onEvent: (event) => {
          stream.events.push(event);
          if (event.event === 'connected') {
            response.pause();
            resolve(stream);
          }
        },
      });
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => parser.feed(chunk));
      const end = () => {
        stream.ended = true;
      };
      response.on('end', end);
      response.on('close', end);
      response.on('error', end);
    });
    request.on('error', reject);
  });
}

/**
 * `openPaused` over HTTP/2 (Node's http2 client, its own connection): a paused stream stops
 * granting flow-control window, so the server's writes to it block after about 64 KiB.
 */
function openPausedHttp2(url: string): Promise<PausedStream> {
  const target = new URL(url);
  const session = connectHttp2(target.origin, { rejectUnauthorized: false });
  session.on('error', () => {});
  return new Promise((resolve, reject) => {
    const request = session.request({ ':path': `${target.pathname}${target.search}` });
    const stream: PausedStream = {
      events: [],
      ended: false,
      resume: () => request.resume(),
      close: () => session.destroy(),
    };
    request.on('response', (headers) => {
      if (headers[':status'] !== 200) {
        reject(new Error(`stream answered ${headers[':status']}`));
        session.destroy();
      }
    });
    const parser = createParser({
      onEvent: (event) => {
        stream.events.push(event);
        if (event.event === 'connected') {
          request.pause();
          resolve(stream);
        }
      },
    });
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => parser.feed(chunk));
    const end = () => {
      stream.ended = true;
    };
    request.on('end', end);
    request.on('close', end);
    request.on('error', (error) => {
      end();
      reject(error);
    });
  });
}
