/// <reference types="node" />
// The fetch transport in Node: against a real ssehub server (@ssehub/node, `jwtSecret`,
// `publisherKey`), and against hand-written servers for what ssehub never sends.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hub, signJwt } from '@ssehub/core';
import { sseHandler } from '@ssehub/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ClientStatus, createClient, type SSEClient } from './client.js';
import { FetchEventSource } from './fetch-source.js';
import { streamUrl } from './url.js';

type Events = { tick: { seq: number } };

const SECRET = 'fetch-transport-secret';
const KEY = 'fetch-transport-key';

interface Seen {
  url: string;
  authorization: string | undefined;
  lastEventId: string | undefined;
}

/** Serves `handle`, recording what every request carried. */
async function listen(handle: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({
      url: req.url ?? '',
      authorization: req.headers.authorization,
      lastEventId: req.headers['last-event-id'] as string | undefined,
    });
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    seen,
    origin,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const step of cleanup.splice(0).reverse()) await step();
});

describe('the fetch transport against an ssehub server', () => {
  async function start() {
    const hub = new Hub<Events>({ retryMs: 50 });
    const handle = sseHandler(hub, { jwtSecret: SECRET, publisherKey: KEY });
    const server = await listen(handle);
    cleanup.push(() => hub.close(), server.close);
    const admin = (path: string, body?: unknown) =>
      fetch(`${server.origin}/api/v1/sse${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      }).then((response) => {
        if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
        return response.json();
      });
    const publish = (seq: number) =>
      admin('/publish', { group: 'room', event: 'tick', data: { seq } });
    return { hub, server, admin, publish };
  }

  const streams = (seen: Seen[]) => seen.filter((s) => s.url.includes('/stream/'));

  it('sends the token as Authorization: Bearer, never in the URL, and resumes with Last-Event-ID', async () => {
    const { server, admin, publish } = await start();
    const token = await signJwt({ sub: 'u1', groups: ['room'] }, SECRET, { expiresIn: 600 });
    // A token in the URL (as streamUrl puts it) moves to the header.
    const url = streamUrl(`${server.origin}/api/v1/sse`, { group: 'room', id: 'u1', token });
    const client: SSEClient<Events> = createClient<Events>(url, { transport: 'fetch' });
    cleanup.push(() => client.close());
    const statuses: ClientStatus[] = [];
    const seqs: number[] = [];
    const ids: string[] = [];
    client.onStatus((status) => statuses.push(status));
    client.on('tick', (tick, meta) => {
      seqs.push(tick.seq);
      ids.push(meta.id);
    });
    await until(() => client.status === 'open' && client.connection !== undefined, 'open');
    expect(client.connection).toMatchObject({ group: 'room', id: 'u1' });
    for (const seq of [0, 1, 2]) await publish(seq);
    await until(() => seqs.length === 3, 'three ticks');

    // The server ends the stream; while the client is away, two more events are sent.
    await admin('/disconnect/room/u1');
    await until(() => client.status === 'reconnecting', 'reconnecting');
    for (const seq of [3, 4]) await publish(seq);
    await until(() => seqs.length === 5 && client.status === 'open', 'the replay');
    await publish(5);
    await until(() => seqs.length === 6, 'a live tick after the replay');

    expect(seqs).toEqual([0, 1, 2, 3, 4, 5]);
    expect(new Set(ids).size).toBe(6);
    expect(client.lastEventId).toBe(ids[5]);
    expect(statuses).toEqual(['open', 'reconnecting', 'open']);
    const requests = streams(server.seen);
    expect(requests).toHaveLength(2);
    for (const request of requests) {
      expect(request.url).toBe('/api/v1/sse/stream/room/u1');
      expect(request.authorization).toBe(`Bearer ${token}`);
    }
    expect(requests[0]!.lastEventId).toBeUndefined();
    expect(requests[1]!.lastEventId).toBe(ids[2]);
  });

  it('with getToken: a fresh token per connection, in the header', async () => {
    const { server, admin, publish } = await start();
    let issued = 0;
    const tokens: string[] = [];
    const client = createClient<Events>(
      streamUrl(`${server.origin}/api/v1/sse`, { group: 'room', id: 'u2' }),
      {
        transport: 'fetch',
        getToken: async () => {
          issued++;
          // Distinct tokens: a claim that counts.
          const token = await signJwt({ sub: 'u2', groups: ['room'], n: issued }, SECRET, {
            expiresIn: 600,
          });
          tokens.push(token);
          return token;
        },
        reconnect: { initialDelay: 20 },
      },
    );
    cleanup.push(() => client.close());
    const seqs: number[] = [];
    const ids: string[] = [];
    client.on('tick', (tick, meta) => {
      seqs.push(tick.seq);
      ids.push(meta.id);
    });
    await until(() => client.status === 'open', 'open');
    await publish(0);
    await until(() => seqs.length === 1, 'a tick');
    await admin('/disconnect/room/u2');
    await until(() => issued === 2 && client.status === 'open', 'a reconnect with a new token');
    await publish(1);
    await until(() => seqs.length === 2, 'a tick after the reconnect');
    expect(seqs).toEqual([0, 1]);
    const requests = streams(server.seen);
    expect(requests.map((r) => r.authorization)).toEqual(tokens.map((t) => `Bearer ${t}`));
    expect(requests.every((r) => !r.url.includes('token'))).toBe(true);
    expect(requests[1]!.lastEventId).toBe(ids[0]);
  });

  it('a refused token (401) is not retried by the transport: the client backs off and asks again', async () => {
    const { server } = await start();
    let calls = 0;
    const client = createClient<Events>(
      streamUrl(`${server.origin}/api/v1/sse`, { group: 'room', id: 'u3' }),
      {
        transport: 'fetch',
        getToken: () =>
          ++calls === 1
            ? 'not-a-jwt'
            : signJwt({ sub: 'u3', groups: ['room'] }, SECRET, { expiresIn: 600 }),
        reconnect: { initialDelay: 20, jitter: 0 },
      },
    );
    cleanup.push(() => client.close());
    const statuses: ClientStatus[] = [];
    client.onStatus((status) => statuses.push(status));
    await until(() => client.status === 'open', 'open with the second token');
    expect(statuses).toEqual(['reconnecting', 'open']);
    expect(streams(server.seen)).toHaveLength(2);
  });
});

describe('the fetch transport against hand-written servers', () => {
  it('waits the server-sent retry before reconnecting, with Last-Event-ID', async () => {
    let requests = 0;
    const server = await listen((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      // CRLF line ends and a BOM, split across writes.
      res.write('\uFEFFretry: 300\r\n\r');
      res.write(`\nid: e${requests}\r\nevent: tick\r\ndata: {"seq":`);
      res.end(`${requests}}\r\n\r\n`);
    });
    cleanup.push(server.close);
    const client = createClient<Events>(`${server.origin}/s`, { transport: 'fetch' });
    cleanup.push(() => client.close());
    const arrivals: number[] = [];
    const seqs: number[] = [];
    client.on('tick', (tick) => {
      seqs.push(tick.seq);
      arrivals.push(Date.now());
    });
    await until(() => seqs.length === 3, 'three connections');
    client.close();
    expect(seqs).toEqual([1, 2, 3]);
    expect(server.seen.map((s) => s.lastEventId)).toEqual([undefined, 'e1', 'e2']);
    // 300 ms, not the default 3 s (a busy machine may add to it, never take from it).
    for (let i = 1; i < arrivals.length; i++) {
      expect(arrivals[i]! - arrivals[i - 1]!).toBeGreaterThanOrEqual(290);
      expect(arrivals[i]! - arrivals[i - 1]!).toBeLessThan(2500);
    }
  });

  it('fails on an HTTP error or a wrong content type; the client reconnects with backoff', async () => {
    const answers = [
      (res: ServerResponse) => res.writeHead(503, { 'content-type': 'text/event-stream' }).end(),
      (res: ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
      (res: ServerResponse) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: tick\ndata: {"seq":7}\n\n');
      },
    ];
    let n = 0;
    const server = await listen((_req, res) => answers[Math.min(n++, 2)]!(res));
    cleanup.push(server.close);
    const client = createClient<Events>(`${server.origin}/s`, {
      transport: 'fetch',
      reconnect: { initialDelay: 10, jitter: 0 },
    });
    cleanup.push(() => client.close());
    const statuses: ClientStatus[] = [];
    client.onStatus((status) => statuses.push(status));
    const seqs: number[] = [];
    client.on('tick', (tick) => seqs.push(tick.seq));
    await until(() => seqs.length === 1, 'the third answer');
    expect(statuses).toEqual(['reconnecting', 'open']);
    expect(server.seen).toHaveLength(3);
  });

  it('with reconnect: false a failed connection is final', async () => {
    const server = await listen((_req, res) => res.writeHead(500).end());
    cleanup.push(server.close);
    const client = createClient<Events>(`${server.origin}/s`, {
      transport: 'fetch',
      reconnect: false,
    });
    await until(() => client.status === 'closed', 'closed');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.seen).toHaveLength(1);
  });
});

describe('FetchEventSource', () => {
  it('doubles the delay after each network failure in a row, from the reconnection time', async () => {
    vi.useFakeTimers();
    const calls: number[] = [];
    const start = Date.now();
    const failing = (async () => {
      calls.push(Date.now() - start);
      throw new TypeError('network down');
    }) as unknown as typeof fetch;
    const source = new FetchEventSource('http://example.invalid/s', {
      fetch: failing,
      retry: 100,
      maxRetryDelay: 500,
    });
    const states: number[] = [];
    source.addEventListener('error', () => states.push(source.readyState));
    await vi.advanceTimersByTimeAsync(2000);
    source.close();
    // Attempts at 0, then +100, +200, +400, +500 (capped), +500...
    expect(calls.slice(0, 6)).toEqual([0, 100, 300, 700, 1200, 1700]);
    expect(new Set(states)).toEqual(new Set([0]));
  });

  it('close() aborts the request in flight and nothing fires after it', async () => {
    let aborted = false;
    const hanging = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => {
          aborted = true;
          reject(new DOMException('aborted', 'AbortError'));
        });
      })) as unknown as typeof fetch;
    const source = new FetchEventSource('http://example.invalid/s', { fetch: hanging });
    let errors = 0;
    source.addEventListener('error', () => errors++);
    await new Promise((resolve) => setTimeout(resolve, 10));
    source.close();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(aborted).toBe(true);
    expect(errors).toBe(0);
    expect(source.readyState).toBe(2);
  });

  it("calls fetch unbound, as the browser's fetch requires", async () => {
    let self: unknown = 'not called';
    const strict = function (this: unknown) {
      self = this;
      return Promise.reject(new TypeError('offline'));
    } as unknown as typeof fetch;
    const source = new FetchEventSource('http://example.invalid/s', { fetch: strict });
    await new Promise((resolve) => setTimeout(resolve, 10));
    source.close();
    expect(self).toBeUndefined();
  });

  it('throws a helpful TypeError when there is no fetch', () => {
    vi.stubGlobal('fetch', undefined);
    try {
      expect(() => createClient('/s', { transport: 'fetch' })).toThrow(/options\.fetch/);
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
