import { backoffDelay, type ReconnectOptions, resolveReconnect, retryAfterOf } from './backoff.js';
import { FetchEventSource } from './fetch-source.js';
import {
  RecentIds,
  type SharedEvent,
  type SharedHost,
  SharedStream,
  sharingAvailable,
} from './shared.js';
import {
  lastEventIdOf,
  queryParam,
  streamKey,
  tokenExpiry,
  withLastEventId,
  withQueryParam,
} from './url.js';

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/**
 * Maps an event name to the type of its JSON payload. Declare it once and use it on the server
 * and in the browser:
 *
 * ```ts
 * type Events = {
 *   notification: { title: string; content: string };
 *   task_progress: { taskId: string; percent: number };
 * };
 * ```
 */
export type EventMap = Record<string, unknown>;

/** The payload of ssehub's built-in `connected` event, sent first on every connection. */
export interface ConnectedData {
  /** The client's id within its group. */
  id: string;
  /** The client's group. */
  group: string;
  /** Identifies this one connection; a reconnect gets a new one. */
  connectionId: string;
  [key: string]: unknown;
}

/**
 * The payload of ssehub's built-in `reset` event: the server's replay history no longer covers
 * the client's Last-Event-ID, so events may have been lost and the app should refetch its state.
 */
export interface ResetData {
  /** The Last-Event-ID the client asked to resume from. */
  lastEventId?: string;
  /** Why, e.g. `history-gap`. */
  reason?: string;
  [key: string]: unknown;
}

/** Events every ssehub stream may carry, besides the app's own. */
export interface BuiltinEvents {
  /** Sent by the server first on every (re)connection. */
  connected: ConnectedData;
  /** Sent when events were lost across a reconnect; refetch state. */
  reset: ResetData;
  /** Events sent without an `event:` field. */
  message: unknown;
}

/** The app's events plus the built-in ones; the app's declaration wins on a name clash. */
export type ClientEvents<M extends EventMap> = M & Omit<BuiltinEvents, keyof M>;

/** Names a client can listen for. */
export type EventName<M extends EventMap> = keyof ClientEvents<M> & string;

/** Facts about one received event, passed to listeners beside its parsed data. */
export interface EventMeta {
  /**
   * The event's id or, when it has none, the last id seen on this connection (as the SSE spec's
   * `MessageEvent.lastEventId`); `''` when there was none.
   */
  id: string;
  /** The event's name (`message` when the server sent no `event:` field). */
  type: string;
  /** The `data` exactly as received, before parsing. */
  raw: string;
}

/** Receives an event's parsed data and its {@link EventMeta}. */
export type Listener<T> = (data: T, meta: EventMeta) => void;

/** Removes what it was returned for. Calling it twice is harmless. */
export type Unsubscribe = () => void;

/**
 * Where the connection stands:
 * - `connecting`: the first connection attempt;
 * - `open`: connected, events flow;
 * - `reconnecting`: the connection dropped; the browser or the client is retrying;
 * - `closed`: {@link SSEClient.close} was called, or retrying was given up. Final.
 */
export type ClientStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/**
 * Who holds this client's connection:
 * - `single`: the client itself (not shared, or sharing is not available in this runtime);
 * - `leader`: the client itself, on behalf of every tab that shares the stream;
 * - `follower`: another tab's client, whose events this one receives.
 */
export type ClientRole = 'single' | 'leader' | 'follower';

/** How the client connects; see {@link ClientOptions.transport}. */
export type ClientTransport = 'eventsource' | 'fetch';

/**
 * The part of the EventSource interface the client uses, so that the browser's EventSource, the
 * npm `eventsource` package and polyfills all fit.
 */
export interface EventSourceLike {
  /** 0 connecting, 1 open, 2 closed. */
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  removeEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
  /**
   * After a refusal with `Retry-After` (503 or 429), the wait it asked for, in ms. Set by the
   * `fetch` transport, which can read the response; an EventSource cannot.
   */
  readonly retryAfterMs?: number | undefined;
}

/** A constructor of {@link EventSourceLike}, such as `globalThis.EventSource`. */
export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean },
) => EventSourceLike;

