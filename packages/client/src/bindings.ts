// What the React hook and the Vue composable share.
import type {
  ClientEvents,
  ClientOptions,
  EventMap,
  EventMeta,
  EventName,
  Listener,
  SSEClient,
  Unsubscribe,
} from './client.js';
import { DEFAULT_BASE_PATH, type StreamParams, streamUrl } from './url.js';

/**
 * What `useSSE` connects to: a URL, or the stream's params (built with `streamUrl`, `base`
 * defaulting to `/api/v1/sse`). `null` or `undefined`: stay disconnected, e.g. until a user id is
 * known.
 */
export type SSETarget = string | (StreamParams & { base?: string }) | null | undefined;

/** A listener for each event name the component cares about. */
export type EventHandlers<M extends EventMap> = {
  [K in EventName<M>]?: Listener<ClientEvents<M>[K]>;
};

/** Options of `useSSE`: the client's options plus event handlers. */
export interface UseSSEOptions<M extends EventMap = EventMap> extends ClientOptions {
  /**
   * Handlers by event name. The latest handlers are always called; only the set of names
   * decides what is subscribed. `lastEvent` tracks these names only.
   */
  events?: EventHandlers<M>;
}

/** The latest event that had a handler, with its name, so that a switch on `type` narrows `data`. */
export type LastEvent<M extends EventMap = EventMap> = {
  [K in EventName<M>]: { type: K; data: ClientEvents<M>[K]; id: string };
}[EventName<M>];

/** The URL a target stands for, or `undefined` for none. */
export function targetUrl(target: SSETarget): string | undefined {
  if (target === null || target === undefined) return undefined;
  if (typeof target === 'string') return target;
  const { base = DEFAULT_BASE_PATH, ...params } = target;
  return streamUrl(base, params);
}

/** The client's options without the handlers. */
export function clientOptions<M extends EventMap>(options: UseSSEOptions<M>): ClientOptions {
  const { events: _events, ...rest } = options;
  return rest;
}

/**
 * Subscribes `client` to each of `names` not yet in `into`, calling `handle` (which looks up the
 * current handler), and records the unsubscribes in `into`.
 */
export function subscribe<M extends EventMap>(
  client: SSEClient<M>,
  names: Iterable<string>,
  handle: (type: string, data: unknown, meta: EventMeta) => void,
  into: Map<string, Unsubscribe>,
): void {
  for (const name of names) {
    if (into.has(name)) continue;
    into.set(
      name,
      client.on(name as EventName<M>, (data, meta) => handle(name, data, meta)),
    );
  }
}
