import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hub } from '@ssehub/core';
import { Hono } from 'hono';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { readBody, sseHandler, toHubRequest } from './index.js';

const BASE = 'http://localhost/api/v1/sse';
const hubs: Hub[] = [];

function newHub(options: ConstructorParameters<typeof Hub>[0] = {}): Hub {
  const hub = new Hub(options);
  hubs.push(hub);
  return hub;
}

afterEach(async () => {
  await Promise.all(hubs.splice(0).map((hub) => hub.close()));
});

/** Reads a stream body until `until` matches the text so far. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  until: (text: string) => boolean,
  timeoutMs = 2_000,
): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  const deadline = Date.now() + timeoutMs;
  while (!until(text)) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(text)}`);
    const result = await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('read timeout')), left)),
    ]);
    if (result.done) break;
    text += decoder.decode(result.value, { stream: true });
  }
  return text;
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

describe('request conversion', () => {
  it('passes method, url, headers and the remote address to core', () => {
    const request = new Request(`${BASE}/info`, { headers: { 'x-a': '1' } });
    const hubRequest = toHubRequest(request, { remoteAddress: '10.0.0.1' });
    expect(hubRequest.method).toBe('GET');
    expect(hubRequest.url).toBe(`${BASE}/info`);
    expect(hubRequest.headers.get('x-a')).toBe('1');
    expect(hubRequest.remoteAddress).toBe('10.0.0.1');
    // Deno's ServeHandlerInfo shape.
    expect(toHubRequest(request, { remoteAddr: { hostname: '::1' } }).remoteAddress).toBe('::1');
    // Bun's Server.
    const server = { requestIP: (r: Request) => (r === request ? { address: '10.0.0.2' } : null) };
    expect(toHubRequest(request, server).remoteAddress).toBe('10.0.0.2');
  });

  it('feeds the remote address to the per-address limit', async () => {
    const handle = sseHandler(newHub(), { limits: { maxConnectionsPerIp: 1 } });
    const open = (remoteAddress: string) =>
      handle(new Request(`${BASE}/stream/g/${remoteAddress}`), { remoteAddress });
    const first = await open('10.0.0.1');
    expect(first.status).toBe(200);
    expect((await open('10.0.0.1')).status).toBe(429);
    expect((await open('10.0.0.2')).status).toBe(200);
    await first.body!.cancel();
    expect((await open('10.0.0.1')).status).toBe(200);
  });

  it('learns addresses through clientAddress, and trustProxyHeader before it', async () => {
    const fromHeader = sseHandler(newHub(), {
      limits: { maxConnectionsPerIp: 1 },
      trustProxyHeader: 'CF-Connecting-IP',
    });
    const viaProxy = (ip: string, id: string) =>
      fromHeader(
        new Request(`${BASE}/stream/g/${id}`, {
          headers: { 'cf-connecting-ip': `${ip}, 10.9.9.9` },
        }),
      );
    expect((await viaProxy('203.0.113.1', 'a')).status).toBe(200);
    expect((await viaProxy('203.0.113.1', 'b')).status).toBe(429);
    expect((await viaProxy('203.0.113.2', 'c')).status).toBe(200);
    const custom = sseHandler(newHub(), {
      limits: { maxConnectionsPerIp: 1 },
      clientAddress: (request) => new URL(request.url).searchParams.get('from') ?? undefined,
    });
    expect((await custom(new Request(`${BASE}/stream/g/a?from=x`))).status).toBe(200);
    expect((await custom(new Request(`${BASE}/stream/g/b?from=x`))).status).toBe(429);
  });

  it('a per-IP limit with no address is an error: at start where the runtime passes none, per request otherwise', async () => {
    // Node passes addresses (@hono/node-server's bindings): a request without any is refused.
    const handle = sseHandler(newHub(), { limits: { maxConnectionsPerIp: 1 } });
    const refused = await handle(new Request(`${BASE}/stream/g/a`));
    expect(refused.status).toBe(500);
    expect(await refused.json()).toMatchObject({ code: 500 });
    // On Workers (no address from the runtime) it fails at start, naming the fix.
    vi.stubGlobal('navigator', { userAgent: 'Cloudflare-Workers' });
    try {
      expect(() => sseHandler(newHub(), { limits: { maxConnectionsPerIp: 1 } })).toThrow(
        /trustProxyHeader/,
      );
      expect(() =>
        sseHandler(newHub(), {
          limits: { maxConnectionsPerIp: 1 },
          trustProxyHeader: 'cf-connecting-ip',
        }),
      ).not.toThrow();
      expect(() => sseHandler(newHub())).not.toThrow();
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('answers JSON routes with their status and headers', async () => {
    const handle = sseHandler(newHub(), { publisherKey: 'k' });
    const denied = await handle(new Request(`${BASE}/info`));
    expect(denied.status).toBe(401);
    expect(denied.headers.get('content-type')).toMatch(/^application\/json/);
    const info = await handle(
      new Request(`${BASE}/info`, { headers: { authorization: 'Bearer k' } }),
    );
    expect(info.status).toBe(200);
    expect(
      ((await info.json()) as { data: { connectionCount: number } }).data.connectionCount,
    ).toBe(0);
  });

  it('answers 204 preflights and HEAD without a body', async () => {
    const handle = sseHandler(newHub(), { cors: { origin: ['https://a.example'] } });
    const preflight = await handle(
      new Request(`${BASE}/publish`, {
        method: 'OPTIONS',
        headers: { origin: 'https://a.example' },
      }),
    );
    expect(preflight.status).toBe(204);
    expect(preflight.body).toBeNull();
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS');
    const head = await handle(new Request(`${BASE}/stream/g/u`, { method: 'HEAD' }));
    expect(head.status).toBe(200);
    expect(head.body).toBeNull();
    expect(head.headers.get('content-type')).toMatch(/^text\/event-stream/);
  });

  it('answers 404 JSON outside base, or resolves undefined with fallthrough', async () => {
    const hub = newHub();
    const notFound = await sseHandler(hub)(new Request('http://localhost/elsewhere'));
    expect(notFound.status).toBe(404);
    expect(((await notFound.json()) as { error: string }).error).toBe('not_found');
    const middleware = sseHandler(hub, { fallthrough: true });
    expect(await middleware(new Request('http://localhost/elsewhere'))).toBeUndefined();
    expect((await middleware(new Request(`${BASE}/nope`)))?.status).toBe(404);
  });

  it('publishes a JSON body to a connected stream', async () => {
    const hub = newHub();
    const handle = sseHandler(hub, { publisherKey: 'k' });
    const response = await handle(new Request(`${BASE}/stream/g/u`));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('connection')).toBeNull();
    const reader = response.body!.getReader();
    expect(await readUntil(reader, (t) => t.includes('event: connected'))).toMatch(
      /^retry: \d{4}\n/,
    );
    const published = await handle(
      new Request(`${BASE}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
        body: JSON.stringify({ group: 'g', id: 'u', event: 'note', data: { n: 1 } }),
      }),
    );
    expect(await published.json()).toEqual({ code: 200, data: { delivered: 1 } });
    expect(await readUntil(reader, (t) => t.includes('data: {"n":1}'))).toContain('event: note');
    await reader.cancel();
  });

  it('answers 503 when the hub closed before the stream connected', async () => {
    const hub = newHub();
    await hub.close();
    const response = await sseHandler(hub)(new Request(`${BASE}/stream/g/u`));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(await response.json()).toMatchObject({ code: 503, error: 'service_unavailable' });
  });
});

describe('body limit', () => {
  const chunked = (parts: number, size: number) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < parts; i++) controller.enqueue(new Uint8Array(size).fill(0x20));
        controller.close();
      },
    });

  it('reads a body within the limit, in several chunks', async () => {
    const request = new Request('http://localhost/', {
      method: 'POST',
      body: chunked(3, 10),
      duplex: 'half',
    } as RequestInit);
    expect(await readBody(request, 30)).toBe(' '.repeat(30));
  });

  it('rejects a body without Content-Length as soon as it passes the limit', async () => {
    let pulled = 0;
    let cancelled = false;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(64 * 1024));
      },
      cancel() {
        cancelled = true;
      },
    });
    const request = new Request('http://localhost/', {
      method: 'POST',
      body: endless,
      duplex: 'half',
    } as RequestInit);
    await expect(readBody(request, 100 * 1024)).rejects.toMatchObject({
      name: 'BodyTooLargeError',
    });
    // Answered long before the background reading ends.
    expect(pulled).toBeLessThan(100);
    expect(cancelled).toBe(false);
    // The rest is read and dropped in the background (so that the client reads the 413 rather
    // than a reset), at most 64 MiB more: then the body is cancelled.
    while (!cancelled) await tick(5);
    expect(pulled * 64 * 1024).toBeGreaterThan(64 * 1024 * 1024);
    expect(pulled * 64 * 1024).toBeLessThan(65 * 1024 * 1024);
  });

  it('cancels a refused body that stops arriving after 10 s', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let cancelled = false;
      let sent = false;
      const stalled = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (!sent) controller.enqueue(new Uint8Array(1024));
          sent = true;
          return new Promise(() => {});
        },
        cancel() {
          cancelled = true;
        },
      });
      const request = new Request('http://localhost/', {
        method: 'POST',
        headers: { 'content-length': '1000000' },
        body: stalled,
        duplex: 'half',
      } as RequestInit);
      await expect(readBody(request, 100)).rejects.toMatchObject({ name: 'BodyTooLargeError' });
      vi.advanceTimersByTime(9_000);
      await Promise.resolve();
      expect(cancelled).toBe(false);
      vi.advanceTimersByTime(1_000);
      for (let i = 0; i < 10 && !cancelled; i++) await Promise.resolve();
      expect(cancelled).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses a declared Content-Length over the limit before reading', async () => {
    const request = new Request('http://localhost/', {
      method: 'POST',
      headers: { 'content-length': '100000' },
      body: chunked(1, 10),
      duplex: 'half',
    } as RequestInit);
    await expect(readBody(request, 100)).rejects.toMatchObject({ name: 'BodyTooLargeError' });
  });

  it('answers 413 on publish past maxBodyBytes', async () => {
    const handle = sseHandler(newHub(), { maxBodyBytes: 16, publisherKey: 'k' });
    const response = await handle(
      new Request(`${BASE}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
        body: JSON.stringify({ data: 'x'.repeat(100) }),
      }),
    );
    expect(response.status).toBe(413);
  });
});

describe('abort cleanup', () => {
  it('releases the connection when the request signal aborts', async () => {
    const hub = newHub();
    const abort = new AbortController();
    const response = await sseHandler(hub)(
      new Request(`${BASE}/stream/g/u`, { signal: abort.signal }),
    );
    expect(response.status).toBe(200);
    expect(hub.connectionCount).toBe(1);
    abort.abort();
    expect(hub.connectionCount).toBe(0);
    expect(hub.info().counters.connectionsClosed).toBe(1);
  });

  it('releases the connection when the body is cancelled', async () => {
    const hub = newHub();
    const response = await sseHandler(hub)(new Request(`${BASE}/stream/g/u`));
    const reader = response.body!.getReader();
    await readUntil(reader, (t) => t.includes('connected'));
    await reader.cancel();
    expect(hub.connectionCount).toBe(0);
  });

  it('ends the body when the hub disconnects the client', async () => {
    const hub = newHub();
    const response = await sseHandler(hub)(new Request(`${BASE}/stream/g/u`));
    const reader = response.body!.getReader();
    await readUntil(reader, (t) => t.includes('connected'));
    expect(hub.disconnect({ group: 'g', id: 'u' })).toBe(1);
    const { done } = await reader.read();
    expect(done).toBe(true);
  });
});

describe('backpressure on the stream sink', () => {
  const flood = async (hub: Hub, count: number) => {
    for (let i = 0; i < count; i++) {
      await hub.send({ group: 'g', id: 'u' }, { event: 'x', data: 'y'.repeat(1000) });
      await tick();
    }
  };

  it('disconnects a client that does not read (disconnect policy)', async () => {
    const hub = newHub({ maxQueuedEvents: 5 });
    const response = await sseHandler(hub, { highWaterMark: 4096 })(
      new Request(`${BASE}/stream/g/u`),
    );
    expect(response.status).toBe(200);
    await flood(hub, 20);
    expect(hub.connectionCount).toBe(0);
    expect(hub.info().counters.slowDisconnects).toBe(1);
    // A client that does not read would never read a graceful end: the body is aborted, the
    // runtime drops the connection, and the browser reconnects and replays.
    await expect(new Response(response.body).text()).rejects.toThrow(/slow/);
  });

  it('drops the oldest events, then delivers again once the reader reads (drop-oldest)', async () => {
    const hub = newHub({ maxQueuedEvents: 5, slowClientPolicy: 'drop-oldest' });
    const response = await sseHandler(hub, { highWaterMark: 4096 })(
      new Request(`${BASE}/stream/g/u`),
    );
    await flood(hub, 20);
    expect(hub.connectionCount).toBe(1);
    expect(hub.info().counters.eventsDropped).toBeGreaterThan(0);
    const reader = response.body!.getReader();
    await hub.send({ group: 'g', id: 'u' }, { event: 'last', data: 1 });
    expect(await readUntil(reader, (t) => t.includes('event: last'))).toContain('event: x');
    await reader.cancel();
  });
});

describe('over HTTP on Node (@hono/node-server, Hono middleware)', () => {
  it('streams events as they are sent and lets other routes through', async () => {
    const hub = newHub();
    const app = new Hono();
    const middleware = sseHandler(hub, { fallthrough: true });
    app.use(async (c, next) => (await middleware(c.req.raw)) ?? next());
    app.get('/hello', (c) => c.text('hello'));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await (await fetch(`${origin}/hello`)).text()).toBe('hello');
      const abort = new AbortController();
      const response = await fetch(`${origin}/api/v1/sse/stream?group=g&id=u`, {
        signal: abort.signal,
      });
      const reader = response.body!.getReader();
      await readUntil(reader, (t) => t.includes('connected'));
      await hub.send({ group: 'g', id: 'u' }, { event: 'live', data: 'now' });
      expect(await readUntil(reader, (t) => t.includes('event: live'))).toContain('data: now');
      abort.abort();
      const deadline = Date.now() + 2_000;
      while (hub.connectionCount > 0 && Date.now() < deadline) await tick(10);
      expect(hub.connectionCount).toBe(0);
      // A closed hub refuses streams over HTTP too.
      await hub.close();
      const refused = await fetch(`${origin}/api/v1/sse/stream/g/u`);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      expect(await refused.json()).toMatchObject({ code: 503 });
    } finally {
      const closed = new Promise((resolve) => server.close(resolve));
      (server as import('node:http').Server).closeAllConnections();
      await closed;
    }
  });
  it('a client uploading past maxBodyBytes reads the 413, not a reset (20 tries of 1 MiB, chunked)', async () => {
    const handle = sseHandler(newHub(), { publisherKey: 'k' });
    const server = serve({ fetch: (request) => handle(request), port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const bytes = new Uint8Array(1024 * 1024).fill(0x61);
    try {
      const answers: (number | string)[] = [];
      for (let i = 0; i < 20; i++) {
        let at = 0;
        const body = new ReadableStream<Uint8Array>({
          pull(controller) {
            if (at >= bytes.byteLength) return controller.close();
            controller.enqueue(bytes.subarray(at, at + 64 * 1024));
            at += 64 * 1024;
          },
        });
        try {
          const response = await fetch(`${origin}/api/v1/sse/publish`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
            body,
            duplex: 'half',
          } as RequestInit);
          answers.push(((await response.json()) as { code: number }).code);
        } catch (error) {
          answers.push(String((error as { cause?: { code?: string } }).cause?.code ?? error));
        }
      }
      expect(answers).toEqual(Array(20).fill(413));
    } finally {
      const closed = new Promise((resolve) => server.close(resolve));
      (server as import('node:http').Server).closeAllConnections();
      await closed;
    }
  });
});

describe('exports', () => {
  // The table every adapter README shows: the same names for the same things in every adapter.
  it('exports the names the adapters share, and nothing else at runtime', async () => {
    expect(Object.keys(await import('./index.js')).sort()).toEqual([
      'clientAddressOf',
      'readBody',
      'runtimeClientAddress',
      'sseHandler',
      'toFetchResponse',
      'toHubRequest',
    ]);
  });
});
