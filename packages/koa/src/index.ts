export { closeGracefully } from '@ssehub/node';
export {
  type KoaContext,
  type KoaMiddleware,
  readBody,
  type SSEHandlerOptions,
  sseHandler,
  toHubRequest,
} from './koa.js';
