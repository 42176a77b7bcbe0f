import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { gunzipSync } from 'node:zlib';
import Router from '@koa/router';
import { Hub } from '@ssehub/core';
import Koa from 'koa';
import compress from 'koa-compress';
import { afterEach, describe, expect, it } from 'vitest';
import { sseHandler } from './index.js';

const hubs: Hub[] = [];
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(hubs.splice(0).map((hub) => hub.close()));
  for (const server of servers.splice(0)) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

function newHub(options: ConstructorParameters<typeof Hub>[0] = {}): Hub {
  const hub = new Hub(options);
  hubs.push(hub);
  return hub;
}

async function listen(app: Koa): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((resolve) => server.once('listening', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(5);
  }
}

/** Opens a request with node:http (no automatic decompression) and collects the raw body. */
function open(url: string, headers: Record<string, string> = {}, method = 'GET') {
  const chunks: Buffer[] = [];
  let ended = false;
  const request = httpRequest(url, { method, headers });
  if (method === 'GET') request.end();
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', (res) => {
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => (ended = true));
      resolve(res);
    });
    request.once('error', reject);
  });
  return {
    request,
    response,
    text: () => Buffer.concat(chunks).toString('utf8'),
    raw: () => Buffer.concat(chunks),
    ended: () => ended,
  };
}

