export {
  type FetchHandler,
  type FetchHandlerOptions,
  type FetchMiddleware,
  type FetchRequestInfo,
  readBody,
  sseHandler,
  toFetchResponse,
  toHubRequest,
} from './fetch.js';