/** Options of {@link SSEClient}. All optional. */
export interface ClientOptions {
  /**
   * How the client connects:
   * - `eventsource` (default): the runtime's EventSource (or `options.EventSource`). A token
   *   goes in the URL's `token` query parameter and the resume point in `lastEventId`, because
   *   EventSource cannot send headers.
   * - `fetch`: a `fetch` request with a streaming body, which the client parses itself, as the
   *   WHATWG standard says. The token goes in `Authorization: Bearer <token>` and the resume point
   *   in `Last-Event-ID`: neither is in the URL, so neither ends up in access logs or the
   *   browser's history. A `token` or `lastEventId` query parameter of `url` is moved into those
   *   headers. It reconnects by itself after the server's `retry` delay (doubled after each failed
   *   attempt in a row, up to `reconnect.maxDelay`), like EventSource; an HTTP error status or a
   *   response that is not `text/event-stream` ends it, and `reconnect` takes over. Cross-origin,
   *   the server's CORS must allow the `Authorization` and `Last-Event-ID` headers (ssehub's
   *   does).
   */
  transport?: ClientTransport;
  /** The EventSource implementation to use. Defaults to `globalThis.EventSource`. */
  EventSource?: EventSourceConstructor;
  /** The fetch implementation of the `fetch` transport. Defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /**
   * A stream token that does not change: sent as `Authorization: Bearer` with the `fetch`
   * transport, as the `token` query parameter with `eventsource`. `getToken` replaces it.
   */
  token?: string;
  /**
   * Share one connection among all tabs (and clients) of this origin that open the same stream
   * (same URL, whatever its `token` and `lastEventId`). One tab, the leader, connects; the others
   * receive its events over a BroadcastChannel. When the leader's tab closes or crashes, another
   * tab takes over and reconnects from the last event id it saw, and every tab drops the events
   * the handover would repeat: no event is lost or delivered twice (within the server's history).
   * Status, `reset`, `lastEventId` and listeners work as without sharing; only the leader calls
   * `getToken`. When the leader gives up (status `closed`), every tab's client closes.
   *
   * It needs the Web Locks API and BroadcastChannel; where either is missing, the client makes
   * its own connection (see {@link SSEClient.role}). Each browser opens at most six HTTP/1.1
   * connections per host: sharing keeps a stream open in every tab on one of them.
   */
  shared?: boolean;
  /** Send cookies on cross-origin requests (EventSource's `withCredentials`). */
  withCredentials?: boolean;
  /**
   * Resume from this event id on the first connection, e.g. one saved in `sessionStorage`.
   * Sent as the `lastEventId` query parameter. Defaults to that parameter of the URL, if any.
   */
  lastEventId?: string;
  /**
   * What to do when the EventSource gives up (readyState CLOSED after an error, e.g. on an HTTP
   * error status). The browser retries dropped connections by itself; this covers the rest.
   * `true` (default) or options: reconnect with capped exponential backoff and jitter, passing
   * {@link SSEClient.lastEventId} as the `lastEventId` query parameter. `false`: become `closed`.
   */
  reconnect?: boolean | ReconnectOptions;
  /**
   * Turns an event's raw `data` into the value listeners receive. Defaults to `JSON.parse`,
   * falling back to the raw string when the data is not JSON. If it throws, listeners get the
   * raw string.
   */
  parse?: (raw: string, type: string) => unknown;
  /**
   * Called when a listener throws; the remaining listeners still run. Defaults to
   * `globalThis.reportError` (the browser logs it as uncaught), else a rethrow on a timer.
   */
  onListenerError?: (error: unknown, meta: EventMeta) => void;
  /**
   * Where stream tokens come from, for a server that needs one (`jwtSecret` or `authorize`).
   * Called before the first connection and before every reconnect the client makes; the token
   * goes into the URL's `token` query parameter (EventSource cannot send headers), replacing any
   * token already there, or with `transport: 'fetch'` into an `Authorization: Bearer` header. In
   * shared mode only the tab that holds the connection calls it.
   *
   * With it, the client takes over every reconnect from the browser, because the browser would
   * retry with the token it has: when the server ends the stream as the token expires, or
   * refuses it (401), the client fetches a fresh token and reconnects with
   * {@link SSEClient.lastEventId}, so the server replays exactly what was missed: no event is
   * lost or repeated across a refresh (as long as the server's history covers the gap, else a
   * `reset` event says so). The first reconnect after an expired token is immediate; further
   * failures back off as `reconnect` says. A `getToken` that throws or rejects is reported to
   * `onError` and retried with the same backoff (status `reconnecting`). With `reconnect: false`
   * the token is fetched once: the browser's own retries reuse it, and a refusal is final.
   *
   * When the token is a JWT, its `exp` is read (not verified: that is the server's job) and the
   * client refreshes ahead of it, see `refreshBeforeExpiry`.
   *
   * @example
   * ```ts
   * createClient(streamUrl('/api/v1/sse', { group: 'users', id: userId }), {
   *   getToken: async () => (await fetch('/api/sse-token')).text(),
   * });
   * ```
   */
  getToken?: () => string | Promise<string>;
  /**
   * With `getToken` and a JWT: once three quarters of the token's lifetime (from when it was
   * fetched to its `exp`) have passed, fetch a new token while the stream is still open, then
   * switch to a new connection that resumes from {@link SSEClient.lastEventId}: no gap while the
   * browser notices the end. Default `true`. `false`: refresh only when the stream ends or is
   * refused. Status stays `open` across a successful switch. Off when `reconnect` is `false`.
   */
  refreshBeforeExpiry?: boolean;
  /**
   * Called with errors the client survives: `getToken` throwing or rejecting (or not giving a
   * non-empty string). Defaults to `globalThis.reportError`, like listener errors.
   */
  onError?: (error: unknown) => void;
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

const CONNECTING = 0;
const CLOSED = 2;
/** setTimeout's largest delay (2^31 − 1 ms); a larger one fires at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

interface Entry {
  listener: Listener<never>;
  once: boolean;
}

/** Names the client always listens for natively, to track ids, `connected` and `reset`. */
const ALWAYS_OBSERVED = ['connected', 'reset'] as const;

/**
 * A typed wrapper over EventSource for one ssehub stream.
 *
 * It connects on construction, parses each event's JSON `data`, dispatches it to listeners typed
 * by the app's {@link EventMap}, tracks the status and the last event id, and reconnects with the
 * last event id when the EventSource gives up.
 *
 * @typeParam M - The app's events, e.g. `{ notification: { title: string } }`.
 * @example
 * ```ts
 * const client = new SSEClient<Events>(streamUrl('/api/v1/sse', { group: 'notifications', id: userId }));
 * const off = client.on('notification', (n) => show(n.title));
 * client.onReset(() => refetchAll());
 * client.onStatus((status) => render(status));
 * // later
 * client.close();
 * ```
 */
export class SSEClient<M extends EventMap = EventMap> {
  /** The URL given to the constructor (without the `lastEventId` the client may add). */
  readonly url: string;

