/**
 * ssehub on Hono, on @hono/node-server: a default `Hub` and the `@ssehub/hono` middleware, as its
 * README shows (streams take the node path through `c.env.outgoing`).
 */
import { getRequestListener } from '@hono/node-server';
import { Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/hono';
import { Hono } from 'hono';
import { hostNode } from './node-host.js';
import { hubTarget } from './ssehub-target.js';

const hub = new Hub();
const app = new Hono();
app.use(sseHandler(hub));
hostNode(hubTarget(hub), getRequestListener(app.fetch));
