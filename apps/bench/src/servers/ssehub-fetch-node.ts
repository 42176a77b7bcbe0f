/**
 * ssehub's fetch adapter on Node: `@ssehub/fetch`'s `sseHandler` behind @hono/node-server's
 * request listener (the same fetch-to-node:http bridge the Hono server uses).
 */
import { getRequestListener } from '@hono/node-server';
import { Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/fetch';
import { hostNode } from './node-host.js';
import { hubTarget } from './ssehub-target.js';

const hub = new Hub();
const handle = sseHandler(hub);
hostNode(
  hubTarget(hub),
  getRequestListener((request) => handle(request)),
);
