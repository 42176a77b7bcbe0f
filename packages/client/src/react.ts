/**
 * React binding of @ssehub/client: the `useSSE` hook.
 *
 * @packageDocumentation
 */
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'react';
import {
  clientOptions,
  type EventHandlers,
  type LastEvent,
  type SSETarget,
  subscribe,
  targetUrl,
  type UseSSEOptions,
} from './bindings.js';
import {
  type ClientStatus,
  createClient,
  type EventMap,
  type EventMeta,
  type SSEClient,
  type Unsubscribe,
} from './client.js';

export type { EventHandlers, LastEvent, SSETarget, UseSSEOptions };

/** What {@link useSSE} returns. */
export interface UseSSEResult<M extends EventMap = EventMap> {
  /** The connection's status; `closed` while the target is `null`. */
  status: ClientStatus;
  /** The id of the last event seen (see `SSEClient.lastEventId`). */
  lastEventId: string;
  /** The latest event that had a handler in `options.events`. */
  lastEvent: LastEvent<M> | undefined;
  /** Closes the connection for good (until the target changes). Stable across renders. */
  close: () => void;
  /** The underlying client, for imperative use; `undefined` until connected in an effect. */
  client: SSEClient<M> | undefined;
}

// useLayoutEffect keeps the handlers current before any event can arrive; on the server
// (no window) there are no events, and useEffect avoids React 18's warning.
const useIsomorphicLayoutEffect = typeof window === 'undefined' ? useEffect : useLayoutEffect;

/** The handler names as one string, so that a change of the set is a change of value. */
function eventNames(options: UseSSEOptions<never>): string {
  return Object.keys(options.events ?? {})
    .sort()
    .join('\n');
}

/**
 * Connects to an ssehub stream for as long as the component is mounted.
 *
 * The connection is made in an effect, closed on unmount and remade when the target's URL
 * changes; new handler functions on each render do not reconnect. Client options
 * (`withCredentials`, `reconnect`, `getToken`, ...) are read when connecting; `getToken` is then
 * always called in its latest version.
 *
 * With `shared: true`, the components (and tabs) that open the same stream share one connection;
 * `transport: 'fetch'` sends the token in a header instead of the URL (see `ClientOptions`).
 *
 * @param target - A URL or `{ group, id, token?, base? }`; `null` to stay disconnected.
 * @example
 * ```tsx
 * type Events = { notification: { title: string; content: string } };
 *
 * function NotificationPanel({ userId }: { userId: string }) {
 *   const [items, setItems] = useState<Events['notification'][]>([]);
 *   const { status } = useSSE<Events>({ group: 'notifications', id: userId }, {
 *     events: { notification: (n) => setItems((all) => [n, ...all]) },
 *   });
 *   return <div>Status: {status === 'open' ? '🟢 Connected' : '🔴 Disconnected'}</div>;
 * }
 * ```
 */
export function useSSE<M extends EventMap = EventMap>(
  target: SSETarget,
  options: UseSSEOptions<M> = {},
): UseSSEResult<M> {
  const url = targetUrl(target);
  const [client, setClient] = useState<SSEClient<M>>();
  const [status, setStatus] = useState<ClientStatus>(url === undefined ? 'closed' : 'connecting');
  const [lastEventId, setLastEventId] = useState(options.lastEventId ?? '');
  // Untyped inside: TypeScript cannot relate a name known only at runtime to M.
  const [lastEvent, setLastEvent] = useState<{ type: string; data: unknown; id: string }>();

  const optionsRef = useRef(options);
  useIsomorphicLayoutEffect(() => {
    optionsRef.current = options;
  });
  const clientRef = useRef<SSEClient<M>>(undefined);
  const subscriptions = useRef(new Map<string, Unsubscribe>());
  const names = eventNames(options);

  // Brings the subscriptions in line with the current handler names.
  const sync = useCallback((current: SSEClient<M>, nameList: string) => {
    const wanted = new Set(nameList ? nameList.split('\n') : []);
    for (const [name, off] of subscriptions.current) {
      if (!wanted.has(name)) {
        off();
        subscriptions.current.delete(name);
      }
    }
    const handle = (type: string, data: unknown, meta: EventMeta) => {
      setLastEventId(current.lastEventId);
      setLastEvent({ type, data, id: meta.id });
      const handler = (optionsRef.current.events as Record<string, unknown> | undefined)?.[type];
      if (typeof handler === 'function') handler(data, meta);
    };
    subscribe(current, wanted, handle, subscriptions.current);
  }, []);

  useEffect(() => {
    if (url === undefined) {
      setStatus('closed');
      return;
    }
    const initial = clientOptions(optionsRef.current);
    const current = createClient<M>(url, {
      ...initial,
      // The token source of the latest render, like the handlers: a new function each render
      // neither reconnects nor calls a stale closure.
      ...(initial.getToken && {
        getToken: () => (optionsRef.current.getToken ?? initial.getToken!)(),
      }),
    });
    clientRef.current = current;
    setClient(current);
    setStatus(current.status);
    setLastEventId(current.lastEventId);
    const offStatus = current.onStatus(setStatus);
    const offReset = current.onReset(() => setLastEventId(current.lastEventId));
    sync(current, eventNames(optionsRef.current));
    return () => {
      offStatus();
      offReset();
      for (const off of subscriptions.current.values()) off();
      subscriptions.current.clear();
      current.close();
      if (clientRef.current === current) clientRef.current = undefined;
    };
  }, [url, sync]);

  useEffect(() => {
    if (clientRef.current) sync(clientRef.current, names);
  }, [names, sync]);

  const close = useCallback(() => {
    clientRef.current?.close();
  }, []);

  return { status, lastEventId, lastEvent: lastEvent as LastEvent<M> | undefined, close, client };
}
