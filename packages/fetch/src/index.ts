export {
  type FetchHandler,
  type FetchMiddleware,
  type FetchRequestInfo,
  readBody,
  type SSEHandlerOptions,
  sseHandler,
  toFetchResponse,
  toHubRequest,
} from './fetch.js';
