/**
 * The floor on Node: bare node:http, each event encoded once into one Buffer that is written to
 * every response. Nothing an SSE library does can be cheaper than this.
 */
import type http from 'node:http';
import { type BenchTarget, clientOf, type Payload } from './control.js';
import { hostNode } from './node-host.js';
import { Registry } from './registry.js';

const registry = new Registry<http.ServerResponse>();

const encode = (payload: Payload): Buffer =>
  Buffer.from(`data: ${JSON.stringify(payload)}\n\n`, 'utf8');

const target: BenchTarget = {
  broadcast(payload) {
    const bytes = encode(payload);
    for (const res of registry.all) res.write(bytes);
  },
  unicast({ id }, payload) {
    registry.byId.get(id)?.write(encode(payload));
  },
  many(clients, payload) {
    const bytes = encode(payload);
    for (const { id } of clients) registry.byId.get(id)?.write(bytes);
  },
  group(group, payload) {
    const members = registry.byGroup.get(group);
    if (!members) return;
    const bytes = encode(payload);
    for (const res of members) res.write(bytes);
  },
  clients: () => registry.all.size,
};

hostNode(target, (req, res) => {
  const { group, id } = clientOf(req.url ?? '');
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.write(': ok\n\n');
  registry.add({ group, id }, res);
  res.on('close', () => registry.remove({ group, id }, res));
});
