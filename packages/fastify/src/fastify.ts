/**
 * The Fastify adapter: a Fastify 5 plugin with the hub's reference routes, over @ssehub/core's
 * shared request handler.
 *
 * - JSON answers go through `reply.send()`, so Fastify's hooks (`onSend`, `onResponse`) and its
 *   request logging see them.
 * - Streams take the node fast path of @ssehub/node: the reply is hijacked (`reply.hijack()`) and
 *   the bytes are written straight to the Node `ServerResponse` (`reply.raw`), with
 *   `res.write()`'s return value as the hub's backpressure signal. Headers set by earlier hooks
 *   (`reply.header()`) go along.
 * - Bodies are read once, by the hub: the plugin's routes live in their own encapsulated context
 *   whose only content-type parser leaves the body unread, so the hub's `maxBodyBytes`, 413 and
 *   415 apply and the rest of the app keeps its own parsers.
 * - `app.close()` ends the hub's streams (`preClose`: `hub.close()`, then each stream's last bytes
 *   are flushed, bounded by `endTimeoutMs`), so the server can close.
 *
 * - Plugins: https://fastify.dev/docs/latest/Reference/Plugins/
 * - Reply (`hijack`, `raw`): https://fastify.dev/docs/latest/Reference/Reply/
 * - Hooks (`preClose`): https://fastify.dev/docs/latest/Reference/Hooks/
 * - Content-type parsers: https://fastify.dev/docs/latest/Reference/ContentTypeParser/
 */

import type { ServerResponse } from 'node:http';
import type { AnyEvents, EventMap, HandlerOptions, Hub } from '@ssehub/core';
import { createHandler, type HubRequest } from '@ssehub/core/adapter';
import {
  openNodeStream,
  readBody as readNodeBody,
  toHubRequest as toNodeHubRequest,
} from '@ssehub/node';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

// ---------------------------------------------------------------- types

/** Options of `sseHandler`: core's handler options plus how a stream the server ends is closed. */
export interface SSEHandlerOptions extends HandlerOptions {
  /**
   * After the server ends a stream (kick, shutdown), how long a client that is behind gets to
   * read the rest before its socket is destroyed, in ms (default 10 000). `app.close()` waits at
   * most this long for those last bytes.
   */
  readonly endTimeoutMs?: number;
}

/** Every method the reference routes answer (the hub answers 405 for the ones a route lacks). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

// ---------------------------------------------------------------- adapter

/**
 * Creates a Fastify 5 plugin with the reference routes of `hub` under `options.base` (default
 * `/api/v1/sse`). Register it once; paths outside `base` are the rest of the app's.
 *
 * ```ts
 * import Fastify from 'fastify';
 * import { Hub } from '@ssehub/core';
 * import { sseHandler } from '@ssehub/fastify';
 *
 * const hub = new Hub();
 * const app = Fastify();
 * await app.register(sseHandler(hub, { publisherKey: process.env.SSE_PUBLISH_KEY }));
 * await app.listen({ port: 3000 });
 * // On SIGTERM: `await app.close()` ends every stream (browsers reconnect), then closes.
 * ```
 *
 * Set the mount point with `base`, not with `register`'s `prefix`: the hub matches the full path.
 * The client address for `limits.maxConnectionsPerIp` is `request.ip`, so it follows Fastify's
 * `trustProxy`.
 */
export function sseHandler<M extends EventMap = AnyEvents>(
  hub: Hub<M>,
  options: SSEHandlerOptions = {},
): FastifyPluginAsync {
  const handle = createHandler(hub, options);
  const base = (options.base ?? '/api/v1/sse').replace(/\/+$/, '');
  const endTimeoutMs = options.endTimeoutMs ?? 10_000;
  const streamOptions = { endTimeoutMs };
  /** Responses of open (or ending) streams, for `app.close()`. */
  const open = new Set<ServerResponse>();

  const plugin = async (app: FastifyInstance) => {
    // The hub reads the body itself, once: this context's only parser leaves it unread.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));

    app.addHook('preClose', async () => {
      await hub.close();
      const flushed = [...open].map(
        (res) =>
          new Promise<void>((resolve) => {
            if (res.writableFinished || res.destroyed) return resolve();
            res.once('close', resolve);
            res.once('finish', resolve);
          }),
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(flushed),
        new Promise((resolve) => {
          timer = setTimeout(resolve, endTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
    });

    const route = async (request: FastifyRequest, reply: FastifyReply) => {
      const state = { abandoned: false };
      const result = await handle(toHubRequest(request, state));
      switch (result.kind) {
        case 'pass':
          return reply.callNotFound();
        case 'response':
          reply.code(result.status).headers(result.headers);
          // A refused body that was not read to its end: the connection closes after the answer.
          if (state.abandoned) reply.header('connection', 'close');
          return reply.send(result.body);
        case 'stream': {
          reply.hijack();
          const res = reply.raw;
          open.add(res);
          res.once('close', () => open.delete(res));
          openNodeStream(request.raw, res, result, {
            ...streamOptions,
            headers: stringHeaders(reply.getHeaders()),
          });
          return reply;
        }
      }
    };
    for (const url of [base || '/', `${base}/*`]) {
      app.route({ method: METHODS, url, exposeHeadRoute: false, handler: route });
    }
  };
  return fp(plugin, { fastify: '5.x', name: '@ssehub/fastify', encapsulate: true });
}

/**
 * Turns a Fastify request into core's `HubRequest`: the raw Node request's method, URL and
 * headers, `request.ip` as the client address, and a body read from the raw request (past the
 * limit `state.abandoned` asks for `Connection: close`, as in @ssehub/node).
 */
export function toHubRequest(
  request: FastifyRequest,
  state: { abandoned: boolean } = { abandoned: false },
): HubRequest {
  // The node adapter's request, with Fastify's view of the address (`trustProxy`) and its body.
  return {
    ...toNodeHubRequest(request.raw, state),
    remoteAddress: request.ip,
    readBody: (limit) => readBody(request, limit, state),
  };
}

/**
 * Reads a Fastify request's body as UTF-8 text, at most `limit` bytes, rejecting with core's
 * `BodyTooLargeError` past it. A body a Fastify parser already produced (`request.body`) is used
 * as it is; otherwise the raw request is read, as @ssehub/node's `readBody` does.
 */
export function readBody(
  request: FastifyRequest,
  limit: number,
  state: { abandoned: boolean } = { abandoned: false },
): Promise<string> {
  const parsed = request.body === undefined ? undefined : { value: request.body };
  return readNodeBody(request.raw, limit, state, parsed);
}

function stringHeaders(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}