  readonly #options: ClientOptions;
  /** What the client connects to: with `fetch`, `url` without `token` and `lastEventId`. */
  readonly #target: string;
  readonly #EventSource: EventSourceConstructor | undefined;
  readonly #fetch: typeof fetch | undefined;
  /** The `token` option, or with `fetch` the URL's token. */
  readonly #fixedToken: string | undefined;
  readonly #reconnect: Required<ReconnectOptions> | undefined;
  readonly #listeners = new Map<string, Set<Entry>>();
  /** One native listener per name, added to every EventSource the client creates. */
  readonly #native = new Map<string, (event: MessageEvent) => void>();
  readonly #statusListeners = new Set<(status: ClientStatus) => void>();
  #source: EventSourceLike | undefined;
  #status: ClientStatus = 'connecting';
  #lastEventId: string;
  #connection: ConnectedData | undefined;
  #attempt = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** With `getToken`: the token in use, when it expires (ms, from a JWT's `exp`), when fetched. */
  #token: string | undefined;
  #tokenExpiresAt: number | undefined;
  #tokenFetchedAt = 0;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by every token request and by `close()`: a stale answer is dropped. */
  #tokenRequest = 0;
  /** In shared mode: the tab's part of the stream, and the ids of recent events. */
  #shared: SharedStream | undefined;
  readonly #seen: RecentIds | undefined;
  /** Names other tabs listen for, observed while leading. */
  readonly #remote = new Set<string>();
  /** The last event id of the current connection, to tell the events that carry their own. */
  #sourceLastId = '';
  /** The URL of the current EventSource, for the probe after it gives up. */
  #sourceUrl: string | undefined;
  /** Bumped by every probe, reconnect and `close()`: a stale answer is dropped. */
  #probeSeq = 0;
  #probeAbort: AbortController | undefined;
  /** The current connection's `connected` event, for tabs that join. */
  #connectedEvent: SharedEvent | undefined;

