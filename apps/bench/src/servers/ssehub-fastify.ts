/**
 * ssehub on Fastify 5: a default `Hub` and the `@ssehub/fastify` plugin, as its README shows.
 * Fastify's own server is the listener (`app.routing`), on the same node:http host as the others.
 */
import { Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/fastify';
import Fastify from 'fastify';
import { hostNode } from './node-host.js';
import { hubTarget } from './ssehub-target.js';

const hub = new Hub();
const app = Fastify();
await app.register(sseHandler(hub));
await app.ready();
hostNode(hubTarget(hub), (req, res) => app.routing(req, res));
