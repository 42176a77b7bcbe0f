import { createServer } from 'node:http';
import { Hub } from '@ssehub/core';
import compression from 'compression';
import express from 'express';
import { afterEach, describe, expect, test } from 'vitest';
import { sseHandler } from './index.js';
import { call, closeServer, listen, openStream, waitFor } from './testing.test-util.js';

const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(app: express.Express, hub: Hub) {
  const server = createServer(app);
  const origin = await listen(server);
  cleanups.push(async () => {
    await hub.close();
    await closeServer(server);
  });
  return origin;
}

const KEY = 'test-key';
const ADMIN = { authorization: `Bearer ${KEY}` };
const json = (body: unknown): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...ADMIN },
  body: JSON.stringify(body),
});

describe('sseHandler as Express middleware', () => {
  test('mounted after express.json(), next to other routes', async () => {
    const hub = new Hub();
    const app = express();
    app.use(express.json());
    app.get('/hello', (_req, res) => {
      res.json({ hello: 'world' });
    });
    app.use(sseHandler(hub, { publisherKey: KEY }));
    app.post('/echo', (req, res) => {
      res.json(req.body);
    });
    const origin = await serve(app, hub);
    const url = `${origin}/api/v1/sse`;

    expect((await call(`${origin}/hello`)).json()).toEqual({ hello: 'world' });
    // Other routes after the middleware still run: it calls next() off its routes.
    expect((await call(`${origin}/echo`, json({ a: 1 }))).json()).toEqual({ a: 1 });
    expect((await call(`${origin}/missing`)).status).toBe(404);

    const stream = await openStream(`${url}/stream/room/u1`);
    await stream.waitForEvent((e) => e.event === 'connected');
    // The body was parsed by express.json(): the handler uses req.body.
    const published = await call(
      `${url}/publish`,
      json({ group: 'room', event: 'chat', data: { text: 'hé 🎉' } }),
    );
    expect(published.json()).toEqual({ code: 200, data: { delivered: 1 } });
    const chat = await stream.waitForEvent((e) => e.event === 'chat');
    expect(JSON.parse(chat.data)).toEqual({ text: 'hé 🎉' });
    expect((await call(`${url}/info`, { headers: ADMIN })).json()).toMatchObject({
      code: 200,
      data: { connectionCount: 1, groups: { room: 1 } },
    });
    stream.close();
    await waitFor(() => hub.connectionCount === 0, 5_000, 'the hub to drop the connection');
  });

  test('mounted before express.json(): bad JSON and oversized bodies get the hub’s JSON errors', async () => {
    const hub = new Hub();
    const app = express();
    app.use(sseHandler(hub, { maxBodyBytes: 256, publisherKey: KEY }));
    app.use(express.json());
    const origin = await serve(app, hub);
    const url = `${origin}/api/v1/sse`;
    const bad = await call(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...ADMIN },
      body: '{"data":',
    });
    expect(bad.status).toBe(400);
    expect(bad.json()).toMatchObject({ code: 400 });
    const large = await call(`${url}/publish`, json({ data: 'z'.repeat(1000) }));
    expect(large.status).toBe(413);
    expect(large.json()).toMatchObject({ code: 413 });
    expect((await call(`${url}/publish`, json({ data: 1 }))).json()).toEqual({
      code: 200,
      data: { delivered: 0 },
    });
  });

  test('under a mount path, routes are relative to it', async () => {
    const hub = new Hub();
    const app = express();
    app.use('/events', sseHandler(hub, { base: '/', publisherKey: KEY }));
    const origin = await serve(app, hub);
    const stream = await openStream(`${origin}/events/stream/g/a`);
    expect(stream.status).toBe(200);
    await stream.waitForEvent((e) => e.event === 'connected');
    expect(
      (await call(`${origin}/events/publish`, json({ group: 'g', id: 'a', data: 'x' }))).json(),
    ).toEqual({ code: 200, data: { delivered: 1 } });
    stream.close();
  });

  test('compression() leaves streams alone (Cache-Control: no-transform)', async () => {
    const hub = new Hub();
    const app = express();
    app.use(compression({ threshold: 0 }));
    app.use(sseHandler(hub));
    app.get('/text', (_req, res) => {
      res.type('text').send('compressed '.repeat(100));
    });
    const origin = await serve(app, hub);
    const gzip = { 'accept-encoding': 'gzip' };
    // The middleware is active for other responses.
    const text = await fetch(`${origin}/text`, { headers: gzip });
    expect(text.headers.get('content-encoding')).toBe('gzip');
    await text.arrayBuffer();
    const stream = await openStream(`${origin}/api/v1/sse/stream/g/a`, gzip);
    expect(stream.headers['content-encoding']).toBeUndefined();
    await stream.waitForEvent((e) => e.event === 'connected');
    await hub.send({ group: 'g', id: 'a' }, { event: 'prompt', data: 'not buffered' });
    await stream.waitForEvent((e) => e.event === 'prompt');
    stream.close();
  });

  test('Express 4: body-parser 1 leaves req.body = {} on bodies it skips; the stream is read', async () => {
    // Express 4 types are those of 5 for what is used here.
    const express4 = (await import('express4')).default as unknown as typeof express;
    const hub = new Hub();
    const app = express4();
    app.use(express4.json());
    app.use(sseHandler(hub, { publisherKey: KEY }));
    const origin = await serve(app, hub);
    const url = `${origin}/api/v1/sse`;
    const stream = await openStream(`${url}/stream/g/a`);
    await stream.waitForEvent((e) => e.event === 'connected');
    // Parsed by express.json():
    expect(
      (await call(`${url}/publish`, json({ group: 'g', event: 'one', data: 1 }))).json(),
    ).toEqual({ code: 200, data: { delivered: 1 } });
    // Not parsed (a +json type express.json() skips): body-parser set req.body = {} but left the
    // stream unread.
    const text = await call(`${url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/merge-patch+json', ...ADMIN },
      body: JSON.stringify({ group: 'g', event: 'two', data: 2 }),
    });
    expect(text.json()).toEqual({ code: 200, data: { delivered: 1 } });
    await stream.waitForEvent((e) => e.event === 'two');
    expect(stream.events.map((e) => e.event)).toEqual(['connected', 'one', 'two']);
    stream.close();
  });
});
