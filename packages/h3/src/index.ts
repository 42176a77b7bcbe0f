export { closeGracefully } from '@ssehub/node';
export { readBody, type SSEHandlerOptions, sseHandler, toHubRequest } from './h3.js';
