/**
 * Events and the app's event map.
 *
 * An app declares one map from event name to payload type and uses it on both sides:
 * `new Hub<Events>()` checks every send, `@ssehub/client` types every listener.
 *
 * ```ts
 * type Events = {
 *   notification: { title: string };
 *   task_progress: { task: string; percent: number };
 *   message: string; // unnamed events: hub.broadcast({ data: 'hi' }), eventSource.onmessage
 * };
 * const hub = new Hub<Events>();
 * hub.send({ group: 'users', id: 'u1' }, typedEvent('task_progress', { task: 't1', percent: 40 }));
 * ```
 */

/**
 * Maps event names to their payload types. The `message` entry, when there is one, is the type
 * of unnamed events: events sent without `event`, which the browser dispatches as `message`
 * (`eventSource.onmessage`, `client.on('message')`).
 */
export type EventMap = Record<string, unknown>;

/** The untyped map: any name, any payload. */
export type AnyEvents = Record<string, unknown>;

/** Options every event may carry. */
export interface EventOptions {
  /** The app's own id; when absent the hub assigns an ordered one. No CR, LF or NUL. */
  readonly id?: string | undefined;
  /** Reconnection delay for the browser, in milliseconds. */
  readonly retry?: number | undefined;
}

/** A named event whose payload matches the map. */
export type TypedEvent<M extends EventMap> = {
  [K in keyof M & string]: EventOptions & { readonly event: K; readonly data: M[K] };
}[keyof M & string];

/**
 * What an unnamed event's data must be in a hub whose event map has no `message` entry: nothing
 * fits, so the compiler's error names the fix (declare `message`, or name the event).
 */
export interface UnnamedEventsNeedAMessageEntry {
  readonly 'To send events without a name, add `message: <data type>` to the event map': never;
}

/**
 * An unnamed event (the browser dispatches it as `message`): its data is typed by the map's
 * `message` entry. A map without one accepts no unnamed event.
 */
export type PlainEvent<M extends EventMap> = EventOptions & {
  readonly event?: undefined;
  readonly data: 'message' extends keyof M ? M['message'] : UnnamedEventsNeedAMessageEntry;
};

/** Anything a hub typed with `M` accepts. */
export type HubEvent<M extends EventMap = AnyEvents> = TypedEvent<M> | PlainEvent<M>;

/** An unnamed event: only data (the browser dispatches it as `message`). */
export function newEvent<D>(data: D, options?: EventOptions): EventOptions & { data: D } {
  return { ...options, data };
}

/** A named event: `event` is the name the browser dispatches it under. */
export function typedEvent<K extends string, D>(
  event: K,
  data: D,
  options?: EventOptions,
): EventOptions & { event: K; data: D } {
  return { ...options, event, data };
}

/** An event with the app's own id instead of the one the hub assigns, optionally named. */
export function eventWithId<D, K extends string | undefined = undefined>(
  id: string,
  data: D,
  event?: K,
): { id: string; data: D; event: K } {
  return { id, data, event: event as K };
}
