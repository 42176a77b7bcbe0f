import type { IncomingMessage, Server } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hub } from '@ssehub/core';
import { type Context, Hono } from 'hono';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sseHandler } from './index.js';

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

const KEY = 'k';
const hubs: Hub[] = [];
const servers: Server[] = [];

beforeEach(() => {
  streamSinks.count = 0;
});

afterEach(async () => {
  await Promise.all(hubs.splice(0).map((hub) => hub.close()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

function newHub(): Hub {
  const hub = new Hub();
  hubs.push(hub);
  return hub;
}

async function listen(app: Hono): Promise<string> {
  const server = await new Promise<Server>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(s as Server),
    );
  });
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await tick(5);
  }
}

function open(url: string) {
  const chunks: Buffer[] = [];
  const request = httpRequest(url);
  request.end();
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', (res) => {
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      resolve(res);
    });
    request.once('error', reject);
  });
  return { request, response, text: () => Buffer.concat(chunks).toString() };
}

describe('on @hono/node-server: the node path', () => {
  it('answers JSON routes, passes other paths on, and writes streams to the Node response', async () => {
    const hub = newHub();
    const app = new Hono();
    app.use(async (c, next) => {
      c.header('x-upstream', 'yes');
      await next();
    });
    app.use(sseHandler(hub, { publisherKey: KEY }));
    app.get('/hello', (c) => c.text('hello'));
    const origin = await listen(app);
    const denied = await fetch(`${origin}/api/v1/sse/info`);
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ code: 401 });
    expect(await (await fetch(`${origin}/hello`)).text()).toBe('hello');

    const stream = open(`${origin}/api/v1/sse/stream/g/u`);
    const res = await stream.response;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['x-upstream']).toBe('yes');
    await until(() => stream.text().includes('event: connected'), 'connected');
    const published = await fetch(`${origin}/api/v1/sse/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ group: 'g', id: 'u', event: 'live', data: 1 }),
    });
    expect(await published.json()).toEqual({ code: 200, data: { delivered: 1 } });
    await until(() => stream.text().includes('event: live'), 'the live event');
    expect(streamSinks.count).toBe(0);
    stream.request.destroy();
    await until(() => hub.connectionCount === 0, 'the release on client close');
  });

  it("takes the client address from the Node socket, or from Hono's getConnInfo", async () => {
    for (const options of [
      {},
      { clientAddress: (c: Context) => getConnInfo(c).remote.address },
    ] as const) {
      const app = new Hono();
      app.use(sseHandler(newHub(), { ...options, limits: { maxConnectionsPerIp: 1 } }));
      const origin = await listen(app);
      const first = open(`${origin}/api/v1/sse/stream/g/a`);
      expect((await first.response).statusCode).toBe(200);
      expect((await fetch(`${origin}/api/v1/sse/stream/g/b`)).status).toBe(429);
      first.request.destroy();
    }
  });
});

describe('elsewhere (app.request, Bun, Deno, Workers): the Web path', () => {
  it('answers a Web stream', async () => {
    const hub = newHub();
    const app = new Hono().use(sseHandler(hub));
    const response = await app.request('/api/v1/sse/stream/g/u');
    expect(response.status).toBe(200);
    expect(streamSinks.count).toBe(1);
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain('retry:');
    await reader.cancel();
    await until(() => hub.connectionCount === 0, 'the release on cancel');
  });

  it('refuses a per-IP limit at start where the runtime passes no addresses (Workers)', () => {
    vi.stubGlobal('navigator', { userAgent: 'Cloudflare-Workers' });
    try {
      expect(() => sseHandler(newHub(), { limits: { maxConnectionsPerIp: 1 } })).toThrow(
        /maxConnectionsPerIp/,
      );
      expect(() =>
        sseHandler(newHub(), {
          limits: { maxConnectionsPerIp: 1 },
          trustProxyHeader: 'cf-connecting-ip',
        }),
      ).not.toThrow();
    } finally {
      vi.unstubAllGlobals();
    }
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
