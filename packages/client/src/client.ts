import { backoffDelay, type ReconnectOptions, resolveReconnect } from './backoff.js';
import { lastEventIdOf, withLastEventId } from './url.js';

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
 * The part of the EventSource interface the client uses, so that the browser's EventSource, the
 * npm `eventsource` package and polyfills all fit.
 */
export interface EventSourceLike {
  /** 0 connecting, 1 open, 2 closed. */
  readonly readyState: number;
  addEventListener(type: string, listener: (event: MessageEvent) => void): void;
  removeEventListener(type: string, listener: (event: MessageEvent) => void): void;
  close(): void;
}

/** A constructor of {@link EventSourceLike}, such as `globalThis.EventSource`. */
export type EventSourceConstructor = new (
  url: string,
  init?: { withCredentials?: boolean },
) => EventSourceLike;

/** Options of {@link SSEClient}. All optional. */
export interface ClientOptions {
  /** The EventSource implementation to use. Defaults to `globalThis.EventSource`. */
  EventSource?: EventSourceConstructor;
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
}

// ---------------------------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------------------------

const CONNECTING = 0;
const CLOSED = 2;

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
  readonly #EventSource: EventSourceConstructor;
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

  /**
   * Connects to `url` right away.
   *
   * @throws TypeError when no EventSource is available (pass `options.EventSource`).
   */
  constructor(url: string, options: ClientOptions = {}) {
    const EventSourceImpl =
      options.EventSource ?? (globalThis as { EventSource?: EventSourceConstructor }).EventSource;
    if (!EventSourceImpl) {
      throw new TypeError(
        '@ssehub/client: no EventSource in this runtime; pass options.EventSource (e.g. from the `eventsource` package).',
      );
    }
    this.url = url;
    this.#options = options;
    this.#EventSource = EventSourceImpl;
    this.#reconnect = resolveReconnect(options.reconnect);
    this.#lastEventId = options.lastEventId ?? lastEventIdOf(url) ?? '';
    for (const name of ALWAYS_OBSERVED) this.#observe(name);
    this.#open();
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

  /** Closes the connection for good and stops reconnecting. Listeners stay registered. */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#detach();
    this.#setStatus('closed');
  }

  // --- connection -----------------------------------------------------------------------------

  #open(): void {
    const url = withLastEventId(this.url, this.#lastEventId);
    const init = this.#options.withCredentials ? { withCredentials: true } : undefined;
    const source = new this.#EventSource(url, init);
    this.#source = source;
    source.addEventListener('open', this.#handleOpen);
    source.addEventListener('error', this.#handleError);
    for (const [name, native] of this.#native) source.addEventListener(name, native);
  }

  #detach(): void {
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
  };

  readonly #handleError = (): void => {
    const source = this.#source;
    if (!source) return;
    // CONNECTING: the EventSource retries by itself. CLOSED: it gave up (HTTP error, wrong
    // content type, or a polyfill that does not retry), so the client takes over.
    if (source.readyState === CONNECTING) {
      this.#setStatus('reconnecting');
      return;
    }
    if (source.readyState !== CLOSED) return;
    this.#detach();
    const reconnect = this.#reconnect;
    if (!reconnect || this.#attempt >= reconnect.maxAttempts) {
      this.#setStatus('closed');
      return;
    }
    const delay = backoffDelay(reconnect, this.#attempt++);
    this.#setStatus('reconnecting');
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.#open();
      } catch (error) {
        // e.g. the constructor rejected the URL: nothing will ever succeed.
        this.#setStatus('closed');
        this.#reportError(error, { id: this.#lastEventId, type: 'error', raw: '' });
      }
    }, delay);
  };

  #setStatus(status: ClientStatus): void {
    if (this.#status === status || this.#status === 'closed') return;
    this.#status = status;
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
  }

  #unobserveIfUnused(name: string): void {
    if (this.#listeners.get(name)?.size || (ALWAYS_OBSERVED as readonly string[]).includes(name))
      return;
    const native = this.#native.get(name);
    if (!native) return;
    this.#native.delete(name);
    this.#listeners.delete(name);
    this.#source?.removeEventListener(name, native);
  }

  #dispatch(type: string, event: MessageEvent): void {
    const raw = typeof event.data === 'string' ? event.data : String(event.data ?? '');
    const id = event.lastEventId ?? '';
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

  #parse(raw: string, type: string): unknown {
    const parse = this.#options.parse ?? parseJson;
    try {
      return parse(raw, type);
    } catch {
      return raw;
    }
  }

  #reportError(error: unknown, meta: EventMeta): void {
    const { onListenerError } = this.#options;
    const report = (globalThis as { reportError?: (error: unknown) => void }).reportError;
    if (onListenerError) onListenerError(error, meta);
    else if (report) report(error);
    else
      setTimeout(() => {
        throw error;
      });
  }
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
