/**
 * The floor on Bun and Deno: one ReadableStream per client; each event is encoded once into one
 * Uint8Array that is enqueued on every stream.
 */
import { type BenchTarget, clientOf, type Payload } from './control.js';
import { hostFetch, SSE_HEADERS } from './fetch-host.js';
import { Registry } from './registry.js';

type Controller = ReadableStreamDefaultController<Uint8Array>;

const registry = new Registry<Controller>();
const encoder = new TextEncoder();
const encode = (payload: Payload): Uint8Array =>
  encoder.encode(`data: ${JSON.stringify(payload)}\n\n`);
const hello = encoder.encode(': ok\n\n');

const target: BenchTarget = {
  broadcast(payload) {
    const bytes = encode(payload);
    for (const c of registry.all) c.enqueue(bytes);
  },
  unicast({ id }, payload) {
    registry.byId.get(id)?.enqueue(encode(payload));
  },
  group(group, payload) {
    const members = registry.byGroup.get(group);
    if (!members) return;
    const bytes = encode(payload);
    for (const c of members) c.enqueue(bytes);
  },
  clients: () => registry.all.size,
};

hostFetch(target, (request) => {
  const { group, id } = clientOf(request.url);
  let controller: Controller;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      registry.add({ group, id }, c);
      c.enqueue(hello);
    },
    cancel() {
      registry.remove({ group, id }, controller);
    },
  });
  return new Response(body, { headers: SSE_HEADERS });
});
