export type {
  AuthorizeContext,
  AuthorizeResult,
  CorsOptions,
  HandlerOptions,
} from '@ssehub/core';
export { type H3HandlerOptions, sseHandler, toHubRequest } from './h3.js';
