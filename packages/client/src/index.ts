/**
 * @ssehub/client: a zero-dependency, typed wrapper over the browser's EventSource for ssehub
 * streams. React and Vue bindings live in `@ssehub/client/react` and `@ssehub/client/vue`.
 *
 * @packageDocumentation
 */
export type { ReconnectOptions } from './backoff.js';
export {
  type BuiltinEvents,
  type ClientEvents,
  type ClientOptions,
  type ClientStatus,
  type ConnectedData,
  createClient,
  type EventMap,
  type EventMeta,
  type EventName,
  type EventSourceConstructor,
  type EventSourceLike,
  type Listener,
  parseJson,
  type ResetData,
  SSEClient,
  type Unsubscribe,
} from './client.js';
export { DEFAULT_BASE_PATH, type StreamParams, streamUrl, withLastEventId } from './url.js';
