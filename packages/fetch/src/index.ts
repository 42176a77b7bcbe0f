export {
  type FetchHandler,
  type FetchHandlerOptions,
  type FetchMiddleware,
  type FetchRequestInfo,
  readBody,
  sseHandler,
  toHubRequest,
} from './fetch.js';
