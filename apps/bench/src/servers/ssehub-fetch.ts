/** ssehub's fetch adapter on Bun (`Bun.serve`) or Deno (`Deno.serve`): a default `Hub`. */
import { Hub } from '@ssehub/core';
import { sseHandler } from '@ssehub/fetch';
import { hostFetch } from './fetch-host.js';
import { hubTarget } from './ssehub-target.js';

const hub = new Hub();
const handle = sseHandler(hub);
hostFetch(hubTarget(hub), (request) => handle(request));
