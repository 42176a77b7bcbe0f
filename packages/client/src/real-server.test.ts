/// <reference types="node" />
// The client against a real SSE server: node:http writing text/event-stream, and the npm
// `eventsource` package (spec-compliant, fetch-based) as the EventSource.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventSource } from 'eventsource';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  type ClientStatus,
  createClient,
  type EventSourceConstructor,
  type SSEClient,
} from './client.js';
import { streamUrl } from './url.js';

type Events = { notification: { title: string } };

interface Seen {
  url: string;
  lastEventIdHeader: string | undefined;
}

/** Serves each request with the next of `responders`; records what each request carried. */
async function serve(responders: ((res: ServerResponse, req: IncomingMessage) => void)[]) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    // The client's probe after its EventSource gave up: no refusal to report.
    if (req.method === 'HEAD') return void res.writeHead(204).end();
    seen.push({ url: req.url ?? '', lastEventIdHeader: req.headers['last-event-id'] as string });
    const respond = responders[seen.length - 1];
    if (respond) respond(res, req);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    seen,
    base: `http://127.0.0.1:${port}/api/v1/sse`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function stream(res: ServerResponse, frames: string[], end: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write('retry: 20\n\n');
  for (const frame of frames) res.write(frame);
  if (end) res.end();
}

const connected = (connectionId: string) =>
  `event: connected\ndata: {"id":"u1","group":"notifications","connectionId":"${connectionId}"}\n\n`;

/** Resolves when `check()` holds, polling; the test's timeout bounds it. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

let client: SSEClient<Events> | undefined;
let server: Awaited<ReturnType<typeof serve>> | undefined;
afterEach(async () => {
  client?.close();
  await server?.close();
});

describe('against a real SSE server with the eventsource package', () => {
  it('the eventsource package fits EventSourceConstructor', () => {
    expectTypeOf(EventSource).toExtend<EventSourceConstructor>();
  });

  it('parses, dispatches, follows the browser-style retry and resumes after giving up', async () => {
    server = await serve([
      // 1: two events, then the server ends the response: the EventSource retries by itself
      (res) =>
        stream(
          res,
          [
            connected('c1'),
            'event: notification\nid: 1\ndata: {"title":"one"}\n\n',
            'event: notification\nid: 2\ndata: {"title":\ndata: "two"}\n\n',
          ],
          true,
        ),
      // 2: an HTTP error: the EventSource gives up (CLOSED), the client takes over
      (res) => res.writeHead(503).end(),
      // 3: the client's own reconnect, with ?lastEventId=
      (res) =>
        stream(
          res,
          [connected('c3'), 'event: notification\nid: 3\ndata: {"title":"three"}\n\n'],
          false,
        ),
    ]);
    const statuses: ClientStatus[] = [];
    const titles: string[] = [];
    client = createClient<Events>(
      streamUrl(server.base, { group: 'notifications', id: 'u1', token: 'secret' }),
      { EventSource, reconnect: { initialDelay: 20 } },
    );
    client.onStatus((status) => statuses.push(status));
    client.on('notification', (n) => titles.push(n.title));

    await until(() => titles.length === 3);
    expect(titles).toEqual(['one', 'two', 'three']);
    expect(client.lastEventId).toBe('3');
    expect(client.connection?.connectionId).toBe('c3');
    expect(client.status).toBe('open');
    expect(statuses).toEqual(['open', 'reconnecting', 'open']);

    const path = '/api/v1/sse/stream/notifications/u1';
    expect(server.seen).toEqual([
      { url: `${path}?token=secret`, lastEventIdHeader: undefined },
      { url: `${path}?token=secret`, lastEventIdHeader: '2' },
      { url: `${path}?token=secret&lastEventId=2`, lastEventIdHeader: undefined },
    ]);
  });

  it('reports reset and stops at close()', async () => {
    server = await serve([
      (res) =>
        stream(
          res,
          [
            connected('c1'),
            'event: reset\nid: 9\ndata: {"lastEventId":"old","reason":"history-gap"}\n\n',
          ],
          false,
        ),
    ]);
    const resets: unknown[] = [];
    client = createClient<Events>(`${server.base}/stream/notifications/u1`, {
      EventSource,
      lastEventId: 'old',
    });
    client.onReset((data) => resets.push(data));
    await until(() => resets.length === 1);
    expect(resets).toEqual([{ lastEventId: 'old', reason: 'history-gap' }]);
    expect(client.lastEventId).toBe('9');
    expect(server.seen[0]?.url).toBe('/api/v1/sse/stream/notifications/u1?lastEventId=old');
    client.close();
    expect(client.status).toBe('closed');
  });
});
