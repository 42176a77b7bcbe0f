/**
 * The fetch transport: an EventSource made of `fetch` and a streaming response body, so that a
 * request can carry headers (`Authorization: Bearer`, `Last-Event-ID`) instead of putting a token
 * in the URL, where access logs and the browser's history keep it.
 *
 * It follows the EventSource processing model of the WHATWG HTML standard
 * (https://html.spec.whatwg.org/multipage/server-sent-events.html): `open` when a 200
 * `text/event-stream` response arrives; when the stream ends or the network fails, `error` with
 * readyState CONNECTING, then a new request after the reconnection time (the server's `retry`)
 * with the last event id as `Last-Event-ID`; any other response fails the connection: `error` with
 * readyState CLOSED, no more retries. One difference: a retry that fails again waits twice as long
 * as the previous one (up to `maxRetryDelay`), where the standard leaves the backoff to the
 * browser.
 */
import { retryAfterOf } from './backoff.js';
import type { EventSourceLike } from './client.js';
import { EventStreamParser } from './parser.js';

/** How a {@link FetchEventSource} connects. */
export interface FetchEventSourceInit {
  /** Request headers, e.g. `authorization`. `accept` and `last-event-id` are set by the source. */
  headers?: Record<string, string>;
  /** Send cookies on cross-origin requests (`credentials: 'include'`). */
  withCredentials?: boolean;
  /** Sent as `Last-Event-ID` on the first request. Default none. */
  lastEventId?: string;
  /** The fetch implementation. Defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** Reconnection time until the server sends `retry`, in ms. Default 3000 (as Chromium's). */
  retry?: number;
  /** Upper bound of the doubled delay after failed retries, in ms. Default 30000. */
  maxRetryDelay?: number;
}

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/** An {@link EventSourceLike} over `fetch`; see the module's comment. */
export class FetchEventSource implements EventSourceLike {
  readonly url: string;
  #readyState = CONNECTING;
  readonly #target = new EventTarget();
  readonly #init: FetchEventSourceInit;
  readonly #fetch: typeof fetch;
  readonly #parser: EventStreamParser;
  #retry: number;
  /** Retries in a row that did not reach `open`. */
  #failures = 0;
  #abort: AbortController | undefined;
  #retryAfterMs: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Starts connecting after the current task, so that listeners can be added first. */
  constructor(url: string, init: FetchEventSourceInit = {}) {
    const fetchImpl = init.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw new TypeError('@ssehub/client: no fetch in this runtime; pass options.fetch.');
    }
    this.url = url;
    this.#init = init;
    this.#fetch = fetchImpl;
    this.#retry = init.retry ?? 3000;
    this.#parser = new EventStreamParser(
      {
        onEvent: (event) => {
          if (this.#readyState !== OPEN) return;
          this.#emit(
            new MessageEvent(event.type, { data: event.data, lastEventId: event.lastEventId }),
          );
        },
        onRetry: (ms) => {
          this.#retry = ms;
        },
      },
      init.lastEventId ?? '',
    );
    this.#timer = setTimeout(() => void this.#connect(), 0);
  }

  /** 0 connecting, 1 open, 2 closed, as EventSource's. */
  get readyState(): number {
    return this.#readyState;
  }

  /** After a 503 or 429 with `Retry-After` ended the source: the wait it asked for, in ms. */
  get retryAfterMs(): number | undefined {
    return this.#retryAfterMs;
  }

  /** The last event id, sent as `Last-Event-ID` on the next request. */
  get lastEventId(): string {
    return this.#parser.lastEventId;
  }

  addEventListener(type: string, listener: (event: MessageEvent) => void): void {
    this.#target.addEventListener(type, listener as EventListener);
  }

  removeEventListener(type: string, listener: (event: MessageEvent) => void): void {
    this.#target.removeEventListener(type, listener as EventListener);
  }

  /** Aborts the request in flight and stops reconnecting. */
  close(): void {
    this.#readyState = CLOSED;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort?.abort();
    this.#abort = undefined;
  }

  async #connect(): Promise<void> {
    this.#timer = undefined;
    if (this.#readyState === CLOSED) return;
    const abort = new AbortController();
    this.#abort = abort;
    // No Cache-Control header (`cache: 'no-store'` does its job): cross-origin, every header
    // that is not CORS-safelisted costs a preflight.
    const headers: Record<string, string> = { ...this.#init.headers, accept: 'text/event-stream' };
    if (this.#parser.lastEventId) headers['last-event-id'] = this.#parser.lastEventId;
    // Called unbound: the browser's fetch throws "Illegal invocation" with another `this`.
    const fetchImpl = this.#fetch;
    let response: Response;
    try {
      response = await fetchImpl(this.url, {
        headers,
        cache: 'no-store',
        credentials: this.#init.withCredentials ? 'include' : 'same-origin',
        signal: abort.signal,
      });
    } catch {
      // A network error (or close()): the standard reconnects.
      this.#reestablish(abort);
      return;
    }
    if (abort.signal.aborted) {
      void response.body?.cancel().catch(() => {});
      return;
    }
    const type = response.headers.get('content-type') ?? '';
    const essence = type.split(';')[0]!.trim().toLowerCase();
    if (response.status !== 200 || essence !== 'text/event-stream' || !response.body) {
      void response.body?.cancel().catch(() => {});
      this.#retryAfterMs = retryAfterOf(response);
      this.#fail();
      return;
    }
    this.#failures = 0;
    this.#readyState = OPEN;
    this.#emit(new Event('open'));
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done || abort.signal.aborted) break;
        this.#parser.feed(decoder.decode(value, { stream: true }));
      }
      if (!abort.signal.aborted) this.#parser.feed(decoder.decode());
    } catch {
      // The body broke off: like its end.
    }
    void reader.cancel().catch(() => {});
    this.#reestablish(abort);
  }

  /** The standard's "reestablish the connection": error, then a new request after a delay. */
  #reestablish(abort: AbortController): void {
    if (this.#readyState === CLOSED || this.#abort !== abort) return;
    this.#abort = undefined;
    this.#parser.reset();
    this.#readyState = CONNECTING;
    this.#emit(new Event('error'));
    // A listener may have closed the source.
    if (this.#readyState !== CONNECTING) return;
    const maxDelay = Math.max(this.#init.maxRetryDelay ?? 30_000, this.#retry);
    const delay = Math.min(maxDelay, this.#retry * 2 ** this.#failures);
    this.#failures++;
    this.#timer = setTimeout(() => void this.#connect(), delay);
  }

  /** The standard's "fail the connection": error with readyState CLOSED, no more requests. */
  #fail(): void {
    this.#abort = undefined;
    this.#readyState = CLOSED;
    this.#emit(new Event('error'));
  }

  #emit(event: Event): void {
    this.#target.dispatchEvent(event);
  }
}