  /**
   * Connects to `url` right away (in shared mode: joins the tabs that share it).
   *
   * @throws TypeError when the transport is missing: no EventSource (pass `options.EventSource`)
   *   or, with `transport: 'fetch'`, no fetch (pass `options.fetch`).
   */
  constructor(url: string, options: ClientOptions = {}) {
    const transport = options.transport ?? 'eventsource';
    if (transport === 'fetch') {
      const fetchImpl = options.fetch ?? globalThis.fetch;
      if (typeof fetchImpl !== 'function') {
        throw new TypeError('@ssehub/client: no fetch in this runtime; pass options.fetch.');
      }
      this.#fetch = fetchImpl;
      this.#target = withQueryParam(
        withQueryParam(url, 'token', undefined),
        'lastEventId',
        undefined,
      );
      this.#fixedToken = options.token ?? queryParam(url, 'token');
    } else if (transport === 'eventsource') {
      this.#EventSource =
        options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
      if (!this.#EventSource) {
        throw new TypeError(
          "@ssehub/client: no EventSource in this runtime; pass options.EventSource (e.g. from the `eventsource` package), or use transport: 'fetch'.",
        );
      }
      this.#target = url;
      this.#fixedToken = options.token;
    } else {
      throw new TypeError(
        `@ssehub/client: unknown transport ${JSON.stringify(transport)}; use 'eventsource' or 'fetch'.`,
      );
    }
    this.url = url;
    this.#options = options;
    this.#reconnect = resolveReconnect(options.reconnect);
    this.#lastEventId = options.lastEventId ?? lastEventIdOf(url) ?? '';
    for (const name of ALWAYS_OBSERVED) this.#observe(name);
    let shared: SharedStream | undefined;
    if (options.shared && sharingAvailable()) {
      try {
        shared = new SharedStream(streamKey(url), this.#sharedHost, this.#native.keys());
      } catch {
        // E.g. a BroadcastChannel the runtime refuses: connect alone.
      }
    }
    this.#shared = shared;
    this.#seen = shared && new RecentIds();
    if (!shared) this.#connect();
  }

  /**
   * Who holds the connection: `single` (this client, unshared), `leader` (this client, for
   * every tab sharing the stream) or `follower` (another tab; a client waiting for its turn to
   * lead is a follower too).
   */
  get role(): ClientRole {
    return this.#shared?.role ?? 'single';
  }

  /** Where the connection stands. */
  get status(): ClientStatus {
    return this.#status;
  }

  /**
   * The id of the last event received that carried one (`''` before any). Sent on the client's
   * own reconnects so the server can replay what was missed; save it to resume after a reload.
   * Only events of names someone listens for (plus `connected` and `reset`) are seen.
   */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** The payload of the latest `connected` event, `undefined` before the first. */
  get connection(): ConnectedData | undefined {
    return this.#connection;
  }

  /**
   * Calls `listener` with the parsed data of every `name` event.
   *
   * @returns A function that removes the listener.
   */
  on<K extends EventName<M>>(name: K, listener: Listener<ClientEvents<M>[K]>): Unsubscribe {
    return this.#add(name, listener, false);
  }

