import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { Hub } from '@ssehub/core';
import { H3, serve, toNodeHandler } from 'h3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeGracefully, sseHandler } from './index.js';

// Counts Web stream sinks, to tell the node path (none) from the Web path (one per stream).
const streamSinks = vi.hoisted(() => ({ count: 0 }));
vi.mock('@ssehub/core/adapter', async (importOriginal) => {
  const core = await importOriginal<typeof import('@ssehub/core/adapter')>();
  return {
    ...core,
    createStreamSink: (...args: Parameters<typeof core.createStreamSink>) => {
      streamSinks.count++;
      return core.createStreamSink(...args);
    },
  };
});

const hubs: Hub[] = [];
const servers: ReturnType<typeof serve>[] = [];

beforeEach(() => {
  streamSinks.count = 0;
});

afterEach(async () => {
  await Promise.all(hubs.splice(0).map((hub) => hub.close()));
  await Promise.all(servers.splice(0).map((server) => server.close(true)));
});

function newHub(options: ConstructorParameters<typeof Hub>[0] = {}): Hub {
  const hub = new Hub(options);
  hubs.push(hub);
  return hub;
}

async function listen(app: H3): Promise<string> {
  const server = serve(app, { port: 0, hostname: '127.0.0.1', silent: true });
  servers.push(server);
  await server.ready();
  return server.url!.replace(/\/$/, '');
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(5);
  }
}

function open(url: string) {
  const chunks: Buffer[] = [];
  let ended = false;
  const request = httpRequest(url);
  request.end();
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', (res) => {
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => (ended = true));
      resolve(res);
    });
    request.once('error', reject);
  });
  return { request, response, text: () => Buffer.concat(chunks).toString(), ended: () => ended };
}

async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  until: (text: string) => boolean,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  while (!until(text)) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

