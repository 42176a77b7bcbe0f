/** ssehub on node:http: a default `Hub` and `@ssehub/node`'s `sseHandler`, as its README shows. */
import { Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/node';
import { hostNode } from './node-host.js';
import { hubTarget } from './ssehub-target.js';

const hub = new Hub();
hostNode(hubTarget(hub), sseHandler(hub));
