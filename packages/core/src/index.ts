/**
 * @ssehub/core: the hub, its events and its options. What an app needs to send events and to
 * configure the routes an adapter mounts; adapter authors find the request handler, sinks and
 * encoding on `@ssehub/core/adapter`.
 */
export type {
  Broker,
  BrokerInfo,
  BrokerMessage,
  BrokerMetric,
  BrokerNode,
  BrokerStatus,
} from './broker.js';
export {
  type AsyncApiOptions,
  asyncApiDocument,
  defineEvents,
  type EventCatalog,
  type EventIssue,
  EventValidationError,
  type InferEventInputs,
  type InferEvents,
  type JsonSchemaConverter,
  type StandardSchemaV1,
} from './catalog.js';
export { configFromEnv, type Env } from './config.js';
export type { ConnectionInfo, DisconnectReason, SlowClientPolicy } from './connection.js';
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
  type UnnamedEventsNeedAMessageEntry,
} from './event.js';
export {
  type HistoryRecord,
  type HistoryStore,
  MemoryHistory,
  type MemoryHistoryOptions,
  type ReplayResult,
} from './history.js';
export type {
  AdminRoute,
  AuthorizeContext,
  AuthorizePublishContext,
  AuthorizePublishResult,
  AuthorizeResult,
  CorsOptions,
  HandlerOptions,
} from './http.js';
export {
  type EventCatalogOf,
  Hub,
  type HubCounters,
  type HubHistograms,
  type HubInfo,
  type HubOptions,
} from './hub.js';
export { JwtError, type StreamClaims, signJwt, verifyJwt } from './jwt.js';
export {
  collectMetrics,
  formatMetrics,
  type HistogramSnapshot,
  type MetricFamily,
  type MetricSample,
  type MetricsOptions,
  type PromRegistryLike,
  promClientCollector,
} from './metrics.js';
export type {
  Presence,
  PresenceChange,
  PresenceClient,
  PresenceGroups,
  PresenceNode,
  PresenceOptions,
  PresenceStore,
} from './presence.js';
export type { ClientFilter, ClientInfo, ClientRef, Target } from './target.js';
