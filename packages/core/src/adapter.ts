/**
 * @ssehub/core/adapter: what an adapter author needs to bind the hub to a server or framework.
 * Apps import `@ssehub/core`; the adapters in this repository (`@ssehub/node`, `@ssehub/koa`,
 * `@ssehub/h3`, `@ssehub/fetch`) import only this entry and the root, so a third-party adapter
 * can do everything they do.
 *
 * An adapter:
 * 1. turns its request into a {@link HubRequest} and calls the handler from
 *    {@link createHandler} (one per `sseHandler(hub, options)`);
 * 2. writes a {@link PlainResponse} as it is, passes a {@link PassResponse} on to the framework
 *    (or answers 404), and for a {@link StreamResponse} writes `status` and `headers`, then calls
 *    `connect(sink)` with a {@link Sink} over its response;
 * 3. reports the transport to the {@link Connection} that `connect` returned: `drain()` when a
 *    transport that refused bytes takes more, `closed()` when the peer went away.
 *
 * Fetch runtimes get a ready sink over a pull-based `ReadableStream` from {@link createStreamSink}.
 * The encoding functions write spec-exact `text/event-stream` bytes for transports and brokers
 * that frame events themselves.
 */
export type {
  Connection,
  ConnectionInfo,
  DisconnectReason,
  Queued,
} from './connection.js';
export {
  assertEventId,
  assertEventName,
  type EncodableEvent,
  encodeComment,
  encodeEvent,
  encodeRetry,
  formatEvent,
  serializeData,
} from './encoding.js';
export {
  BodyTooLargeError,
  createHandler,
  type HubHandler,
  type HubRequest,
  type HubResponse,
  jsonError,
  notFoundResponse,
  type PassResponse,
  type PlainResponse,
  type StreamResponse,
  serverErrorResponse,
} from './http.js';
export type { ConnectOptions } from './hub.js';
export {
  type ConnectionControl,
  createStreamSink,
  type Sink,
  type StreamSink,
  type StreamSinkOptions,
} from './sink.js';
