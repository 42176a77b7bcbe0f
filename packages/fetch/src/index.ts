export {
  type ClientAddress,
  clientAddressOf,
  type FetchHandler,
  type FetchMiddleware,
  type FetchRequestInfo,
  readBody,
  runtimeClientAddress,
  type SSEHandlerOptions,
  sseHandler,
  toFetchResponse,
  toHubRequest,
} from './fetch.js';