  /**
   * Like {@link SSEClient.on}, but only for the next `name` event.
   *
   * @returns A function that removes the listener if it has not run yet.
   */
  once<K extends EventName<M>>(name: K, listener: Listener<ClientEvents<M>[K]>): Unsubscribe {
    return this.#add(name, listener, true);
  }

  /** Removes `listener` from `name` (added with `on` or `once`). Unknown listeners are ignored. */
  off<K extends EventName<M>>(name: K, listener: Listener<ClientEvents<M>[K]>): void {
    const entries = this.#listeners.get(name);
    if (!entries) return;
    for (const entry of entries) if (entry.listener === listener) entries.delete(entry);
    this.#unobserveIfUnused(name);
  }

  /**
   * Calls `listener` when the server reports that events were lost (the built-in `reset`
   * event): its history no longer reaches back to {@link SSEClient.lastEventId}. Refetch the
   * state the events would have updated.
   */
  onReset(listener: Listener<ClientEvents<M>['reset']>): Unsubscribe {
    return this.on('reset', listener);
  }

  /** Calls `listener` on every change of {@link SSEClient.status}; not for the current one. */
  onStatus(listener: (status: ClientStatus) => void): Unsubscribe {
    this.#statusListeners.add(listener);
    return () => {
      this.#statusListeners.delete(listener);
    };
  }

  /**
   * Closes the connection for good and stops reconnecting. Listeners stay registered. In shared
   * mode the client leaves the stream: when it led, another tab takes over.
   */
  close(): void {
    // First, so that `closed` is not posted to the other tabs: they carry on without this one.
    const shared = this.#shared;
    this.#shared = undefined;
    shared?.leave();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#tokenRequest++;
    this.#endProbe();
    this.#detach();
    this.#setStatus('closed');
  }

  // --- connection -----------------------------------------------------------------------------

