export { readBody, type SSEHandlerOptions, sseHandler, toHubRequest } from './fastify.js';
