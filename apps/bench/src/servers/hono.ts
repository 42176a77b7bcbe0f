/**
 * Hono `streamSSE` on @hono/node-server: the callback registers the stream and stays pending until
 * the client goes away; a broadcast serialises once and calls `writeSSE` on every stream.
 */
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import { type BenchTarget, clientOf } from './control.js';
import { hostNode } from './node-host.js';
import { Registry } from './registry.js';

const registry = new Registry<SSEStreamingApi>();

const target: BenchTarget = {
  broadcast(payload) {
    const data = JSON.stringify(payload);
    for (const stream of registry.all) void stream.writeSSE({ data });
  },
  unicast({ id }, payload) {
    void registry.byId.get(id)?.writeSSE({ data: JSON.stringify(payload) });
  },
  group(group, payload) {
    const members = registry.byGroup.get(group);
    if (!members) return;
    const data = JSON.stringify(payload);
    for (const stream of members) void stream.writeSSE({ data });
  },
  clients: () => registry.all.size,
};

const app = new Hono();
app.get('/sse', (c) =>
  streamSSE(c, async (stream) => {
    const { group, id } = clientOf(c.req.url);
    registry.add({ group, id }, stream);
    // Flushes the response head so the client sees the stream open.
    await stream.write(': ok\n\n');
    await new Promise<void>((resolve) => stream.onAbort(resolve));
    registry.remove({ group, id }, stream);
  }),
);

hostNode(target, getRequestListener(app.fetch));
