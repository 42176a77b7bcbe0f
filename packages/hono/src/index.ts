export { closeGracefully } from '@ssehub/node';
export { readBody, type SSEHandlerOptions, sseHandler, toHubRequest } from './hono.js';