  /** Opens a connection, first fetching a token when `getToken` is set. */
  #connect(): void {
    const getToken = this.#options.getToken;
    if (!getToken) {
      this.#open();
      return;
    }
    this.#fetchToken(
      getToken,
      () => this.#openOrClose(),
      (error) => this.#retry(error),
    );
  }

  /** `#connect`, for callers where a throw would be lost (see `#openOrClose`). */
  #connectOrClose(): void {
    if (this.#options.getToken) this.#connect();
    else this.#openOrClose();
  }

  /**
   * Opens, or gives up for good when the EventSource constructor throws (e.g. it rejects the
   * URL: nothing will ever succeed). For opens that run later, where a throw would be lost.
   */
  #openOrClose(): void {
    try {
      this.#open();
    } catch (error) {
      this.#setStatus('closed');
      this.#reportError(error, { id: this.#lastEventId, type: 'error', raw: '' });
    }
  }

  /**
   * Calls `getToken`; on a usable token stores it and calls `then` (synchronously when
   * `getToken` did not return a promise), else `failed`. Answers that `close()` or a newer
   * request made stale are dropped.
   */
  #fetchToken(
    getToken: () => string | Promise<string>,
    then: () => void,
    failed: (error: unknown) => void,
  ): void {
    const request = ++this.#tokenRequest;
    const settle = (token: unknown) => {
      if (request !== this.#tokenRequest) return;
      if (typeof token !== 'string' || token === '') {
        failed(new TypeError('@ssehub/client: getToken must give a non-empty string.'));
        return;
      }
      this.#token = token;
      this.#tokenExpiresAt = tokenExpiry(token);
      this.#tokenFetchedAt = Date.now();
      then();
    };
    const fail = (error: unknown) => {
      if (request === this.#tokenRequest) failed(error);
    };
    let result: string | Promise<string>;
    try {
      result = getToken();
    } catch (error) {
      fail(error);
      return;
    }
    if (typeof result === 'string') settle(result);
    else Promise.resolve(result).then(settle, fail);
  }

  /** A token request failed: report it, then retry with backoff (or give up, `closed`). */
  readonly #retry = (error: unknown): void => {
    this.#reportClientError(error);
    this.#scheduleReconnect(false);
  };

  /**
   * Reconnects after a delay: the server's `Retry-After` (plus up to a second of jitter) when it
   * gave one, none for the first attempt after an expired token (the usual refresh), else the
   * backoff of the attempt. Gives up (`closed`) past `maxAttempts`.
   */
  #scheduleReconnect(tokenExpired: boolean, retryAfterMs?: number): void {
    const reconnect = this.#reconnect;
    if (!reconnect || this.#attempt >= reconnect.maxAttempts) {
      this.#setStatus('closed');
      return;
    }
    // A server's Retry-After is whole seconds: a random part of a second spreads the clients it
    // gave the same answer.
    const delay =
      retryAfterMs !== undefined
        ? retryAfterMs + Math.round(Math.random() * 1000)
        : tokenExpired && this.#attempt === 0
          ? 0
          : backoffDelay(reconnect, this.#attempt);
    this.#attempt++;
    this.#setStatus('reconnecting');
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#endProbe();
      this.#connectOrClose();
    }, delay);
  }

  /** Whether the token in use has expired, by its `exp` (with a second of slack for clock skew). */
  #tokenExpired(): boolean {
    return this.#tokenExpiresAt !== undefined && Date.now() >= this.#tokenExpiresAt - 1000;
  }

  /** Plans the refresh ahead of the token's expiry (see `refreshBeforeExpiry`). */
  #planRefresh(): void {
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = undefined;
    const getToken = this.#options.getToken;
    const expiresAt = this.#tokenExpiresAt;
    const off = !this.#reconnect || this.#options.refreshBeforeExpiry === false;
    if (!getToken || off || expiresAt === undefined) return;
    const lifetime = expiresAt - this.#tokenFetchedAt;
    // Already expired when fetched (a skewed clock): leave it to the server's end of the stream.
    if (lifetime <= 0) return;
    const delay = Math.max(0, this.#tokenFetchedAt + lifetime * 0.75 - Date.now());
    this.#refreshTimer = setTimeout(
      () => {
        this.#refreshTimer = undefined;
        this.#fetchToken(
          getToken,
          () => {
            // Close first, then open from the last event dispatched: the server replays from
            // exactly there, and the old connection can no longer deliver a duplicate.
            if (!this.#source) return;
            this.#detach();
            this.#openOrClose();
          },
          // The stream stays up; when the server ends it, the reconnect path fetches again.
          (error) => this.#reportClientError(error),
        );
      },
      Math.min(delay, MAX_TIMEOUT_MS),
    );
  }

  #open(): void {
    const token = this.#token ?? this.#fixedToken;
    const withCredentials = this.#options.withCredentials === true;
    this.#connectedEvent = undefined;
    let source: EventSourceLike;
    if (this.#fetch) {
      // It sends `lastEventId` as Last-Event-ID, and events without an id repeat it.
      this.#sourceLastId = this.#lastEventId;
      source = new FetchEventSource(this.#target, {
        fetch: this.#fetch,
        withCredentials,
        lastEventId: this.#lastEventId,
        headers: token ? { authorization: `Bearer ${token}` } : {},
        ...(this.#reconnect && { maxRetryDelay: this.#reconnect.maxDelay }),
      });
    } else {
      this.#sourceLastId = '';
      let url = withLastEventId(this.#target, this.#lastEventId);
      if (token !== undefined) url = withQueryParam(url, 'token', token);
      this.#sourceUrl = url;
      source = new this.#EventSource!(url, withCredentials ? { withCredentials } : undefined);
    }
    this.#source = source;
    source.addEventListener('open', this.#handleOpen);
    source.addEventListener('error', this.#handleError);
    for (const [name, native] of this.#native) source.addEventListener(name, native);
  }

  #detach(): void {
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = undefined;
    const source = this.#source;
    if (!source) return;
    this.#source = undefined;
    source.removeEventListener('open', this.#handleOpen);
    source.removeEventListener('error', this.#handleError);
    for (const [name, native] of this.#native) source.removeEventListener(name, native);
    source.close();
  }

  readonly #handleOpen = (): void => {
    this.#attempt = 0;
    this.#setStatus('open');
    this.#planRefresh();
  };

  readonly #handleError = (): void => {
    const source = this.#source;
    if (!source) return;
    // CONNECTING: the EventSource retries by itself, with the URL it has, so with a token
    // source the client takes over (when it may reconnect at all). CLOSED: it gave up (HTTP
    // error, wrong content type, or a polyfill that does not retry), so the client takes over.
    if (source.readyState === CONNECTING && !(this.#options.getToken && this.#reconnect)) {
      this.#setStatus('reconnecting');
      return;
    }
    if (source.readyState !== CONNECTING && source.readyState !== CLOSED) return;
    const gaveUp = source.readyState === CLOSED;
    const retryAfterMs = source.retryAfterMs;
    const url = this.#sourceUrl;
    this.#detach();
    this.#scheduleReconnect(this.#tokenExpired(), retryAfterMs);
    if (gaveUp && retryAfterMs === undefined && url !== undefined && this.#timer !== undefined)
      this.#probe(url, Date.now());
  };

  /**
   * An EventSource that gave up cannot tell why (its error event carries no status). While the
   * backoff runs, one `HEAD` of the same URL asks the server what a `GET` would get now, without
   * opening a stream: a 503 or 429 with `Retry-After` (a server admitting streams at a bounded
   * rate) moves the pending reconnect to that time, counted from the failure. Any other answer,
   * a failed probe or no `fetch` in this runtime leaves the backoff as it was.
   */
  #probe(url: string, failedAt: number): void {
    const fetchImpl = this.#options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') return;
    const probe = ++this.#probeSeq;
    const abort = new AbortController();
    this.#probeAbort = abort;
    let request: Promise<Response>;
    try {
      request = fetchImpl(url, {
        method: 'HEAD',
        cache: 'no-store',
        credentials: this.#options.withCredentials ? 'include' : 'same-origin',
        signal: abort.signal,
      });
    } catch {
      return;
    }
    request
      .then(retryAfterOf, () => undefined)
      .then((retryAfterMs) => {
        if (probe !== this.#probeSeq || this.#timer === undefined) return;
        this.#probeAbort = undefined;
        if (retryAfterMs === undefined) return;
        const delay = failedAt + retryAfterMs + Math.round(Math.random() * 1000) - Date.now();
        clearTimeout(this.#timer);
        this.#timer = setTimeout(
          () => {
            this.#timer = undefined;
            this.#connectOrClose();
          },
          Math.max(0, delay),
        );
      });
  }

  /** Drops a probe still in flight: the reconnect it was for has happened or was cancelled. */
  #endProbe(): void {
    this.#probeSeq++;
    this.#probeAbort?.abort();
    this.#probeAbort = undefined;
  }

  #setStatus(status: ClientStatus): void {
    if (this.#status === status || this.#status === 'closed') return;
    this.#status = status;
    this.#shared?.publishState();
    for (const listener of [...this.#statusListeners]) {
      try {
        listener(status);
      } catch (error) {
        this.#reportError(error, { id: this.#lastEventId, type: 'status', raw: status });
      }
    }
  }

  // --- dispatch -------------------------------------------------------------------------------

  #add(name: string, listener: Listener<never>, once: boolean): Unsubscribe {
    let entries = this.#listeners.get(name);
    if (!entries) this.#listeners.set(name, (entries = new Set()));
    const entry: Entry = { listener, once };
    entries.add(entry);
    this.#observe(name);
    return () => {
      entries.delete(entry);
      this.#unobserveIfUnused(name);
    };
  }

  #observe(name: string): void {
    if (this.#native.has(name)) return;
    const native = (event: MessageEvent) => this.#dispatch(name, event);
    this.#native.set(name, native);
    this.#source?.addEventListener(name, native);
    this.#shared?.announce(name);
  }

  #unobserveIfUnused(name: string): void {
    if (
      this.#listeners.get(name)?.size ||
      (ALWAYS_OBSERVED as readonly string[]).includes(name) ||
      this.#remote.has(name)
    )
      return;
    const native = this.#native.get(name);
    if (!native) return;
    this.#native.delete(name);
    this.#listeners.delete(name);
    this.#source?.removeEventListener(name, native);
  }

  /** An event of this client's own connection: posted to the other tabs when leading. */
  #dispatch(type: string, event: MessageEvent): void {
    const data = typeof event.data === 'string' ? event.data : String(event.data ?? '');
    const id = event.lastEventId ?? '';
    const fresh = id !== '' && id !== this.#sourceLastId;
    this.#sourceLastId = id;
    const shared: SharedEvent = { type, data, id, fresh };
    if (this.#shared) {
      if (type === 'connected') this.#connectedEvent = shared;
      this.#shared.publish(shared);
    }
    this.#deliver(shared);
  }

  /** Dispatches an event to this client's listeners, once per id in shared mode. */
  #deliver({ type, data: raw, id, fresh }: SharedEvent): void {
    if (fresh && this.#seen && !this.#seen.add(id)) return;
    // An event without an id must not erase the resume point (e.g. `connected` after a
    // reconnect through a fresh EventSource, which starts with an empty last event id). `reset`
    // is authoritative: its id (possibly empty) is where the server's history now starts.
    if (id || type === 'reset') this.#lastEventId = id;
    const data = this.#parse(raw, type);
    if (type === 'connected' && data && typeof data === 'object') {
      this.#connection = data as ConnectedData;
    }
    const entries = this.#listeners.get(type);
    if (!entries?.size) return;
    const meta: EventMeta = { id, type, raw };
    for (const entry of [...entries]) {
      if (!entries.has(entry)) continue; // removed by an earlier listener of this event
      if (entry.once) {
        entries.delete(entry);
        this.#unobserveIfUnused(type);
      }
      try {
        (entry.listener as Listener<unknown>)(data, meta);
      } catch (error) {
        this.#reportError(error, meta);
      }
    }
  }

  /** This client's side of the shared stream. */
  readonly #sharedHost: SharedHost = {
    lead: (names) => {
      for (const name of names) {
        this.#remote.add(name);
        this.#observe(name);
      }
      // Taking over a stream the tab followed is a reconnection.
      if (this.#status === 'open') this.#setStatus('reconnecting');
      // A transport that refuses the URL closes the client: no tab would do better, and
      // `closed` reaches them all.
      this.#connectOrClose();
    },
    receive: (event) => this.#deliver(event),
    follow: (status) => {
      if (status === 'closed') this.close();
      else this.#setStatus(status);
    },
    observe: (names) => {
      for (const name of names) {
        this.#remote.add(name);
        this.#observe(name);
      }
    },
    state: () => ({ status: this.#status, connected: this.#connectedEvent }),
    alone: () => {
      if (!this.#shared) return; // closed meanwhile
      this.#shared = undefined;
      this.#connectOrClose();
    },
  };

  #parse(raw: string, type: string): unknown {
    const parse = this.#options.parse ?? parseJson;
    try {
      return parse(raw, type);
    } catch {
      return raw;
    }
  }

  #reportClientError(error: unknown): void {
    const { onError } = this.#options;
    if (!onError) {
      reportUncaught(error);
      return;
    }
    try {
      onError(error);
    } catch (hookError) {
      reportUncaught(hookError);
    }
  }

  #reportError(error: unknown, meta: EventMeta): void {
    const { onListenerError } = this.#options;
    if (onListenerError) onListenerError(error, meta);
    else reportUncaught(error);
  }
}

/** `globalThis.reportError` (the browser logs it as uncaught), else a rethrow on a timer. */
function reportUncaught(error: unknown): void {
  const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
  if (report) report(error);
  else
    setTimeout(() => {
      throw error;
    });
}

/** `JSON.parse`, or the raw string when it is not JSON. Never throws. */
export function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Creates an {@link SSEClient}, which connects right away.
 *
 * @example
 * ```ts
 * type Events = { notification: { title: string; content: string } };
 * const client = createClient<Events>('/api/v1/sse/stream/notifications/user123');
 * client.on('notification', (n) => console.log(n.title));
 * ```
 */
export function createClient<M extends EventMap = EventMap>(
  url: string,
  options?: ClientOptions,
): SSEClient<M> {
  return new SSEClient<M>(url, options);
}
