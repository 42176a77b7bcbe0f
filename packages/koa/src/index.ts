export type {
  AuthorizeContext,
  AuthorizeResult,
  CorsOptions,
  HandlerOptions,
} from '@ssehub/core';
export { closeGracefully } from '@ssehub/node';
export { type KoaContext, type KoaMiddleware, readBody, sseHandler, toHubRequest } from './koa.js';