describe('on node:http (serve from h3): the node path', () => {
  it('answers JSON routes and passes other paths on as middleware', async () => {
    const hub = newHub();
    const app = new H3().use(sseHandler(hub, { publisherKey: 'k' })).get('/hello', () => 'hello');
    const origin = await listen(app);
    const denied = await fetch(`${origin}/api/v1/sse/info`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('content-type')).toMatch(/^application\/json/);
    const info = await fetch(`${origin}/api/v1/sse/info`, {
      headers: { authorization: 'Bearer k' },
    });
    expect(((await info.json()) as { code: number }).code).toBe(200);
    expect(await (await fetch(`${origin}/hello`)).text()).toBe('hello');
    const preflight = await fetch(`${origin}/api/v1/sse/publish`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
  });

  it('mounts as a route on /api/v1/sse/**', async () => {
    const hub = newHub();
    const app = new H3().all('/api/v1/sse/**', sseHandler(hub, { publisherKey: 'k' }));
    const origin = await listen(app);
    const info = await fetch(`${origin}/api/v1/sse/info`, {
      headers: { authorization: 'Bearer k' },
    });
    expect(((await info.json()) as { code: number }).code).toBe(200);
    const stream = open(`${origin}/api/v1/sse/stream?group=g&id=u`);
    expect((await stream.response).statusCode).toBe(200);
    await until(() => stream.text().includes('event: connected'), 'connected');
    stream.request.destroy();
  });

  it('writes streams straight to the ServerResponse, with upstream headers', async () => {
    const hub = newHub();
    const app = new H3()
      .use((event) => {
        event.res.headers.set('x-upstream', 'yes');
      })
      .use(sseHandler(hub, { publisherKey: 'k' }));
    const origin = await listen(app);
    const stream = open(`${origin}/api/v1/sse/stream/g/u`);
    const res = await stream.response;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['x-upstream']).toBe('yes');
    await until(() => stream.text().includes('event: connected'), 'connected');
    const published = await fetch(`${origin}/api/v1/sse/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: JSON.stringify({ group: 'g', id: 'u', event: 'live', data: 1 }),
    });
    expect(await published.json()).toEqual({ code: 200, data: { delivered: 1 } });
    await until(() => stream.text().includes('event: live'), 'the live event');
    expect(stream.ended()).toBe(false);
    expect(streamSinks.count).toBe(0);
    stream.request.destroy();
    await until(() => hub.connectionCount === 0, 'the release on client close');
  });

  it('keeps a quiet stream open past the server timeout', async () => {
    const hub = newHub();
    const origin = await listen(new H3().use(sseHandler(hub)));
    servers.at(-1)!.node!.server!.setTimeout(200);
    const stream = open(`${origin}/api/v1/sse/stream/g/u`);
    await stream.response;
    await tick(600);
    expect(stream.ended()).toBe(false);
    await hub.send({ group: 'g', id: 'u' }, { event: 'late', data: 1 });
    await until(() => stream.text().includes('event: late'), 'the late event');
    stream.request.destroy();
  });

  it('takes the node path under toNodeHandler(app) on a plain node:http server', async () => {
    const hub = newHub();
    const server = createServer(toNodeHandler(new H3().use(sseHandler(hub))));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const stream = open(`http://127.0.0.1:${port}/api/v1/sse/stream/g/u`);
      expect((await stream.response).statusCode).toBe(200);
      await hub.send({ group: 'g', id: 'u' }, { event: 'live', data: 1 });
      await until(() => stream.text().includes('event: live'), 'the live event');
      expect(streamSinks.count).toBe(0);
      stream.request.destroy();
      await until(() => hub.connectionCount === 0, 'the release on client close');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('closeGracefully: h3 on node:http flushes what a client that is behind is owed, then closes', async () => {
    const hub = newHub({ maxQueuedEvents: 10_000, maxQueuedBytes: 64 * 1024 * 1024 });
    const server = createServer(toNodeHandler(new H3().use(sseHandler(hub))));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const stream = open(`http://127.0.0.1:${port}/api/v1/sse/stream/g/u`);
    const response = await stream.response;
    await until(() => stream.text().includes('event: connected'), 'the connected event');
    response.pause();
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 50; i++) await hub.send({ group: 'g', id: 'u' }, { event: 'n', data: big });
    const closing = closeGracefully(server, hub);
    await tick(200);
    response.resume();
    await closing;
    await until(stream.ended, 'a clean end of the response', 10_000);
    expect(stream.text().match(/event: n\n/g)).toHaveLength(50);
    expect(server.listening).toBe(false);
  });

  it('ends the response when the hub disconnects the client', async () => {
    const hub = newHub();
    const origin = await listen(new H3().use(sseHandler(hub)));
    const stream = open(`${origin}/api/v1/sse/stream/g/u`);
    await stream.response;
    await until(() => hub.connectionCount === 1, 'the connection');
    expect(hub.disconnect({ group: 'g', id: 'u' })).toBe(1);
    await until(stream.ended, 'the end of the response');
  });

  it('answers 503 JSON with Retry-After to a stream request on a closed hub', async () => {
    const hub = newHub();
    const origin = await listen(new H3().use(sseHandler(hub)));
    await hub.close();
    const response = await fetch(`${origin}/api/v1/sse/stream/g/u`);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toMatchObject({ code: 503, error: 'service_unavailable' });
    expect(hub.connectionCount).toBe(0);
  });

  it('answers 413 past maxBodyBytes', async () => {
    const origin = await listen(
      new H3().use(sseHandler(newHub(), { maxBodyBytes: 64, publisherKey: 'k' })),
    );
    const response = await fetch(`${origin}/api/v1/sse/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: JSON.stringify({ data: 'x'.repeat(1000) }),
    });
    expect(response.status).toBe(413);
  });

  it('applies the slow-client policy to a client that does not read', async () => {
    const hub = newHub({ maxQueuedEvents: 4 });
    const origin = await listen(new H3().use(sseHandler(hub)));
    const socket = connect(Number(new URL(origin).port), '127.0.0.1');
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
});

describe('without node:http (app.fetch, as on Bun and Deno): the Web path', () => {
  it('answers a Web stream and releases it on abort', async () => {
    const hub = newHub();
    const app = new H3().use(sseHandler(hub));
    const abort = new AbortController();
    const response = await app.fetch(
      new Request('http://localhost/api/v1/sse/stream/g/u', { signal: abort.signal }),
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('connection')).toBeNull();
    expect(streamSinks.count).toBe(1);
    const reader = response.body!.getReader();
    await readUntil(reader, (t) => t.includes('event: connected'));
    await hub.send({ group: 'g', id: 'u' }, { event: 'live', data: 1 });
    expect(await readUntil(reader, (t) => t.includes('event: live'))).toContain('data: 1');
    abort.abort();
    await until(() => hub.connectionCount === 0, 'the release on abort');
  });

  it('releases the connection when the body is cancelled', async () => {
    const hub = newHub();
    const response = await new H3()
      .use(sseHandler(hub))
      .fetch(new Request('http://localhost/api/v1/sse/stream/g/u'));
    const reader = response.body!.getReader();
    await readUntil(reader, (t) => t.includes('connected'));
    await reader.cancel();
    await until(() => hub.connectionCount === 0, 'the release on cancel');
  });

  it('disconnects a client that does not read', async () => {
    const hub = newHub({ maxQueuedEvents: 5 });
    const response = await new H3()
      .use(sseHandler(hub, { highWaterMark: 4096 }))
      .fetch(new Request('http://localhost/api/v1/sse/stream/g/u'));
    expect(response.status).toBe(200);
    for (let i = 0; i < 20 && hub.connectionCount > 0; i++) {
      await hub.send({ group: 'g', id: 'u' }, { data: 'y'.repeat(1000) });
      await tick();
    }
    expect(hub.connectionCount).toBe(0);
    expect(hub.info().counters.slowDisconnects).toBe(1);
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
