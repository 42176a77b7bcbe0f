import { createServer, request, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { Hub, type HubOptions } from '@ssehub/core';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { closeGracefully, type SSEHandlerOptions, sseHandler } from './index.js';
import { call, closeServer, listen, openStream, waitFor } from './testing.test-util.js';

const BASE = '/api/v1/sse';
const cleanups: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(
  hubOptions: HubOptions = {},
  handlerOptions: SSEHandlerOptions = {},
  server: Server = createServer(),
) {
  const hub = new Hub(hubOptions);
  server.on('request', sseHandler(hub, handlerOptions));
  const origin = await listen(server);
  cleanups.push(async () => {
    await hub.close();
    await closeServer(server);
  });
  return { hub, server, origin, url: `${origin}${BASE}` };
}

const big = 'x'.repeat(64 * 1024);

describe('sseHandler on node:http', () => {
  test('streams the connected event and sends, with SSE headers', async () => {
    const { hub, url } = await start({ retryMs: 1234, retryJitter: 0 });
    const stream = await openStream(`${url}/stream/g/a`);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.headers['cache-control']).toBe('no-cache, no-transform');
    expect(stream.headers['x-accel-buffering']).toBe('no');
    expect(stream.headers['content-length']).toBeUndefined();
    const connected = await stream.waitForEvent((e) => e.event === 'connected');
    expect(JSON.parse(connected.data)).toMatchObject({ group: 'g', id: 'a' });
    expect(stream.retries).toEqual([1234]);
    expect(await hub.send({ group: 'g', id: 'a' }, { event: 'note', data: { n: 1 } })).toBe(1);
    const note = await stream.waitForEvent((e) => e.event === 'note');
    expect(JSON.parse(note.data)).toEqual({ n: 1 });
    expect(note.id).toBeTruthy();
    stream.close();
  });

  test('answers a JSON 404 on other paths when there is no next()', async () => {
    const { origin } = await start();
    const response = await call(`${origin}/elsewhere?x=1`);
    expect(response.status).toBe(404);
    expect(response.json()).toMatchObject({ code: 404, message: 'No route GET /elsewhere.' });
  });

  test('error statuses are JSON: 400, 404, 405, 413 (declared and streamed bodies)', async () => {
    const { hub, url } = await start({}, { maxBodyBytes: 1024, publisherKey: 'k' });
    const post = (body: BodyInit, headers: Record<string, string> = {}) =>
      call(`${url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k', ...headers },
        body,
      });
    expect((await post('{nope')).status).toBe(400);
    expect((await post(JSON.stringify({ data: 'x'.repeat(2000) }))).status).toBe(413);
    // No Content-Length: the limit stops reading the stream itself.
    const chunked = await new Promise<{ status: number; body: string; connection?: string }>(
      (resolve, reject) => {
        const req = request(`${url}/publish`, { method: 'POST', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }),
          );
        });
        req.on('error', reject);
        req.setHeader('content-type', 'application/json');
        req.setHeader('authorization', 'Bearer k');
        req.write(`{"data":"${'y'.repeat(4000)}`);
        req.end('"}');
      },
    );
    expect(chunked.status).toBe(413);
    expect(chunked.connection).toBe('close');
    expect(JSON.parse(chunked.body)).toMatchObject({ code: 413 });
    expect((await call(`${url}/nothing`)).status).toBe(404);
    const wrongMethod = await call(`${url}/publish`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.json()).toMatchObject({ code: 405 });
    expect((await post(JSON.stringify({ data: 'ok' }))).json()).toEqual({
      code: 200,
      data: { delivered: 0 },
    });
    expect(hub.closed).toBe(false);
  });

  test('HEAD on a stream answers the headers and opens no connection', async () => {
    const { hub, url } = await start();
    const response = await fetch(`${url}/stream/g/a`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(hub.connectionCount).toBe(0);
  });

  test('a client that goes away is removed from the hub', async () => {
    const { hub, url } = await start();
    const stream = await openStream(`${url}/stream/g/a`);
    await stream.waitForEvent((e) => e.event === 'connected');
    expect(hub.connectionsOf({ group: 'g', id: 'a' })).toBe(1);
    stream.close();
    await waitFor(() => hub.connectionCount === 0, 5_000, 'the hub to drop the connection');
    expect(hub.info().counters.connectionsClosed).toBe(1);
    expect(hub.info().groupCount).toBe(0);
  });

  test('a client that leaves while authorize runs opens no connection', async () => {
    let admit!: (value: boolean) => void;
    let asked!: () => void;
    const askedPromise = new Promise<void>((resolve) => (asked = resolve));
    const { hub, server, url } = await start(
      {},
      {
        authorize: () => {
          asked();
          return new Promise<boolean>((resolve) => (admit = resolve));
        },
      },
    );
    const controller = new AbortController();
    const pending = fetch(`${url}/stream/g/a`, { signal: controller.signal }).catch(
      () => 'aborted',
    );
    await askedPromise;
    controller.abort();
    expect(await pending).toBe('aborted');
    // Once the server has seen the socket close, let authorize answer.
    let open = 1;
    await waitFor(() => {
      server.getConnections((_error, count) => (open = count));
      return open === 0;
    });
    admit(true);
    await new Promise((resolve) => setImmediate(resolve));
    expect(hub.connectionCount).toBe(0);
    expect(hub.info().counters.connectionsOpened).toBe(0);
  });

  test('backpressure: a client that stops reading is disconnected as slow', async () => {
    const { hub, server, url } = await start({
      maxQueuedEvents: 4,
      slowClientPolicy: 'disconnect',
    });
    const stream = await openStream(`${url}/stream/g/slow`);
    await stream.waitForEvent((e) => e.event === 'connected');
    stream.response.pause();
    for (let i = 0; i < 2_000 && hub.info().counters.slowDisconnects === 0; i++) {
      await hub.send({ group: 'g', id: 'slow' }, { data: big });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(hub.info().counters.slowDisconnects).toBe(1);
    expect(hub.connectionCount).toBe(0);
    // The server lets go of the socket at once: a client that does not read would never read a
    // graceful end either.
    const sockets = () =>
      new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)));
    await expect.poll(sockets, { timeout: 5_000 }).toBe(0);
    // What was buffered is still delivered, then the response ends (the client reconnects).
    stream.response.resume();
    await waitFor(() => stream.ended, 10_000, 'the response to end');
  });

  test('backpressure: drop-oldest keeps the connection and delivers the newest events', async () => {
    const { hub, url } = await start({ maxQueuedEvents: 4, slowClientPolicy: 'drop-oldest' });
    const stream = await openStream(`${url}/stream/g/slow`);
    await stream.waitForEvent((e) => e.event === 'connected');
    stream.response.pause();
    let sent = 0;
    for (; sent < 2_000 && hub.info().counters.eventsDropped === 0; sent++) {
      await hub.send({ group: 'g', id: 'slow' }, { event: 'n', data: `${sent} ${big}` });
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(hub.info().counters.eventsDropped).toBeGreaterThan(0);
    await hub.send({ group: 'g', id: 'slow' }, { event: 'last', data: 'done' });
    stream.response.resume();
    await stream.waitForEvent((e) => e.event === 'last', 10_000);
    const numbers = stream.events
      .filter((e) => e.event === 'n')
      .map((e) => Number(e.data.slice(0, e.data.indexOf(' '))));
    // In order, without duplicates, with a gap where the oldest queued events were dropped.
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(new Set(numbers).size).toBe(numbers.length);
    expect(numbers.length).toBeLessThan(sent);
    expect(numbers.at(-1)).toBe(sent - 1);
    expect(hub.connectionCount).toBe(1);
    stream.close();
  });

  test("drain: a paused client resumes and gets every event, in order, after 'drain'", async () => {
    const { hub, url } = await start({ maxQueuedEvents: 10_000, maxQueuedBytes: 1 << 30 });
    const stream = await openStream(`${url}/stream/g/a`);
    await stream.waitForEvent((e) => e.event === 'connected');
    stream.response.pause();
    const count = 300; // ~19 MiB: far more than the socket buffers hold.
    for (let i = 0; i < count; i++)
      await hub.send({ group: 'g', id: 'a' }, { event: 'n', data: `${i} ${big}` });
    await new Promise((resolve) => setImmediate(resolve));
    stream.response.resume();
    await stream.waitForEvent((e) => e.event === 'n' && e.data.startsWith(`${count - 1} `), 20_000);
    const numbers = stream.events
      .filter((e) => e.event === 'n')
      .map((e) => Number(e.data.slice(0, e.data.indexOf(' '))));
    expect(numbers).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(hub.info().counters.slowDisconnects).toBe(0);
    stream.close();
  });

  test("a stream outlives the server's timeouts, which cut a slow-header client (slowloris)", async () => {
    const server = createServer({
      requestTimeout: 300,
      headersTimeout: 200,
      keepAliveTimeout: 100,
      connectionsCheckingInterval: 50,
    });
    server.setTimeout(200);
    // Heartbeats would reset the inactivity timer: make the stream silent.
    const { hub, origin, url } = await start({ heartbeatMs: 60_000 }, {}, server);
    const stream = await openStream(`${url}/stream/g/a`);
    await stream.waitForEvent((e) => e.event === 'connected');
    // Slowloris: a request head sent a byte at a time, never finished.
    const slow = connect(Number(new URL(origin).port), '127.0.0.1');
    let answer = '';
    let cut = false;
    slow.setEncoding('latin1');
    slow.on('data', (chunk: string) => (answer += chunk));
    slow.on('error', () => {});
    slow.on('close', () => (cut = true));
    slow.write(`GET ${BASE}/stream/g/b HTTP/1.1\r\nHost: x\r\n`);
    const drip = setInterval(() => slow.writable && slow.write('X'), 20);
    cleanups.push(async () => {
      clearInterval(drip);
      slow.destroy();
    });
    // A fixed wait on purpose: the point is to stay silent past every timeout.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(cut).toBe(true);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(stream.ended).toBe(false);
    expect(await hub.send({ group: 'g', id: 'a' }, { event: 'late', data: 'still here' })).toBe(1);
    await stream.waitForEvent((e) => e.event === 'late');
    stream.close();
  });

  test('hub.close() ends every stream', async () => {
    const { hub, url } = await start();
    const stream = await openStream(`${url}/stream/g/a`);
    await stream.waitForEvent((e) => e.event === 'connected');
    await hub.close();
    await waitFor(() => stream.ended, 5_000, 'the stream to end');
    const late = await call(`${url}/stream/g/b`);
    expect(late.status).toBe(503);
    expect(late.headers.get('retry-after')).toBe('5');
    expect(late.json()).toMatchObject({ code: 503, error: 'service_unavailable' });
    expect(hub.connectionCount).toBe(0);
  });
});