describe('@ssehub/koa', () => {
  it('answers JSON routes through Koa and passes other paths to next()', async () => {
    const hub = newHub();
    const app = new Koa();
    app.use(async (ctx, next) => {
      ctx.set('x-upstream', 'yes');
      await next();
    });
    app.use(sseHandler(hub, { publisherKey: 'k' }));
    app.use((ctx) => {
      ctx.body = 'downstream';
    });
    const origin = await listen(app);
    const denied = await fetch(`${origin}/api/v1/sse/info`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('content-type')).toMatch(/^application\/json/);
    expect(denied.headers.get('x-upstream')).toBe('yes');
    expect(((await denied.json()) as { error: string }).error).toBe('unauthorized');
    const info = await fetch(`${origin}/api/v1/sse/info`, {
      headers: { authorization: 'Bearer k' },
    });
    expect(((await info.json()) as { code: number }).code).toBe(200);
    expect(await (await fetch(`${origin}/elsewhere`)).text()).toBe('downstream');
    const preflight = await fetch(`${origin}/api/v1/sse/publish`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('converts the request: path and query, headers, remote address', async () => {
    const hub = newHub();
    const seen: { group: string; id: string; token?: string; ip?: string }[] = [];
    const app = new Koa();
    app.use(
      sseHandler(hub, {
        authorize: ({ group, id, token, request }) => {
          seen.push({ group, id, token, ip: request.remoteAddress });
          return true;
        },
      }),
    );
    const origin = await listen(app);
    const stream = open(`${origin}/api/v1/sse/stream?group=g&id=u`, {
      authorization: 'Bearer t0k',
    });
    const res = await stream.response;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(seen).toEqual([{ group: 'g', id: 'u', token: 't0k', ip: expect.stringMatching(/127/) }]);
    stream.request.destroy();
  });

  it('streams unbuffered and uncompressed with koa-compress in the stack', async () => {
    const hub = newHub();
    const app = new Koa();
    app.use(compress({ threshold: 0 }));
    app.use(sseHandler(hub, { publisherKey: 'k' }));
    const origin = await listen(app);
    // JSON answers do go through koa-compress...
    const info = open(`${origin}/api/v1/sse/info`, {
      'accept-encoding': 'gzip',
      authorization: 'Bearer k',
    });
    const infoRes = await info.response;
    await until(info.ended, 'the info body');
    expect(infoRes.headers['content-encoding']).toBe('gzip');
    expect(JSON.parse(gunzipSync(info.raw()).toString()).code).toBe(200);
    // ...streams do not, and each event arrives while the response is still open.
    const stream = open(`${origin}/api/v1/sse/stream/g/u`, { 'accept-encoding': 'gzip, br' });
    const res = await stream.response;
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers['content-length']).toBeUndefined();
    await until(() => stream.text().includes('event: connected'), 'the connected event');
    await hub.send({ group: 'g', id: 'u' }, { event: 'live', data: 1 });
    await until(() => stream.text().includes('event: live'), 'the live event');
    expect(stream.ended()).toBe(false);
    stream.request.destroy();
  });

  it('enforces the body limit while reading, and closes the connection after a 413', async () => {
    const hub = newHub();
    const app = new Koa();
    app.use(sseHandler(hub, { maxBodyBytes: 1024, publisherKey: 'k' }));
    const origin = await listen(app);
    const request = open(
      `${origin}/api/v1/sse/publish`,
      {
        'content-type': 'application/json',
        authorization: 'Bearer k',
        'transfer-encoding': 'chunked',
      },
      'POST',
    );
    request.request.write(`{"data":"${'x'.repeat(4096)}`);
    const res = await request.response;
    expect(res.statusCode).toBe(413);
    expect(res.headers.connection).toBe('close');
    request.request.destroy();
    const ok = await fetch(`${origin}/api/v1/sse/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: JSON.stringify({ data: 'small' }),
    });
    expect(await ok.json()).toEqual({ code: 200, data: { delivered: 0 } });
  });

  it('takes a body a body parser already read', async () => {
    const hub = newHub();
    const app = new Koa();
    app.use(async (ctx, next) => {
      // What @koa/bodyparser leaves: the stream consumed, the parsed value on ctx.request.body.
      for await (const _ of ctx.req);
      (ctx.request as unknown as { body: unknown }).body = { group: 'g', data: 1 };
      await next();
    });
    app.use(sseHandler(hub, { publisherKey: 'k' }));
    const origin = await listen(app);
    const stream = open(`${origin}/api/v1/sse/stream/g/u`);
    await stream.response;
    const published = await fetch(`${origin}/api/v1/sse/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: '{"ignored": true}',
    });
    expect(await published.json()).toEqual({ code: 200, data: { delivered: 1 } });
    stream.request.destroy();
  });

  it('releases the connection when the client goes away', async () => {
    const hub = newHub();
    const app = new Koa();
    app.use(sseHandler(hub));
    const origin = await listen(app);
    const stream = open(`${origin}/api/v1/sse/stream/g/u`);
    await stream.response;
    expect(hub.connectionCount).toBe(1);
    stream.request.destroy();
    await until(() => hub.connectionCount === 0, 'the release');
    expect(hub.info().counters.connectionsClosed).toBe(1);
  });

  it('answers 503 JSON with Retry-After to a stream request on a closed hub', async () => {
    const hub = newHub();
    const app = new Koa();
    app.use(sseHandler(hub));
    const origin = await listen(app);
    await hub.close();
    const response = await fetch(`${origin}/api/v1/sse/stream/g/u`);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toMatchObject({ code: 503, error: 'service_unavailable' });
    expect(hub.connectionCount).toBe(0);
  });

  it('ends the response when the hub disconnects the client', async () => {
    const hub = newHub();
    const app = new Koa();
    app.use(sseHandler(hub));
    const origin = await listen(app);
    const stream = open(`${origin}/api/v1/sse/stream/g/u`);
    await stream.response;
    expect(hub.disconnect({ group: 'g', id: 'u' })).toBe(1);
    await until(stream.ended, 'the end of the response');
  });

  it('applies the slow-client policy to a client that does not read', async () => {
    const hub = newHub({ maxQueuedEvents: 4 });
    const app = new Koa();
    app.use(sseHandler(hub));
    const origin = await listen(app);
    const { port } = new URL(origin);
    // A raw socket that sends the request and then never reads.
    const socket = connect(Number(port), '127.0.0.1');
    socket.write('GET /api/v1/sse/stream/g/u HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.pause();
    await until(() => hub.connectionCount === 1, 'the connection');
    const big = 'y'.repeat(256 * 1024);
    for (let i = 0; i < 400 && hub.connectionCount === 1; i++) {
      await hub.send({ group: 'g', id: 'u' }, { data: big });
      await tick();
    }
    expect(hub.connectionCount).toBe(0);
    expect(hub.info().counters.slowDisconnects).toBe(1);
    socket.destroy();
  });

  it('keeps a quiet stream open past the server timeout', async () => {
    const hub = newHub();
    const app = new Koa();
    app.use(sseHandler(hub));
    const origin = await listen(app);
    servers.at(-1)!.setTimeout(200);
    const stream = open(`${origin}/api/v1/sse/stream/g/u`);
    await stream.response;
    await tick(600);
    expect(stream.ended()).toBe(false);
    await hub.send({ group: 'g', id: 'u' }, { event: 'late', data: 1 });
    await until(() => stream.text().includes('event: late'), 'the late event');
    stream.request.destroy();
  });

  it('mounts on @koa/router', async () => {
    const hub = newHub();
    const app = new Koa();
    const router = new Router();
    router.all('/api/v1/sse/{*path}', sseHandler(hub, { publisherKey: 'k' }));
    app.use(router.routes());
    const origin = await listen(app);
    const info = await fetch(`${origin}/api/v1/sse/info`, {
      headers: { authorization: 'Bearer k' },
    });
    expect(((await info.json()) as { code: number }).code).toBe(200);
  });
});

describe('exports', () => {
  // The table every adapter README shows: the same names for the same things in every adapter.
  it('exports the names the adapters share, and nothing else at runtime', async () => {
    expect(Object.keys(await import('./index.js')).sort()).toEqual([
      'closeGracefully',
      'readBody',
      'sseHandler',
      'toHubRequest',
    ]);
  });
});
