import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Hub } from '@ssehub/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { sseHandler } from './index.js';

const KEY = 'k';
const apps: FastifyInstance[] = [];
const hubs: Hub[] = [];

afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
  await Promise.all(hubs.splice(0).map((hub) => hub.close()));
});

async function start(
  setup: (app: FastifyInstance, hub: Hub) => void | Promise<void> = () => {},
  options: Parameters<typeof sseHandler>[1] = { publisherKey: KEY },
) {
  const hub = new Hub();
  hubs.push(hub);
  const app = Fastify();
  apps.push(app);
  await setup(app, hub);
  await app.register(sseHandler(hub, options));
  const origin = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, hub, origin };
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
  let ended = false;
  const request = httpRequest(url);
  request.end();
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once('response', (res) => {
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => (ended = true));
      res.once('close', () => (ended = true));
      resolve(res);
    });
    request.once('error', reject);
  });
  return { request, response, text: () => Buffer.concat(chunks).toString(), ended: () => ended };
}

const publish = (origin: string, body: string, type = 'application/json') =>
  fetch(`${origin}/api/v1/sse/publish`, {
    method: 'POST',
    headers: { 'content-type': type, authorization: `Bearer ${KEY}` },
    body,
  });

describe('@ssehub/fastify', () => {
  it('answers JSON routes through Fastify (onSend hooks see them) and leaves other routes to the app', async () => {
    const { origin } = await start((app) => {
      app.addHook('onSend', async (_request, reply, payload) => {
        reply.header('x-on-send', 'yes');
        return payload;
      });
      app.post('/echo', async (request) => request.body);
    });
    const denied = await fetch(`${origin}/api/v1/sse/info`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('content-type')).toMatch(/^application\/json/);
    expect(denied.headers.get('x-on-send')).toBe('yes');
    expect(await denied.json()).toMatchObject({ code: 401 });
    // The app's own JSON parser still works on its routes; the hub's routes read bodies themselves.
    const echo = await fetch(`${origin}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(await echo.json()).toEqual({ a: 1 });
    // The hub's JSON errors, not Fastify's parser's: bad JSON 400, text 415, too large 413.
    expect((await publish(origin, '{bad')).status).toBe(400);
    expect((await publish(origin, 'hi', 'text/plain')).status).toBe(415);
    const large = await publish(origin, JSON.stringify({ data: 'x'.repeat(70 * 1024) }));
    expect(large.status).toBe(413);
    expect(await large.json()).toMatchObject({ code: 413 });
    expect((await fetch(`${origin}/api/v1/sse/nowhere`)).status).toBe(404);
  });

  it('streams on the raw response with headers from earlier hooks, and releases on client close', async () => {
    const { hub, origin } = await start((app) => {
      app.addHook('onRequest', async (_request, reply) => {
        reply.header('x-upstream', 'yes');
      });
    });
    const stream = open(`${origin}/api/v1/sse/stream/g/u`);
    const res = await stream.response;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['x-upstream']).toBe('yes');
    await until(() => stream.text().includes('event: connected'), 'connected');
    const sent = await publish(
      origin,
      JSON.stringify({ group: 'g', id: 'u', event: 'live', data: 1 }),
    );
    expect(await sent.json()).toEqual({ code: 200, data: { delivered: 1 } });
    await until(() => stream.text().includes('event: live'), 'the live event');
    stream.request.destroy();
    await until(() => hub.connectionCount === 0, 'the release on client close');
  });

  it('counts the per-IP limit on request.ip', async () => {
    const { origin } = await start(undefined, { limits: { maxConnectionsPerIp: 1 } });
    const first = open(`${origin}/api/v1/sse/stream/g/a`);
    expect((await first.response).statusCode).toBe(200);
    const second = await fetch(`${origin}/api/v1/sse/stream/g/b`);
    expect(second.status).toBe(429);
    first.request.destroy();
  });

  it('app.close() ends every stream after its last event, then closes', async () => {
    const { app, hub, origin } = await start();
    const stream = open(`${origin}/api/v1/sse/stream/g/u`);
    await stream.response;
    await until(() => stream.text().includes('event: connected'), 'connected');
    await hub.send({ group: 'g', id: 'u' }, { event: 'last', data: 1 });
    apps.splice(apps.indexOf(app), 1);
    await app.close();
    await until(stream.ended, 'the stream to end');
    expect(stream.text()).toContain('event: last');
    expect(hub.closed).toBe(true);
  });
});

describe('exports', () => {
  // The table every adapter README shows: the same names for the same things in every adapter.
  it('exports the names the adapters share, and nothing else at runtime', async () => {
    expect(Object.keys(await import('./index.js')).sort()).toEqual([
      'readBody',
      'sseHandler',
      'toHubRequest',
    ]);
  });
});