type RawClient = Awaited<ReturnType<typeof rawClient>>;

/** A raw TCP client: what node:http puts on the wire, byte for byte. */
async function rawClient(origin: string) {
  const socket = connect(Number(new URL(origin).port), '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
  const client = {
    socket,
    text: '',
    send: (request: string) => socket.write(request),
    until: (text: string) => waitFor(() => client.text.includes(text), 5_000, JSON.stringify(text)),
  };
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    client.text += chunk;
  });
  cleanups.push(async () => {
    socket.destroy();
  });
  return client;
}

describe('the wire format', () => {
  test('HTTP/1.1: each write is one chunk of the chunked encoding, the end is its terminator', async () => {
    const { hub, origin } = await start({ heartbeatMs: 60_000 });
    const client = await rawClient(origin);
    client.send(`GET ${BASE}/stream/g/a HTTP/1.1\r\nHost: x\r\n\r\n`);
    await client.until('event: connected');
    expect(client.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(client.text).toContain('\r\nTransfer-Encoding: chunked\r\n');
    const body = client.text.slice(client.text.indexOf('\r\n\r\n') + 4);
    await hub.broadcast({ event: 'note', id: 'n1', data: 'héllo\nworld' });
    const event = 'event: note\nid: n1\ndata: héllo\ndata: world\n\n';
    const bytes = Buffer.byteLength(event);
    await client.until(`${bytes.toString(16)}\r\n${Buffer.from(event).toString('latin1')}\r\n`);
    hub.disconnect({ group: 'g', id: 'a' });
    await client.until('\r\n0\r\n\r\n');
    // Every byte after the head is a well-formed chunk, up to the terminator.
    let rest = client.text.slice(client.text.indexOf('\r\n\r\n') + 4);
    expect(rest.startsWith(body)).toBe(true);
    const chunks: string[] = [];
    for (;;) {
      const eol = rest.indexOf('\r\n');
      const size = Number.parseInt(rest.slice(0, eol), 16);
      if (size === 0) break;
      chunks.push(rest.slice(eol + 2, eol + 2 + size));
      expect(rest.slice(eol + 2 + size, eol + 4 + size)).toBe('\r\n');
      rest = rest.slice(eol + 4 + size);
    }
    expect(rest).toBe('0\r\n\r\n');
    expect(chunks).toContain(Buffer.from(event).toString('latin1'));
  });

  test('a kept-alive socket carries a second stream and no listener of the first', async () => {
    const server = createServer();
    const sockets: Socket[] = [];
    server.on('connection', (socket) => sockets.push(socket));
    const { hub, origin } = await start({ heartbeatMs: 60_000 }, {}, server);
    const client = await rawClient(origin);
    client.send(`GET ${BASE}/stream/g/a HTTP/1.1\r\nHost: x\r\n\r\n`);
    await client.until('event: connected');
    const drainListeners = sockets[0]!.listenerCount('drain');
    hub.disconnect({ group: 'g', id: 'a' });
    await client.until('\r\n0\r\n\r\n');
    await waitFor(() => hub.connectionCount === 0);
    client.send(`GET ${BASE}/stream/g/b HTTP/1.1\r\nHost: x\r\n\r\n`);
    await client.until('"id":"b"');
    expect(sockets).toHaveLength(1);
    expect(sockets[0]!.listenerCount('drain')).toBe(drainListeners);
    expect(
      await hub.send({ group: 'g', id: 'b' }, { event: 'second', data: 'on the same socket' }),
    ).toBe(1);
    await client.until('data: on the same socket');
  });

  test('unicasts of one tick leave as one chunk (HTTP/1.1) or as is (HTTP/1.0), non-ASCII intact', async () => {
    const { hub, origin } = await start({ heartbeatMs: 60_000 });
    const chunked = await rawClient(origin);
    chunked.send(`GET ${BASE}/stream/g/a HTTP/1.1\r\nHost: x\r\n\r\n`);
    const plain = await rawClient(origin);
    plain.send(`GET ${BASE}/stream/g/b HTTP/1.0\r\n\r\n`);
    await chunked.until('event: connected');
    await plain.until('event: connected');
    for (const id of ['a', 'b']) {
      void hub.send({ group: 'g', id }, { id: `${id}1`, data: 'one' });
      void hub.send({ group: 'g', id }, { id: `${id}2`, data: 'two' });
    }
    const ascii = 'id: a1\ndata: one\n\nid: a2\ndata: two\n\n';
    await chunked.until(`${ascii.length.toString(16)}\r\n${ascii}\r\n`);
    await plain.until('id: b1\ndata: one\n\nid: b2\ndata: two\n\n');
    // Text outside ASCII goes out as UTF-8 bytes.
    await hub.send({ group: 'g', id: 'a' }, { id: 'a3', data: 'héllo ✓' });
    const event = 'id: a3\ndata: héllo ✓\n\n';
    await chunked.until(
      `${Buffer.byteLength(event).toString(16)}\r\n${Buffer.from(event).toString('latin1')}\r\n`,
    );
  });

  test('a tick of broadcasts, list sends and unicasts leaves as one chunk per connection, in send order', async () => {
    const { hub, origin } = await start({ heartbeatMs: 60_000 });
    const clients: RawClient[] = [];
    for (const [id, version] of [
      ['a', '1.1'],
      ['b', '1.1'],
      ['c', '1.0'],
    ] as const) {
      const client = await rawClient(origin);
      client.send(`GET ${BASE}/stream/g/${id} HTTP/${version}\r\nHost: x\r\n\r\n`);
      await client.until('event: connected');
      clients.push(client);
    }
    const [a, b, c] = clients as [RawClient, RawClient, RawClient];
    const chunk = (events: string) =>
      `${Buffer.byteLength(events).toString(16)}\r\n${Buffer.from(events).toString('latin1')}\r\n`;
    // The same burst on a and b: one frame, kept and reused for the second connection.
    void hub.broadcast({ id: 'b1', data: 'one' });
    void hub.sendMany(
      [
        { group: 'g', id: 'a' },
        { group: 'g', id: 'b' },
        { group: 'g', id: 'c' },
      ],
      { id: 'm1', data: 'två' },
    );
    void hub.broadcast({ id: 'b2', data: 'three' });
    const burst = 'id: b1\ndata: one\n\nid: m1\ndata: två\n\nid: b2\ndata: three\n\n';
    await a.until(chunk(burst));
    await b.until(chunk(burst));
    await c.until(Buffer.from(burst).toString('latin1'));
    // Then a different tick: shared bytes and unicast text mixed, never the frame kept before.
    void hub.broadcast({ id: 'b1', data: 'one' });
    void hub.send({ group: 'g', id: 'a' }, { id: 'u1', data: 'only a' });
    void hub.sendMany([{ group: 'g', id: 'b' }], { id: 'm2', data: 'only b\nsecond line' });
    void hub.broadcast({ id: 'b2', data: 'three' });
    await a.until(chunk('id: b1\ndata: one\n\nid: u1\ndata: only a\n\nid: b2\ndata: three\n\n'));
    await b.until(
      chunk(
        'id: b1\ndata: one\n\nid: m2\ndata: only b\ndata: second line\n\nid: b2\ndata: three\n\n',
      ),
    );
    await c.until(
      `${Buffer.from(burst).toString('latin1')}id: b1\ndata: one\n\nid: b2\ndata: three\n\n`,
    );
  });

  test('a unicast with an event name, an app id and a retry is written field by field, exactly', async () => {
    const { hub, origin } = await start({ heartbeatMs: 60_000 });
    const client = await rawClient(origin);
    client.send(`GET ${BASE}/stream/g/a HTTP/1.1\r\nHost: x\r\n\r\n`);
    await client.until('event: connected');
    void hub.send(
      { group: 'g', id: 'a' },
      { event: 'note', id: 'n-1', retry: 1500, data: { x: 1 } },
    );
    void hub.send({ group: 'g', id: 'a' }, { event: 'nöte', data: 'not ASCII: encoded' });
    void hub.send({ group: 'g', id: 'a' }, { data: 'plain' });
    const text = client.text;
    await client.until('data: plain\n\n\r\n');
    const chunk = client.text.slice(text.length);
    const body = Buffer.from(chunk.slice(chunk.indexOf('\r\n') + 2, -2), 'latin1').toString('utf8');
    expect(Number.parseInt(chunk, 16)).toBe(Buffer.byteLength(body));
    expect(body.startsWith('event: note\nid: n-1\nretry: 1500\ndata: {"x":1}\n\n')).toBe(true);
    expect(body).toMatch(
      /^event: note\n[\s\S]*\n\nevent: nöte\nid: [^\n]+\ndata: not ASCII: encoded\n\nid: [^\n]+\ndata: plain\n\n$/,
    );
  });

  test('HTTP/1.0: no chunked encoding, the body is the event stream itself', async () => {
    const { hub, origin } = await start({ heartbeatMs: 60_000 });
    const client = await rawClient(origin);
    client.send(`GET ${BASE}/stream/g/a HTTP/1.0\r\n\r\n`);
    await client.until('event: connected');
    expect(client.text).not.toMatch(/transfer-encoding/i);
    await hub.broadcast({ event: 'note', id: 'n1', data: 'plain' });
    await client.until('event: note\nid: n1\ndata: plain\n\n');
    const body = client.text.slice(client.text.indexOf('\r\n\r\n') + 4);
    expect(body).toMatch(/^retry: \d+\n/);
    expect(body).not.toContain('\r\n');
  });
});

describe('unicast frames', () => {
  test("a socket that keeps a pending write keeps its bytes while other sockets' frames are built", async () => {
    const server = createServer();
    const sockets: Socket[] = [];
    server.on('connection', (socket) => sockets.push(socket));
    const { hub, origin } = await start(
      { heartbeatMs: 60_000, maxQueuedEvents: 100_000, maxQueuedBytes: 256 * 1024 * 1024 },
      {},
      server,
    );
    const slow = await rawClient(origin);
    slow.send(`GET ${BASE}/stream/g/slow HTTP/1.1\r\nHost: x\r\n\r\n`);
    await slow.until('event: connected');
    const fast = await rawClient(origin);
    fast.send(`GET ${BASE}/stream/g/fast HTTP/1.1\r\nHost: x\r\n\r\n`);
    await fast.until('event: connected');
    const slowSide = sockets[0]!;
    slow.socket.pause();
    // Each tick: one frame per client, built in the adapter's reused buffer while its socket
    // takes writes at once; a distinct payload per client and tick shows any byte overwritten.
    const payload = (who: string, tick: number) =>
      `${who}${tick}:${String.fromCharCode(97 + (tick % 26)).repeat(700)}`;
    let ticks = 0;
    let extra = -1;
    while (extra !== 0) {
      // Two events per client and tick: a frame of several parts.
      for (let i = 0; i < 2; i++, ticks++) {
        void hub.send({ group: 'g', id: 'slow' }, { data: payload('s', ticks) });
        void hub.send({ group: 'g', id: 'fast' }, { data: payload('f', ticks) });
      }
      await new Promise((resolve) => setImmediate(resolve));
      // Once the slow socket holds a pending write, fifty more ticks build frames for the other.
      if (extra === -1 && slowSide.writableLength > 0) extra = 50;
      else if (extra > 0) extra--;
      expect(ticks).toBeLessThan(100_000);
    }
    slow.socket.resume();
    const expected = (who: string) =>
      Array.from({ length: ticks }, (_, tick) => `data: ${payload(who, tick)}\n`).join('');
    const dataOf = (text: string) =>
      text
        .replace(/\r\n[0-9a-f]+\r\n/g, '')
        .split('\n')
        .filter((line) => line.startsWith('data: ') && !line.includes('"connectionId"'))
        .map((line) => `${line}\n`)
        .join('');
    await waitFor(
      () => dataOf(slow.text).length >= expected('s').length,
      20_000,
      'the slow client',
    );
    await waitFor(() => dataOf(fast.text).length >= expected('f').length, 5_000, 'the fast client');
    expect(dataOf(slow.text)).toBe(expected('s'));
    expect(dataOf(fast.text)).toBe(expected('f'));
  }, 60_000);
});

describe('sseHandler options', () => {
  test('endTimeoutMs: a kicked client that does not read is cut after it, not after 10 s', async () => {
    const { hub, server, url } = await start(
      { maxQueuedEvents: 100_000, maxQueuedBytes: 256 * 1024 * 1024 },
      { endTimeoutMs: 200 },
    );
    const sockets: Socket[] = [];
    server.on('connection', (socket: Socket) => sockets.push(socket));
    const stream = await openStream(`${url}/stream/g/behind`);
    await stream.waitForEvent((e) => e.event === 'connected');
    stream.response.pause();
    for (let i = 0; i < 100; i++)
      await hub.send({ group: 'g', id: 'behind' }, { event: 'n', data: `${i} ${big}` });
    const kickedAt = Date.now();
    expect(hub.disconnect({ group: 'g', id: 'behind' })).toBe(1);
    // The server gives up on the bytes the client never read: its socket is destroyed.
    await waitFor(() => sockets[0]?.destroyed === true, 5_000, 'the socket to be cut');
    expect(Date.now() - kickedAt).toBeLessThan(5_000);
    stream.close();
  }, 15_000);
});

describe('closeGracefully', () => {
  test('flushes what a client that is behind is owed, ends its stream cleanly, then closes', async () => {
    const { hub, server, url } = await start({
      maxQueuedEvents: 100_000,
      maxQueuedBytes: 256 * 1024 * 1024,
    });
    const stream = await openStream(`${url}/stream/g/behind`);
    await stream.waitForEvent((e) => e.event === 'connected');
    stream.response.pause();
    for (let i = 0; i < 100; i++)
      await hub.send({ group: 'g', id: 'behind' }, { event: 'n', data: `${i} ${big}` });
    const closing = closeGracefully(server, hub);
    // The client catches up only after the shutdown began.
    await new Promise((resolve) => setTimeout(resolve, 300));
    stream.response.resume();
    await closing;
    await waitFor(() => stream.ended, 10_000, 'the stream to end');
    expect(stream.events.filter((e) => e.event === 'n')).toHaveLength(100);
    // A complete message: the chunked terminator arrived, not a cut connection.
    expect(stream.response.complete).toBe(true);
    expect(server.listening).toBe(false);
  });
});

describe('exports', () => {
  // The table every adapter README shows: the same names for the same things in every adapter.
  test('exports the names the adapters share, and nothing else at runtime', async () => {
    expect(Object.keys(await import('./index.js')).sort()).toEqual([
      'closeGracefully',
      'closeIdleConnections',
      'openNodeStream',
      'readBody',
      'sseHandler',
      'toHubRequest',
    ]);
  });
});

describe('lingering close after a 413', () => {
  const head = (extra: string) =>
    `POST ${BASE}/publish HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer k\r\n${extra}\r\n`;
  const open = (server: Server) =>
    new Promise<number>((resolve, reject) =>
      server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
    );

  /**
   * A client that may go on sending after the server's FIN (`allowHalfOpen`), as an HTTP client
   * still uploading does, and records how its connection ended.
   */
  async function rawSocket(origin: string) {
    const socket = connect({
      port: Number(new URL(origin).port),
      host: '127.0.0.1',
      allowHalfOpen: true,
    });
    await new Promise((resolve) => socket.once('connect', resolve));
    const seen = { text: '', ended: false, closed: false, error: undefined as string | undefined };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (seen.text += chunk));
    socket.on('end', () => (seen.ended = true));
    socket.on('error', (error: NodeJS.ErrnoException) => (seen.error = error.code));
    socket.on('close', () => (seen.closed = true));
    cleanups.push(async () => {
      socket.destroy();
    });
    return { socket, seen };
  }

  test('answers at once, half-closes, reads the rest of the body, then closes without a reset', async () => {
    const { server, origin } = await start({}, { maxBodyBytes: 1024, publisherKey: 'k' });
    const { socket, seen } = await rawSocket(origin);
    const size = 4 * 1024 * 1024;
    const part = Buffer.alloc(64 * 1024, 0x61);
    socket.write(head(`Content-Length: ${size}\r\n`));
    socket.write(part);
    // The whole answer and the server's FIN come before the body is complete...
    await waitFor(() => seen.ended, 5_000, 'the answer and its end');
    expect(seen.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(seen.text).toMatch(/\r\nconnection: close\r\n/i);
    expect(seen.text).toContain('"code":413');
    // ...and the server goes on reading: the rest of the body is taken, no reset.
    for (let sent = part.byteLength; sent < size; sent += part.byteLength) {
      if (!socket.write(part)) await new Promise((resolve) => socket.once('drain', resolve));
    }
    await waitFor(() => socket.writableLength === 0, 5_000, 'the body to leave');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen.error).toBeUndefined();
    socket.end();
    await waitFor(() => seen.closed, 5_000, 'the close');
    expect(seen.error).toBeUndefined();
    expect(await open(server)).toBe(0);
  });

  test('a client that never stops sending is cut after 64 MiB more', async () => {
    const { server, origin } = await start({}, { maxBodyBytes: 1024, publisherKey: 'k' });
    const { socket, seen } = await rawSocket(origin);
    socket.write(head('Transfer-Encoding: chunked\r\n'));
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const framed = Buffer.concat([Buffer.from('100000\r\n'), chunk, Buffer.from('\r\n')]);
    let sent = 0;
    while (!seen.closed && seen.error === undefined && sent < 256 * 1024 * 1024) {
      sent += chunk.byteLength;
      if (!socket.write(framed))
        await new Promise((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        });
    }
    expect(seen.text).toMatch(/^HTTP\/1\.1 413 /);
    expect(seen.error ?? 'closed').toMatch(/^(EPIPE|ECONNRESET|closed)$/);
    // 64 MiB read and dropped past the answer, plus what the kernel buffers on both sides.
    expect(sent).toBeGreaterThan(64 * 1024 * 1024);
    expect(sent).toBeLessThan(128 * 1024 * 1024);
    await waitFor(() => seen.closed, 5_000, 'the close');
    expect(await open(server)).toBe(0);
  });

  test('a client that stops sending is cut after 10 s', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const { server, origin } = await start({}, { maxBodyBytes: 1024, publisherKey: 'k' });
      const { socket, seen } = await rawSocket(origin);
      socket.write(head('Content-Length: 1048576\r\n'));
      socket.write(Buffer.alloc(4096, 0x61));
      const settle = async () => {
        for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
      };
      while (!seen.ended) await settle();
      expect(seen.text).toMatch(/^HTTP\/1\.1 413 /);
      vi.advanceTimersByTime(9_000);
      await settle();
      expect(await open(server)).toBe(1);
      vi.advanceTimersByTime(1_000);
      while ((await open(server)) > 0) await settle();
    } finally {
      vi.useRealTimers();
    }
  });
});
