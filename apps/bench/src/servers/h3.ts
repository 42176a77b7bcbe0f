/**
 * h3 v2 on Node via its own `toNodeHandler`: one `createEventStream(event)` per request, kept in a
 * registry; h3 has no broadcast, so a broadcast serialises the payload once and pushes the string
 * to every stream, as an h3 app would.
 */
import { createEventStream, type EventStream, H3, toNodeHandler } from 'h3';
import { type BenchTarget, clientOf } from './control.js';
import { hostNode } from './node-host.js';
import { Registry } from './registry.js';

const registry = new Registry<EventStream>();

const target: BenchTarget = {
  broadcast(payload) {
    const data = JSON.stringify(payload);
    for (const stream of registry.all) void stream.push(data);
  },
  unicast({ id }, payload) {
    void registry.byId.get(id)?.push(JSON.stringify(payload));
  },
  group(group, payload) {
    const members = registry.byGroup.get(group);
    if (!members) return;
    const data = JSON.stringify(payload);
    for (const stream of members) void stream.push(data);
  },
  clients: () => registry.all.size,
};

const app = new H3();
app.get('/sse', (event) => {
  const { group, id } = clientOf(event.req.url);
  const stream = createEventStream(event);
  registry.add({ group, id }, stream);
  stream.onClosed(() => registry.remove({ group, id }, stream));
  // Flushes the response head so the client sees the stream open.
  void stream.pushComment('ok');
  return stream;
});

hostNode(target, toNodeHandler(app));
