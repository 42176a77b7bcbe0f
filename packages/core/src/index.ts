export type {
  Broker,
  BrokerInfo,
  BrokerMessage,
  BrokerMetric,
  BrokerNode,
  BrokerStatus,
} from './broker.js';
export { configFromEnv, type Env } from './config.js';
export { Connection, type DisconnectReason, type SlowClientPolicy } from './connection.js';
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
export { SSEError, type SSEErrorCode } from './errors.js';
export {
  type AnyEvents,
  type EventMap,
  type EventOptions,
  eventWithId,
  type HubEvent,
  newEvent,
  type PlainEvent,
  type TypedEvent,
  typedEvent,
} from './event.js';
export {
  type HistoryRecord,
  type HistoryStore,
  MemoryHistory,
  type MemoryHistoryOptions,
  type ReplayResult,
} from './history.js';
export {
  type AuthorizeContext,
  type AuthorizeResult,
  BodyTooLargeError,
  type CorsOptions,
  createHandler,
  type HandlerOptions,
  type HubHandler,
  type HubRequest,
  type HubResponse,
  jsonError,
  notFoundResponse,
  type PassResponse,
  type PlainResponse,
  type StreamResponse,
  serverErrorResponse,
  timingSafeEqual,
  utf8Header,
} from './http.js';
export {
  type ConnectOptions,
  Hub,
  type HubCounters,
  type HubInfo,
  type HubOptions,
} from './hub.js';
export {
  base64UrlDecode,
  base64UrlEncode,
  JwtError,
  type StreamClaims,
  signJwt,
  verifyJwt,
} from './jwt.js';
export { formatMetrics } from './metrics.js';
export {
  type ConnectionControl,
  createStreamSink,
  type Sink,
  type StreamSink,
  type StreamSinkOptions,
} from './sink.js';
export {
  type ClientFilter,
  type ClientInfo,
  type ClientRef,
  type Target,
  targets,
} from './target.js';
