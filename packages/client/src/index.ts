/**
 * @ssehub/client: a zero-dependency, typed client for ssehub streams, over the browser's
 * EventSource or over `fetch` (tokens in a header, not the URL), optionally one connection shared
 * by every tab. React and Vue bindings live in `@ssehub/client/react` and `@ssehub/client/vue`.
 *
 * @packageDocumentation
 */
export type { ReconnectOptions } from './backoff.js';
export {
  type BuiltinEvents,
  type ClientEvents,
  type ClientOptions,
  type ClientRole,
  type ClientStatus,
  type ClientTransport,
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
