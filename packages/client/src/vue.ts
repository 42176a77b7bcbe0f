/**
 * Vue binding of @ssehub/client: the `useSSE` composable.
 *
 * @packageDocumentation
 */
import {
  getCurrentInstance,
  getCurrentScope,
  type MaybeRefOrGetter,
  onMounted,
  onScopeDispose,
  type Ref,
  readonly,
  ref,
  type ShallowRef,
  shallowRef,
  toValue,
  watch,
} from 'vue';
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
export interface UseSSEReturn<M extends EventMap = EventMap> {
  /** The connection's status; `closed` while the target is `null`. */
  status: Readonly<Ref<ClientStatus>>;
  /** The id of the last event seen (see `SSEClient.lastEventId`). */
  lastEventId: Readonly<Ref<string>>;
  /** The latest event that had a handler in `options.events`. */
  lastEvent: Readonly<ShallowRef<LastEvent<M> | undefined>>;
  /** Closes the connection for good (until the target changes). */
  close: () => void;
  /** The underlying client, for imperative use. */
  client: Readonly<ShallowRef<SSEClient<M> | undefined>>;
}

/**
 * Connects to an ssehub stream for the lifetime of the current effect scope: in a component,
 * from mount (so never during server-side rendering) until unmount; elsewhere, at once until the
 * scope is disposed. The connection is remade when the target's URL changes.
 *
 * With `shared: true`, the components (and tabs) that open the same stream share one connection;
 * `transport: 'fetch'` sends the token in a header instead of the URL (see `ClientOptions`).
 *
 * @param target - A URL or `{ group, id, token?, base? }`, or a ref or getter of one; `null` to
 *   stay disconnected.
 * @example
 * ```vue
 * <script setup lang="ts">
 * type Events = { notification: { id: string; title: string; content: string } };
 * const notifications = ref<Events['notification'][]>([]);
 * const { status } = useSSE<Events>(() => ({ group: 'notifications', id: user.value.id }), {
 *   events: { notification: (n) => notifications.value.unshift(n) },
 * });
 * </script>
 * <template>
 *   <div>Status: {{ status === 'open' ? '🟢 Connected' : '🔴 Disconnected' }}</div>
 * </template>
 * ```
 */
export function useSSE<M extends EventMap = EventMap>(
  target: MaybeRefOrGetter<SSETarget>,
  options: UseSSEOptions<M> = {},
): UseSSEReturn<M> {
  const status = ref<ClientStatus>('connecting');
  const lastEventId = ref(options.lastEventId ?? '');
  // Untyped inside: TypeScript cannot relate a name known only at runtime to M.
  const lastEvent = shallowRef<{ type: string; data: unknown; id: string }>();
  const client = shallowRef<SSEClient<M>>();
  let disconnect: (() => void) | undefined;

  const connect = (url: string) => {
    const current = createClient<M>(url, clientOptions(options));
    const subscriptions = new Map<string, Unsubscribe>();
    const handle = (type: string, data: unknown, meta: EventMeta) => {
      lastEventId.value = current.lastEventId;
      lastEvent.value = { type, data, id: meta.id };
      const handler = (options.events as Record<string, unknown> | undefined)?.[type];
      if (typeof handler === 'function') handler(data, meta);
    };
    subscribe(current, Object.keys(options.events ?? {}), handle, subscriptions);
    const offStatus = current.onStatus((next) => (status.value = next));
    const offReset = current.onReset(() => (lastEventId.value = current.lastEventId));
    client.value = current;
    status.value = current.status;
    lastEventId.value = current.lastEventId;
    disconnect = () => {
      for (const off of subscriptions.values()) off();
      offStatus();
      offReset();
      current.close();
      status.value = 'closed';
    };
  };

  const start = () =>
    watch(
      () => targetUrl(toValue(target)),
      (url) => {
        disconnect?.();
        disconnect = undefined;
        client.value = undefined;
        if (url === undefined) status.value = 'closed';
        else connect(url);
      },
      { immediate: true },
    );
  // In a component, connect once mounted: never during server-side rendering, which has no
  // EventSource and no unmount. Elsewhere (a store, an effectScope), connect at once.
  if (getCurrentInstance()) onMounted(start);
  else start();

  if (getCurrentScope()) onScopeDispose(() => disconnect?.());

  return {
    status: readonly(status),
    lastEventId: readonly(lastEventId),
    lastEvent: lastEvent as Readonly<ShallowRef<LastEvent<M> | undefined>>,
    close: () => client.value?.close(),
    client,
  };
}
